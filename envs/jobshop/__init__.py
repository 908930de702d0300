"""The classic job shop: instances, simulator, environment, validator, Gantt rendering."""

from .env import JobShopEnv
from .instance import (
    JobShopInstance,
    best_known,
    generate_random,
    load_instance,
    read_instance,
    taillard_instance,
    write_instance,
)
from .state import JobShopState
from .validate import validate_schedule

__all__ = [
    "JobShopEnv",
    "JobShopInstance",
    "JobShopState",
    "best_known",
    "generate_random",
    "load_instance",
    "read_instance",
    "taillard_instance",
    "validate_schedule",
    "write_instance",
]
