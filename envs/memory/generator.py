"""Seeded synthetic programs: a chain of instructions with skip connections and weights.

:class:`SyntheticProgram` draws a program shaped like a small network's forward pass. Instruction
``i`` writes one activation buffer and reads the previous activation, sometimes an older one (a skip
connection, within ``skip_window`` instructions), and sometimes a weight buffer (a prefetch buffer,
live from one instruction before its use, so that its copy can overlap the previous instruction). The
first activation is the program input (prefetch), the last the output (evict). Activation sizes are
log-normal; FLOPs are the instruction's bytes times an arithmetic intensity drawn log-uniformly, so
some instructions are compute-bound and some memory-bound on the chosen hardware.

The capacity is ``capacity_ratio`` times the largest live total (``max_load``): below 1 the mapping
must choose; in allocation mode use a ratio above 1 (``slack``) so that an allocation may exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .hardware import get_hardware
from .instance import MemoryInstance, Program

ALIGN = 64


@dataclass(frozen=True)
class SyntheticProgram:
    """Seeded generator of synthetic programs; ``gen(rng) -> MemoryInstance``.

    Attributes:
        n_buffers: number of buffers (activations + weights).
        weight_prob: probability that an instruction also reads a weight buffer.
        skip_prob: probability that an instruction also reads an older activation.
        skip_window: how far back a skip connection reaches.
        size_median: median activation size in bytes (log-normal, ``size_sigma``).
        intensity_low, intensity_high: range of arithmetic intensity, FLOP/byte (log-uniform).
        capacity_ratio: capacity = ratio x max live bytes (at least the largest buffer).
        hardware: hardware profile name (its capacity is replaced by the ratio's).
    """

    n_buffers: int = 20
    weight_prob: float = 0.4
    skip_prob: float = 0.3
    skip_window: int = 6
    size_median: int = 64 * 1024
    size_sigma: float = 1.0
    intensity_low: float = 1.0
    intensity_high: float = 400.0
    capacity_ratio: float = 0.5
    hardware: str = "a100-l2"

    def __post_init__(self) -> None:
        if self.n_buffers < 2:
            raise ValueError(f"SyntheticProgram: n_buffers must be >= 2, got {self.n_buffers}")
        if not 0 <= self.weight_prob <= 1 or not 0 <= self.skip_prob <= 1:
            raise ValueError("SyntheticProgram: weight_prob and skip_prob must be in [0, 1]")
        if not self.capacity_ratio > 0:
            raise ValueError(f"SyntheticProgram: capacity_ratio must be > 0, got {self.capacity_ratio}")
        if not 0 < self.intensity_low <= self.intensity_high:
            raise ValueError("SyntheticProgram: need 0 < intensity_low <= intensity_high")

    def _size(self, rng: np.random.Generator, scale: float = 1.0) -> int:
        s = self.size_median * scale * float(np.exp(rng.normal(0.0, self.size_sigma)))
        return max(ALIGN, int(round(s / ALIGN)) * ALIGN)

    def __call__(self, rng: np.random.Generator, name: str | None = None) -> MemoryInstance:
        lower: list[int] = []
        upper: list[int] = []
        size: list[int] = []
        prefetch: list[bool] = []
        ids: list[str] = []
        uses: list[tuple[int, int, int]] = []  # (instr, buffer, bytes)
        act_of_instr: list[int] = []
        # buffer 0: the program input, read by instruction 0
        lower.append(0), upper.append(1), size.append(self._size(rng)), prefetch.append(True), ids.append("input")
        k = 0
        while len(size) < self.n_buffers:
            reads = [act_of_instr[k - 1] if k > 0 else 0]
            if k > 1 and rng.random() < self.skip_prob:
                j = int(rng.integers(max(0, k - self.skip_window), k - 1))
                reads.append(act_of_instr[j])
            if len(size) + 1 < self.n_buffers and rng.random() < self.weight_prob:
                w = len(size)
                lower.append(max(0, k - 1)), upper.append(k + 1), size.append(self._size(rng, 2.0))
                prefetch.append(True), ids.append(f"w{k}")
                reads.append(w)
            for b in reads:
                uses.append((k, b, size[b]))
                upper[b] = max(upper[b], k + 1)
            out = len(size)
            lower.append(k), upper.append(k + 1), size.append(self._size(rng)), prefetch.append(False), ids.append(f"a{k}")
            uses.append((k, out, size[out]))
            act_of_instr.append(out)
            k += 1
        n_instr = k
        n = len(size)
        ui = np.array([u[0] for u in uses], np.int64)
        ub = np.array([u[1] for u in uses], np.int64)
        uy = np.array([u[2] for u in uses], np.float64)
        bytes_per_instr = np.bincount(ui, weights=uy, minlength=n_instr)
        intensity = np.exp(rng.uniform(np.log(self.intensity_low), np.log(self.intensity_high), n_instr))
        flops = np.round(bytes_per_instr * intensity)
        evict = np.zeros(n, bool)
        evict[act_of_instr[-1]] = True
        hw = get_hardware(self.hardware)
        inst = MemoryInstance(
            name=name or f"synthetic-{n}",
            capacity=1,
            lower=lower, upper=upper, size=size, ids=tuple(ids),
            prefetch=np.array(prefetch), evict=evict,
            program=Program(flops, ui, ub, uy, hw, tuple(f"op{i}" for i in range(n_instr))),
            source="schedgym.envs.memory.generator.SyntheticProgram",
        )
        cap = max(int(inst.size.max()), int(np.ceil(self.capacity_ratio * inst.max_load())))
        return inst.with_capacity(cap)


@dataclass(frozen=True)
class TiledAllocation:
    """Seeded allocation instances that are feasible by construction and have **no slack**.

    The time x address rectangle ``[0, horizon) x [0, capacity)`` is cut in two, at a uniform point along
    time or address, again and again (the piece to cut drawn by area) until there are ``n_buffers``
    pieces; each piece is a buffer (its time span the live interval, its height the size). The pieces
    tile the rectangle, so an allocation exists (the cut positions, kept in ``meta["witness_offsets"]``)
    and at every instant the live sizes add up to exactly the capacity, as in 8 of MiniMalloc's 11
    challenging instances. Allocation only (no program).
    """

    n_buffers: int = 20
    capacity: int = 1 << 20
    horizon: int = 1000
    align: int = ALIGN

    def __post_init__(self) -> None:
        if self.n_buffers < 1:
            raise ValueError(f"TiledAllocation: n_buffers must be >= 1, got {self.n_buffers}")
        if self.capacity < self.align or self.horizon < 1:
            raise ValueError("TiledAllocation: need capacity >= align and horizon >= 1")
        cells = (self.capacity // self.align) * self.horizon
        if self.n_buffers > cells:
            raise ValueError(f"TiledAllocation: {self.n_buffers} buffers do not fit in {cells} cells")

    def __call__(self, rng: np.random.Generator, name: str | None = None) -> MemoryInstance:
        a = self.align
        rects: list[tuple[int, int, int, int]] = [(0, self.horizon, 0, (self.capacity // a) * a)]
        while len(rects) < self.n_buffers:
            splittable = [i for i, (t0, t1, a0, a1) in enumerate(rects) if t1 - t0 >= 2 or a1 - a0 >= 2 * a]
            area = np.array([(rects[i][1] - rects[i][0]) * (rects[i][3] - rects[i][2]) for i in splittable], float)
            i = splittable[int(rng.choice(len(splittable), p=area / area.sum()))]
            t0, t1, a0, a1 = rects[i]
            along_time = (t1 - t0 >= 2) and (a1 - a0 < 2 * a or rng.random() < 0.5)
            if along_time:
                cut = int(rng.integers(t0 + 1, t1))
                rects[i:i + 1] = [(t0, cut, a0, a1), (cut, t1, a0, a1)]
            else:
                cut = a0 + a * int(rng.integers(1, (a1 - a0) // a))
                rects[i:i + 1] = [(t0, t1, a0, cut), (t0, t1, cut, a1)]
        order = rng.permutation(len(rects))
        r = np.array(rects, np.int64)[order]
        return MemoryInstance(
            name=name or f"tiled-{self.n_buffers}",
            capacity=self.capacity,
            lower=r[:, 0], upper=r[:, 1], size=r[:, 3] - r[:, 2],
            source="schedgym.envs.memory.generator.TiledAllocation",
            meta={"witness_offsets": r[:, 2].tolist()},
        )
