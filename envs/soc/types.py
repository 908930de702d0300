"""Typed doors of the SoC domain: what a baseline may read of the env, and the solution record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Protocol, TypedDict, runtime_checkable

if TYPE_CHECKING:
    from .simulator import SoCSimulator


class SoCJobRecord(TypedDict):
    app: str  #: application name
    arrival: float  #: µs


class SoCTaskRecord(TypedDict):
    """One entry per task of the episode (column lists, job by job in arrival order)."""

    job: list[int]  #: index into ``jobs``
    task: list[int]  #: task id within its application
    pe: list[int]  #: PE that ran it
    start: list[float]  #: µs
    end: list[float]  #: µs
    factor: list[float]  #: noise factor (realized duration / expected duration)


class SoCSolution(TypedDict):
    """``info["solution"]`` of ``schedgym/SoCDAG-v0``, checked by
    :func:`~.validate.validate_soc_schedule`."""

    soc: str
    jobs: list[SoCJobRecord]
    warmup_jobs: int  #: the first jobs left out of the latency statistics
    max_jobs_in_system: Optional[int]
    tasks: SoCTaskRecord


@runtime_checkable
class SoCSchedulingView(Protocol):
    """What a baseline reads of ``schedgym/SoCDAG-v0``: the simulator (read-only by convention), the step
    of the two-step action, and the node index of a task or PE in the current observation."""

    sim: "SoCSimulator"
    phase: int  #: 0: pick a task, a PE or wait; 1: pick the other half of the pair
    chosen_task: int  #: the task picked in the first step (-1 if none)
    chosen_pe: int  #: the PE picked in the first step (-1 if none)

    def task_node(self, g: int) -> int:
        """Node index of task ``g`` (-1 when it is not a node of the observation)."""
        ...

    def pe_node(self, p: int) -> int:
        """Node index of PE ``p``."""
        ...
