"""Typed doors of the job-shop family: what a policy may read of an env, and the solution record.

:class:`DispatchView` is implemented by ``schedgym/JobShop-v0`` and the ISBJSSP envs
(``schedgym/ISBJobShop-v0`` and its two variants); dispatching rules use nothing else.
"""

from __future__ import annotations

from typing import Protocol, TypedDict, runtime_checkable

import numpy as np

from .instance import JobShopInstance
from .state import JobShopState


@runtime_checkable
class DispatchView(Protocol):
    """What a dispatching rule reads of a job-shop-family env."""

    instance: JobShopInstance
    schedule_builder: str

    def dispatch_candidates(self) -> dict[str, np.ndarray]:
        """The legal operations with their rule attributes, ascending job: ``action`` (node index), ``job``,
        ``processing_time``, ``job_remaining_work`` (this op included), ``job_remaining_ops`` (included),
        ``job_work_done`` (up to and including this op), ``ready_time``. Empty when only a wait node is
        legal."""
        ...


@runtime_checkable
class JobShopView(DispatchView, Protocol):
    """What the CP-SAT replay reads of ``schedgym/JobShop-v0``: the dispatch view and the simulator state
    (read-only by convention)."""

    state: JobShopState


class JobShopSolution(TypedDict):
    """``info["solution"]`` of ``schedgym/JobShop-v0``, checked by :func:`~.validate.validate_schedule`."""

    instance: str
    #: start time of operation ``j * n_machines + k`` (job ``j``'s ``k``-th operation)
    start: list[int]
    #: per machine, the operation indices in processing order
    machine_sequences: list[list[int]]
    makespan: int
