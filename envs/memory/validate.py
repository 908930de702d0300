"""Independent checker of a finished memory placement; recomputes the objective.

It shares no code with the simulator: the overlap test, the capacity test and the program time are
written again here from the definitions in ``docs/memory.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .instance import MemoryInstance


class InvalidSolution(AssertionError):
    """The solution breaks a rule; the message says which buffers and how."""


def _fail(msg: str) -> None:
    raise InvalidSolution(msg)


def check_placement(instance: MemoryInstance, offsets: np.ndarray, allow_unplaced: bool) -> None:
    """No two placed buffers overlap in time and address; each lies within ``[0, capacity)``."""
    n = instance.n_buffers
    off = np.asarray(offsets, np.int64)
    if off.shape != (n,):
        _fail(f"{instance.name}: {off.shape[0] if off.ndim == 1 else off.shape} offsets for {n} buffers")
    placed = off >= 0
    if (off < -1).any():
        b = int(np.flatnonzero(off < -1)[0])
        _fail(f"{instance.name}: buffer {instance.ids[b]!r} has offset {int(off[b])} (use -1 for 'not in fast memory')")
    if not allow_unplaced and not placed.all():
        b = int(np.flatnonzero(~placed)[0])
        _fail(f"{instance.name}: buffer {instance.ids[b]!r} is not placed (allocation places every buffer)")
    top = off + instance.size
    over = placed & (top > instance.capacity)
    if over.any():
        b = int(np.flatnonzero(over)[0])
        _fail(f"{instance.name}: buffer {instance.ids[b]!r} at [{int(off[b])}, {int(top[b])}) exceeds capacity {instance.capacity}")
    idx = np.flatnonzero(placed & (instance.size > 0))
    # sweep over time: sort by lower; compare each buffer with the buffers placed whose interval is still open
    order = idx[np.argsort(instance.lower[idx], kind="stable")]
    active: list[int] = []
    for b in order.tolist():
        lo = int(instance.lower[b])
        active = [a for a in active if int(instance.upper[a]) > lo]
        for a in active:
            if off[a] < top[b] and off[b] < top[a]:
                _fail(
                    f"{instance.name}: buffers {instance.ids[a]!r} (time [{int(instance.lower[a])}, {int(instance.upper[a])}), "
                    f"address [{int(off[a])}, {int(top[a])})) and {instance.ids[b]!r} (time [{lo}, {int(instance.upper[b])}), "
                    f"address [{int(off[b])}, {int(top[b])})) overlap in time and address"
                )
        active.append(b)


def recompute_program_time(instance: MemoryInstance, fast: np.ndarray) -> float:
    """Program time in seconds, by direct event-by-event simulation of the instructions and copy engine."""
    p = instance.program
    if p is None:
        _fail(f"{instance.name}: no program, so no program time")
    assert p is not None
    hw = p.hardware
    n_instr = p.n_instructions
    uses_of: list[list[tuple[int, float]]] = [[] for _ in range(n_instr)]
    first_use: dict[int, int] = {}
    for k, b, y in zip(p.use_instr.tolist(), p.use_buffer.tolist(), p.use_bytes.tolist()):
        uses_of[k].append((b, y))
        first_use[b] = min(first_use.get(b, k), k)
    copies = hw.copy_bw > 0
    t = 0.0  # current time on the compute timeline
    engine = 0.0  # when the copy engine is next free
    ready: dict[int, float] = {}
    for k in range(n_instr):
        if copies:
            for b in range(instance.n_buffers):
                if fast[b] and instance.prefetch[b] and int(instance.lower[b]) == k:
                    engine = max(engine, t) + float(instance.size[b]) / hw.copy_bw
                    ready[b] = engine
            for b, _ in uses_of[k]:
                if b in ready and first_use.get(b) == k:
                    t = max(t, ready[b])
        mem = sum(y / (hw.fast_bw if fast[b] else hw.slow_bw) for b, y in uses_of[k])
        t += max(float(p.flops[k]) / hw.peak_flops, mem)
        if copies:
            for b in range(instance.n_buffers):
                if fast[b] and instance.evict[b] and int(instance.upper[b]) - 1 == k:
                    engine = max(engine, t) + float(instance.size[b]) / hw.copy_bw
    return max(t, engine) if copies else t


def validate_solution(instance: MemoryInstance, solution: Mapping[str, Any]) -> float:
    """Check a :class:`~schedgym.envs.memory.types.MemorySolution`; return its objective recomputed:
    ``program_time`` in µs (mapping) or ``solved`` as 1.0/0.0 (allocation)."""
    for key in ("mode", "capacity", "offsets", "order", "solved"):
        if key not in solution:
            _fail(f"solution lacks {key!r}")
    mode = solution["mode"]
    if mode not in ("mapping", "allocation"):
        _fail(f"solution mode {mode!r} is neither 'mapping' nor 'allocation'")
    if int(solution["capacity"]) != instance.capacity:
        _fail(f"solution capacity {solution['capacity']} != the instance's {instance.capacity}")
    off = np.asarray(solution["offsets"], np.int64)
    order = list(solution["order"])
    placed = off >= 0 if off.ndim == 1 else None
    check_placement(instance, off, allow_unplaced=True)
    assert placed is not None
    if sorted(order) != sorted(np.flatnonzero(placed).tolist()) or len(set(order)) != len(order):
        _fail(f"{instance.name}: 'order' must list every placed buffer exactly once")
    if mode == "allocation":
        all_placed = bool(placed.all())
        if bool(solution["solved"]) != all_placed:
            _fail(f"{instance.name}: solved={solution['solved']} but {int(placed.sum())}/{instance.n_buffers} buffers placed")
        return 1.0 if all_placed else 0.0
    t = recompute_program_time(instance, placed) * 1e6
    reported = solution.get("program_time_us")
    if reported is not None and not np.isclose(float(reported), t, rtol=1e-9, atol=1e-9):
        _fail(f"{instance.name}: reported program time {reported} us != recomputed {t} us")
    return t
