"""The interrupting swap-allowed blocking job shop (ISBJSSP): simulator, Gym env, validator, Gantt renderer.

Ids: ``schedgym/ISBJobShop-v0`` (blocking + swaps + random machine shutdowns),
``schedgym/BlockingJobShop-v0`` (blocking + swaps, no shutdowns) and ``schedgym/InterruptJobShop-v0``
(buffers, random machine shutdowns). Instances come from :mod:`schedgym.envs.jobshop.instance`.
"""

from __future__ import annotations

from .env import GLOBAL_FEATURES, NODE_FEATURES, SCHEDULE_BUILDERS, ISBJobShopEnv
from .state import ISBJobShopState, parse_repair
from .validate import InfeasibleISBScheduleError, validate_isb_schedule

__all__ = [
    "GLOBAL_FEATURES",
    "ISBJobShopEnv",
    "ISBJobShopState",
    "InfeasibleISBScheduleError",
    "NODE_FEATURES",
    "SCHEDULE_BUILDERS",
    "parse_repair",
    "validate_isb_schedule",
]
