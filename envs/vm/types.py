"""Typed records of the VM rescheduling domain: ``info["solution"]`` and its migrations (plain JSON)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypedDict

import numpy as np

if TYPE_CHECKING:
    from .state import VMState


class MigrationRecord(TypedDict):
    """One migration: the VM, where it was and where it went (NUMA nodes as lists: ``[0]``, ``[1]`` or
    ``[0, 1]`` for a double-NUMA VM)."""

    vm: str
    from_pm: str
    from_numa: list[int]
    to_pm: str
    to_numa: list[int]


class VMSolution(TypedDict):
    """``info["solution"]`` of ``schedgym/VMReschedule-v0``: the migrations in order, with the figures
    the validator recomputes."""

    snapshot: str
    mnl: int
    migrations: list[MigrationRecord]
    fragment_rate: float
    fragment_rate_initial: float
    slots16: int


class VMView(Protocol):
    """What a VM-rescheduling baseline may read from the environment (``env.unwrapped``)."""

    @property
    def state(self) -> "VMState":
        """The live simulation state (free resources, placements, deltas, legality)."""

    @property
    def stage(self) -> int:
        """0: pick a VM or stop; 1: pick the chosen VM's destination."""

    @property
    def mnl(self) -> int:
        """The migration number limit of the episode."""

    @property
    def migrations_done(self) -> int: ...

    def vm_node(self, v: int) -> int:
        """Node index of VM ``v``."""

    def numa_node(self, p: int, k: int) -> int:
        """Node index of NUMA node ``k`` of PM ``p``."""

    @property
    def stop_node(self) -> int: ...

    def action_masks(self) -> np.ndarray: ...
