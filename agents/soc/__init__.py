"""SoC task-DAG baselines behind the Policy protocol (``schedgym/SoCDAG-v0``).

Online list schedulers (:mod:`.heuristics`; DS3's rules with per-PE commitments): ``etf``, ``eft``,
``met``, ``stf``, ``heft-rt``. Static plans computed at reset and replayed: ``heft`` (insertion-based
HEFT), ``peft``, and the exact ``soc-cpsat`` (:mod:`.exact`, imports OR-Tools only when built). On a
stream the static plans know every future job (an oracle); on a batch they are the classic static
schedulers. ``random`` (the domain-independent uniform legal node) also serves this env.
"""

from __future__ import annotations

from typing import Any

from ..spec import PolicyEntry, PolicyError
from .heuristics import ONLINE_RULES, OnlineListScheduler, PlannerPolicy, StaticPlanner, StaticPolicy

SOC_ID = "schedgym/SoCDAG-v0"
_ONLINE_SUMMARY = {
    "etf": "DS3 ETF: repeatedly the (ready task, PE) pair with the earliest expected finish (PE queues)",
    "eft": "DS3 EFT: each ready task, in order of readiness, to the PE of its earliest expected finish",
    "met": "DS3 MET: each ready task to a PE of minimum execution time (ties: earliest finish)",
    "stf": "shortest task first: ready tasks by minimum execution time, each to its earliest-finish PE",
    "heft-rt": "HEFT at run time: ready tasks by upward rank, each to its earliest-finish PE (no insertion)",
}


def _online(rule: str) -> PolicyEntry:
    return PolicyEntry(
        make=lambda option: PlannerPolicy(rule, OnlineListScheduler(rule)),
        summary=_ONLINE_SUMMARY[rule],
        env_ids=(SOC_ID,),
    )


def _cpsat(option: str | None) -> Any:
    from .exact import CPSatPolicy

    try:
        seconds = float(option) if option else 10.0
    except ValueError:
        raise PolicyError(f"policy soc-cpsat: the option is a time limit in seconds, got {option!r}") from None
    if not seconds > 0:
        raise PolicyError(f"policy soc-cpsat: the time limit must be > 0, got {seconds}")
    return CPSatPolicy(seconds, name="soc-cpsat" if option is None else f"soc-cpsat:{option}")


POLICIES: dict[str, PolicyEntry] = {rule: _online(rule) for rule in ONLINE_RULES}
POLICIES["heft"] = PolicyEntry(
    make=lambda option: StaticPolicy("heft", StaticPlanner("heft")),
    summary="HEFT (Topcuoglu et al. 2002): upward rank, insertion-based earliest finish; static plan replayed "
            "(on a stream it knows the future jobs)",
    env_ids=(SOC_ID,),
)
POLICIES["peft"] = PolicyEntry(
    make=lambda option: StaticPolicy("peft", StaticPlanner("peft")),
    summary="PEFT (Arabnejad & Barbosa 2014): optimistic cost table, insertion-based EFT + OCT; static plan replayed",
    env_ids=(SOC_ID,),
)
POLICIES["soc-cpsat"] = PolicyEntry(
    make=_cpsat,
    summary="CP-SAT model of the episode's jobs (makespan or mean latency, transfers between PEs), solved at "
            "reset with a HEFT hint and replayed; reports proven optimality",
    env_ids=(SOC_ID,),
    options="time limit in seconds (default 10; 2 workers)",
    kind="exact",
    examples=("soc-cpsat", "soc-cpsat:30"),
)

__all__ = ["ONLINE_RULES", "OnlineListScheduler", "POLICIES", "PlannerPolicy", "StaticPlanner", "StaticPolicy"]
