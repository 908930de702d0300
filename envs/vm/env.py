"""``schedgym/VMReschedule-v0``: VM rescheduling across PMs and NUMA nodes to cut the fragment rate
(the VMR2L problem), as two node picks per migration."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..core import GraphSchedulingEnv, GraphSpec, Objective
from .generator import PRESETS, SnapshotGenerator, generator_for
from .instance import BOTH, SLOT, VMSnapshot, load_vmr2l, read_snapshot
from .state import VMState
from .types import MigrationRecord, VMSolution
from .validate import validate_solution

NODE_FEATURES: tuple[str, ...] = (
    "is_stop",
    "is_numa",
    "is_vm",
    "free_cpu",  # NUMA: free cores / its cores
    "free_mem",  # NUMA: free memory / its memory
    "frag",  # NUMA: (free cores mod 16) / 16
    "slots16",  # NUMA: free 16-core slots / (its cores / 16)
    "pm_free_cpu",  # NUMA: free cores of its PM / PM cores
    "active",  # NUMA: its PM is active
    "cpu",  # VM: cores per NUMA node it uses / 44
    "mem",  # VM: memory per NUMA node it uses / NUMA memory
    "double",  # VM: split over both NUMA nodes
    "movable",  # VM: allow-migration flag and an active host
    "release_gain",  # VM: -(change of the sum of remainders if it left its host) / 16
    "moved",  # VM: migrated in this episode
    "selected",  # VM: the VM being moved (stage 1)
    "move_gain",  # NUMA, stage 1: -(change of the sum of remainders if the selected VM moved here) / 16
    "legal",  # the action mask
)
GLOBAL_FEATURES: tuple[str, ...] = ("stage", "fr", "fr_initial", "migrations_left", "migrations_done",
                                    "free_share")
F = {name: i for i, name in enumerate(NODE_FEATURES)}
NT_STOP, NT_NUMA, NT_VM = 0, 1, 2
ET_VM_NUMA, ET_NUMA_VM, ET_SIBLING, ET_CAND, ET_CAND_BACK = 0, 1, 2, 3, 4
STOP = 0


class VMRescheduleEnv(GraphSchedulingEnv):
    """Pick up to MNL migrations that lower the fragment rate of a cluster snapshot.

    ## Description
    A snapshot holds PMs with two NUMA nodes each (44 cores and 184,388 MB per node by default, as in
    VMR2L's published snapshots) and VMs of standard types, each on one NUMA node or split evenly over
    both. The fragment rate FR is the sum over NUMA nodes of active PMs of (free cores mod 16) divided
    by their free cores: cores that cannot host a 16-core VM. Each migration is two steps of this env:
    **stage 0** picks a migratable VM (or the *stop* node), **stage 1** picks its destination NUMA node
    (for a double-NUMA VM, either node of the destination PM stands for the PM). The episode ends at
    the migration number limit (MNL) or at stop. Semantics: ``schedgym.envs.vm.state`` and ``docs/vm.md``.

    ## Action Space
    ``Discrete(1 + 2 * max_pms + max_vms)``. Node 0 is *stop*; node ``1 + 2p + k`` is NUMA node ``k`` of
    PM ``p``; node ``1 + 2 max_pms + v`` is VM ``v``. Stage 0 mask: stop, and every migratable VM with
    at least one legal destination. Stage 1 mask: the NUMA nodes the chosen VM may move to now
    (capacity of cores and memory per node, active PM, anti-affinity, no no-op moves).

    ## Observation Space
    The contract's padded graph. Node types: stop (0), NUMA (1), VM (2). Edges: VM -> the NUMA nodes
    it occupies (0) and back (1), between the two NUMA nodes of a PM (2), and in stage 1 from the chosen
    VM to each legal destination (3) and back (4). Node features :data:`NODE_FEATURES`, globals
    :data:`GLOBAL_FEATURES` (``stage``, FR now and at reset, migrations left / MNL, done / MNL, free
    share of the cores). A step rewrites only the rows it touches (two PMs, one VM) plus the mask.

    ## Rewards
    Stage 0 steps: 0. A migration: ``reward_scale * (FR before - FR after)``. The episode return is
    ``reward_scale * (FR at reset - FR at the end)``.

    ## Starting State
    A snapshot: ``snapshot`` (a :class:`VMSnapshot`, a schedgym snapshot file or a VMR2L file), or one
    drawn from the reset seed by the arrivals/departures generator (``preset``, ``n_pms``,
    ``generator_kwargs``). ``options={"snapshot": ...}`` at reset overrides it for one episode (it
    must fit ``max_pms`` / ``max_vms``).

    ## Episode End
    Terminates after MNL migrations or on stop. ``info["metrics"]``: ``fragment_rate`` (the
    objective, lower is better), ``fragment_rate_initial``, ``fr_reduction``, ``slots16`` and its
    initial value, ``migrations``, ``mnl``, ``n_pms``, ``n_vms``. ``info["solution"]``: a
    :class:`~schedgym.envs.vm.types.VMSolution` checked by :func:`schedgym.envs.vm.validate.validate_solution`.

    ## Arguments
    ``snapshot`` (None: generated), ``preset`` (``"small"`` 20 PMs, ``"medium"`` 280, ``"large"``
    1,176), ``n_pms`` (overrides the preset), ``generator_kwargs`` (more
    :class:`~schedgym.envs.vm.generator.SnapshotGenerator` fields, e.g. ``anti_affinity_groups``),
    ``mnl`` (int, default 10) or ``mnl_fraction`` (MNL = round(fraction * VMs), used when ``mnl`` is
    None), ``reward_scale`` (10.0), ``max_pms`` / ``max_vms`` (padding; default from the snapshot or
    the generator), ``render_mode`` (``"rgb_array"`` or None).

    ## Version History
    * v0: initial version.
    """

    objective = Objective("fragment_rate", "min")

    def __init__(
        self,
        snapshot: VMSnapshot | str | os.PathLike[str] | None = None,
        preset: str = "small",
        n_pms: int | None = None,
        generator_kwargs: dict[str, Any] | None = None,
        mnl: int | None = 10,
        mnl_fraction: float | None = None,
        reward_scale: float = 10.0,
        max_pms: int | None = None,
        max_vms: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        self._init_render(render_mode)
        if mnl is None and mnl_fraction is None:
            raise ValueError("VMRescheduleEnv: give mnl (an int) or mnl_fraction")
        if mnl is not None and (int(mnl) != mnl or mnl < 0):
            raise ValueError(f"VMRescheduleEnv: mnl must be an integer >= 0, got {mnl!r}")
        if mnl_fraction is not None and not 0 <= mnl_fraction <= 1:
            raise ValueError(f"VMRescheduleEnv: mnl_fraction must be in [0, 1], got {mnl_fraction!r}")
        if preset not in PRESETS:
            raise ValueError(f"VMRescheduleEnv: unknown preset {preset!r}; known: {sorted(PRESETS)}")
        self.mnl_fixed = None if mnl is None else int(mnl)
        self.mnl_fraction = mnl_fraction
        self.reward_scale = float(reward_scale)
        self.fixed_snapshot = _load(snapshot) if snapshot is not None else None
        gkw = dict(generator_kwargs or {})
        if n_pms is not None:
            gkw["n_pms"] = int(n_pms)
        try:
            gen = generator_for(preset, **gkw)
        except TypeError as exc:
            raise ValueError(f"VMRescheduleEnv: bad generator_kwargs ({exc})") from None
        if self.fixed_snapshot is None and gen.max_vms is None:
            # the generator's cap sets the padding: 1.6 x the expected number of VMs (arrivals wait at the cap)
            probs = gen.probabilities
            mean = float(sum(t.cpu * p for t, p in zip(gen.types, probs)))
            expected = gen.target_alloc[1] * 2 * gen.numa_cpu * gen.n_pms / mean
            gen = SnapshotGenerator(**{**gen.__dict__, "max_vms": int(np.ceil(1.6 * expected)) + 8})
        self.generator = gen
        if self.fixed_snapshot is not None:
            base_p, base_v = self.fixed_snapshot.n_pms, self.fixed_snapshot.n_vms
        else:
            base_p, base_v = gen.n_pms, int(gen.max_vms)
        self.max_pms = int(max_pms) if max_pms is not None else base_p
        self.max_vms = int(max_vms) if max_vms is not None else base_v
        if self.max_pms < base_p or self.max_vms < base_v:
            raise ValueError(f"VMRescheduleEnv: max_pms/max_vms ({self.max_pms}/{self.max_vms}) below the "
                             f"snapshot's size ({base_p}/{base_v})")
        n = 1 + 2 * self.max_pms + self.max_vms
        e = 2 * self.max_pms + 4 * self.max_vms + 4 * self.max_pms
        self._init_graph(GraphSpec(max_nodes=n, max_edges=e, node_features=len(NODE_FEATURES), n_node_types=3,
                                   n_edge_types=5, global_features=len(GLOBAL_FEATURES),
                                   node_feature_names=NODE_FEATURES, global_feature_names=GLOBAL_FEATURES))
        self.state: VMState | None = None
        self.stage = 0
        self.selected = -1
        self.mnl = 0
        self.migrations_done = 0

    # ------------------------------------------------------------------ node indices (VMView)
    @property
    def stop_node(self) -> int:
        return STOP

    def numa_node(self, p: int, k: int) -> int:
        return 1 + 2 * int(p) + int(k)

    def vm_node(self, v: int) -> int:
        return 1 + 2 * self.max_pms + int(v)

    def decode(self, node: int) -> tuple[str, int, int]:
        """``("stop", 0, 0)``, ``("numa", p, k)`` or ``("vm", v, 0)``."""
        if node == STOP:
            return ("stop", 0, 0)
        if node <= 2 * self.max_pms:
            return ("numa", (node - 1) // 2, (node - 1) % 2)
        return ("vm", node - 1 - 2 * self.max_pms, 0)

    # ------------------------------------------------------------------ episode
    def _reset_state(self, options: dict[str, Any] | None) -> None:
        spec = (options or {}).get("snapshot")
        if spec is not None:
            snap = _load(spec)
        elif self.fixed_snapshot is not None:
            snap = self.fixed_snapshot
        else:
            snap = self.generator(self.np_random)
        if snap.n_pms > self.max_pms or snap.n_vms > self.max_vms:
            raise ValueError(f"VMRescheduleEnv: snapshot {snap.name!r} has {snap.n_pms} PMs / {snap.n_vms} VMs, more "
                             f"than this env's padding max_pms={self.max_pms} / max_vms={self.max_vms}")
        self.snapshot = snap
        self.state = VMState(snap)
        if self.mnl_fixed is not None:
            self.mnl = self.mnl_fixed
        else:
            self.mnl = int(round(float(self.mnl_fraction) * snap.n_vms))
        self.stage = 0
        self.selected = -1
        self.migrations_done = 0
        self._build_static()
        self._refresh()

    def _apply(self, action: int) -> tuple[float, bool, bool]:
        st = self.state
        assert st is not None
        kind, a, b = self.decode(action)
        if self.stage == 0:
            if kind == "stop":
                self._set_legal_stop_only()
                return 0.0, True, False
            self.selected = a
            self.stage = 1
            self._refresh()
            return 0.0, False, False
        v = self.selected
        fr_before = st.fr()
        mig = st._apply(v, a, b)  # legal by the mask
        self.migrations_done += 1
        reward = self.reward_scale * (fr_before - st.fr())
        self.stage = 0
        self.selected = -1
        self._update_after_move(mig.vm, mig.from_pm, mig.to_pm)
        done = self.migrations_done >= self.mnl
        self._refresh()
        return float(reward), bool(done), False

    def _episode_metrics(self) -> dict[str, float]:
        st = self.state
        assert st is not None
        return {
            "fragment_rate": float(st.fr()),
            "fragment_rate_initial": float(st.fr0),
            "fr_reduction": float(st.fr0 - st.fr()),
            "slots16": float(st.slots16()),
            "slots16_initial": float(st.slots0),
            "migrations": float(self.migrations_done),
            "mnl": float(self.mnl),
            "n_pms": float(st.n_pms),
            "n_vms": float(st.n_vms),
        }

    def _episode_solution(self) -> VMSolution:
        st = self.state
        assert st is not None
        s = self.snapshot
        nodes = {0: [0], 1: [1], BOTH: [0, 1]}
        migs: list[MigrationRecord] = [
            {"vm": s.vm_ids[m.vm], "from_pm": s.pm_ids[m.from_pm], "from_numa": nodes[m.from_numa],
             "to_pm": s.pm_ids[m.to_pm], "to_numa": nodes[m.to_numa]} for m in st.migrations
        ]
        return {"snapshot": s.name, "mnl": int(self.mnl), "migrations": migs, "fragment_rate": float(st.fr()),
                "fragment_rate_initial": float(st.fr0), "slots16": int(st.slots16())}

    def validate_solution(self, solution: dict[str, Any]) -> float:
        return validate_solution(self.snapshot, solution, mnl=self.mnl)

    def _describe_illegal(self, action: int) -> str:
        st = self.state
        if st is None:
            return "reset() first"
        kind, a, b = self.decode(action)
        s = self.snapshot
        if self.stage == 0:
            if kind == "numa":
                return f"stage 0 picks a VM or stop; node {action} is NUMA {b} of PM {s.pm_ids[a]!r} if any"
            if a >= st.n_vms:
                return f"node {action} is a padding node (this snapshot has {st.n_vms} VMs)"
            if not st.movable[a]:
                return f"VM {s.vm_ids[a]!r} is not migratable (allow_migration false or on an inactive PM)"
            if self.migrations_done >= self.mnl:
                return "the migration number limit is reached"
            return f"VM {s.vm_ids[a]!r} has no legal destination now"
        vid = s.vm_ids[self.selected]
        if kind != "numa":
            return f"stage 1 picks a destination NUMA node for VM {vid!r}, not node {action} ({kind})"
        if a >= st.n_pms:
            return f"node {action} is a padding node (this snapshot has {st.n_pms} PMs)"
        return st.why_illegal(self.selected, a, b) or "masked out"

    def _step_info(self) -> dict[str, Any]:
        st = self.state
        return {"stage": self.stage, "fragment_rate": float(st.fr()) if st is not None else float("nan"),
                "migrations": self.migrations_done}

    # ------------------------------------------------------------------ observation
    def _build_static(self) -> None:
        """Everything fixed for the episode: node types, VM features, the edges' layout."""
        g = self.graph
        st = self.state
        assert st is not None
        s = self.snapshot
        g.clear()
        self._last_selected = -1
        P, V = st.n_pms, st.n_vms
        self._n_real = self.vm_node(V) if V else 1 + 2 * self.max_pms
        g.n_nodes = self._n_real
        x = g.nodes
        x[STOP, F["is_stop"]] = 1.0
        numa_rows = np.arange(1, 1 + 2 * P)
        x[numa_rows, F["is_numa"]] = 1.0
        g.node_type[numa_rows] = NT_NUMA
        # padding PMs (when max_pms exceeds the snapshot) stay as zero rows of type NUMA, inactive
        g.node_type[1 + 2 * P:1 + 2 * self.max_pms] = NT_NUMA
        self._cap_cpu = np.maximum(s.numa_cpu, 1).astype(np.float32)
        self._cap_mem = np.maximum(s.numa_mem, 1).astype(np.float32)
        self._pm_cap = self._cap_cpu.sum(1)
        x[numa_rows, F["active"]] = np.repeat(st.active, 2).astype(np.float32)
        vrows = self.vm_node(0) + np.arange(V)
        self._vrows = vrows
        g.node_type[vrows] = NT_VM
        x[vrows, F["is_vm"]] = 1.0
        x[vrows, F["cpu"]] = st.dem_cpu / 44.0
        ref_mem = float(np.median(s.numa_mem)) if P else 1.0
        x[vrows, F["mem"]] = st.dem_mem / max(ref_mem, 1.0)
        x[vrows, F["double"]] = st.double.astype(np.float32)
        x[vrows, F["movable"]] = st.movable.astype(np.float32)
        # edges: sibling NUMA pairs, then each VM's fixed slot of 2 (single) or 4 (double) edges
        pm = np.arange(P)
        g.add_edges(1 + 2 * pm, 2 + 2 * pm, ET_SIBLING)
        g.add_edges(2 + 2 * pm, 1 + 2 * pm, ET_SIBLING)
        width = np.where(st.double, 4, 2)
        self._edge_off = g.n_edges + np.concatenate([[0], np.cumsum(width)[:-1]]) if V else np.zeros(0, np.int64)
        g.n_edges += int(width.sum())
        self._base_edges = g.n_edges
        for v in range(V):
            self._write_vm_edges(v)
        self._update_numa_rows(np.arange(P))
        x[vrows, F["release_gain"]] = -st.release_delta(np.arange(V)) / SLOT if V else 0.0
        g.globals[GLOBAL_FEATURES.index("fr_initial")] = st.fr0
        g.globals[GLOBAL_FEATURES.index("free_share")] = st.total_free / max(float(self._cap_cpu[st.active].sum()), 1.0)

    def _write_vm_edges(self, v: int) -> None:
        st = self.state
        g = self.graph
        o = int(self._edge_off[v])
        node = self.vm_node(v)
        p = int(st.vm_pm[v])
        if st.double[v]:
            g.edge_index[0, o:o + 4] = (node, node, 1 + 2 * p, 2 + 2 * p)
            g.edge_index[1, o:o + 4] = (1 + 2 * p, 2 + 2 * p, node, node)
            g.edge_type[o:o + 4] = (ET_VM_NUMA, ET_VM_NUMA, ET_NUMA_VM, ET_NUMA_VM)
        else:
            n = self.numa_node(p, int(st.vm_numa[v]))
            g.edge_index[0, o:o + 2] = (node, n)
            g.edge_index[1, o:o + 2] = (n, node)
            g.edge_type[o:o + 2] = (ET_VM_NUMA, ET_NUMA_VM)

    def _update_numa_rows(self, pms: np.ndarray) -> None:
        st = self.state
        x = self.graph.nodes
        fc = st.free_cpu[pms].astype(np.float32)
        fm = st.free_mem[pms].astype(np.float32)
        rows = (1 + 2 * pms[:, None] + np.arange(2)[None, :]).reshape(-1)
        x[rows, F["free_cpu"]] = (fc / self._cap_cpu[pms]).reshape(-1)
        x[rows, F["free_mem"]] = (fm / self._cap_mem[pms]).reshape(-1)
        x[rows, F["frag"]] = ((fc % SLOT) / SLOT).reshape(-1)
        x[rows, F["slots16"]] = (np.floor(fc / SLOT) / (self._cap_cpu[pms] / SLOT)).reshape(-1)
        x[rows, F["pm_free_cpu"]] = np.repeat(fc.sum(1) / self._pm_cap[pms], 2)

    def _update_after_move(self, v: int, p_from: int, p_to: int) -> None:
        st = self.state
        x = self.graph.nodes
        self._write_vm_edges(v)
        pms = np.unique(np.array([p_from, p_to]))
        self._update_numa_rows(pms)
        x[self.vm_node(v), F["moved"]] = 1.0
        on = np.flatnonzero(np.isin(st.vm_pm, pms))
        if on.size:
            x[self._vrows[on], F["release_gain"]] = -st.release_delta(on) / SLOT

    def _clear_stage1(self) -> None:
        g = self.graph
        x = g.nodes
        if getattr(self, "_last_selected", -1) >= 0:
            x[self.vm_node(self._last_selected), F["selected"]] = 0.0
        x[1:1 + 2 * self.max_pms, F["move_gain"]] = 0.0
        g.edge_index[:, self._base_edges:g.n_edges] = 0
        g.edge_type[self._base_edges:g.n_edges] = 0
        g.n_edges = self._base_edges
        self._last_selected = -1

    def _refresh(self) -> None:
        """Mask, stage-dependent rows and globals."""
        st = self.state
        g = self.graph
        x = g.nodes
        self._clear_stage1()
        g.action_mask.fill(0)
        P, V = st.n_pms, st.n_vms
        if self.stage == 0:
            g.action_mask[STOP] = 1
            if self.migrations_done < self.mnl and V:
                g.action_mask[self._vrows] = st.has_destination()
        else:
            v = self.selected
            dm = st.dest_mask(v)
            g.action_mask[1:1 + 2 * P] = dm.reshape(-1)
            x[self.vm_node(v), F["selected"]] = 1.0
            self._last_selected = v
            gain = -st.move_delta(v).reshape(-1) / SLOT
            x[1:1 + 2 * P, F["move_gain"]] = np.where(dm.reshape(-1), gain, 0.0)
            cand = 1 + np.flatnonzero(dm.reshape(-1))
            node = self.vm_node(v)
            g.add_edges(np.full(cand.size, node), cand, ET_CAND)
            g.add_edges(cand, np.full(cand.size, node), ET_CAND_BACK)
        x[:g.n_nodes, F["legal"]] = g.action_mask[:g.n_nodes]
        gl = g.globals
        gl[0] = float(self.stage)
        gl[1] = st.fr()
        gl[3] = (self.mnl - self.migrations_done) / max(self.mnl, 1)
        gl[4] = self.migrations_done / max(self.mnl, 1)

    def _set_legal_stop_only(self) -> None:
        g = self.graph
        g.action_mask.fill(0)
        g.action_mask[STOP] = 1
        g.nodes[:g.n_nodes, F["legal"]] = g.action_mask[:g.n_nodes]

    # ------------------------------------------------------------------ render
    def render(self) -> np.ndarray | None:
        if self.render_mode is None or self.state is None:
            return None
        from .render import env_title, render_rgb

        return render_rgb(self.state, title=env_title(self))


def _load(spec: VMSnapshot | str | os.PathLike[str] | dict) -> VMSnapshot:
    if isinstance(spec, VMSnapshot):
        return spec
    if isinstance(spec, dict):
        if "cluster_list" in spec:
            return load_vmr2l(spec, strict=True)[0]
        return VMSnapshot.from_dict(spec)
    if isinstance(spec, (str, os.PathLike)):
        return read_snapshot(spec)
    raise ValueError(f"VMRescheduleEnv: snapshot must be a VMSnapshot, a dict or a file path, got {type(spec).__name__}")
