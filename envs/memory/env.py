"""``schedgym/MemoryMap-v0`` and ``schedgym/MemoryAlloc-v0``: buffers onto a fast memory, one at a time."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..core import GraphSchedulingEnv, GraphSpec, Objective
from .catalog import load_instance
from .generator import SyntheticProgram, TiledAllocation
from .instance import MemoryInstance, read_instance
from .simulator import MemoryState, net_benefit, overlap_lists, program_time
from .types import MemorySolution
from .validate import validate_solution

MODES: tuple[str, ...] = ("mapping", "allocation")
GENERATORS: tuple[str, ...] = ("program", "tiled")

#: node feature columns (buffer nodes and the stop node share the layout; unused columns are 0)
NODE_FEATURES: tuple[str, ...] = (
    "is_buffer",
    "is_stop",
    "size",  # size / capacity
    "start",  # lower / horizon
    "end",  # upper / horizon
    "lifetime",  # (upper - lower) / horizon
    "placed",  # 1 once placed (in fast memory)
    "offset",  # placed: offset / capacity
    "candidate_offset",  # unplaced: the offset it would get now / capacity
    "headroom",  # unplaced: (capacity - candidate offset - size) / capacity, clipped to [-1, 1]
    "legal",  # = action mask
    "benefit",  # mapping: time saved by this buffer alone in fast memory, less its exposed copy time, / all-slow time
    "benefit_density",  # positive benefit per byte, divided by the instance's largest
    "prefetch",  # contents come from slow memory (weights, inputs): a fast placement costs a copy in
    "evict",  # contents are needed after the program (outputs): a fast placement costs a copy out
    "conflict",  # total size of the buffers overlapping it in time / capacity, squashed x / (1 + x)
)
GLOBAL_FEATURES: tuple[str, ...] = ("progress", "placed_bytes", "peak", "time_saved", "mode_mapping", "load_ratio")
NODE_BUFFER, NODE_STOP = 0, 1
EDGE_OVERLAP = 0
_F = {name: i for i, name in enumerate(NODE_FEATURES)}
#: the dynamic columns, contiguous: placed, offset, candidate_offset, headroom, legal
_DYN = slice(_F["placed"], _F["legal"] + 1)
assert NODE_FEATURES[_DYN] == ("placed", "offset", "candidate_offset", "headroom", "legal")


def resolve_instance(instance: MemoryInstance | str | os.PathLike[str]) -> MemoryInstance:
    """A :class:`MemoryInstance`, a catalog name (``"minimalloc-example"``, ``"minimalloc/A"``, a traced
    model such as ``"gpt2-block-b1-s128"``) or a ``.csv`` / ``.json`` file path."""
    if isinstance(instance, MemoryInstance):
        return instance
    text = os.fspath(instance)
    if os.path.isfile(text):
        return read_instance(text)
    if text.endswith((".csv", ".json")):
        raise FileNotFoundError(f"memory instance file not found: {text}")
    return load_instance(text)


class MemoryEnv(GraphSchedulingEnv):
    """Placing an ML program's buffers in a fast memory: mallocGame-style mapping and MiniMalloc-style
    static allocation, on one simulator.

    ## Description
    A program's **buffers** each have a size and a live interval ``[lower, upper)`` in instruction
    time; two buffers live at a common instant may not share an address. In ``mode="allocation"``
    (``schedgym/MemoryAlloc-v0``) every buffer must get an offset so that all fit under the capacity
    (MiniMalloc's and TelaMalloc's problem); the objective is ``solved`` (1 if every buffer is placed,
    maximized). In ``mode="mapping"`` (``schedgym/MemoryMap-v0``, mallocMuZero's game) the buffers
    placed are in the fast memory and the rest stay in the unbounded slow memory; the objective is the
    ``program_time`` in µs (minimized) of a roofline model with an optional copy engine
    (:mod:`schedgym.envs.memory.simulator`).

    ## Action Space
    ``Discrete(max_buffers + 1)``. Node ``b < n`` places buffer ``b`` at its **canonical offset**:
    the highest top (offset + size) among the already-placed buffers that overlap it in time, or 0
    (the positions of MiniMalloc's canonical solutions). It is legal when the buffer is unplaced and
    that offset + size is at most the capacity. Node ``n`` (the **stop** node) is legal in mapping mode
    only: the remaining buffers stay in slow memory. Any feasible placement is reachable by placing
    its buffers in increasing order of offset (each lands at or below its offset), so the order in
    which buffers are picked is the whole decision.

    ## Observation Space
    The contract's padded graph dict. Buffer nodes (type 0) and the stop node (type 1). Edges (type 0)
    link each buffer to up to ``max_degree`` buffers that overlap it in time (those with the longest
    overlap). Node features: :data:`NODE_FEATURES`; globals: :data:`GLOBAL_FEATURES`. Sizes and offsets
    are divided by the capacity, times by the horizon.

    ## Rewards
    Mapping: each placement earns the roofline time it saves divided by the all-slow program time; the
    last step also subtracts the copy-engine stall divided by it, so the episode return is
    ``1 - T / T_slow`` (times ``reward_scale``). Allocation (shaping): each placement earns its area
    ``size x lifetime`` divided by the total area; success adds 1, so a solved episode returns 2 and a
    dead end less than 1.

    ## Starting State
    No buffer placed. The instance is fixed (``instance=``: a :class:`MemoryInstance`, a catalog name
    or a file; a list of them draws one per reset from ``self.np_random``), given at reset
    (``options={"instance": ...}``, at most ``max_buffers`` buffers), or a seeded synthetic program (:class:`~schedgym.envs.memory.generator.SyntheticProgram` with
    ``n_buffers`` buffers and ``capacity_ratio`` x its largest live total) drawn from
    ``self.np_random``; in allocation mode ``generator="tiled"`` draws instead a
    :class:`~schedgym.envs.memory.generator.TiledAllocation`: ``n_buffers`` pieces that tile
    ``[0, 1000) x [0, capacity)`` (default capacity 1 MiB), feasible by construction with no slack.

    ## Episode End
    Allocation: terminates when every buffer is placed (``solved = 1``) or at a **dead end**, when
    some buffer is unplaced and none fits (``solved = 0``, counted as a failure). Mapping: terminates
    when the stop node is picked, every buffer is placed, or no unplaced buffer fits. Never truncates.
    ``info["metrics"]``: see :meth:`_episode_metrics`; ``info["solution"]``: a
    :class:`~schedgym.envs.memory.types.MemorySolution`, checked by
    :func:`~schedgym.envs.memory.validate.validate_solution`.

    ## Arguments
    ``mode`` (``"mapping"`` / ``"allocation"``), ``instance``, ``n_buffers`` (synthetic size, default
    20), ``max_buffers`` (padding; default: the fixed instance's size or ``n_buffers``),
    ``capacity_ratio`` (synthetic; default 0.5 in mapping, 1.15 in allocation), ``capacity`` (bytes;
    overrides the instance's), ``hardware`` (a profile name: replaces a fixed instance's, whose capacity
    becomes the profile's unless ``capacity`` is given; synthetic programs use it too, default
    ``"a100-l2"``), ``max_degree`` (default 8),
    ``reward_scale`` (default 1), ``generator`` (``"program"`` / ``"tiled"``, for random instances),
    ``render_mode`` (``"rgb_array"``).

    ## Worked example
    MiniMalloc's 5-buffer example (capacity 12; sizes 4; b1 [0,3), b2 [3,9), b3 [0,9), b4 [9,21),
    b5 [0,21)) in allocation mode: pick b5 (offset 0), b3 (4), b1 (8), b2 (8), b4 (4): solved::

        env = MemoryEnv(mode="allocation", instance="minimalloc-example")
        obs, info = env.reset(seed=0)
        for b in (4, 2, 0, 1, 3):
            obs, reward, terminated, truncated, info = env.step(b)
        info["solution"]["offsets"]      # [8, 8, 4, 4, 0]
        info["metrics"]["solved"]        # 1.0

    ## Version History
    * v0: initial version.
    """

    objective = Objective("program_time", "min")

    def __init__(
        self,
        mode: str = "mapping",
        instance: MemoryInstance | str | os.PathLike[str] | None = None,
        n_buffers: int = 20,
        max_buffers: int | None = None,
        capacity_ratio: float | None = None,
        capacity: int | None = None,
        hardware: str | None = None,
        max_degree: int = 8,
        reward_scale: float = 1.0,
        generator: str = "program",
        render_mode: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"MemoryEnv: mode must be one of {MODES}, got {mode!r}")
        self._init_render(render_mode)
        self.mode = mode
        self.objective = Objective("program_time", "min") if mode == "mapping" else Objective("solved", "max")
        if int(max_degree) < 0:
            raise ValueError(f"MemoryEnv: max_degree must be >= 0, got {max_degree}")
        self.max_degree = int(max_degree)
        self.reward_scale = float(reward_scale)
        self.capacity_override = None if capacity is None else int(capacity)
        if self.capacity_override is not None and self.capacity_override < 1:
            raise ValueError(f"MemoryEnv: capacity must be >= 1, got {capacity}")
        self.hardware_override = hardware
        if hardware is not None:
            from .hardware import get_hardware

            get_hardware(hardware)  # fail now on a bad name
        ratio = capacity_ratio if capacity_ratio is not None else (0.5 if mode == "mapping" else 1.15)
        if generator not in GENERATORS:
            raise ValueError(f"MemoryEnv: generator must be one of {GENERATORS}, got {generator!r}")
        if generator == "tiled" and mode != "allocation":
            raise ValueError("MemoryEnv: generator='tiled' makes allocation instances (no program): use mode='allocation'")
        self.generator: SyntheticProgram | TiledAllocation = (
            SyntheticProgram(n_buffers=int(n_buffers), capacity_ratio=float(ratio), hardware=hardware or "a100-l2")
            if generator == "program"
            else TiledAllocation(n_buffers=int(n_buffers), capacity=self.capacity_override or (1 << 20))
        )
        if isinstance(instance, (list, tuple)):
            if not instance:
                raise ValueError("MemoryEnv: instance= is an empty list")
            self.instance_pool = [self._prepare(resolve_instance(x), f"instance[{i}]") for i, x in enumerate(instance)]
        else:
            self.instance_pool = [self._prepare(resolve_instance(instance), "instance=")] if instance is not None else []
        self.fixed_instance = self.instance_pool[0] if len(self.instance_pool) == 1 else None
        largest = max((x.n_buffers for x in self.instance_pool), default=0)
        if max_buffers is None:
            max_buffers = largest if self.instance_pool else int(n_buffers)
        self.max_buffers = int(max_buffers)
        if largest > self.max_buffers:
            big = next(x for x in self.instance_pool if x.n_buffers == largest)
            raise ValueError(f"MemoryEnv: instance {big.name!r} has {largest} buffers > max_buffers={self.max_buffers}")
        if not self.instance_pool and self.generator.n_buffers > self.max_buffers:
            raise ValueError(f"MemoryEnv: n_buffers={n_buffers} > max_buffers={self.max_buffers}")
        self._init_graph(
            GraphSpec(
                max_nodes=self.max_buffers + 1,
                max_edges=max(1, self.max_degree * self.max_buffers),
                node_features=len(NODE_FEATURES),
                n_node_types=2,
                n_edge_types=1,
                global_features=len(GLOBAL_FEATURES),
                node_feature_names=NODE_FEATURES,
                global_feature_names=GLOBAL_FEATURES,
            )
        )
        self.instance: MemoryInstance | None = None
        self.state: MemoryState | None = None
        self._caches: dict[int, dict[str, Any]] = {}

    # ------------------------------------------------------------------ instances
    def _prepare(self, inst: MemoryInstance, where: str) -> MemoryInstance:
        if self.hardware_override is not None:
            if inst.program is None:
                raise ValueError(f"MemoryEnv: {where} {inst.name!r} has no program; hardware= applies to mapping instances")
            inst = inst.with_hardware(self.hardware_override, self.capacity_override)
        elif self.capacity_override is not None:
            inst = inst.with_capacity(self.capacity_override)
        if self.mode == "mapping" and inst.program is None:
            raise ValueError(
                f"MemoryEnv: {where} {inst.name!r} has no program (e.g. a MiniMalloc CSV): use mode='allocation'"
            )
        if self.mode == "allocation":
            inst.check_allocatable(inst.source or where)
        return inst

    def _pick_instance(self, options: dict[str, Any] | None) -> MemoryInstance:
        if options and options.get("instance") is not None:
            inst = self._prepare(resolve_instance(options["instance"]), "options['instance']")
            if inst.n_buffers > self.max_buffers:
                raise ValueError(f"MemoryEnv: instance {inst.name!r} has {inst.n_buffers} buffers; this env was built "
                                 f"for at most max_buffers={self.max_buffers}")
            return inst
        if len(self.instance_pool) == 1:
            return self.instance_pool[0]
        if self.instance_pool:
            return self.instance_pool[int(self.np_random.integers(len(self.instance_pool)))]
        inst = self.generator(self.np_random)
        if self.capacity_override is not None and isinstance(self.generator, SyntheticProgram):
            inst = inst.with_capacity(max(self.capacity_override, int(inst.size.max())))
        return inst

    def _static(self, inst: MemoryInstance) -> dict[str, Any]:
        """Per-instance arrays that do not change during an episode (cached for the instances of ``instance=``)."""
        cached = self._caches.get(id(inst))
        if cached is not None and cached["inst"] is inst:
            return cached
        n = inst.n_buffers
        indptr, indices = overlap_lists(inst)
        cap = float(inst.capacity)
        horizon = float(max(1, inst.horizon))
        # overlap edges: for each buffer, up to max_degree neighbours with the longest overlap
        src_l, dst_l = [], []
        if self.max_degree > 0:
            for b in range(n):
                nb = indices[indptr[b]:indptr[b + 1]]
                if nb.size == 0:
                    continue
                if nb.size > self.max_degree:
                    ov = np.minimum(inst.upper[nb], inst.upper[b]) - np.maximum(inst.lower[nb], inst.lower[b])
                    nb = nb[np.lexsort((nb, -ov))[: self.max_degree]]
                src_l.append(nb)
                dst_l.append(np.full(nb.size, b, np.int64))
        src = np.concatenate(src_l) if src_l else np.zeros(0, np.int64)
        dst = np.concatenate(dst_l) if dst_l else np.zeros(0, np.int64)
        conflict = np.zeros(n)
        np.add.at(conflict, np.repeat(np.arange(n), np.diff(indptr)), inst.size[indices].astype(np.float64))
        conflict /= cap
        rows = np.zeros((n, len(NODE_FEATURES)), np.float32)
        rows[:, _F["is_buffer"]] = 1.0
        rows[:, _F["size"]] = inst.size / cap
        rows[:, _F["start"]] = inst.lower / horizon
        rows[:, _F["end"]] = inst.upper / horizon
        rows[:, _F["lifetime"]] = (inst.upper - inst.lower) / horizon
        rows[:, _F["prefetch"]] = inst.prefetch
        rows[:, _F["evict"]] = inst.evict
        rows[:, _F["conflict"]] = conflict / (1.0 + conflict)
        benefit = net_benefit(inst) if self.mode == "mapping" else np.zeros(n)
        t_slow = 0.0
        if self.mode == "mapping":
            t_slow = program_time(inst, np.zeros(n, bool)).total
            rows[:, _F["benefit"]] = benefit / t_slow
            dens = np.maximum(benefit, 0.0) / np.maximum(inst.size, 1)
            if dens.max() > 0:
                rows[:, _F["benefit_density"]] = dens / dens.max()
        area = (inst.size * (inst.upper - inst.lower)).astype(np.float64)
        static = {
            "inst": inst, "overlap": (indptr, indices), "src": src, "dst": dst, "rows": rows,
            "benefit": benefit, "t_slow": t_slow, "area": area / max(area.sum(), 1.0),
            "load_ratio": inst.max_load() / cap,
        }
        self._caches = {k: v for k, v in self._caches.items() if any(v["inst"] is x for x in self.instance_pool)}
        if any(inst is x for x in self.instance_pool):
            self._caches[id(inst)] = static
        return static

    # ------------------------------------------------------------------ episode
    def _reset_state(self, options: dict[str, Any] | None) -> None:
        inst = self._pick_instance(options)
        self.instance = inst
        st = self._static(inst)
        self._st = st
        self.state = MemoryState(inst, self.mode, st["overlap"])
        self._program_time = None
        self._dead_end = False
        self._stopped = False
        n = inst.n_buffers
        self._n = n
        self._cap = float(inst.capacity)
        self._inv_cap = 1.0 / self._cap
        g = self.graph
        g.clear()
        g.n_nodes = n + 1
        g.nodes[:n] = st["rows"]
        g.node_type[n] = NODE_STOP
        g.nodes[n, _F["is_stop"]] = 1.0
        g.add_edges(st["src"], st["dst"], EDGE_OVERLAP)
        self._refresh(np.arange(n))
        self._refresh_globals()

    def _refresh(self, idx: np.ndarray) -> None:
        """Rewrite the dynamic features and the mask of buffers ``idx`` (and the stop node)."""
        s = self.state
        assert s is not None
        g = self.graph
        placed = s.placed[idx]
        cand = s.cand[idx].astype(np.float64)
        fits = s.fits[idx]
        block = np.empty((idx.size, 5), np.float32)  # columns placed, offset, candidate_offset, headroom, legal
        block[:, 0] = placed
        block[:, 1] = np.where(placed, s.offset[idx], 0) * self._inv_cap
        block[:, 2] = np.where(placed, 0.0, cand) * self._inv_cap
        head = (self._cap - cand - s.size[idx]) * self._inv_cap
        np.minimum(head, 1.0, out=head)
        np.maximum(head, -1.0, out=head)
        head[placed] = 0.0
        block[:, 3] = head
        block[:, 4] = fits
        g.nodes[idx, _DYN] = block
        g.action_mask[idx] = fits
        stop_legal = self.mode == "mapping"
        g.action_mask[self._n] = stop_legal
        g.nodes[self._n, _F["legal"]] = stop_legal

    def _refresh_globals(self) -> None:
        s = self.state
        assert s is not None
        g = self.graph.globals
        g[0] = s.n_placed / s.n
        g[1] = s.placed_bytes / max(1.0, float(self.instance.size.sum()))  # type: ignore[union-attr]
        g[2] = s.peak / self._cap
        g[3] = (1.0 - s.roofline / self._st["t_slow"]) if self.mode == "mapping" else 0.0
        g[4] = 1.0 if self.mode == "mapping" else 0.0
        g[5] = self._st["load_ratio"]

    def _apply(self, action: int) -> tuple[float, bool, bool]:
        s = self.state
        assert s is not None
        n = self._n
        if action == n:  # stop (mapping only; the mask forbids it otherwise)
            self._stopped = True
            return self._finish(0.0), True, False
        _, saved, nb = s.place(action)
        idx = np.concatenate([[action], nb]) if nb.size else np.array([action])
        self._refresh(idx)
        self._refresh_globals()
        if self.mode == "mapping":
            reward = saved / self._st["t_slow"]
            if s.done or not s.fits.any():
                return self._finish(reward), True, False
            return reward * self.reward_scale, False, False
        reward = float(self._st["area"][action])
        if s.done:
            return (reward + 1.0) * self.reward_scale, True, False
        if not s.fits.any():
            self._dead_end = True
            return reward * self.reward_scale, True, False
        return reward * self.reward_scale, False, False

    def _finish(self, reward: float) -> float:
        """Mapping: end the episode; the final reward corrects the incremental roofline for copy stalls."""
        s = self.state
        assert s is not None and self.instance is not None
        pt = program_time(self.instance, s.placed)
        self._program_time = pt
        reward += (s.roofline - pt.total) / self._st["t_slow"]
        self.graph.action_mask[: self._n + 1] = 0
        self.graph.nodes[: self._n + 1, _F["legal"]] = 0.0
        return reward * self.reward_scale

    # ------------------------------------------------------------------ views for baselines (MemoryView)
    @property
    def stop_node(self) -> int:
        return self._n

    def legal_buffers(self) -> np.ndarray:
        assert self.state is not None
        return self.state.legal()

    def candidate_offsets(self) -> np.ndarray:
        assert self.state is not None
        return self.state.cand.copy()

    def placed(self) -> np.ndarray:
        assert self.state is not None
        return self.state.placed.copy()

    def benefit(self) -> np.ndarray:
        return np.asarray(self._st["benefit"]).copy()

    # ------------------------------------------------------------------ episode end
    def _episode_metrics(self) -> dict[str, float]:
        s, inst = self.state, self.instance
        assert s is not None and inst is not None
        common = {
            "n_buffers": float(s.n),
            "n_placed": float(s.n_placed),
            "placed_bytes": float(s.placed_bytes),
            "peak_bytes": float(s.peak),
            "capacity": float(inst.capacity),
            "max_load": float(inst.max_load()),
        }
        if self.mode == "allocation":
            return {
                "solved": 1.0 if s.done else 0.0,
                "placed_fraction": s.n_placed / s.n,
                "dead_end": 1.0 if self._dead_end else 0.0,
                **common,
            }
        pt = self._program_time
        assert pt is not None
        t_slow = self._st["t_slow"]
        return {
            "program_time": float(pt.total) * 1e6,
            "all_slow_time": t_slow * 1e6,
            "speedup": float(t_slow / pt.total) if pt.total > 0 else 1.0,
            "roofline_time": pt.roofline * 1e6,
            "stall_time": float(pt.stall) * 1e6,
            "n_copies": float(pt.n_copies),
            **common,
        }

    def _episode_solution(self) -> MemorySolution:
        s, inst = self.state, self.instance
        assert s is not None and inst is not None
        return MemorySolution(
            instance=inst.name,
            mode=self.mode,
            capacity=int(inst.capacity),
            offsets=[int(x) for x in s.offset.tolist()],
            order=[int(b) for b in s.order],
            solved=bool(s.done) if self.mode == "allocation" else True,
            program_time_us=(float(self._program_time.total) * 1e6) if self._program_time is not None else None,
        )

    def validate_solution(self, solution: dict[str, Any]) -> float:
        assert self.instance is not None, "no episode to validate"
        return validate_solution(self.instance, solution)

    def _describe_illegal(self, action: int) -> str:
        s = self.state
        if s is None:
            return "no episode is running"
        if action == self._n:
            return "the stop node is legal in mapping mode only"
        if action > self._n:
            return f"node {action} is padding (this instance has {self._n} buffers and the stop node {self._n})"
        if s.placed[action]:
            return f"buffer {action} is already placed at offset {int(s.offset[action])}"
        return (f"buffer {action} does not fit: its canonical offset {int(s.cand[action])} + size "
                f"{int(s.size[action])} > capacity {s.capacity}")

    def render(self) -> np.ndarray | None:
        if self.render_mode is None or self.instance is None or self.state is None:
            return None
        from .render import placement_rgb

        return placement_rgb(self.instance, self.state.offset, mode=self.mode)


class MemoryMapEnv(MemoryEnv):
    """:class:`MemoryEnv` in mapping mode (``schedgym/MemoryMap-v0``)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("mode", "mapping")
        super().__init__(**kwargs)


class MemoryAllocEnv(MemoryEnv):
    """:class:`MemoryEnv` in allocation mode (``schedgym/MemoryAlloc-v0``)."""

    objective = Objective("solved", "max")

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("mode", "allocation")
        super().__init__(**kwargs)
