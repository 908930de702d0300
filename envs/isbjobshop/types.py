"""Typed doors of the ISBJSSP envs: what its solver-based policies may read, and the solution record."""

from __future__ import annotations

from typing import Protocol, TypedDict, runtime_checkable

from ..jobshop.types import DispatchView
from .state import ISBJobShopState


@runtime_checkable
class ISBView(DispatchView, Protocol):
    """What the ISBJSSP solver policies read: the dispatch view, the simulator state (read-only by
    convention: policies copy it before simulating ahead) and the index of the wait node."""

    state: ISBJobShopState
    wait_node: int


class SwapRecord(TypedDict):
    time: int
    #: the jobs of one swap cycle, each as ``[job, op]`` (the operation it moves on to)
    moves: list[list[int]]


class ISBSolution(TypedDict):
    """``info["solution"]`` of the ISBJSSP envs, checked by
    :func:`~schedgym.envs.isbjobshop.validate.validate_isb_schedule`."""

    instance: str
    blocking: bool
    interruption: str
    #: ``[job][op]`` start, completion and leave times (-1 where an operation never ran)
    start: list[list[int]]
    completion: list[list[int]]
    leave: list[list[int]]
    #: per machine, the realized down intervals ``[a, b)`` that began before the makespan
    downtime: list[list[list[int]]]
    swaps: list[SwapRecord]
    makespan: int
