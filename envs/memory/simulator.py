"""The memory simulator (pure NumPy, no Gymnasium): program time and the placement state.

**Program time** (mapping mode). Instructions run one after another. Instruction ``k`` takes the
roofline time ``max(flops_k / peak_flops, sum_u bytes_u / bw(u))`` where the sum runs over its uses
and ``bw(u)`` is the fast memory's bandwidth if the used buffer is in fast memory, else the slow
memory's. When the hardware has a copy engine (``copy_bw > 0``), a *prefetch* buffer placed in fast
memory is copied in (``size / copy_bw``) starting when its live interval starts (the start of
instruction ``lower``) and its first use waits for the copy; an *evict* buffer placed in fast memory
is copied out after its last instruction (``upper - 1``) ends, and the program ends when the copy
engine is idle. The copy engine serves copies one at a time in the order they are issued, and runs
alongside compute. Program time = the end of the last instruction or copy.

**Placement state**. Buffers are placed one at a time; a buffer goes at its *canonical offset*, the
highest top (offset + size) of the already-placed buffers that overlap it in time, or 0 (MiniMalloc's
canonical solutions). It is legal when that offset + size fits under the capacity. Every feasible
placement is reachable: place its buffers in order of offset; each then lands at or below its offset
(see ``docs/memory.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .instance import MemoryInstance


@dataclass(frozen=True)
class ProgramTime:
    """Program time of a mapping (seconds) and its parts."""

    total: float  # end of the last instruction or copy
    roofline: float  # sum of the instructions' roofline times (no copy stalls)
    stall: float  # time instructions waited for prefetches, plus the tail of evictions after the last instruction
    n_copies: int
    copy_bytes: float


def instruction_times(instance: MemoryInstance, fast: np.ndarray) -> np.ndarray:
    """Roofline time of every instruction when the buffers with ``fast[b]`` are in fast memory."""
    p = instance.program
    if p is None:
        raise ValueError(f"instance {instance.name!r} has no program: program time is defined in mapping mode only")
    hw = p.hardware
    inv = np.where(np.asarray(fast, bool)[p.use_buffer], 1.0 / hw.fast_bw, 1.0 / hw.slow_bw)
    mem = np.bincount(p.use_instr, weights=p.use_bytes * inv, minlength=p.n_instructions)
    return np.maximum(p.flops / hw.peak_flops, mem)


def program_time(instance: MemoryInstance, fast: np.ndarray) -> ProgramTime:
    """Program time of a mapping (``fast[b]``: buffer ``b`` is in fast memory)."""
    fast = np.asarray(fast, bool)
    dur = instruction_times(instance, fast)
    roof = float(dur.sum())
    p = instance.program
    assert p is not None
    hw = p.hardware
    if hw.copy_bw <= 0:
        return ProgramTime(roof, roof, 0.0, 0, 0.0)
    pre = np.flatnonzero(fast & instance.prefetch)
    ev = np.flatnonzero(fast & instance.evict)
    if pre.size == 0 and ev.size == 0:
        return ProgramTime(roof, roof, 0.0, 0, 0.0)
    n = p.n_instructions
    # first use of each prefetched buffer
    first_use = np.full(instance.n_buffers, n, np.int64)
    np.minimum.at(first_use, p.use_buffer, p.use_instr)
    issue_at: dict[int, list[int]] = {}
    wait_at: dict[int, list[int]] = {}
    evict_after: dict[int, list[int]] = {}
    for b in pre.tolist():
        issue_at.setdefault(int(instance.lower[b]), []).append(b)
        if first_use[b] < n:
            wait_at.setdefault(int(first_use[b]), []).append(b)
    for b in ev.tolist():
        evict_after.setdefault(int(instance.upper[b]) - 1, []).append(b)
    slots = sorted(set(issue_at) | set(wait_at) | set(evict_after))
    start_base = np.concatenate([[0.0], np.cumsum(dur)])  # start of instruction k without stalls
    stall = 0.0
    copy_free = 0.0
    ready: dict[int, float] = {}
    copy_bytes = 0.0
    for k in slots:
        t_start = start_base[k] + stall
        for b in issue_at.get(k, ()):  # prefetches issued as the instruction starts
            s = max(copy_free, t_start)
            copy_free = s + float(instance.size[b]) / hw.copy_bw
            copy_bytes += float(instance.size[b])
            ready[b] = copy_free
        need = max((ready[b] for b in wait_at.get(k, ())), default=0.0)
        if need > t_start:
            stall += need - t_start
        t_end = start_base[k + 1] + stall
        for b in evict_after.get(k, ()):
            s = max(copy_free, t_end)
            copy_free = s + float(instance.size[b]) / hw.copy_bw
            copy_bytes += float(instance.size[b])
    end = start_base[n] + stall
    total = max(end, copy_free)
    return ProgramTime(total, roof, total - roof, int(pre.size + ev.size), copy_bytes)


def overlap_lists(instance: MemoryInstance) -> tuple[np.ndarray, np.ndarray]:
    """CSR adjacency of time overlap: neighbours of ``b`` are ``indices[indptr[b]:indptr[b+1]]``."""
    m = instance.overlap_matrix()
    counts = m.sum(axis=1)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    indices = np.nonzero(m)[1].astype(np.int64)
    return indptr, indices


def standalone_benefit(instance: MemoryInstance) -> np.ndarray:
    """Roofline time saved by moving each buffer alone to fast memory from the all-slow mapping (s).

    Copy stalls are not included (they depend on the other buffers)."""
    p = instance.program
    n = instance.n_buffers
    if p is None:
        return np.zeros(n)
    hw = p.hardware
    slow = np.zeros(n, bool)
    base = instruction_times(instance, slow)
    comp = p.flops / hw.peak_flops
    mem_slow = np.bincount(p.use_instr, weights=p.use_bytes / hw.slow_bw, minlength=p.n_instructions)
    gain = np.zeros(n)
    # per (buffer, instruction) pair: bytes of that buffer used by that instruction
    key = p.use_buffer * p.n_instructions + p.use_instr
    uniq, inv = np.unique(key, return_inverse=True)
    byt = np.bincount(inv, weights=p.use_bytes)
    bb, kk = uniq // p.n_instructions, uniq % p.n_instructions
    new_mem = mem_slow[kk] - byt * (1.0 / hw.slow_bw - 1.0 / hw.fast_bw)
    saved = base[kk] - np.maximum(comp[kk], new_mem)
    np.add.at(gain, bb, saved)
    return gain


def exposed_copy_time(instance: MemoryInstance) -> np.ndarray:
    """Per buffer, the copy time (s) a fast placement would add to the program, estimated alone on an idle
    copy engine with the all-slow instruction times: a prefetch copy overlaps the instructions from
    ``lower`` to its first use, an eviction copy the instructions after ``upper - 1``; the rest shows."""
    p = instance.program
    n = instance.n_buffers
    out = np.zeros(n)
    if p is None or p.hardware.copy_bw <= 0:
        return out
    base = instruction_times(instance, np.zeros(n, bool))
    cum = np.concatenate([[0.0], np.cumsum(base)])
    first_use = np.full(n, p.n_instructions, np.int64)
    np.minimum.at(first_use, p.use_buffer, p.use_instr)
    copy = instance.size / p.hardware.copy_bw
    window = cum[first_use] - cum[instance.lower]
    out += np.where(instance.prefetch & (first_use < p.n_instructions), np.maximum(0.0, copy - window), 0.0)
    tail = cum[p.n_instructions] - cum[instance.upper]
    out += np.where(instance.evict, np.maximum(0.0, copy - tail), 0.0)
    return out


def net_benefit(instance: MemoryInstance) -> np.ndarray:
    """:func:`standalone_benefit` minus :func:`exposed_copy_time`: what a buffer alone in fast memory is
    expected to save (negative: it is expected to slow the program down)."""
    return standalone_benefit(instance) - exposed_copy_time(instance)


class MemoryState:
    """Buffers placed one at a time at their canonical offsets (see the module docstring).

    ``mode="allocation"``: every buffer must be placed under the capacity. ``mode="mapping"``: placed
    buffers are in fast memory, the rest stay in slow memory; the roofline program time is kept up to
    date incrementally.
    """

    def __init__(self, instance: MemoryInstance, mode: str, overlap: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        if mode not in ("mapping", "allocation"):
            raise ValueError(f"MemoryState: mode must be 'mapping' or 'allocation', got {mode!r}")
        if mode == "mapping" and instance.program is None:
            raise ValueError(f"instance {instance.name!r} has no program: it can be used in allocation mode only")
        self.instance = instance
        self.mode = mode
        n = instance.n_buffers
        self.n = n
        self.capacity = instance.capacity
        self.indptr, self.indices = overlap if overlap is not None else overlap_lists(instance)
        self.size = instance.size
        self.placed = np.zeros(n, bool)
        self.offset = np.full(n, -1, np.int64)
        self.cand = np.zeros(n, np.int64)  # canonical offset of each unplaced buffer
        self.fits = self.size <= self.capacity  # unplaced and cand + size <= capacity
        self.order: list[int] = []
        self.n_placed = 0
        self.peak = 0
        self.placed_bytes = 0
        if mode == "mapping":
            p = instance.program
            assert p is not None
            hw = p.hardware
            self._inv_fast, self._inv_slow = 1.0 / hw.fast_bw, 1.0 / hw.slow_bw
            self._comp = p.flops / hw.peak_flops
            self.mem = np.bincount(p.use_instr, weights=p.use_bytes * self._inv_slow, minlength=p.n_instructions)
            self.dur = np.maximum(self._comp, self.mem)
            self.roofline = float(self.dur.sum())
            self.all_slow_roofline = self.roofline
            # per buffer: the distinct instructions that use it and the memory time saved there when it
            # moves to fast memory (bytes x (1/slow_bw - 1/fast_bw)), grouped by buffer
            key = p.use_buffer * p.n_instructions + p.use_instr
            uniq, inv = np.unique(key, return_inverse=True)
            byt = np.bincount(inv.reshape(-1), weights=p.use_bytes)
            bb = uniq // p.n_instructions
            self._use_ptr = np.concatenate([[0], np.cumsum(np.bincount(bb, minlength=n))])
            self._use_k = uniq % p.n_instructions
            self._use_dmem = byt * (self._inv_slow - self._inv_fast)

    def legal(self) -> np.ndarray:
        """Indices of the buffers that can be placed now."""
        return np.flatnonzero(self.fits)

    def place(self, b: int) -> tuple[int, float, np.ndarray]:
        """Place buffer ``b`` at its canonical offset. Returns ``(offset, roofline time saved, neighbours)``
        where ``neighbours`` are the buffers whose candidate offset or legality may have changed."""
        if not self.fits[b]:
            raise ValueError(f"buffer {b} cannot be placed: placed={bool(self.placed[b])}, "
                             f"candidate offset {int(self.cand[b])} + size {int(self.size[b])} > capacity {self.capacity}")
        off = int(self.cand[b])
        top = off + int(self.size[b])
        self.placed[b] = True
        self.fits[b] = False
        self.offset[b] = off
        self.order.append(b)
        self.n_placed += 1
        self.placed_bytes += int(self.size[b])
        self.peak = max(self.peak, top)
        nb = self.indices[self.indptr[b]:self.indptr[b + 1]]
        if self.size[b] == 0:  # an empty buffer occupies no address: it raises no neighbour
            nb = nb[:0]
        if nb.size:
            c = self.cand[nb]
            np.maximum(c, top, out=c)
            self.cand[nb] = c
            self.fits[nb] = (~self.placed[nb]) & (c + self.size[nb] <= self.capacity)
        saved = 0.0
        if self.mode == "mapping":
            lo, hi = self._use_ptr[b], self._use_ptr[b + 1]
            if hi > lo:
                ks = self._use_k[lo:hi]  # distinct instructions
                mem = self.mem[ks] - self._use_dmem[lo:hi]
                self.mem[ks] = mem
                new = np.maximum(self._comp[ks], mem)
                saved = float(self.dur[ks].sum() - new.sum())
                self.dur[ks] = new
                self.roofline -= saved
        return off, saved, nb

    @property
    def done(self) -> bool:
        return self.n_placed == self.n

    @property
    def dead_end(self) -> bool:
        """Some buffer is unplaced and none can be placed."""
        return self.n_placed < self.n and not self.fits.any()

    def fast_mask(self) -> np.ndarray:
        return self.placed.copy()
