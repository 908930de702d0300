"""ISBJSSP baselines: CP-SAT blocking-with-swaps, clairvoyant CP-SAT, reactive re-solving.

The job-shop dispatching rules (``spt``, ``mwkr``, ... from :mod:`schedgym.agents.jobshop`) run on the
ISBJSSP environments unchanged through :class:`~schedgym.envs.jobshop.DispatchView`; their
``:nondelay`` and ``:serial`` variants are supported (``:active`` raises: active schedules are not
defined under blocking). Everything here needs OR-Tools and is imported on first use.
"""

from __future__ import annotations

from typing import Any

from ..spec import PolicyEntry

_ISB_IDS = ("schedgym/ISBJobShop-v0", "schedgym/BlockingJobShop-v0", "schedgym/InterruptJobShop-v0")
_LIMIT = "CP-SAT time limit in seconds"


def _lazy(class_name: str) -> Any:
    def make(option: str | None) -> Any:
        from . import policies

        return getattr(policies, class_name)(variant=option)

    return make


#: registry entries; the option after a colon is the CP-SAT time limit in seconds
POLICIES: dict[str, PolicyEntry] = {
    "isb-cpsat": PolicyEntry(_lazy("CPSatBlockingPolicy"), "CP-SAT blocking job shop with swaps, solved once at "
                             "reset without knowing shutdowns, replayed by machine sequence", _ISB_IDS,
                             options=f"{_LIMIT} (default 10)", kind="exact", examples=("isb-cpsat:30",)),
    "isb-clairvoyant": PolicyEntry(_lazy("ClairvoyantPolicy"), "CP-SAT knowing the episode's shutdown "
                                   "realization: a bound no online policy can beat", _ISB_IDS,
                                   options=f"{_LIMIT} (default 10)", kind="oracle", examples=("isb-clairvoyant:30",)),
    "isb-reactive": PolicyEntry(_lazy("ReactivePolicy"), "CP-SAT at reset (10 s), re-solved at every disruption",
                                _ISB_IDS, options=f"{_LIMIT} of each re-solve (default 1)", kind="exact",
                                examples=("isb-reactive:1",)),
}

_LAZY_NAMES = {
    "CPSatBlockingPolicy": "policies", "ClairvoyantPolicy": "policies", "ReactivePolicy": "policies",
    "solve_clairvoyant": "policies", "ISBSolveResult": "cpsat", "ShopSnapshot": "cpsat",
    "completion_table": "cpsat", "greedy_schedule": "cpsat", "solve_blocking": "cpsat", "solve_snapshot": "cpsat",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["POLICIES", *sorted(_LAZY_NAMES)]
