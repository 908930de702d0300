"""VM rescheduling snapshots: the dataclass, the schedgym JSON format and the VMR2L snapshot loader.

A *snapshot* is a cluster at one instant: physical machines (PMs), each with two NUMA nodes of given
CPU cores and memory, an active flag and a rack; the VM types; the VMs, each of a type, placed on one
PM, either on one NUMA node or split evenly over both; whether each VM may migrate; and optional
anti-affinity groups (members on distinct hosts, or on distinct racks).

Two file formats are read:

* the **schedgym snapshot** (``"format": "schedgym-vm-snapshot"``, written by :func:`write_snapshot`,
  documented in ``docs/vm.md``);
* the **VMR2L snapshot schema** (Ding et al., "VMR2L", EuroSys 2025; the field names of the public
  repository RLVMR/VMR2L-NSDI24): top-level ``cluster_list`` and ``vm_type_list``; each cluster has
  ``host_info`` and ``vm_instance`` (and optionally ``other_requirement.deployment_set``). Read with
  :func:`load_vmr2l`, which checks consistency (free = total - placed, per NUMA) and reports what it
  repairs or rejects; :func:`write_vmr2l` writes it back.

Errors on malformed input raise :class:`SnapshotFormatError` naming the file and the record.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

SNAPSHOT_FORMAT = "schedgym-vm-snapshot"
SNAPSHOT_VERSION = 1

#: per-NUMA capacity of the published snapshots (RLVMR/VMR2L-NSDI24, data/instance_3000vm_1|1.json:
#: ``node_cpu`` 88, ``node_mem_mb`` 368776, each NUMA ``total_cpu`` 44, ``memory_huge_total_mb`` 184388)
NUMA_CPU = 44
NUMA_MEM_MB = 184388
#: memory per core of the published VM types (``request_mem_mb`` / ``request_cpu`` = 4096 for every type)
MEM_PER_CORE_MB = 4096
#: the fragment unit: free cores modulo 16 are fragments (VMR2L's fragment rate)
SLOT = 16

#: NUMA placement codes of a VM
NUMA0, NUMA1, BOTH = 0, 1, 2


class SnapshotFormatError(ValueError):
    """A malformed or inconsistent snapshot; the message names the file and the record."""


@dataclass(frozen=True)
class VMType:
    """A VM type: total cores and memory, and whether it spans one NUMA node or both (split evenly)."""

    name: str
    cpu: int
    mem_mb: int
    numa: int = 1  # 1: on one NUMA node; 2: half on each

    def __post_init__(self) -> None:
        if self.numa not in (1, 2):
            raise ValueError(f"VM type {self.name!r}: numa must be 1 or 2, got {self.numa}")
        if self.cpu <= 0 or self.mem_mb < 0:
            raise ValueError(f"VM type {self.name!r}: cpu must be > 0 and mem_mb >= 0 (got {self.cpu}, {self.mem_mb})")
        if self.numa == 2 and (self.cpu % 2 or self.mem_mb % 2):
            raise ValueError(f"VM type {self.name!r}: a double-NUMA type needs even cpu and mem_mb")

    @property
    def numa_cpu(self) -> int:
        """Cores taken on each NUMA node it uses."""
        return self.cpu // self.numa

    @property
    def numa_mem(self) -> int:
        return self.mem_mb // self.numa


#: the default type table: the ecs.g1 family of the published snapshot (2..88 cores, 4096 MB per core;
#: types of 32 cores and more are split over both NUMA nodes, as in the published ``vm_type_list``)
DEFAULT_TYPES: tuple[VMType, ...] = (
    VMType("ecs.g1.large", 2, 2 * MEM_PER_CORE_MB, 1),
    VMType("ecs.g1.xlarge", 4, 4 * MEM_PER_CORE_MB, 1),
    VMType("ecs.g1.2xlarge", 8, 8 * MEM_PER_CORE_MB, 1),
    VMType("ecs.g1.4xlarge", 16, 16 * MEM_PER_CORE_MB, 1),
    VMType("ecs.g1.8xlarge", 32, 32 * MEM_PER_CORE_MB, 2),
    VMType("ecs.g1.16xlarge", 64, 64 * MEM_PER_CORE_MB, 2),
    VMType("ecs.g1.22xlarge", 88, 88 * MEM_PER_CORE_MB, 2),
)


@dataclass
class AntiAffinityGroup:
    """VMs (indices) that must sit on distinct hosts (``granularity="host"``) or racks (``"rack"``)."""

    granularity: str
    vms: np.ndarray

    def __post_init__(self) -> None:
        if self.granularity not in ("host", "rack"):
            raise ValueError(f"anti-affinity granularity must be 'host' or 'rack', got {self.granularity!r}")
        self.vms = np.asarray(self.vms, dtype=np.int64)


@dataclass
class VMSnapshot:
    """A cluster snapshot (see the module docstring). Arrays are indexed by PM (``P``) or VM (``V``).

    Attributes:
        pm_ids: PM names; ``pm_active`` (bool, P); ``pm_rack`` (int, P) indexes ``racks``.
        numa_cpu, numa_mem: capacity per NUMA node, int (P, 2).
        types: the VM types; ``vm_type`` (int, V) indexes them.
        vm_ids: VM names; ``vm_pm`` (int, V) the host; ``vm_numa`` (int, V): 0, 1, or 2 = both.
        vm_migratable: the allow-migration flag (bool, V).
        groups: anti-affinity groups.
    """

    name: str
    pm_ids: list[str]
    pm_active: np.ndarray
    pm_rack: np.ndarray
    racks: list[str]
    numa_cpu: np.ndarray
    numa_mem: np.ndarray
    types: tuple[VMType, ...]
    vm_ids: list[str]
    vm_type: np.ndarray
    vm_pm: np.ndarray
    vm_numa: np.ndarray
    vm_migratable: np.ndarray
    groups: list[AntiAffinityGroup] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.pm_active = np.asarray(self.pm_active, dtype=bool)
        self.pm_rack = np.asarray(self.pm_rack, dtype=np.int64)
        self.numa_cpu = np.asarray(self.numa_cpu, dtype=np.int64).reshape(-1, 2)
        self.numa_mem = np.asarray(self.numa_mem, dtype=np.int64).reshape(-1, 2)
        self.vm_type = np.asarray(self.vm_type, dtype=np.int64)
        self.vm_pm = np.asarray(self.vm_pm, dtype=np.int64)
        self.vm_numa = np.asarray(self.vm_numa, dtype=np.int64)
        self.vm_migratable = np.asarray(self.vm_migratable, dtype=bool)
        self.types = tuple(self.types)

    # ------------------------------------------------------------------ derived
    @property
    def n_pms(self) -> int:
        return len(self.pm_ids)

    @property
    def n_vms(self) -> int:
        return len(self.vm_ids)

    @property
    def type_cpu(self) -> np.ndarray:
        return np.array([t.cpu for t in self.types], dtype=np.int64)

    @property
    def type_mem(self) -> np.ndarray:
        return np.array([t.mem_mb for t in self.types], dtype=np.int64)

    @property
    def type_double(self) -> np.ndarray:
        return np.array([t.numa == 2 for t in self.types], dtype=bool)

    @property
    def vm_cpu(self) -> np.ndarray:
        return self.type_cpu[self.vm_type] if self.n_vms else np.zeros(0, np.int64)

    @property
    def vm_mem(self) -> np.ndarray:
        return self.type_mem[self.vm_type] if self.n_vms else np.zeros(0, np.int64)

    def used(self) -> tuple[np.ndarray, np.ndarray]:
        """Cores and memory used per NUMA node, int (P, 2), from the placements."""
        cpu = np.zeros((self.n_pms, 2), np.int64)
        mem = np.zeros((self.n_pms, 2), np.int64)
        if self.n_vms:
            c, m = self.vm_cpu, self.vm_mem
            single = self.vm_numa != BOTH
            np.add.at(cpu, (self.vm_pm[single], self.vm_numa[single]), c[single])
            np.add.at(mem, (self.vm_pm[single], self.vm_numa[single]), m[single])
            dbl = ~single
            for k in (0, 1):
                np.add.at(cpu, (self.vm_pm[dbl], k), c[dbl] // 2)
                np.add.at(mem, (self.vm_pm[dbl], k), m[dbl] // 2)
        return cpu, mem

    def free(self) -> tuple[np.ndarray, np.ndarray]:
        """Free cores and memory per NUMA node, int (P, 2)."""
        cpu, mem = self.used()
        return self.numa_cpu - cpu, self.numa_mem - mem

    def fragment_rate(self) -> float:
        """FR = sum over the NUMA nodes of active PMs of (free cores mod 16) / their free cores."""
        free, _ = self.free()
        f = free[self.pm_active]
        total = int(f.sum())
        return float((f % SLOT).sum() / total) if total > 0 else 0.0

    def stats(self) -> dict[str, float]:
        """Summary statistics (the ones the docs compare with the published snapshots)."""
        free, _ = self.free()
        act = self.pm_active
        cap = int(self.numa_cpu[act].sum())
        cpu = self.vm_cpu
        return {
            "pms": float(self.n_pms),
            "active_pms": float(act.sum()),
            "vms": float(self.n_vms),
            "cpu_allocated": float(1 - free[act].sum() / cap) if cap else 0.0,
            "share_vms_le16": float((cpu <= 16).mean()) if self.n_vms else 0.0,
            "share_double_numa": float((self.vm_numa == BOTH).mean()) if self.n_vms else 0.0,
            "fragment_rate": self.fragment_rate(),
            "slots16": float((free[act] // SLOT).sum()),
            "mean_vm_cpu": float(cpu.mean()) if self.n_vms else 0.0,
        }

    # ------------------------------------------------------------------ checks
    def check(self, where: str = "snapshot") -> None:
        """Raise :class:`SnapshotFormatError` if the snapshot is inconsistent (sizes, capacities,
        placements that do not fit, anti-affinity broken)."""
        P, V = self.n_pms, self.n_vms
        if len(set(self.pm_ids)) != P:
            raise SnapshotFormatError(f"{where}: duplicate PM ids")
        if len(set(self.vm_ids)) != V:
            raise SnapshotFormatError(f"{where}: duplicate VM ids")
        for arr, n, what in ((self.pm_active, P, "pm_active"), (self.pm_rack, P, "pm_rack"),
                             (self.numa_cpu, P, "numa_cpu"), (self.numa_mem, P, "numa_mem"),
                             (self.vm_type, V, "vm_type"), (self.vm_pm, V, "vm_pm"), (self.vm_numa, V, "vm_numa"),
                             (self.vm_migratable, V, "vm_migratable")):
            if arr.shape[0] != n:
                raise SnapshotFormatError(f"{where}: {what} has {arr.shape[0]} rows for {n}")
        if (self.numa_cpu < 0).any() or (self.numa_mem < 0).any():
            p = int(np.flatnonzero((self.numa_cpu < 0).any(1) | (self.numa_mem < 0).any(1))[0])
            raise SnapshotFormatError(f"{where}: PM {self.pm_ids[p]!r} has a negative capacity")
        if V:
            if (self.vm_type < 0).any() or (self.vm_type >= len(self.types)).any():
                raise SnapshotFormatError(f"{where}: a VM has an unknown type index")
            if (self.vm_pm < 0).any() or (self.vm_pm >= P).any():
                raise SnapshotFormatError(f"{where}: a VM is on an unknown PM index")
            dbl = self.type_double[self.vm_type]
            bad = np.flatnonzero(dbl != (self.vm_numa == BOTH))
            if bad.size:
                v = int(bad[0])
                raise SnapshotFormatError(
                    f"{where}: VM {self.vm_ids[v]!r} of type {self.types[self.vm_type[v]].name!r} "
                    f"(numa={self.types[self.vm_type[v]].numa}) has NUMA placement code {int(self.vm_numa[v])}")
        free_cpu, free_mem = self.free()
        over = np.flatnonzero((free_cpu < 0).any(1) | (free_mem < 0).any(1))
        if over.size:
            p = int(over[0])
            raise SnapshotFormatError(
                f"{where}: PM {self.pm_ids[p]!r} is over capacity (free cores {free_cpu[p].tolist()}, "
                f"free memory {free_mem[p].tolist()} MB)")
        for g in self.groups:
            keys = self.vm_pm[g.vms] if g.granularity == "host" else self.pm_rack[self.vm_pm[g.vms]]
            if np.unique(keys).size != keys.size:
                raise SnapshotFormatError(
                    f"{where}: anti-affinity group ({g.granularity}) {[self.vm_ids[v] for v in g.vms]} "
                    f"has two members on one {g.granularity}")

    # ------------------------------------------------------------------ formats
    def to_dict(self) -> dict[str, Any]:
        """The schedgym snapshot format as a JSON-able dict."""
        numa_code = {NUMA0: [0], NUMA1: [1], BOTH: [0, 1]}
        return {
            "format": SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "name": self.name,
            "vm_types": [{"name": t.name, "cpu": t.cpu, "mem_mb": t.mem_mb, "numa": t.numa} for t in self.types],
            "pms": [
                {"id": self.pm_ids[p], "rack": self.racks[self.pm_rack[p]], "active": bool(self.pm_active[p]),
                 "numa_cpu": self.numa_cpu[p].tolist(), "numa_mem_mb": self.numa_mem[p].tolist()}
                for p in range(self.n_pms)
            ],
            "vms": [
                {"id": self.vm_ids[v], "type": self.types[self.vm_type[v]].name, "pm": self.pm_ids[self.vm_pm[v]],
                 "numa": numa_code[int(self.vm_numa[v])], "migratable": bool(self.vm_migratable[v])}
                for v in range(self.n_vms)
            ],
            "anti_affinity": [
                {"granularity": g.granularity, "vms": [self.vm_ids[v] for v in g.vms]} for g in self.groups
            ],
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "snapshot") -> "VMSnapshot":
        """Parse the schedgym snapshot format (errors name ``where`` and the record)."""
        if not isinstance(data, Mapping):
            raise SnapshotFormatError(f"{where}: a snapshot must be a JSON object")
        if data.get("format") != SNAPSHOT_FORMAT:
            raise SnapshotFormatError(f"{where}: 'format' must be {SNAPSHOT_FORMAT!r}, got {data.get('format')!r}")
        for key in ("vm_types", "pms", "vms"):
            if not isinstance(data.get(key), list):
                raise SnapshotFormatError(f"{where}: missing list {key!r}")
        types: list[VMType] = []
        for i, t in enumerate(data["vm_types"]):
            rec = f"{where}: vm_types[{i}]"
            try:
                types.append(VMType(str(t["name"]), _int(t["cpu"], rec, "cpu"), _int(t["mem_mb"], rec, "mem_mb"),
                                    _int(t.get("numa", 1), rec, "numa")))
            except (KeyError, TypeError) as exc:
                raise SnapshotFormatError(f"{rec}: missing or bad field {exc}") from None
            except ValueError as exc:
                if isinstance(exc, SnapshotFormatError):
                    raise
                raise SnapshotFormatError(f"{rec}: {exc}") from None
        type_index = {t.name: i for i, t in enumerate(types)}
        if len(type_index) != len(types):
            raise SnapshotFormatError(f"{where}: duplicate VM type names")
        pm_ids, active, rack_names, numa_cpu, numa_mem = [], [], [], [], []
        for i, p in enumerate(data["pms"]):
            rec = f"{where}: pms[{i}]"
            try:
                pm_ids.append(str(p["id"]))
                active.append(bool(p.get("active", True)))
                rack_names.append(str(p.get("rack", "rack_0")))
                nc = [_int(x, rec, "numa_cpu") for x in p["numa_cpu"]]
                nm = [_int(x, rec, "numa_mem_mb") for x in p["numa_mem_mb"]]
            except (KeyError, TypeError) as exc:
                raise SnapshotFormatError(f"{rec}: missing or bad field {exc}") from None
            if len(nc) != 2 or len(nm) != 2:
                raise SnapshotFormatError(f"{rec} ({pm_ids[-1]!r}): exactly two NUMA nodes are supported")
            if min(nc) < 0 or min(nm) < 0:
                raise SnapshotFormatError(f"{rec} ({pm_ids[-1]!r}): negative capacity")
            numa_cpu.append(nc)
            numa_mem.append(nm)
        racks = sorted(set(rack_names))
        rack_index = {r: i for i, r in enumerate(racks)}
        pm_index = {pid: i for i, pid in enumerate(pm_ids)}
        if len(pm_index) != len(pm_ids):
            raise SnapshotFormatError(f"{where}: duplicate PM ids")
        vm_ids, vm_type, vm_pm, vm_numa, vm_mig = [], [], [], [], []
        for i, v in enumerate(data["vms"]):
            rec = f"{where}: vms[{i}]"
            try:
                vid, tname, host, numa = str(v["id"]), str(v["type"]), str(v["pm"]), list(v["numa"])
            except (KeyError, TypeError) as exc:
                raise SnapshotFormatError(f"{rec}: missing or bad field {exc}") from None
            if tname not in type_index:
                raise SnapshotFormatError(f"{rec} ({vid!r}): unknown VM type {tname!r}; known: {sorted(type_index)}")
            if host not in pm_index:
                raise SnapshotFormatError(f"{rec} ({vid!r}): on unknown PM {host!r}")
            code = _numa_code(numa, f"{rec} ({vid!r})")
            vm_ids.append(vid)
            vm_type.append(type_index[tname])
            vm_pm.append(pm_index[host])
            vm_numa.append(code)
            vm_mig.append(bool(v.get("migratable", True)))
        vm_index = {vid: i for i, vid in enumerate(vm_ids)}
        groups = []
        for i, g in enumerate(data.get("anti_affinity") or []):
            rec = f"{where}: anti_affinity[{i}]"
            try:
                members = [vm_index[str(x)] for x in g["vms"]]
                groups.append(AntiAffinityGroup(str(g.get("granularity", "host")), np.array(members, np.int64)))
            except KeyError as exc:
                raise SnapshotFormatError(f"{rec}: unknown VM {exc}") from None
            except ValueError as exc:
                raise SnapshotFormatError(f"{rec}: {exc}") from None
        snap = cls(
            name=str(data.get("name", "snapshot")), pm_ids=pm_ids, pm_active=np.array(active, bool),
            pm_rack=np.array([rack_index[r] for r in rack_names], np.int64), racks=racks,
            numa_cpu=np.array(numa_cpu, np.int64).reshape(-1, 2), numa_mem=np.array(numa_mem, np.int64).reshape(-1, 2),
            types=tuple(types), vm_ids=vm_ids, vm_type=np.array(vm_type, np.int64), vm_pm=np.array(vm_pm, np.int64),
            vm_numa=np.array(vm_numa, np.int64), vm_migratable=np.array(vm_mig, bool), groups=groups,
            meta=dict(data.get("meta") or {}),
        )
        snap.check(where)
        return snap


def _int(x: Any, rec: str, what: str) -> int:
    """An integral number (``6.0`` is accepted as 6); anything else names the record and field."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise SnapshotFormatError(f"{rec}: {what} must be a number, got {x!r}")
    if isinstance(x, float) and not (np.isfinite(x) and x == int(x)):
        raise SnapshotFormatError(f"{rec}: {what} must be a whole number, got {x!r}")
    return int(x)


