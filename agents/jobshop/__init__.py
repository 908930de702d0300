"""Job-shop baselines: priority dispatching rules and the CP-SAT exact model.

The rules (:mod:`.rules`) need only NumPy; the CP-SAT model (:mod:`.cpsat`) imports OR-Tools, and is
imported only when a ``cpsat`` policy is built or :func:`solve_jobshop` / :class:`CPSatPolicy` is used.
"""

from __future__ import annotations

from typing import Any

from ..spec import PolicyEntry
from .rules import RULE_NAMES, DispatchingRule

#: the env ids the job-shop rules serve (the ISBJSSP envs expose the same DispatchView)
JOBSHOP_FAMILY: tuple[str, ...] = (
    "schedgym/JobShop-v0", "schedgym/ISBJobShop-v0", "schedgym/BlockingJobShop-v0", "schedgym/InterruptJobShop-v0",
)
_RULE_SUMMARY = {
    "spt": "shortest processing time", "lpt": "longest processing time", "mwkr": "most work remaining",
    "lwkr": "least work remaining", "mopnr": "most operations remaining", "fifo": "earliest ready time",
    "fdd-mwkr": "flow due date / most work remaining", "random": "uniformly random candidate (seeded)",
}
_BUILDER_OPTION = ("schedule builder: nondelay | active | serial (default: the env's own; active is not "
                   "defined under blocking)")


def _rule_entry(rule: str) -> PolicyEntry:
    return PolicyEntry(
        make=lambda option: DispatchingRule(rule, option),
        summary=f"dispatching rule: {_RULE_SUMMARY[rule]}",
        env_ids=JOBSHOP_FAMILY,
        options=_BUILDER_OPTION,
        examples=(rule, f"{rule}:nondelay", f"{rule}:active") if rule != "random" else ("rule-random",),
    )


def _make_cpsat(option: str | None) -> Any:
    from .cpsat import CPSatPolicy

    return CPSatPolicy(variant=option)


#: registry entries: every rule (``"mwkr"``, ``"mwkr:active"``, ...) and ``"cpsat"`` / ``"cpsat:<seconds>"``
POLICIES: dict[str, PolicyEntry] = {name: _rule_entry(name) for name in RULE_NAMES if name != "random"}
POLICIES["rule-random"] = _rule_entry("random")
POLICIES["cpsat"] = PolicyEntry(
    make=_make_cpsat,
    summary="OR-Tools CP-SAT job-shop model solved at reset, replayed through the serial builder",
    env_ids=("schedgym/JobShop-v0",),
    options="time limit in seconds (default 10)",
    kind="exact",
    examples=("cpsat", "cpsat:10"),
)


def __getattr__(name: str) -> Any:  # the CP-SAT names, imported on first use (they need OR-Tools)
    if name in ("CPSatPolicy", "CPSatResult", "solve_jobshop"):
        from . import cpsat

        return getattr(cpsat, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CPSatPolicy", "CPSatResult", "DispatchingRule", "JOBSHOP_FAMILY", "POLICIES", "RULE_NAMES", "solve_jobshop"]
