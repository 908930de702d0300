"""Typed records of the memory domain: the episode's solution and the view baselines read."""

from __future__ import annotations

from typing import Literal, Protocol, TypedDict

import numpy as np

from .instance import MemoryInstance


class MemorySolution(TypedDict):
    """``info["solution"]`` at episode end (plain JSON-able values).

    Attributes:
        instance: the instance's name.
        mode: ``"mapping"`` or ``"allocation"``.
        capacity: bytes of fast memory the placement had to fit in.
        offsets: per buffer, its offset in fast memory, or -1 (slow memory / not placed).
        order: the buffers in the order they were placed.
        solved: allocation: every buffer placed; mapping: always True.
        program_time_us: mapping: the program time in microseconds (None in allocation mode).
    """

    instance: str
    mode: str
    capacity: int
    offsets: list[int]
    order: list[int]
    solved: bool
    program_time_us: float | None


class MemoryView(Protocol):
    """What a memory baseline may read of the environment (``env.unwrapped``)."""

    @property
    def instance(self) -> MemoryInstance: ...

    @property
    def mode(self) -> Literal["mapping", "allocation"]: ...

    @property
    def stop_node(self) -> int:
        """The node that ends a mapping episode (the rest stays in slow memory)."""

    def legal_buffers(self) -> np.ndarray:
        """Buffers that can be placed now (their node index is the buffer index)."""

    def candidate_offsets(self) -> np.ndarray:
        """Per buffer, the offset it would get if placed now (its canonical offset)."""

    def placed(self) -> np.ndarray:
        """Per buffer, whether it is placed."""

    def benefit(self) -> np.ndarray:
        """Per buffer, time (s) saved by moving it alone to fast memory, less its exposed copy time
        (:func:`~schedgym.envs.memory.simulator.net_benefit`; mapping; 0 in allocation)."""