def _numa_code(numa: Sequence[Any], rec: str) -> int:
    nodes = sorted(int(n) for n in numa)
    if nodes == [0]:
        return NUMA0
    if nodes == [1]:
        return NUMA1
    if nodes == [0, 1]:
        return BOTH
    raise SnapshotFormatError(f"{rec}: NUMA placement must be [0], [1] or [0, 1], got {list(numa)}")


# ---------------------------------------------------------------------- schedgym format files
def write_snapshot(snapshot: VMSnapshot, path: str | os.PathLike[str]) -> None:
    """Write the schedgym snapshot format (JSON)."""
    Path(path).write_text(json.dumps(snapshot.to_dict(), indent=1))


def read_snapshot(path: str | os.PathLike[str]) -> VMSnapshot:
    """Read a snapshot file: the schedgym format, or (detected by ``cluster_list``) VMR2L's schema in
    strict mode."""
    where = str(path)
    data = _read_json(where)
    if isinstance(data, dict) and "cluster_list" in data:
        return load_vmr2l(path, strict=True)[0]
    return VMSnapshot.from_dict(data, where)


def _read_json(where: str) -> Any:
    try:
        with open(where, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"snapshot file not found: {where}") from None
    except json.JSONDecodeError as exc:
        raise SnapshotFormatError(f"{where}: invalid JSON ({exc})") from None


