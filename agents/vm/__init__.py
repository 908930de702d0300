"""VM rescheduling baselines (``schedgym/VMReschedule-v0``): the greedy FR scan, filter-and-score, and
the CP-SAT reference (imported only when a ``vm-cpsat`` policy is built: it needs OR-Tools)."""

from __future__ import annotations

from typing import Any

from ..spec import PolicyEntry
from .heuristics import FilterScorePolicy, GreedyFRPolicy, SlotCompletionPolicy, best_move

VM_IDS: tuple[str, ...] = ("schedgym/VMReschedule-v0",)


def _greedy(option: str | None) -> GreedyFRPolicy:
    if option not in (None, "zero"):
        raise ValueError(f"vm-greedy takes no option or 'zero', got {option!r}")
    return GreedyFRPolicy(allow_zero=option == "zero")


def _filter_score(option: str | None) -> FilterScorePolicy:
    if option is None:
        return FilterScorePolicy()
    try:
        k = int(option)
    except ValueError:
        raise ValueError(f"vm-filter-score takes the number of fragmented PMs to scan, got {option!r}") from None
    return FilterScorePolicy(k)


def _cpsat(option: str | None) -> Any:
    from .exact import CPSatVMPolicy

    if option is None:
        return CPSatVMPolicy()
    seconds, _, workers = option.partition(",")
    try:
        t = float(seconds)
        w = int(workers.removeprefix("w=")) if workers else 1
    except ValueError:
        raise ValueError(f"vm-cpsat takes '<seconds>' or '<seconds>,w=<workers>', got {option!r}") from None
    return CPSatVMPolicy(time_limit=t, workers=w)


POLICIES: dict[str, PolicyEntry] = {
    "vm-greedy": PolicyEntry(
        make=_greedy,
        summary="full scan: each migration is the one that lowers FR most; stops when none does",
        env_ids=VM_IDS,
        options="'zero': also take FR-neutral moves (each VM once), so chains of moves can open slots",
        examples=("vm-greedy", "vm-greedy:zero"),
    ),
    "vm-filter-score": PolicyEntry(
        make=_filter_score,
        summary="filter-and-score: VMs of the most fragmented PMs, best-fit destinations, first move that lowers FR",
        env_ids=VM_IDS,
        options="how many of the most fragmented PMs to scan (default 8)",
        examples=("vm-filter-score", "vm-filter-score:16"),
    ),
    "vm-slot": PolicyEntry(
        make=lambda option: SlotCompletionPolicy(),
        summary="slot completion: per NUMA node, the fewest VM departures that complete a 16-core slot, each "
                "landing within another node's remainder; best rate first, single improving moves too",
        env_ids=VM_IDS,
        examples=("vm-slot",),
    ),
    "vm-cpsat": PolicyEntry(
        make=_cpsat,
        summary="OR-Tools CP-SAT type-flow model: at most MNL migrations minimising FR, solved at reset from "
                "the vm-slot hint (intermediate capacity enforced by ordering + re-solve), replayed; reports "
                "wall time and bound",
        env_ids=VM_IDS,
        options="time limit in seconds (default 10), optionally ',w=<workers>' (default 1)",
        kind="exact",
        examples=("vm-cpsat:10", "vm-cpsat:60,w=2"),
    ),
}


def __getattr__(name: str) -> Any:  # the CP-SAT names, imported on first use (they need OR-Tools)
    if name in ("CPSatVMPolicy", "VMSolveResult", "solve_vm"):
        from . import exact

        return getattr(exact, name)
    raise AttributeError(name)


__all__ = ["POLICIES", "FilterScorePolicy", "GreedyFRPolicy", "SlotCompletionPolicy", "best_move"]
