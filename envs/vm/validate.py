"""Independent validator of a VM rescheduling solution.

It re-reads the snapshot from its plain dict form (:meth:`VMSnapshot.to_dict`) and replays the
migrations in order with plain Python arithmetic (no code shared with :mod:`.state`), checking after
every migration that every NUMA node's cores and memory hold, that at most MNL migrations were made,
that only migratable VMs on active PMs moved, only to active PMs, each move from where the VM
actually was, never a no-op, with the VM's NUMA shape (one node, or both for a double-NUMA VM), and
anti-affinity respected; at the end every VM is placed exactly once. It recomputes the fragment rate
and the 16-core slots and compares them with the reported figures.
"""

from __future__ import annotations

from typing import Any, Mapping

from .instance import VMSnapshot


class SolutionError(AssertionError):
    """An infeasible or misreported solution."""


def _fr(free: dict[str, list[int]], active: dict[str, bool]) -> tuple[float, int]:
    total = rem = slots = 0
    for pid, cores in free.items():
        if not active[pid]:
            continue
        for f in cores:
            total += f
            rem += f % 16
            slots += f // 16
    return (rem / total if total else 0.0), slots


def validate_solution(snapshot: VMSnapshot | Mapping[str, Any], solution: Mapping[str, Any],
                      mnl: int | None = None, tol: float = 1e-9) -> float:
    """Check ``solution`` (``info["solution"]``) against ``snapshot``; return the recomputed fragment rate.

    Raises :class:`SolutionError` (an ``AssertionError``) naming the migration and the violation.
    """
    snap = snapshot.to_dict() if isinstance(snapshot, VMSnapshot) else dict(snapshot)
    types = {t["name"]: t for t in snap["vm_types"]}
    active = {p["id"]: bool(p["active"]) for p in snap["pms"]}
    rack = {p["id"]: p["rack"] for p in snap["pms"]}
    free = {p["id"]: list(p["numa_cpu"]) for p in snap["pms"]}
    free_mem = {p["id"]: list(p["numa_mem_mb"]) for p in snap["pms"]}
    where: dict[str, tuple[str, tuple[int, ...]]] = {}
    vm_info: dict[str, dict] = {}
    for vm in snap["vms"]:
        if vm["id"] in where:
            raise SolutionError(f"snapshot: VM {vm['id']!r} listed twice")
        t = types[vm["type"]]
        nodes = tuple(sorted(vm["numa"]))
        share = len(nodes)
        vm_info[vm["id"]] = {"cpu": t["cpu"] // share, "mem": t["mem_mb"] // share, "numa": t["numa"],
                             "migratable": bool(vm["migratable"])}
        where[vm["id"]] = (vm["pm"], nodes)
        for k in nodes:
            free[vm["pm"]][k] -= t["cpu"] // share
            free_mem[vm["pm"]][k] -= t["mem_mb"] // share
    for pid in free:
        for k in (0, 1):
            if free[pid][k] < 0 or free_mem[pid][k] < 0:
                raise SolutionError(f"snapshot: PM {pid!r} NUMA {k} is over capacity before any migration")
    fr0, _ = _fr(free, active)
    groups = [(g["granularity"], list(g["vms"])) for g in snap.get("anti_affinity") or []]
    limit = int(solution["mnl"]) if mnl is None else int(mnl)
    if mnl is not None and int(solution.get("mnl", mnl)) != int(mnl):
        raise SolutionError(f"solution reports MNL {solution.get('mnl')} but the episode's MNL is {mnl}")
    migrations = list(solution["migrations"])
    if len(migrations) > limit:
        raise SolutionError(f"{len(migrations)} migrations exceed the migration number limit {limit}")
    for i, mig in enumerate(migrations):
        tag = f"migration {i} ({mig.get('vm')!r} -> {mig.get('to_pm')!r} {mig.get('to_numa')})"
        vid = mig["vm"]
        if vid not in vm_info:
            raise SolutionError(f"{tag}: unknown VM")
        info = vm_info[vid]
        src_pm, src_nodes = where[vid]
        if (mig["from_pm"], tuple(sorted(mig["from_numa"]))) != (src_pm, src_nodes):
            raise SolutionError(f"{tag}: reports source {mig['from_pm']!r} {mig['from_numa']} but the VM is on "
                                f"{src_pm!r} {list(src_nodes)}")
        if not info["migratable"]:
            raise SolutionError(f"{tag}: the VM does not allow migration")
        if not active[src_pm]:
            raise SolutionError(f"{tag}: the VM is on inactive PM {src_pm!r}")
        dst = mig["to_pm"]
        if dst not in active:
            raise SolutionError(f"{tag}: unknown destination PM")
        if not active[dst]:
            raise SolutionError(f"{tag}: destination PM is inactive")
        nodes = tuple(sorted(mig["to_numa"]))
        if nodes not in ((0,), (1,), (0, 1)) or len(nodes) != info["numa"]:
            raise SolutionError(f"{tag}: NUMA placement {list(nodes)} does not match the VM's type ({info['numa']} node(s))")
        if (dst, nodes) == (src_pm, src_nodes):
            raise SolutionError(f"{tag}: a no-op move")
        if info["numa"] == 2 and dst == src_pm:
            raise SolutionError(f"{tag}: a double-NUMA VM moved onto its own PM")
        for k in nodes:  # capacity before the source is freed
            if free[dst][k] < info["cpu"] or free_mem[dst][k] < info["mem"]:
                raise SolutionError(f"{tag}: PM {dst!r} NUMA {k} has {free[dst][k]} cores / {free_mem[dst][k]} MB "
                                    f"free, the VM needs {info['cpu']} / {info['mem']}")
        for gran, members in groups:
            if vid not in members:
                continue
            for o in members:
                if o == vid:
                    continue
                opm = where[o][0]
                if (gran == "host" and opm == dst) or (gran == "rack" and rack[opm] == rack[dst]):
                    raise SolutionError(f"{tag}: anti-affinity ({gran}) with VM {o!r} on {opm!r}")
        for k in src_nodes:
            free[src_pm][k] += info["cpu"]
            free_mem[src_pm][k] += info["mem"]
        for k in nodes:
            free[dst][k] -= info["cpu"]
            free_mem[dst][k] -= info["mem"]
        where[vid] = (dst, nodes)
    if len(where) != len(snap["vms"]):
        raise SolutionError("a VM is placed more than once or not at all")
    for pid in free:
        for k in (0, 1):
            if free[pid][k] < 0 or free_mem[pid][k] < 0:
                raise SolutionError(f"final state: PM {pid!r} NUMA {k} over capacity")
    fr, slots = _fr(free, active)
    if "fragment_rate_initial" in solution and abs(float(solution["fragment_rate_initial"]) - fr0) > tol:
        raise SolutionError(f"reported initial FR {solution['fragment_rate_initial']} != recomputed {fr0}")
    if "fragment_rate" in solution and abs(float(solution["fragment_rate"]) - fr) > tol:
        raise SolutionError(f"reported FR {solution['fragment_rate']} != recomputed {fr}")
    if "slots16" in solution and int(solution["slots16"]) != slots:
        raise SolutionError(f"reported 16-core slots {solution['slots16']} != recomputed {slots}")
    return fr