# ---------------------------------------------------------------------- VMR2L schema
@dataclass
class LoadReport:
    """What :func:`load_vmr2l` repaired or dropped (empty lists: the file was consistent)."""

    repaired: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.repaired and not self.dropped

    def __str__(self) -> str:
        lines = [f"repaired: {r}" for r in self.repaired] + [f"dropped: {d}" for d in self.dropped]
        return "\n".join(lines) if lines else "consistent"


def load_vmr2l(source: str | os.PathLike[str] | Mapping[str, Any], strict: bool = True,
               name: str | None = None) -> tuple[VMSnapshot, LoadReport]:
    """Load a snapshot in VMR2L's published schema (a file path or the parsed dict).

    Checks, per record: known VM type, known host, NUMA entries matching the type (one node, or half on
    each of both), non-negative numbers, no VM larger than any NUMA node / PM, free = total - placed per
    NUMA (cores and memory), anti-affinity groups (``other_requirement.deployment_set``) satisfied.

    ``strict=True`` (the default) raises :class:`SnapshotFormatError` naming the file and the record on
    any inconsistency. ``strict=False`` repairs what has one right answer and reports it: free cores or
    memory that disagree with the placements are recomputed from the placements; a missing
    ``allow_migration`` becomes true; an anti-affinity group broken by the snapshot itself, or naming
    unknown VMs, is dropped. Unknown types, unknown hosts, negative values and VMs that fit no NUMA node
    are always rejected (nothing can repair them).
    """
    if isinstance(source, Mapping):
        where, data = (name or "<dict>"), source
    else:
        where = str(source)
        data = _read_json(where)
    report = LoadReport()
    if not isinstance(data, Mapping) or "cluster_list" not in data or "vm_type_list" not in data:
        raise SnapshotFormatError(f"{where}: a VMR2L snapshot needs top-level 'cluster_list' and 'vm_type_list'")
    types: list[VMType] = []
    for i, t in enumerate(data["vm_type_list"]):
        rec = f"{where}: vm_type_list[{i}]"
        try:
            tname = str(t["vm_type"])
            cpu, mem, numa = _int(t["request_cpu"], rec, "request_cpu"), _int(t["request_mem_mb"], rec, "request_mem_mb"), \
                _int(t.get("numa", 1), rec, "numa")
        except (KeyError, TypeError) as exc:
            raise SnapshotFormatError(f"{rec}: missing or bad field {exc}") from None
        if cpu <= 0 or mem < 0:
            raise SnapshotFormatError(f"{rec} ({tname!r}): negative or zero request (cpu {cpu}, mem {mem})")
        try:
            types.append(VMType(tname, cpu, mem, numa))
        except ValueError as exc:
            raise SnapshotFormatError(f"{rec}: {exc}") from None
    type_index = {t.name: i for i, t in enumerate(types)}
    if len(type_index) != len(types):
        raise SnapshotFormatError(f"{where}: duplicate vm_type names in vm_type_list")

    pm_ids: list[str] = []
    active: list[bool] = []
    rack_names: list[str] = []
    cap_cpu: list[list[int]] = []
    cap_mem: list[list[int]] = []
    free_cpu_decl: list[list[int]] = []
    free_mem_decl: list[list[int]] = []
    vm_recs: list[tuple[str, dict]] = []
    dep_sets: list[tuple[str, dict]] = []
    if not isinstance(data["cluster_list"], list):
        raise SnapshotFormatError(f"{where}: cluster_list must be a list")
    for c, cluster in enumerate(data["cluster_list"]):
        crec = f"{where}: cluster_list[{c}]"
        for h, host in enumerate(cluster.get("host_info") or []):
            rec = f"{crec}.host_info[{h}]"
            try:
                pid = str(host["node_id"])
                numas = sorted(host["numa"], key=lambda n: int(n["node"]))
                if [int(n["node"]) for n in numas] != [0, 1]:
                    raise SnapshotFormatError(f"{rec} ({pid!r}): exactly NUMA nodes 0 and 1 are supported")
                tc = [_int(n["total_cpu"], rec, "total_cpu") for n in numas]
                fc = [_int(n["free_cpu"], rec, "free_cpu") for n in numas]
                tm = [_int(n["memory_huge_total_mb"], rec, "memory_huge_total_mb") for n in numas]
                fm = [_int(n["memory_huge_free_mb"], rec, "memory_huge_free_mb") for n in numas]
            except (KeyError, TypeError) as exc:
                raise SnapshotFormatError(f"{rec}: missing or bad field {exc}") from None
            if min(tc + tm) < 0:
                raise SnapshotFormatError(f"{rec} ({pid!r}): negative NUMA capacity")
            if "node_cpu" in host and _int(host["node_cpu"], rec, "node_cpu") != sum(tc):
                msg = f"{rec} ({pid!r}): node_cpu {host['node_cpu']} != sum of NUMA total_cpu {sum(tc)}"
                if strict:
                    raise SnapshotFormatError(msg)
                report.repaired.append(msg + " (NUMA totals kept)")
            pm_ids.append(pid)
            active.append(str(host.get("status", "ACTIVE")).upper() == "ACTIVE")
            rack_names.append(str(host.get("rack_id", f"{crec}.rack")))
            cap_cpu.append(tc)
            cap_mem.append(tm)
            free_cpu_decl.append(fc)
            free_mem_decl.append(fm)
        for v, vm in enumerate(cluster.get("vm_instance") or []):
            vm_recs.append((f"{crec}.vm_instance[{v}]", vm))
        other = cluster.get("other_requirement") or {}
        for s, ds in enumerate(other.get("deployment_set") or []):
            dep_sets.append((f"{crec}.other_requirement.deployment_set[{s}]", ds))
    pm_index = {pid: i for i, pid in enumerate(pm_ids)}
    if len(pm_index) != len(pm_ids):
        dup = next(p for p in pm_ids if pm_ids.count(p) > 1)
        raise SnapshotFormatError(f"{where}: PM {dup!r} appears twice in host_info")

    max_numa_cpu = max((max(c) for c in cap_cpu), default=0)
    max_numa_mem = max((max(m) for m in cap_mem), default=0)
    vm_ids: list[str] = []
    vm_type: list[int] = []
    vm_pm: list[int] = []
    vm_numa: list[int] = []
    vm_mig: list[bool] = []
    for rec, vm in vm_recs:
        try:
            vid = str(vm["instance_id"])
            tname = str(vm["instance_type"])
            host = str(vm["host_id"])
            numa = list(vm["numa"])
        except (KeyError, TypeError) as exc:
            raise SnapshotFormatError(f"{rec}: missing or bad field {exc}") from None
        if tname not in type_index:
            raise SnapshotFormatError(f"{rec} ({vid!r}): unknown VM type {tname!r}; vm_type_list has {sorted(type_index)}")
        if host not in pm_index:
            raise SnapshotFormatError(f"{rec} ({vid!r}): host_id {host!r} is not in any host_info")
        t = types[type_index[tname]]
        if t.numa_cpu > max_numa_cpu or t.numa_mem > max_numa_mem:
            raise SnapshotFormatError(
                f"{rec} ({vid!r}): type {tname!r} needs {t.numa_cpu} cores / {t.numa_mem} MB per NUMA node, "
                f"more than any NUMA node has ({max_numa_cpu} cores / {max_numa_mem} MB)")
        try:
            nodes = [int(n["node"]) for n in numa]
            cpus = [_int(n["cpu"], rec, "numa.cpu") for n in numa]
            mems = [_int(n["mem_mb"], rec, "numa.mem_mb") for n in numa]
        except (KeyError, TypeError) as exc:
            raise SnapshotFormatError(f"{rec} ({vid!r}): bad numa entry {exc}") from None
        if min(cpus + mems, default=0) < 0:
            raise SnapshotFormatError(f"{rec} ({vid!r}): negative cpu or mem_mb in its numa entries")
        code = _numa_code(nodes, f"{rec} ({vid!r})")
        if (code == BOTH) != (t.numa == 2):
            raise SnapshotFormatError(
                f"{rec} ({vid!r}): type {tname!r} spans {t.numa} NUMA node(s) but the VM is placed on {sorted(nodes)}")
        if any(c != t.numa_cpu for c in cpus) or any(m != t.numa_mem for m in mems):
            raise SnapshotFormatError(
                f"{rec} ({vid!r}): numa entries {list(zip(nodes, cpus, mems))} do not match type {tname!r} "
                f"({t.numa_cpu} cores / {t.numa_mem} MB per node)")
        if "allow_migration" not in vm:
            if strict:
                raise SnapshotFormatError(f"{rec} ({vid!r}): missing allow_migration")
            report.repaired.append(f"{rec} ({vid!r}): missing allow_migration set to true")
        vm_ids.append(vid)
        vm_type.append(type_index[tname])
        vm_pm.append(pm_index[host])
        vm_numa.append(code)
        vm_mig.append(bool(vm.get("allow_migration", True)))
    vm_index = {vid: i for i, vid in enumerate(vm_ids)}
    if len(vm_index) != len(vm_ids):
        dup = next(v for v in vm_ids if vm_ids.count(v) > 1)
        raise SnapshotFormatError(f"{where}: VM {dup!r} appears twice in vm_instance")

    racks = sorted(set(rack_names))
    rack_index = {r: i for i, r in enumerate(racks)}
    snap = VMSnapshot(
        name=name or Path(where).stem, pm_ids=pm_ids, pm_active=np.array(active, bool),
        pm_rack=np.array([rack_index[r] for r in rack_names], np.int64), racks=racks,
        numa_cpu=np.array(cap_cpu, np.int64).reshape(-1, 2), numa_mem=np.array(cap_mem, np.int64).reshape(-1, 2),
        types=tuple(types), vm_ids=vm_ids, vm_type=np.array(vm_type, np.int64), vm_pm=np.array(vm_pm, np.int64),
        vm_numa=np.array(vm_numa, np.int64), vm_migratable=np.array(vm_mig, bool),
        meta={"source": "vmr2l", "file": where, **({"general_requirement": dict(data["general_requirement"])}
                                                   if isinstance(data.get("general_requirement"), Mapping) else {})},
    )
    # free = total - placed, per NUMA
    free_cpu, free_mem = snap.free()
    decl_c = np.array(free_cpu_decl, np.int64).reshape(-1, 2)
    decl_m = np.array(free_mem_decl, np.int64).reshape(-1, 2)
    over = np.flatnonzero((free_cpu < 0).any(1) | (free_mem < 0).any(1))
    if over.size:
        p = int(over[0])
        raise SnapshotFormatError(
            f"{where}: host {pm_ids[p]!r}: its VMs need more than its capacity (free after placement: "
            f"cores {free_cpu[p].tolist()}, memory {free_mem[p].tolist()} MB)")
    for p in np.flatnonzero((decl_c != free_cpu).any(1) | (decl_m != free_mem).any(1)):
        msg = (f"{where}: host {pm_ids[p]!r}: declared free cores {decl_c[p].tolist()} / memory "
               f"{decl_m[p].tolist()} MB, but total - placed = {free_cpu[p].tolist()} / {free_mem[p].tolist()} MB")
        if strict:
            raise SnapshotFormatError(msg)
        report.repaired.append(msg + " (recomputed from the placements)")
    for rec, ds in dep_sets:
        gran = str(ds.get("granularity", "host"))
        members = [str(x) for x in ds.get("data") or []]
        unknown = [m for m in members if m not in vm_index]
        if gran not in ("host", "rack") or unknown:
            msg = (f"{rec}: granularity {gran!r} unsupported" if gran not in ("host", "rack")
                   else f"{rec}: names unknown VMs {unknown[:5]}")
            if strict:
                raise SnapshotFormatError(msg)
            report.dropped.append(msg)
            continue
        idx = np.array(sorted({vm_index[m] for m in members}), np.int64)
        keys = snap.vm_pm[idx] if gran == "host" else snap.pm_rack[snap.vm_pm[idx]]
        if np.unique(keys).size != keys.size:
            msg = f"{rec}: anti-affinity ({gran}) already broken by the snapshot's placement"
            if strict:
                raise SnapshotFormatError(msg)
            report.dropped.append(msg)
            continue
        snap.groups.append(AntiAffinityGroup(gran, idx))
    snap.check(where)
    return snap, report


