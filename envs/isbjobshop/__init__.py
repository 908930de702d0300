"""The interrupting swap-allowed blocking job shop (ISBJSSP): simulator, Gym env, validator, Gantt renderer.

Ids: ``schedgym/ISBJobShop-v0`` (blocking + swaps + random machine shutdowns),
``schedgym/BlockingJobShop-v0`` (blocking + swaps, no shutdowns) and ``schedgym/InterruptJobShop-v0``
(buffers, random machine shutdowns). Instances come from :mod:`schedgym.envs.jobshop`. Suites' cases,
references and plots: :mod:`.suite`; speed: :mod:`.bench`; baselines: :mod:`schedgym.agents.isbjobshop`
(and the job-shop dispatching rules, which run here through :class:`~schedgym.envs.jobshop.DispatchView`).
"""

from __future__ import annotations

from ..domain import Domain, EnvEntry, Gallery
from .env import GLOBAL_FEATURES, NODE_FEATURES, SCHEDULE_BUILDERS, ISBJobShopEnv
from .state import ISBJobShopState, parse_repair
from .types import ISBSolution, ISBView
from .validate import InfeasibleISBScheduleError, validate_isb_schedule

_ENV = "schedgym.envs.isbjobshop.env:ISBJobShopEnv"

DOMAIN = Domain(
    name="isbjobshop",
    title="job shop with blocking (no buffers), swaps and random machine shutdowns",
    env_ids={
        "schedgym/ISBJobShop-v0": EnvEntry(_ENV, {"shutdown_prob": 0.05},
                                           "blocking + swaps + random machine shutdowns (p=0.05 per machine per time unit)"),
        "schedgym/BlockingJobShop-v0": EnvEntry(_ENV, {"shutdown_prob": 0.0}, "blocking + swaps, no shutdowns"),
        "schedgym/InterruptJobShop-v0": EnvEntry(_ENV, {"blocking": False, "shutdown_prob": 0.05},
                                                 "unlimited buffers + random machine shutdowns"),
    },
    policies="schedgym.agents.isbjobshop",
    suites=("isb-lawrence-10x5", "isb-lawrence"),
    bench="schedgym.envs.isbjobshop.bench:bench_rows",
    references="schedgym.envs.isbjobshop.suite:blocking_reference",
    docs="docs/isbjobshop.md",
    gallery=Gallery(
        "schedgym/ISBJobShop-v0", "spt", "schedgym.envs.isbjobshop.render:env_figure",
        env_kwargs={"n_jobs": 6, "n_machines": 4, "shutdown_prob": 0.004},
        seed=0, caption="SPT with blocking, swaps and machine shutdowns on a seeded 6x4 instance",
    ),
)

__all__ = [
    "DOMAIN",
    "GLOBAL_FEATURES",
    "ISBJobShopEnv",
    "ISBJobShopState",
    "ISBSolution",
    "ISBView",
    "InfeasibleISBScheduleError",
    "NODE_FEATURES",
    "SCHEDULE_BUILDERS",
    "parse_repair",
    "validate_isb_schedule",
]
