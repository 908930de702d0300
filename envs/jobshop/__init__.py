"""The classic job shop: instances, simulator, environment, validator, Gantt rendering.

Where things are: :mod:`.instance` (the dataclass), :mod:`.formats` (standard and Taillard files),
:mod:`.taillard` (Taillard's generator, ta01-ta80), :mod:`.generator` (random training instances),
:mod:`.catalog` (instances by name, the name resolver, best-known bounds), :mod:`.state` (the
simulator and its schedule builders), :mod:`.env`, :mod:`.validate`, :mod:`.render`, :mod:`.bench`.
Baselines: :mod:`schedgym.agents.jobshop`.
"""

from ..domain import Domain, EnvEntry, Gallery
from .catalog import best_known, instance_names, load_instance, resolve_name, suite_reference
from .env import JobShopEnv
from .formats import format_standard, format_taillard, parse_instance, read_instance, write_instance
from .generator import generate_random
from .instance import InstanceFormatError, JobShopInstance, UnknownInstanceError
from .state import JobShopState
from .taillard import TAILLARD_SEEDS, TAILLARD_SIZES, taillard_instance
from .types import DispatchView, JobShopSolution, JobShopView
from .validate import validate_schedule

DOMAIN = Domain(
    name="jobshop",
    title="classic job shop (disjunctive graph)",
    env_ids={
        "schedgym/JobShop-v0": EnvEntry(
            "schedgym.envs.jobshop.env:JobShopEnv",
            summary="pick the next operation from the schedule builder's candidates; minimise the makespan",
        ),
    },
    policies="schedgym.agents.jobshop",
    suites=("ft06", "lawrence-10x5", "generated-10x10", "taillard-15x15", "taillard-20x15", "taillard-20x20",
            "taillard-30x15", "taillard-30x20", "taillard-50x15", "taillard-50x20", "taillard-100x20"),
    bench="schedgym.envs.jobshop.bench:bench_rows",
    references="schedgym.envs.jobshop.catalog:suite_reference",
    docs="README.md#job-shop-schedgymjobshop-v0",
    gallery=Gallery(
        "schedgym/JobShop-v0", "mwkr:nondelay", "schedgym.envs.jobshop.render:env_figure",
        env_kwargs={"n_jobs": 6, "n_machines": 6},
        seed=0, caption="most-work-remaining (non-delay) on a seeded 6x6 instance",
    ),
)

__all__ = [
    "DOMAIN",
    "DispatchView",
    "InstanceFormatError",
    "JobShopEnv",
    "JobShopInstance",
    "JobShopSolution",
    "JobShopState",
    "JobShopView",
    "TAILLARD_SEEDS",
    "TAILLARD_SIZES",
    "UnknownInstanceError",
    "best_known",
    "format_standard",
    "format_taillard",
    "generate_random",
    "instance_names",
    "load_instance",
    "parse_instance",
    "read_instance",
    "resolve_name",
    "suite_reference",
    "taillard_instance",
    "validate_schedule",
    "write_instance",
]