def write_vmr2l(snapshot: VMSnapshot) -> dict[str, Any]:
    """The snapshot in VMR2L's schema (one cluster), as a JSON-able dict."""
    free_cpu, free_mem = snapshot.free()
    hosts = []
    for p in range(snapshot.n_pms):
        hosts.append({
            "node_id": snapshot.pm_ids[p],
            "status": "ACTIVE" if snapshot.pm_active[p] else "DISABLED",
            "node_cpu": int(snapshot.numa_cpu[p].sum()),
            "node_mem_mb": int(snapshot.numa_mem[p].sum()),
            "rack_id": snapshot.racks[snapshot.pm_rack[p]],
            "numa": [{"node": k, "total_cpu": int(snapshot.numa_cpu[p, k]), "free_cpu": int(free_cpu[p, k]),
                      "memory_huge_total_mb": int(snapshot.numa_mem[p, k]),
                      "memory_huge_free_mb": int(free_mem[p, k])} for k in (0, 1)],
        })
    vms = []
    for v in range(snapshot.n_vms):
        t = snapshot.types[snapshot.vm_type[v]]
        nodes = [0, 1] if snapshot.vm_numa[v] == BOTH else [int(snapshot.vm_numa[v])]
        vms.append({
            "instance_id": snapshot.vm_ids[v], "instance_type": t.name, "host_id": snapshot.pm_ids[snapshot.vm_pm[v]],
            "numa": [{"node": k, "cpu": t.numa_cpu, "mem_mb": t.numa_mem} for k in nodes],
            "allow_migration": bool(snapshot.vm_migratable[v]),
        })
    cluster: dict[str, Any] = {"cluster_name": snapshot.name, "host_info": hosts, "vm_instance": vms}
    if snapshot.groups:
        cluster["other_requirement"] = {"deployment_set": [
            {"granularity": g.granularity, "data": [snapshot.vm_ids[v] for v in g.vms]} for g in snapshot.groups]}
    return {
        "cluster_list": [cluster],
        "vm_type_list": [{"vm_type": t.name, "request_cpu": t.cpu, "request_mem_mb": t.mem_mb, "numa": t.numa}
                         for t in snapshot.types],
    }
