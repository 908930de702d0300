"""Seeded snapshot generator: a cluster shaped by VM arrivals and departures under a production-like
placement rule (best fit or first fit), not by random assignment.

The process (one call = one snapshot, everything drawn from the given ``numpy.random.Generator``):

1. **Fill.** Starting from empty PMs, VMs arrive (type drawn from the type mix) and are placed by the
   placement rule until the allocated share of cores reaches the target (drawn uniformly in
   ``target_alloc``). An arrival that fits nowhere is rejected (admission control); after
   ``max_rejections`` rejections in a row the fill stops.
2. **Churn.** ``churn * n_vms`` events follow. Each event is a departure (a uniformly chosen live VM
   leaves: memoryless lifetimes) when the allocation is at or above the target, and an arrival
   otherwise, so the cluster is held at the target load while departures open holes that later
   arrivals fill. This is what fragments a real cluster: best fit alone on an empty cluster packs
   perfectly.
3. **Top-up.** Arrivals until the target is reached again (or ``max_rejections`` in a row).

Placement rules (a single-NUMA VM takes one NUMA node; a double-NUMA VM half of each node of one PM):

* ``best-fit``: the feasible NUMA node (PM, for double-NUMA VMs) with the fewest free cores left after
  placement, ties by memory then index (what production schedulers use to keep large slots free);
* ``first-fit``: the feasible node of lowest index.

Presets (``PRESETS``) fit the published snapshot sizes of VMR2L (EuroSys 2025): ``medium`` about 280
PMs / 2,089 VMs, ``large`` about 1,176 PMs / 4,546 VMs; ``small`` is the env's quick default. The
measured statistics are in ``docs/vm.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .instance import (
    BOTH,
    DEFAULT_TYPES,
    NUMA_CPU,
    NUMA_MEM_MB,
    AntiAffinityGroup,
    VMSnapshot,
    VMType,
)

#: arrival type mixes (probabilities over :data:`DEFAULT_TYPES`: 2, 4, 8, 16, 32, 64, 88 cores). ``medium``:
#: 88.5% of arrivals with <= 16 cores, 11.5% double-NUMA (the published medium set has 2,089 VMs on 280
#: PMs at ~95% allocation, i.e. ~11.2 cores per VM). ``large``: the published large set has 4,546 VMs on
#: 1,176 PMs at ~95%, i.e. ~21.6 cores per VM, which needs a heavy tail. On a 44-core NUMA node the VMs
#: whose footprint there is a multiple of 16 (16-core VMs, halves of 32- and 64-core VMs) leave a 12-core
#: remainder (44 = 2 x 16 + 12) that only 2/4/8-core VMs can fill; half of an 88-core VM (44 cores) fills a
#: node exactly. So the heavy tail is 88-core VMs (whole PMs), with 8-core VMs to fill the remainders next
#: to 16-core ones: a tail of 64-core VMs (the earlier mix, 10%) left a remainder on both nodes of each
#: and an initial FR of about 0.9. Measured snapshot statistics and the trade-off: ``docs/vm.md``.
TYPE_MIXES: dict[str, tuple[float, ...]] = {
    "medium": (0.29, 0.25, 0.18, 0.165, 0.06, 0.042, 0.013),
    "large": (0.035, 0.09, 0.45, 0.265, 0.005, 0.005, 0.15),
}


@dataclass(frozen=True)
class SnapshotGenerator:
    """Callable ``gen(rng) -> VMSnapshot`` (see the module docstring).

    Attributes:
        n_pms: number of PMs (all active unless ``inactive_share`` > 0).
        type_mix: a key of :data:`TYPE_MIXES` or probabilities over ``types``.
        types: the VM type table.
        target_alloc: (low, high) of the allocated core share the process holds.
        placement: ``"best-fit"`` or ``"first-fit"``.
        first_fit_share: share of arrivals placed first-fit whatever ``placement`` says (a cluster
            whose requests come through several schedulers; 0: one rule for all).
        churn: departure/arrival events per VM after the fill.
        numa_cpu, numa_mem_mb: capacity of each NUMA node.
        pms_per_rack: PMs per rack (racks matter for rack anti-affinity only).
        max_vms: cap on the live VMs (arrivals beyond it are rejected); None: no cap.
        nonmigratable_share: share of VMs with allow_migration false.
        inactive_share: share of PMs that are not active (their VMs cannot move and they take none).
        anti_affinity_groups: number of anti-affinity groups drawn among the VMs (members already on
            distinct hosts/racks), of sizes ``group_size`` (inclusive range).
        affinity_granularity: ``"host"`` or ``"rack"``.
    """

    n_pms: int = 20
    type_mix: str | tuple[float, ...] = "medium"
    types: tuple[VMType, ...] = DEFAULT_TYPES
    target_alloc: tuple[float, float] = (0.93, 0.97)
    placement: str = "best-fit"
    first_fit_share: float = 0.0
    churn: float = 4.0
    numa_cpu: int = NUMA_CPU
    numa_mem_mb: int = NUMA_MEM_MB
    pms_per_rack: int = 28
    max_vms: int | None = None
    nonmigratable_share: float = 0.0
    inactive_share: float = 0.0
    anti_affinity_groups: int = 0
    group_size: tuple[int, int] = (2, 4)
    affinity_granularity: str = "host"
    max_rejections: int = 30
    name: str = field(default="")

    def __post_init__(self) -> None:
        if self.n_pms < 1:
            raise ValueError(f"SnapshotGenerator: n_pms must be >= 1, got {self.n_pms}")
        if self.placement not in ("best-fit", "first-fit"):
            raise ValueError(f"SnapshotGenerator: placement must be 'best-fit' or 'first-fit', got {self.placement!r}")
        lo, hi = self.target_alloc
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"SnapshotGenerator: target_alloc must satisfy 0 < low <= high <= 1, got {self.target_alloc}")
        probs = self.probabilities
        if len(probs) != len(self.types) or (probs < 0).any() or not np.isclose(probs.sum(), 1.0):
            raise ValueError(f"SnapshotGenerator: type_mix must be {len(self.types)} non-negative probabilities "
                             f"summing to 1 (or one of {sorted(TYPE_MIXES)}), got {self.type_mix!r}")
        too_big = [t.name for t in self.types if t.numa_cpu > self.numa_cpu or t.numa_mem > self.numa_mem_mb]
        if too_big:
            raise ValueError(f"SnapshotGenerator: types {too_big} do not fit a NUMA node of "
                             f"{self.numa_cpu} cores / {self.numa_mem_mb} MB")
        if not 0 <= self.first_fit_share <= 1:
            raise ValueError(f"SnapshotGenerator: first_fit_share must be in [0, 1], got {self.first_fit_share}")
        if self.churn < 0:
            raise ValueError(f"SnapshotGenerator: churn must be >= 0, got {self.churn}")
        if self.affinity_granularity not in ("host", "rack"):
            raise ValueError(f"SnapshotGenerator: affinity_granularity must be 'host' or 'rack'")

    @property
    def probabilities(self) -> np.ndarray:
        if isinstance(self.type_mix, str):
            if self.type_mix not in TYPE_MIXES:
                raise ValueError(f"SnapshotGenerator: unknown type_mix {self.type_mix!r}; known: {sorted(TYPE_MIXES)}")
            return np.asarray(TYPE_MIXES[self.type_mix], dtype=float)
        return np.asarray(self.type_mix, dtype=float)

    # ------------------------------------------------------------------ the process
    def __call__(self, rng: np.random.Generator) -> VMSnapshot:
        P = self.n_pms
        types = self.types
        t_cpu = np.array([t.numa_cpu for t in types], np.int64)  # per NUMA node used
        t_mem = np.array([t.numa_mem for t in types], np.int64)
        t_dbl = np.array([t.numa == 2 for t in types], bool)
        t_tot = np.array([t.cpu for t in types], np.int64)
        probs = self.probabilities
        n_inactive = int(round(self.inactive_share * P))
        active = np.ones(P, bool)
        if n_inactive:
            active[rng.choice(P, size=n_inactive, replace=False)] = False
        cap_cpu = np.full((P, 2), self.numa_cpu, np.int64)
        cap_mem = np.full((P, 2), self.numa_mem_mb, np.int64)
        free_cpu = cap_cpu.copy()
        free_mem = cap_mem.copy()
        # inactive PMs still host VMs (they were placed before the PM was taken out of service), so the
        # process runs on every PM; the status only changes what may move later.
        capacity = int(cap_cpu.sum())
        target = float(rng.uniform(*self.target_alloc))
        cap = self.max_vms if self.max_vms is not None else 10 ** 9

        # live VMs: parallel lists with swap-remove
        vtype: list[int] = []
        vpm: list[int] = []
        vnuma: list[int] = []
        used = 0
        flat_free = free_cpu.reshape(-1)
        flat_mem = free_mem.reshape(-1)
        best_rule = self.placement == "best-fit"

        def place(t: int) -> bool:
            nonlocal used
            best = best_rule and not (self.first_fit_share and rng.random() < self.first_fit_share)
            c, m = t_cpu[t], t_mem[t]
            if t_dbl[t]:
                ok = (free_cpu.min(1) >= c) & (free_mem.min(1) >= m)
                cand = np.flatnonzero(ok)
                if cand.size == 0:
                    return False
                if best:
                    left = free_cpu[cand].sum(1) - 2 * c
                    p = int(cand[np.lexsort((cand, free_mem[cand].sum(1), left))[0]])
                else:
                    p = int(cand[0])
                free_cpu[p] -= c
                free_mem[p] -= m
                vtype.append(t)
                vpm.append(p)
                vnuma.append(BOTH)
            else:
                ok = (flat_free >= c) & (flat_mem >= m)
                cand = np.flatnonzero(ok)
                if cand.size == 0:
                    return False
                if best:
                    n = int(cand[np.lexsort((cand, flat_mem[cand], flat_free[cand]))[0]])
                else:
                    n = int(cand[0])
                flat_free[n] -= c
                flat_mem[n] -= m
                vtype.append(t)
                vpm.append(n // 2)
                vnuma.append(n % 2)
            used += int(t_tot[t])
            return True

        def depart(i: int) -> None:
            nonlocal used
            t, p, k = vtype[i], vpm[i], vnuma[i]
            if k == BOTH:
                free_cpu[p] += t_cpu[t]
                free_mem[p] += t_mem[t]
            else:
                free_cpu[p, k] += t_cpu[t]
                free_mem[p, k] += t_mem[t]
            used -= int(t_tot[t])
            last = len(vtype) - 1
            vtype[i], vpm[i], vnuma[i] = vtype[last], vpm[last], vnuma[last]
            vtype.pop()
            vpm.pop()
            vnuma.pop()

        def fill() -> None:
            rejections = 0
            while used < target * capacity and rejections < self.max_rejections:
                t = int(rng.choice(len(types), p=probs))
                if len(vtype) >= cap or not place(t):
                    rejections += 1
                else:
                    rejections = 0

        # churn with a waiting request: an arrival that does not fit waits (head of line) while
        # departures free room, so the live mix follows the arrival mix instead of being skewed to
        # small VMs by rejections
        pending = int(rng.choice(len(types), p=probs))
        for _ in range(int(self.churn * max(self._expected_vms(capacity, target, t_tot, probs), 1))):
            if used < target * capacity and len(vtype) < cap and place(pending):
                pending = int(rng.choice(len(types), p=probs))
            elif vtype:
                depart(int(rng.integers(len(vtype))))
        fill()

        V = len(vtype)
        order = np.lexsort((np.array(vnuma), np.array(vpm))) if V else np.zeros(0, np.int64)
        vm_type = np.array(vtype, np.int64)[order] if V else np.zeros(0, np.int64)
        vm_pm = np.array(vpm, np.int64)[order] if V else np.zeros(0, np.int64)
        vm_numa = np.array(vnuma, np.int64)[order] if V else np.zeros(0, np.int64)
        migratable = rng.random(V) >= self.nonmigratable_share
        n_racks = max(1, -(-P // self.pms_per_rack))
        pm_rack = np.arange(P) // self.pms_per_rack
        snap = VMSnapshot(
            name=self.name or f"gen-{self.type_mix if isinstance(self.type_mix, str) else 'custom'}-{P}pm",
            pm_ids=[f"pm_{p}" for p in range(P)], pm_active=active, pm_rack=pm_rack,
            racks=[f"rack_{r}" for r in range(n_racks)], numa_cpu=cap_cpu, numa_mem=cap_mem, types=tuple(types),
            vm_ids=[f"vm_{v}" for v in range(V)], vm_type=vm_type, vm_pm=vm_pm, vm_numa=vm_numa,
            vm_migratable=migratable,
            meta={"generator": "arrivals-departures", "placement": self.placement, "target_alloc": round(target, 4),
                  "churn": self.churn},
        )
        snap.groups = self._groups(snap, rng)
        snap.check(snap.name)
        return snap

    @staticmethod
    def _expected_vms(capacity: int, target: float, t_tot: np.ndarray, probs: np.ndarray) -> int:
        return int(target * capacity / float((t_tot * probs).sum()))

    def _groups(self, snap: VMSnapshot, rng: np.random.Generator) -> list[AntiAffinityGroup]:
        groups: list[AntiAffinityGroup] = []
        if self.anti_affinity_groups <= 0 or snap.n_vms == 0:
            return groups
        taken = np.zeros(snap.n_vms, bool)
        key = snap.vm_pm if self.affinity_granularity == "host" else snap.pm_rack[snap.vm_pm]
        lo, hi = self.group_size
        for _ in range(self.anti_affinity_groups):
            size = int(rng.integers(lo, hi + 1))
            members: list[int] = []
            seen: set[int] = set()
            for v in rng.permutation(snap.n_vms):
                if taken[v] or int(key[v]) in seen:
                    continue
                members.append(int(v))
                seen.add(int(key[v]))
                if len(members) == size:
                    break
            if len(members) >= 2:
                taken[members] = True
                groups.append(AntiAffinityGroup(self.affinity_granularity, np.array(sorted(members), np.int64)))
        return groups


#: named generator settings
PRESETS: dict[str, dict] = {
    "small": {"n_pms": 20, "type_mix": "medium", "first_fit_share": 0.12},
    "medium": {"n_pms": 280, "type_mix": "medium", "first_fit_share": 0.12},
    "large": {"n_pms": 1176, "type_mix": "large", "first_fit_share": 0.12},
}


def generator_for(preset: str = "small", **overrides) -> SnapshotGenerator:
    """A :class:`SnapshotGenerator` from a preset name plus overrides."""
    if preset not in PRESETS:
        raise ValueError(f"unknown generator preset {preset!r}; known: {sorted(PRESETS)}")
    return SnapshotGenerator(**{**PRESETS[preset], **overrides})


def generate(preset: str = "small", seed: int = 0, **overrides) -> VMSnapshot:
    """One snapshot from a preset and a seed."""
    return generator_for(preset, **overrides)(np.random.default_rng(seed))


def statistics(snapshots: Sequence[VMSnapshot]) -> dict[str, float]:
    """Mean of :meth:`VMSnapshot.stats` over snapshots."""
    rows = [s.stats() for s in snapshots]
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


if __name__ == "__main__":  # pragma: no cover - the fidelity table of docs/vm.md
    import sys

    seeds = {"small": 10, "medium": 10, "large": 10}
    for preset in sys.argv[1:] or ["medium", "large"]:
        snaps = [generate(preset, seed=s) for s in range(seeds.get(preset, 3))]
        stats = statistics(snaps)
        print(preset, {k: round(v, 3) for k, v in stats.items()},
              "FR range", round(min(s.fragment_rate() for s in snaps), 3), round(max(s.fragment_rate() for s in snaps), 3))
