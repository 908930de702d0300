"""ISBJSSP baselines: CP-SAT blocking-with-swaps, clairvoyant CP-SAT, reactive re-solving.

The job-shop dispatching rules (``spt``, ``mwkr``, ... from :mod:`schedgym.agents.jobshop`) run on the
ISBJSSP environments unchanged through ``dispatch_candidates()``; their ``:nondelay`` and ``:serial``
variants are supported (``:active`` raises: active schedules are not defined under blocking).
"""

from __future__ import annotations

from typing import Any

from .cpsat import ISBSolveResult, ShopSnapshot, completion_table, greedy_schedule, solve_blocking, solve_snapshot
from .policies import CPSatBlockingPolicy, ClairvoyantPolicy, ReactivePolicy, solve_clairvoyant

#: registry names; the variant after a colon is the CP-SAT time limit in seconds
POLICIES: dict[str, Any] = {
    "isb-cpsat": lambda variant=None, **kw: CPSatBlockingPolicy(variant=variant, **kw),
    "isb-clairvoyant": lambda variant=None, **kw: ClairvoyantPolicy(variant=variant, **kw),
    "isb-reactive": lambda variant=None, **kw: ReactivePolicy(variant=variant, **kw),
}

__all__ = [
    "CPSatBlockingPolicy",
    "ClairvoyantPolicy",
    "ISBSolveResult",
    "POLICIES",
    "ReactivePolicy",
    "ShopSnapshot",
    "completion_table",
    "greedy_schedule",
    "solve_blocking",
    "solve_clairvoyant",
    "solve_snapshot",
]
