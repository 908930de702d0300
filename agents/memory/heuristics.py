"""Memory baselines: the allocators' and compilers' heuristics, planned at reset and replayed.

Allocation heuristics of the TelaMalloc / MiniMalloc papers' comparisons:

* **first-fit** and **best-fit** under an order: each buffer in turn goes into the lowest gap
  (first-fit) or the smallest gap that holds it (best-fit) among the address ranges left free, over its
  lifetime, by the buffers already placed. Orders: ``size`` (decreasing size, then longer lifetime),
  ``lifetime`` (longer first, then larger), ``area`` (size x lifetime), ``conflict`` (largest total
  size of the buffers overlapping it in time first), ``start`` (earliest first, then larger).

Mapping heuristics:

* **all-slow**: nothing in fast memory (the reference point of every speed-up).
* **xla**: XLA memory-space-assignment-like: buffers by decreasing benefit density (net time saved
  alone, roofline saving less the exposed copy time, / (size x lifetime)), those with a positive
  benefit placed best-fit while they fit.

A plan (one offset per buffer, or -1) is replayed through the environment by placing its buffers in
increasing order of offset: each lands at its canonical offset, at or below the planned one, so the
replayed placement is feasible and no worse (``docs/memory.md``). In allocation mode, buffers the plan
left out are then placed greedily while any fits.

**lowest-offset** is the env-native online greedy: the legal buffer with the lowest canonical offset
(ties: larger, then longer-lived); in mapping mode only buffers with a benefit, stopping when none fits.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from schedgym.agents.base import BasePolicy
from schedgym.envs.memory.instance import MemoryInstance
from schedgym.envs.memory.simulator import net_benefit
from schedgym.envs.memory.types import MemoryView

ORDERS: tuple[str, ...] = ("size", "lifetime", "area", "conflict", "start")


def buffer_order(instance: MemoryInstance, order: str) -> np.ndarray:
    """The buffers sorted by one of :data:`ORDERS` (ties by index)."""
    size, life = instance.size, instance.upper - instance.lower
    idx = np.arange(instance.n_buffers)
    if order == "size":
        return np.lexsort((idx, -life, -size))
    if order == "lifetime":
        return np.lexsort((idx, -size, -life))
    if order == "area":
        return np.lexsort((idx, -size, -(size * life)))
    if order == "conflict":
        ov = instance.overlap_matrix()
        conflict = ov.astype(np.int64) @ size
        return np.lexsort((idx, -size, -conflict))
    if order == "start":
        return np.lexsort((idx, -size, instance.lower))
    raise ValueError(f"unknown buffer order {order!r}; known: {ORDERS}")


def fit_plan(instance: MemoryInstance, order: np.ndarray, best: bool, capacity: int | None = None) -> np.ndarray:
    """First-fit (``best=False``) or best-fit placement of the buffers in ``order``; -1 where none fits."""
    cap = instance.capacity if capacity is None else int(capacity)
    lo, up, sz = instance.lower, instance.upper, instance.size
    off = np.full(instance.n_buffers, -1, np.int64)
    placed: list[int] = []
    for b in order.tolist():
        s = int(sz[b])
        if s > cap:
            continue
        if placed:
            p = np.asarray(placed)
            live = p[(lo[p] < up[b]) & (lo[b] < up[p])]
        else:
            live = np.zeros(0, np.int64)
        if live.size == 0:
            off[b] = 0
            placed.append(b)
            continue
        starts = off[live]
        ends = starts + sz[live]
        srt = np.argsort(starts, kind="stable")
        starts, ends = starts[srt], ends[srt]
        chosen, chosen_gap = -1, None
        cursor = 0
        for st, en in zip(starts.tolist() + [cap], ends.tolist() + [cap]):
            gap = st - cursor
            if gap >= s:
                if not best:
                    chosen = cursor
                    break
                if chosen_gap is None or gap < chosen_gap:
                    chosen, chosen_gap = cursor, gap
            cursor = max(cursor, en)
        if chosen >= 0 and chosen + s <= cap:
            off[b] = chosen
            placed.append(b)
    return off


def xla_plan(instance: MemoryInstance) -> np.ndarray:
    """XLA memory-space-assignment-like mapping: by decreasing benefit density, best-fit, benefit > 0 only."""
    benefit = net_benefit(instance)
    life = (instance.upper - instance.lower).astype(np.float64)
    density = benefit / np.maximum(instance.size * life, 1.0)
    idx = np.arange(instance.n_buffers)
    order = np.lexsort((idx, -density))
    order = order[benefit[order] > 0]
    return fit_plan(instance, order, best=True)


class PlanReplayPolicy(BasePolicy):
    """Base of the planned heuristics: ``plan(instance, mode) -> offsets`` at reset, replayed by offset."""

    modes: tuple[str, ...] = ("mapping", "allocation")

    def plan(self, instance: MemoryInstance, mode: str) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def completion_order(self, instance: MemoryInstance) -> np.ndarray:
        """Allocation: order in which buffers the plan left out are tried afterwards."""
        return buffer_order(instance, "size")

    def reset(self, env: Any, seed: int | None = None) -> None:
        super().reset(env, seed)
        view = cast(MemoryView, env)
        self.view = view
        if view.mode not in self.modes:
            raise ValueError(f"policy {self.name!r} serves mode(s) {self.modes}, not {view.mode!r}")
        inst = view.instance
        off = self.plan(inst, view.mode)
        placed = np.flatnonzero(off >= 0)
        self.queue = placed[np.lexsort((placed, off[placed]))].tolist()
        self.planned = off
        self.episode_extra = {"planned": int(placed.size)}
        self._pos = 0

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        mask = obs["action_mask"]
        while self._pos < len(self.queue):
            b = self.queue[self._pos]
            self._pos += 1
            if mask[b]:
                return int(b)
            raise RuntimeError(f"{self.name}: planned buffer {b} is not placeable on replay (a bug)")
        view = self.view
        if view.mode == "mapping":
            return int(view.stop_node)
        placed = view.placed()
        for b in self.completion_order(view.instance).tolist():
            if not placed[b] and mask[b]:
                return int(b)
        legal = np.flatnonzero(mask)
        return int(legal[0])


class FitPolicy(PlanReplayPolicy):
    """First-fit or best-fit under an order (TelaMalloc-style baseline allocators)."""

    def __init__(self, best: bool, order: str = "size") -> None:
        if order not in ORDERS:
            raise ValueError(f"unknown order {order!r}; known: {ORDERS}")
        super().__init__(name=f"mem-{'best' if best else 'first'}-fit:{order}")
        self.best, self.order = best, order

    def plan(self, instance: MemoryInstance, mode: str) -> np.ndarray:
        order = buffer_order(instance, self.order)
        if mode == "mapping":
            benefit = net_benefit(instance)
            order = order[benefit[order] > 0]
        return fit_plan(instance, order, self.best)

    def completion_order(self, instance: MemoryInstance) -> np.ndarray:
        return buffer_order(instance, self.order)


class XLAPolicy(PlanReplayPolicy):
    """XLA memory-space-assignment-like greedy by benefit density with best-fit offsets (mapping)."""

    modes = ("mapping",)

    def __init__(self) -> None:
        super().__init__(name="mem-xla")

    def plan(self, instance: MemoryInstance, mode: str) -> np.ndarray:
        return xla_plan(instance)


class AllSlowPolicy(BasePolicy):
    """Mapping: every buffer stays in slow memory (picks the stop node at once)."""

    name = "mem-all-slow"
    labels_any_state = True

    def reset(self, env: Any, seed: int | None = None) -> None:
        super().reset(env, seed)
        self.view = cast(MemoryView, env)
        if self.view.mode != "mapping":
            raise ValueError("mem-all-slow serves mapping mode only (allocation must place every buffer)")

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        return int(self.view.stop_node)


class LowestOffsetPolicy(BasePolicy):
    """Online greedy on the env: the legal buffer with the lowest canonical offset (ties: larger, then
    longer-lived, then lower index); in mapping mode only buffers with a benefit, then stop."""

    name = "mem-lowest-offset"
    labels_any_state = True  # ranks the env's current legal buffers (by constants of the instance)

    def reset(self, env: Any, seed: int | None = None) -> None:
        super().reset(env, seed)
        self.view = cast(MemoryView, env)
        inst = self.view.instance
        self._size = inst.size
        self._life = inst.upper - inst.lower
        self._useful = self.view.benefit() > 0 if self.view.mode == "mapping" else np.ones(inst.n_buffers, bool)

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        legal = self.view.legal_buffers()
        legal = legal[self._useful[legal]]
        if legal.size == 0:
            return int(self.view.stop_node)
        cand = self.view.candidate_offsets()[legal]
        pick = np.lexsort((legal, -self._life[legal], -self._size[legal], cand))[0]
        return int(legal[pick])
