"""The rescheduling state: free resources per NUMA node, VM placements, migrations (pure NumPy, no
Gymnasium).

Semantics (also in ``docs/vm.md``):

* A **migration** moves one migratable VM (allow-migration flag set, host active) to another place:
  a single-NUMA VM to any NUMA node of an active PM other than its current node (the other node of
  its own PM included: a NUMA "flip"); a double-NUMA VM to another active PM, half on each node.
* The destination must have the VM's cores and memory free on each node it takes *before* the VM
  leaves its source (migrations happen one at a time; capacity holds after each).
* Anti-affinity: a member of a host group may not land on a PM that holds another member; of a rack
  group, on a rack that holds another member.
* **FR** (fragment rate) = sum over NUMA nodes of active PMs of (free cores mod 16) / their free cores.
  Migrations only move cores between active PMs, so the denominator is constant in an episode and a
  migration changes FR by (change of the sum of remainders) / free cores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .instance import BOTH, SLOT, VMSnapshot


@dataclass(frozen=True)
class Migration:
    """One migration: VM index, source (PM, NUMA code) and destination (PM, NUMA code)."""

    vm: int
    from_pm: int
    from_numa: int
    to_pm: int
    to_numa: int


class VMState:
    """Mutable placement state of one snapshot (see the module docstring)."""

    def __init__(self, snapshot: VMSnapshot) -> None:
        s = snapshot
        self.snapshot = s
        self.n_pms, self.n_vms = s.n_pms, s.n_vms
        self.free_cpu, self.free_mem = s.free()
        self.vm_pm = s.vm_pm.copy()
        self.vm_numa = s.vm_numa.copy()
        self.vm_type = s.vm_type
        tcpu = np.array([t.numa_cpu for t in s.types], np.int64)
        tmem = np.array([t.numa_mem for t in s.types], np.int64)
        #: cores / memory the VM takes on each NUMA node it uses
        self.dem_cpu = tcpu[s.vm_type] if self.n_vms else np.zeros(0, np.int64)
        self.dem_mem = tmem[s.vm_type] if self.n_vms else np.zeros(0, np.int64)
        self.double = self.vm_numa == BOTH
        self.active = s.pm_active.copy()
        self.numa_active = np.repeat(self.active[:, None], 2, axis=1)
        #: migratable: allow-migration flag and an active host (hosts only change to active PMs)
        self.movable = s.vm_migratable & self.active[self.vm_pm] if self.n_vms else np.zeros(0, bool)
        self.pm_rack = s.pm_rack
        self.type_cpu, self.type_mem = tcpu, tmem
        self.type_double = s.type_double
        # anti-affinity: group id lists per VM
        self.groups = [(g.granularity, g.vms) for g in s.groups]
        self.vm_groups: dict[int, list[int]] = {}
        for gi, (_, members) in enumerate(self.groups):
            for v in members.tolist():
                self.vm_groups.setdefault(int(v), []).append(gi)
        self.in_group = np.zeros(self.n_vms, bool)
        if self.vm_groups:
            self.in_group[list(self.vm_groups)] = True
        act_free = self.free_cpu[self.active]
        self.total_free = int(act_free.sum())
        self.sum_mod = int((act_free % SLOT).sum())
        self.fr0 = self.fr()
        self.slots0 = self.slots16()
        self.migrations: list[Migration] = []

    # ------------------------------------------------------------------ measures
    def fr(self) -> float:
        """The fragment rate now."""
        return self.sum_mod / self.total_free if self.total_free > 0 else 0.0

    def slots16(self) -> int:
        """Free 16-core slots on the NUMA nodes of active PMs."""
        return int((self.free_cpu[self.active] // SLOT).sum())

    def numa_frag(self) -> np.ndarray:
        """(free cores mod 16) per NUMA node, (P, 2)."""
        return self.free_cpu % SLOT

    # ------------------------------------------------------------------ legality
    def forbidden_pms(self, v: int) -> np.ndarray:
        """PM indices the anti-affinity groups of VM ``v`` rule out (may be empty)."""
        out: list[np.ndarray] = []
        for gi in self.vm_groups.get(v, ()):
            gran, members = self.groups[gi]
            others = members[members != v]
            if gran == "host":
                out.append(self.vm_pm[others])
            else:
                racks = self.pm_rack[self.vm_pm[others]]
                out.append(np.flatnonzero(np.isin(self.pm_rack, racks)))
        return np.unique(np.concatenate(out)) if out else np.zeros(0, np.int64)

    def dest_mask(self, v: int) -> np.ndarray:
        """Bool (P, 2): where VM ``v`` may go now. For a double-NUMA VM both nodes of a PM are marked
        (either stands for the PM)."""
        c, m = self.dem_cpu[v], self.dem_mem[v]
        p0 = self.vm_pm[v]
        if self.double[v]:
            ok = (self.free_cpu.min(1) >= c) & (self.free_mem.min(1) >= m) & self.active
            ok[p0] = False
            mask = np.repeat(ok[:, None], 2, axis=1)
        else:
            mask = (self.free_cpu >= c) & (self.free_mem >= m) & self.numa_active
            mask[p0, self.vm_numa[v]] = False
        if self.in_group[v]:
            mask[self.forbidden_pms(v)] = False
        if not self.movable[v]:
            mask[:] = False
        return mask

    def has_destination(self) -> np.ndarray:
        """Bool (V,): movable VMs with at least one legal destination (vectorized per VM type)."""
        V = self.n_vms
        out = np.zeros(V, bool)
        if V == 0:
            return out
        fc, fm = self.free_cpu, self.free_mem
        for t in range(len(self.type_cpu)):
            sel = self.vm_type == t
            if not sel.any():
                continue
            c, m = self.type_cpu[t], self.type_mem[t]
            if self.type_double[t]:
                fit = (fc.min(1) >= c) & (fm.min(1) >= m) & self.active
                out[sel] = fit.sum() - fit[self.vm_pm[sel]] > 0
            else:
                fit = (fc >= c) & (fm >= m) & self.numa_active
                out[sel] = fit.sum() - fit[self.vm_pm[sel], self.vm_numa[sel]] > 0
        out &= self.movable
        for v in np.flatnonzero(out & self.in_group):
            out[v] = self.dest_mask(int(v)).any()
        return out

    def why_illegal(self, v: int, p: int, k: int) -> str | None:
        """Why moving VM ``v`` to NUMA node ``k`` of PM ``p`` (either node for a double-NUMA VM) is
        illegal, or None if it is legal."""
        s = self.snapshot
        if not 0 <= v < self.n_vms:
            return f"there is no VM {v}"
        if not 0 <= p < self.n_pms or k not in (0, 1):
            return f"there is no NUMA node {k} of PM {p}"
        vid, pid = s.vm_ids[v], s.pm_ids[p]
        if not s.vm_migratable[v]:
            return f"VM {vid!r} does not allow migration"
        if not self.active[self.vm_pm[v]]:
            return f"VM {vid!r} is on inactive PM {s.pm_ids[self.vm_pm[v]]!r}"
        if not self.active[p]:
            return f"destination PM {pid!r} is not active"
        c, m = int(self.dem_cpu[v]), int(self.dem_mem[v])
        if self.double[v]:
            if p == self.vm_pm[v]:
                return f"VM {vid!r} is already on PM {pid!r} (a no-op move)"
            for kk in (0, 1):
                if self.free_cpu[p, kk] < c or self.free_mem[p, kk] < m:
                    return (f"VM {vid!r} needs {c} cores / {m} MB on each NUMA node; PM {pid!r} NUMA {kk} has "
                            f"{int(self.free_cpu[p, kk])} cores / {int(self.free_mem[p, kk])} MB free")
        else:
            if p == self.vm_pm[v] and k == self.vm_numa[v]:
                return f"VM {vid!r} is already on PM {pid!r} NUMA {k} (a no-op move)"
            if self.free_cpu[p, k] < c or self.free_mem[p, k] < m:
                return (f"VM {vid!r} needs {c} cores / {m} MB; PM {pid!r} NUMA {k} has "
                        f"{int(self.free_cpu[p, k])} cores / {int(self.free_mem[p, k])} MB free")
        for gi in self.vm_groups.get(v, ()):
            gran, members = self.groups[gi]
            for o in members.tolist():
                if o == v:
                    continue
                if gran == "host" and self.vm_pm[o] == p:
                    return f"anti-affinity (host): VM {s.vm_ids[o]!r} of the same group is on PM {pid!r}"
                if gran == "rack" and self.pm_rack[self.vm_pm[o]] == self.pm_rack[p]:
                    return (f"anti-affinity (rack): VM {s.vm_ids[o]!r} of the same group is on rack "
                            f"{s.racks[self.pm_rack[p]]!r}")
        return None

    # ------------------------------------------------------------------ deltas
    def release_delta(self, v: np.ndarray | int) -> np.ndarray:
        """Change of the sum of remainders if VM(s) ``v`` left their host (without landing anywhere)."""
        v = np.atleast_1d(v)
        c = self.dem_cpu[v]
        p = self.vm_pm[v]
        dbl = self.double[v]
        k = np.where(dbl, 0, self.vm_numa[v])
        f0 = self.free_cpu[p, k]
        d = (f0 + c) % SLOT - f0 % SLOT
        f1 = self.free_cpu[p, 1]
        d = d + np.where(dbl, (f1 + c) % SLOT - f1 % SLOT, 0)
        return d

    def landing_delta(self, v: int) -> np.ndarray:
        """Change of the sum of remainders, (P, 2), if VM ``v`` landed on each NUMA node (for a double-NUMA
        VM, on each PM, repeated in both columns); meaningful where :meth:`dest_mask` is true."""
        c = int(self.dem_cpu[v])
        f = self.free_cpu
        d = (f - c) % SLOT - f % SLOT
        if self.double[v]:
            s = d.sum(1)
            return np.repeat(s[:, None], 2, axis=1)
        return d

    def move_delta(self, v: int) -> np.ndarray:
        """Change of the sum of remainders, (P, 2), of moving VM ``v`` to each NUMA node (PM)."""
        return self.landing_delta(v) + int(self.release_delta(v)[0])

    # ------------------------------------------------------------------ transitions
    def move(self, v: int, p: int, k: int) -> Migration:
        """Migrate VM ``v`` to NUMA node ``k`` of PM ``p`` (``k`` ignored for a double-NUMA VM); raises
        ``ValueError`` naming the VM, the destination and why if illegal."""
        why = self.why_illegal(v, p, k)
        if why is not None:
            s = self.snapshot
            vid = s.vm_ids[v] if 0 <= v < self.n_vms else v
            pid = s.pm_ids[p] if 0 <= p < self.n_pms else p
            raise ValueError(f"illegal migration of VM {vid!r} to PM {pid!r} NUMA {k}: {why}")
        return self._apply(v, p, k)

    def _apply(self, v: int, p: int, k: int) -> Migration:
        c, m = int(self.dem_cpu[v]), int(self.dem_mem[v])
        p0, k0 = int(self.vm_pm[v]), int(self.vm_numa[v])
        nodes0 = (0, 1) if k0 == BOTH else (k0,)
        k1 = BOTH if self.double[v] else int(k)
        nodes1 = (0, 1) if k1 == BOTH else (k1,)
        fc = self.free_cpu
        for kk in nodes0:
            f = int(fc[p0, kk])
            self.sum_mod += (f + c) % SLOT - f % SLOT
            fc[p0, kk] = f + c
            self.free_mem[p0, kk] += m
        for kk in nodes1:
            f = int(fc[p, kk])
            self.sum_mod += (f - c) % SLOT - f % SLOT
            fc[p, kk] = f - c
            self.free_mem[p, kk] -= m
        self.vm_pm[v] = p
        self.vm_numa[v] = k1
        mig = Migration(int(v), p0, k0, int(p), k1)
        self.migrations.append(mig)
        return mig

    def copy(self) -> "VMState":
        new = object.__new__(VMState)
        new.__dict__.update(self.__dict__)
        for name in ("free_cpu", "free_mem", "vm_pm", "vm_numa"):
            setattr(new, name, getattr(self, name).copy())
        new.migrations = list(self.migrations)
        return new

    def placement_snapshot(self) -> VMSnapshot:
        """The snapshot with the current placements (after the migrations)."""
        s = self.snapshot
        return VMSnapshot(
            name=s.name, pm_ids=s.pm_ids, pm_active=s.pm_active, pm_rack=s.pm_rack, racks=s.racks,
            numa_cpu=s.numa_cpu, numa_mem=s.numa_mem, types=s.types, vm_ids=s.vm_ids, vm_type=s.vm_type,
            vm_pm=self.vm_pm.copy(), vm_numa=self.vm_numa.copy(), vm_migratable=s.vm_migratable,
            groups=s.groups, meta=dict(s.meta),
        )
