"""``schedgym/JobShop-v0``: the classic job shop as a disjunctive-graph environment."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from sys import getrefcount
from typing import Any

import numpy as np

from ..core import _INT_TYPES, GraphObservation, GraphSchedulingEnv, GraphSpec, Objective, check_number
from .family import pick_instance, resolve_instance, rule_attributes
from .instance import MAX_DURATION, JobShopInstance
from .state import SCHEDULE_BUILDERS, JobShopState, ScheduleBuilder
from .types import JobShopSolution

#: node feature columns of the job-shop observation
NODE_FEATURES: tuple[str, ...] = (
    "processing_time",  # p / max p of the instance
    "completion_lower_bound",  # actual end if scheduled, else precedence LB; / instance lower bound
    "scheduled",  # 1 once scheduled
    "candidate",  # 1 if in the builder's candidate set (= action mask)
    "job_remaining_work",  # work of the job from this op on (included) / longest job
    "job_remaining_ops",  # operations of the job from this op on (included) / n_machines
    "machine",  # machine id / n_machines
    "start_time",  # start / instance lower bound if scheduled, else 0
)
GLOBAL_FEATURES: tuple[str, ...] = ("progress", "makespan_lower_bound", "ops_per_machine")
EDGE_JOB, EDGE_MACHINE = 0, 1
_CPYTHON = sys.implementation.name == "cpython"
#: JobShopEnv's slots bound to the graph's flat memoryviews (not pickled: rebound from the graph)
_VIEW_SLOTS = ("_xv", "_ev", "_etv", "_gv", "_maskv")


def _swap_candidates(old: list[int], new: list[int], mask: memoryview, x: memoryview, f: int) -> None:
    """Clear the mask and ``candidate`` feature of the ops that leave the set, set those that enter
    (``mask`` / ``x``: the flat memoryviews of the mask and node features, ``f`` features per node)."""
    if len(new) > 8:  # set lookups once the lists are long (the serial builder)
        new_in, old_in = set(new), set(old)
    else:
        new_in, old_in = new, old
    for op in old:
        if op not in new_in:
            mask[op] = 0
            x[op * f + 3] = 0.0
    for op in new:
        if op not in old_in:
            mask[op] = 1
            x[op * f + 3] = 1.0


#: the arrays of a graph observation that live in a RecyclingGraphObservation's record (the counts aside) and
#: that an episode start copies back
OBS_ARRAYS: tuple[str, ...] = ("nodes", "node_type", "edge_index", "edge_type", "action_mask", "globals")


class RecyclingGraphObservation(GraphObservation):
    """A :class:`GraphObservation` whose :meth:`snapshot` reuses the memory of earlier snapshots that
    nothing references any more.

    The arrays are the fields of one structured record in one buffer (same dtypes, shapes and values as
    the base class), so a snapshot is one ``memcpy`` into a buffer of the same layout plus a new dict of
    eight field views. The buffers of the last :attr:`POOL` snapshots are kept; one is written again only
    when CPython's reference counts show that nothing outside this pool holds its buffer, any of its eight
    arrays or any view of them (NumPy views of views hold the buffer itself): the caller has dropped that
    observation, so no array it can still reach ever changes. Otherwise (the caller keeps its
    observations) a new buffer is allocated, as the base class does. What counts as holding: any strong
    reference, including a memoryview, a tensor that shares the memory (``torch.from_numpy``) or a
    ctypes object made by ``np.ctypeslib.as_ctypes``; a ``weakref`` does not (an observation reached only
    through one may be reused), nor does a raw address kept without its array. Only for CPython
    (elsewhere reference counts say nothing): on other interpreters every snapshot is a new buffer."""

    #: how many earlier snapshots' buffers are kept for reuse
    POOL = 3

    def __init__(self, spec: GraphSpec) -> None:
        n, e = spec.max_nodes, spec.max_edges
        self._dtype = np.dtype(
            [("nodes", np.float32, (n, spec.node_features)), ("node_type", np.int64, (n,)),
             ("edge_index", np.int64, (2, e)), ("edge_type", np.int64, (e,)), ("counts", np.int64, (2,)),
             ("action_mask", np.int8, (n,)), ("globals", np.float32, (spec.global_features,))],
            align=True,
        )
        self._raw = np.zeros(self._dtype.itemsize, np.uint8)
        self._counts_mv = memoryview(np.ndarray((), self._dtype, self._raw)["counts"])  # n_nodes below
        super().__init__(spec)

    @property  # type: ignore[override]
    def n_nodes(self) -> int:
        """How many node rows are real, kept in the record itself (it changes only at resets, so a snapshot
        does not write it)."""
        return self._counts_mv[0]

    @n_nodes.setter
    def n_nodes(self, value: int) -> None:
        self._counts_mv[0] = value

    def _make_views(self) -> None:
        rec = np.ndarray((), self._dtype, self._raw)
        self._raw_mv = memoryview(self._raw)  # a memoryview slice assignment is the cheapest memcpy from Python
        for key in OBS_ARRAYS:
            setattr(self, key, rec[key])
        super()._make_views()
        # the counts live in the record too (the base class keeps them in a separate two-element array)
        self._counts = rec["counts"]
        self._counts_mv = memoryview(self._counts)
        self._n_nodes_arr = self._counts[0:1]
        self._n_edges_arr = self._counts[1:2]
        for key, arr in (("n_nodes", self._n_nodes_arr), ("n_edges", self._n_edges_arr)):
            v = arr.view()
            v.flags.writeable = False
            self._views[key] = v
        # [memoryview of the buffer, observation dict, (buffer, *arrays), reference count]
        self._pool: list[list[Any]] = []
        self._order: tuple[tuple[int, ...], ...] = ()
        self._try: tuple[int, ...] = ()  # the slots to try at the next snapshot, in order

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        for key in (*OBS_ARRAYS, "_raw_mv", "_pool", "_order", "_try"):
            del state[key]  # fields of _raw (rebuilt from it) and buffers handed out before pickling
        return state

    def snapshot(self) -> dict[str, np.ndarray]:
        """A copy of the observation, the caller's own (as the base class's): the arrays of a pooled
        buffer that nothing else references, or of a new one."""
        self._counts_mv[1] = self.n_edges  # (n_nodes lives in the record already)
        pool = self._pool
        for i in self._try:  # from the slot after the one handed out last (the caller may still hold that one)
            slot = pool[i]
            if sum(map(getrefcount, slot[2])) == slot[3]:  # nothing outside the pool holds any of it
                slot[0][:] = self._raw_mv
                self._try = self._order[i]
                return slot[1].copy()
        slot = self._new_slot()
        slot[3] = sum(map(getrefcount, slot[2])) if _CPYTHON else -1  # the same count as above, unheld (-1: no reuse)
        n = len(pool)
        # a full pool replaces the slot after the one handed out last, its oldest (the caller keeps that one)
        i = n if n < self.POOL else self._try[0]
        if i == n:
            pool.append(slot)
            n += 1
            # the order in which to try the slots after handing out slot i
            self._order = tuple(tuple((j + 1 + d) % n for d in range(n)) for j in range(n))
        else:
            pool[i] = slot
        self._try = self._order[i]
        return slot[1].copy()

    def _new_slot(self) -> list[Any]:
        raw = self._raw.copy()
        r = np.ndarray((), self._dtype, raw)
        c = r["counts"]
        obs = {"nodes": r["nodes"], "node_type": r["node_type"], "edge_index": r["edge_index"],
               "edge_type": r["edge_type"], "n_nodes": c[0:1], "n_edges": c[1:2], "action_mask": r["action_mask"],
               "globals": r["globals"]}
        return [memoryview(raw), obs, (raw, *obs.values()), 0]


@dataclass(frozen=True, eq=False)
class _EpisodeStart:
    """The start of an episode on one instance: the empty schedule and copies of its observation arrays
    (never handed out), which each reset of the same instance copies back."""

    instance: JobShopInstance
    settings: tuple[str, float | None]  # the env's schedule builder and reward scale it was computed for
    state: JobShopState  # a template: each episode runs on its own ``state.fresh()``
    n_nodes: int
    n_edges: int
    cand_ops: list[int]
    #: a RecyclingGraphObservation's whole record (restored in one copy), else None
    raw: np.ndarray | None
    #: without a record, the observation's :data:`OBS_ARRAYS` by name; empty with one
    arrays: dict[str, np.ndarray]


class JobShopEnv(GraphSchedulingEnv):
    """The job-shop scheduling problem (JSSP) as sequential operation dispatching.

    ``n_jobs`` jobs each visit every one of ``n_machines`` machines once, in a given order, for given
    integer durations; a machine processes one operation at a time, without preemption. The agent
    builds a schedule one operation at a time; the objective is the makespan (minimized).

    ## Action Space
    ``Discrete(N_max)`` with ``N_max = n_jobs * n_machines``: the id ``j * n_machines + k`` of the
    operation to schedule next. Only the next operation of a job can be legal, and only if it is in
    the schedule builder's candidate set (``schedule_builder``: ``"nondelay"``, ``"active"``
    (Giffler-Thompson) or ``"serial"``; see :mod:`schedgym.envs.jobshop.state`). The chosen operation
    starts as early as it can: ``max(job ready, machine ready)``.

    ## Observation Space
    The contract's padded graph dict (:mod:`schedgym.envs.core`) of the disjunctive graph: one node
    per operation (node type 0), edges of type 0 from each operation to its job successor and of
    type 1 from each operation to the next one sequenced on the same machine (added as the schedule
    grows). Node features, in order: :data:`NODE_FEATURES`; globals: :data:`GLOBAL_FEATURES`. Times are
    divided by the instance's trivial lower bound so that features are comparable across sizes.

    ## Rewards
    ``reward="dense"`` (default, L2D-style): the decrease of the makespan lower bound
    ``max_j LB(last op of j)``, where ``LB`` is the actual completion of scheduled operations and the
    precedence-only bound of the rest; the episode return is ``-(makespan - LB_0) * reward_scale``.
    ``reward="sparse"``: ``-makespan * reward_scale`` at the last step, 0 before. ``reward_scale``
    defaults to ``1 / instance lower bound`` (pass ``1.0`` for raw time units).

    ## Starting State
    An empty schedule of the instance: a fixed one (``instance=``: a :class:`JobShopInstance`, a name
    such as ``"ta01"`` / ``"ft06"``, or a file path), one passed at reset
    (``options={"instance": ...}``, up to the construction sizes), or, with ``instance=None``, a random
    ``n_jobs x n_machines`` instance drawn from ``self.np_random`` (durations uniform in
    ``duration_low..duration_high``).

    ## Episode End
    Terminates when every operation is scheduled (``n_jobs * n_machines`` steps); never truncates.
    ``info["metrics"]`` then holds ``makespan``, ``lower_bound`` and ``n_operations``, and
    ``info["solution"]`` the schedule (start times per operation, machine sequences), which
    :func:`schedgym.envs.jobshop.validate.validate_schedule` checks.

    ## Arguments
    ``instance``, ``n_jobs``, ``n_machines`` (sizes of random instances and the padding maxima),
    ``schedule_builder`` (default ``"nondelay"``), ``reward`` (``"dense"``/``"sparse"``),
    ``reward_scale``, ``duration_low``, ``duration_high``, ``render_mode`` (``"rgb_array"``), ``copy_obs``
    (default ``True``: every observation is a fresh copy, the caller's to keep; ``False``: read-only views
    of the live arrays, valid until the next ``step()`` / ``reset()``, no copy whatever the instance size
    — for loops that consume each observation at once, such as vector envs and rollout buffers; see
    "Who owns an observation" in :mod:`schedgym.envs.core`).

    ## Speed
    A step updates only what it changes: the scheduled operation's row, the completion bounds of its
    job's remaining operations when it had to wait, one machine arc, the operations entering or leaving
    the candidate set, two globals. The simulator keeps the candidate set incrementally
    (:class:`~schedgym.envs.jobshop.state.JobShopState`; its per-step scans over the jobs are C-level
    list scans). With ``copy_obs=True`` each step also copies the padded arrays, a cost that grows with
    the number of operations: one ``memcpy`` of one buffer holding all of them, into the buffer of an
    earlier observation that nothing references any more when there is one
    (:class:`RecyclingGraphObservation`), else into a new buffer. ``copy_obs=False`` leaves the copy out.
    A reset of the same instance copies back the episode start computed at its first reset. The attributes
    a step reads are slots, and so are the flat memoryviews it writes through. :meth:`step` has a fast path
    for a legal integer action during an episode (everything else goes through the base class's checks).
    ``schedgym-bench domains=[jobshop]`` measures both modes against JSSEnv and job_shop_lib
    (:mod:`schedgym.envs.jobshop.bench`).

    Example::

        import gymnasium as gym, schedgym.envs
        env = gym.make("schedgym/JobShop-v0", instance="ft06")
        obs, info = env.reset(seed=0)
        while True:
            action = int(np.flatnonzero(obs["action_mask"])[0])
            obs, reward, terminated, truncated, info = env.step(action)
            if terminated:
                break
        info["metrics"]["makespan"]
    """

    objective = Objective("makespan", "min")
    graph_class = RecyclingGraphObservation
    _fast_step = True  # see __init_subclass__
    # slots for what a step reads (about twenty attribute reads per step): slot reads stay fast, whereas the
    # instance ``__dict__`` of an env (Gymnasium's attributes, the base class's, this class's) holds more
    # than the 30 keys CPython shares between instances, which makes every read through it slower
    __slots__ = ("state", "graph", "graph_spec", "copy_obs", "_done", "_elapsed_steps", "_m", "_f", "_op_base",
                 "_n_ops", "_max_edges", "_lb_scale", "_scale", "_dense", "_op_table", "_cum_scaled_list", "_offset",
                 "_max_lb", "_cand_ops", "_n_max", "_cand_index", "_short_sets",
                 *_VIEW_SLOTS)

    def __init__(
        self,
        instance: JobShopInstance | str | os.PathLike[str] | None = None,
        n_jobs: int = 10,
        n_machines: int = 10,
        schedule_builder: ScheduleBuilder = "nondelay",
        reward: str = "dense",
        reward_scale: float | None = None,
        duration_low: int = 1,
        duration_high: int = 99,
        render_mode: str | None = None,
        copy_obs: bool = True,
    ) -> None:
        if schedule_builder not in SCHEDULE_BUILDERS:
            raise ValueError(f"schedule_builder must be one of {SCHEDULE_BUILDERS}, got {schedule_builder!r}")
        if reward not in ("dense", "sparse"):
            raise ValueError(f"reward must be 'dense' or 'sparse', got {reward!r}")
        self._done = True  # no episode yet (a slot here: the base class's default does not reach it)
        self._init_render(render_mode)
        if not isinstance(copy_obs, (bool, np.bool_)):
            raise ValueError(f"JobShopEnv: copy_obs must be a bool, got {copy_obs!r}")
        self.copy_obs = bool(copy_obs)
        self.fixed_instance = resolve_instance(instance) if instance is not None else None
        if self.fixed_instance is not None:
            n_jobs, n_machines = self.fixed_instance.shape
        if n_jobs < 1 or n_machines < 1:
            raise ValueError(f"n_jobs and n_machines must be >= 1, got {n_jobs}x{n_machines}")
        n_jobs = check_number("n_jobs", n_jobs, minimum=1, integer=True, owner="JobShopEnv")
        n_machines = check_number("n_machines", n_machines, minimum=1, integer=True, owner="JobShopEnv")
        duration_low = check_number("duration_low", duration_low, minimum=0, integer=True, owner="JobShopEnv")
        duration_high = check_number("duration_high", duration_high, minimum=duration_low, maximum=MAX_DURATION,
                                     integer=True, owner="JobShopEnv")
        reward_scale = check_number("reward_scale", reward_scale, minimum=0.0, exclusive=True, allow_none=True,
                                    owner="JobShopEnv")
        self.n_jobs, self.n_machines = int(n_jobs), int(n_machines)
        self.schedule_builder = schedule_builder
        self.reward_mode = reward
        self._dense = reward == "dense"
        self.reward_scale = reward_scale
        self.duration_low, self.duration_high = duration_low, duration_high
        n_ops = self.n_jobs * self.n_machines
        max_edges = self.n_jobs * (self.n_machines - 1) + self.n_machines * (self.n_jobs - 1)
        self._init_graph(
            GraphSpec(
                max_nodes=n_ops,
                max_edges=max(1, max_edges),
                node_features=len(NODE_FEATURES),
                n_node_types=1,
                n_edge_types=2,
                global_features=len(GLOBAL_FEATURES),
                node_feature_names=NODE_FEATURES,
                global_feature_names=GLOBAL_FEATURES,
            )
        )
        self.instance: JobShopInstance | None = None
        self.state: JobShopState | None = None
        self._start: _EpisodeStart | None = None
        self._prepared_for: JobShopInstance | None = None  # the instance (and settings) the last miss built
        self._prepared_settings: tuple[str, float | None] | None = None

    def _init_graph(self, spec: GraphSpec) -> None:
        super()._init_graph(spec)
        self._bind_views()

    def _bind_views(self) -> None:
        """Bind the graph's flat memoryviews that a step writes through to slots (one slot read each)."""
        g = self.graph
        self._xv, self._ev, self._etv = g.mv_nodes, g.mv_edge_index, g.mv_edge_type
        self._gv, self._maskv = g.mv_globals, g.mv_action_mask
        self._n_max = n = g.spec.max_nodes
        f = g.spec.node_features
        candidate = NODE_FEATURES.index("candidate")
        self._cand_index = [op * f + candidate for op in range(n)]  # where each op's ``candidate`` feature is in xv

    def __getstate__(self) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """``(__dict__, slots)`` without the memoryview slots, which do not pickle (they are rebound from the
        unpickled graph). Built by hand: ``object.__getstate__`` exists from Python 3.11 only."""
        slots: dict[str, Any] = {}
        for cls in type(self).__mro__:
            names = getattr(cls, "__slots__", ())
            for key in (names,) if isinstance(names, str) else names:
                if key in ("__dict__", "__weakref__") or key in _VIEW_SLOTS or key in slots or not hasattr(self, key):
                    continue
                slots[key] = getattr(self, key)
        return dict(self.__dict__), slots

    def __setstate__(self, state: tuple[dict[str, Any] | None, dict[str, Any]]) -> None:
        attrs, slots = state
        self.__dict__.update(attrs or {})
        for key, value in slots.items():
            setattr(self, key, value)
        self._bind_views()

    # ------------------------------------------------------------------ episode
    def _reset_state(self, options: dict[str, Any] | None) -> None:
        inst = pick_instance(self, options, fits="within")
        settings = (self.schedule_builder, self.reward_scale)
        start = self._start
        self.instance = inst
        if start is not None and start.instance is inst and start.settings == settings:
            self._restore(start)
            return
        # A miss builds this episode's start in place. Its copies are kept only when the same instance
        # comes back right after (a fixed instance, or one passed again through options), so an env that
        # draws a new random instance at every reset pays no copies at all.
        repeat = self._prepared_for is inst and self._prepared_settings == settings
        self._start = None
        self._prepare(inst)
        self._prepared_for, self._prepared_settings = inst, settings
        if repeat:
            self._start = self._snapshot_start(inst, settings)
            self.state = self._start.state.fresh()

    def _restore(self, start: _EpisodeStart) -> None:
        """Copy a cached episode start back into the live state and graph."""
        self.state = start.state.fresh()
        g = self.graph
        if start.raw is not None:
            g._raw_mv[:] = start.raw
        for name, saved in start.arrays.items():
            np.copyto(getattr(g, name), saved)
        g.n_nodes, g.n_edges = start.n_nodes, start.n_edges
        self._offset = [0.0] * start.instance.n_jobs
        self._max_lb = self._lb0
        self._cand_ops = start.cand_ops.copy()

    def _snapshot_start(self, inst: JobShopInstance, settings: tuple[str, float | None]) -> _EpisodeStart:
        """The episode start just built by :meth:`_prepare` (the live state becomes the template; the
        caller runs the episode on a ``fresh()`` copy of it), for later resets of the same instance."""
        g = self.graph
        recycling = isinstance(g, RecyclingGraphObservation)
        raw = g._raw.copy() if recycling else None
        arrays = {} if recycling else {name: getattr(g, name).copy() for name in OBS_ARRAYS}
        return _EpisodeStart(inst, settings, self.state, g.n_nodes, g.n_edges, self._cand_ops.copy(), raw, arrays)

    def _prepare(self, inst: JobShopInstance) -> None:
        """Compute what depends on the instance alone (the scales, the precedence lower bounds, the
        observation of the empty schedule) into the live state and graph; :meth:`_snapshot_start` keeps a
        copy for later resets of the same instance object (instances are immutable)."""
        state = JobShopState(inst, self.schedule_builder)
        self.state = state
        n, m = inst.shape
        self._m = m
        self._lower_bound = inst.lower_bound()
        self._lb_scale = float(max(1, self._lower_bound))
        # a Python float (the fast step hands the reward out as it is)
        self._scale = float(self.reward_scale) if self.reward_scale is not None else 1.0 / self._lb_scale
        d = inst.durations.astype(np.float64)
        # precedence-only completion lower bounds; cum[j, k] = sum of d[j, :k+1]
        self._cum = np.cumsum(d, axis=1)
        # per operation id: (job, k, precedence-only completion LB of op k, the job's work after op k)
        self._op_table = [(j, k, c[k], c[-1] - c[k]) for j, c in enumerate(self._cum.tolist()) for k in range(m)]
        self._cum_scaled = self._cum / self._lb_scale  # (n, m) precedence LBs in feature units
        self._cum_scaled_list = self._cum_scaled.tolist()
        lb = self._cum.copy()
        self._lb_last = lb[:, -1].copy()  # LB of each job's last op
        self._max_lb = float(self._lb_last.max())
        self._lb0 = self._max_lb

        g = self.graph
        g.clear()
        n_ops = n * m
        g.n_nodes = n_ops
        x = g.nodes
        rem_work = np.cumsum(d[:, ::-1], axis=1)[:, ::-1]
        x[:n_ops, 0] = (d / max(1.0, d.max())).ravel()
        x[:n_ops, 1] = (lb / self._lb_scale).ravel()
        x[:n_ops, 4] = (rem_work / max(1.0, rem_work[:, 0].max())).ravel()
        x[:n_ops, 5] = ((m - np.arange(m)) / m)[None, :].repeat(n, 0).ravel()
        x[:n_ops, 6] = (inst.machines / m).ravel()
        if m > 1:
            ids = np.arange(n_ops).reshape(n, m)
            g.add_edges(ids[:, :-1].ravel(), ids[:, 1:].ravel(), EDGE_JOB)
        # per job: (completion LB of its next op) - (precedence-only LB of that op); the LB feature of the
        # job's unscheduled ops is cum / lb + offset / lb, so only a change of offset rewrites them
        self._offset = [0.0] * n
        self._n_ops = n_ops
        self._op_base = [j * m for j in range(n)]
        self._f = g.spec.node_features
        self._max_edges = g.spec.max_edges
        self._cand_ops: list[int] = []
        self._short_sets = self.schedule_builder != "serial"  # see _apply
        self._set_candidates()
        gl = g.globals
        gl[0] = 0.0
        gl[1] = self._max_lb / self._lb_scale
        gl[2] = n / 100.0

    def _set_candidates(self) -> None:
        """Mask and ``candidate`` feature of the builder's candidate set: only the ops that enter or
        leave the set are written (scalar writes; no fancy indexing, no full-array pass)."""
        nxt, base = self.state._next_list, self._op_base
        ops = [base[j] + nxt[j] for j in self.state._cand_list]
        g = self.graph
        _swap_candidates(self._cand_ops, ops, g.mv_action_mask, g.mv_nodes, self._f)
        self._cand_ops = ops

    def _apply(self, action: int) -> tuple[float, bool, bool]:
        # scalar writes go through the graph's flat memoryviews (row * n_features + column), bound to slots
        st = self.state
        job, k, cum_k, tail = self._op_table[action]
        op_id, start, end, prev = st.schedule(job, False)  # legality checked against the mask (op_id == action)
        xv = self._xv
        f = self._f
        lb = self._lb_scale
        row = op_id * f
        # completion LBs of this op and its job successors shift to the actual end (only when the op
        # had to wait: otherwise they already equal it). Same float64 sums, then float32, as a vector
        # update would give.
        offset = end - cum_k
        offsets = self._offset
        if offset != offsets[job]:
            offsets[job] = offset
            d = offset / lb
            i = row + 1
            for c in self._cum_scaled_list[job][k:]:
                xv[i] = c + d
                i += f
        xv[row + 2] = 1.0
        xv[row + 7] = start / lb
        if prev >= 0:
            g = self.graph
            ne = g.n_edges
            ev = self._ev
            ev[ne] = prev
            ev[self._max_edges + ne] = op_id
            self._etv[ne] = EDGE_MACHINE
            g.n_edges = ne + 1
        max_lb = old_max = self._max_lb
        last = end + tail
        gv = self._gv
        if last > old_max:
            self._max_lb = max_lb = last
            gv[1] = last / lb
        n = st.n_scheduled
        n_ops = self._n_ops
        gv[0] = n / n_ops
        # the candidate set (as _set_candidates, inlined: this is the hot path). The non-delay and active
        # builders' sets are short: clear every op that was a candidate, then set every op that is one
        # (idempotent scalar writes, cheaper than membership tests); the serial builder's (every unfinished
        # job) are long: write only the changes.
        nxt, base = st._next_list, self._op_base
        cands = st._cand_list
        old = self._cand_ops
        mask = self._maskv
        flag = self._cand_index  # op id -> index of its ``candidate`` feature in xv
        if self._short_sets:
            for op in old:
                mask[op] = 0
                xv[flag[op]] = 0.0
            if len(cands) == 1:  # the most common case under the non-delay builder
                j = cands[0]
                op = base[j] + nxt[j]
                mask[op] = 1
                xv[flag[op]] = 1.0
                self._cand_ops = [op]
            else:
                self._cand_ops = new = []
                for j in cands:
                    op = base[j] + nxt[j]
                    mask[op] = 1
                    xv[flag[op]] = 1.0
                    new.append(op)
        else:
            ops = [base[j] + nxt[j] for j in cands]
            _swap_candidates(old, ops, mask, xv, f)
            self._cand_ops = ops
        if self._dense:
            return -(max_lb - old_max) * self._scale, n == n_ops, False
        if n != n_ops:
            return 0.0, False, False
        return -float(st.makespan) * self._scale, True, False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # a subclass that changes what a step does (its _apply, extra step info, its own step) takes the
        # base class's general step (the fast path below assumes this class's _apply)
        cls._fast_step = (cls._apply is JobShopEnv._apply and not cls._has_step_info
                          and cls.step is JobShopEnv.step)

    def step(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """The contract's step (:meth:`GraphSchedulingEnv.step`), with a fast path for its common case: an
        episode under way and a legal ``int`` / NumPy integer action. Anything else (an episode that is
        over, an illegal or odd action, a subclass that changes the step) goes through the base class,
        which raises what the contract says. Same observation, reward, flags and ``info``."""
        if not (self._fast_step and not self._done and type(action) in _INT_TYPES
                and 0 <= (a := int(action)) < self._n_max and self._maskv[a]):
            return super().step(action)
        reward, terminated, _ = self._apply(a)  # a float, whether every op is scheduled, never truncated
        self._elapsed_steps += 1
        if terminated:  # the terminal observation is always a copy (it outlives the reset that follows)
            self._done = True
            return self.graph.snapshot(), reward, True, False, self._info(True)
        obs = self.graph.snapshot() if self.copy_obs else self.graph.view()
        return obs, reward, False, False, {"action_mask": obs["action_mask"]}

    def _describe_illegal(self, action: int) -> str:
        st = self.state
        m = self._m
        job, k = divmod(action, m)
        if job >= st.n_jobs:
            return f"operation {action} does not exist in this {st.n_jobs}x{m} instance (padding)"
        if st.next_op[job] > k:
            return f"operation {action} (job {job}, op {k}) is already scheduled"
        if st.next_op[job] < k:
            return f"operation {action} (job {job}, op {k}) waits for op {st.next_op[job]} of its job"
        return (
            f"operation {action} (job {job}, op {k}) is not in the {st.builder!r} builder's candidate set"
        )

    def _episode_metrics(self) -> dict[str, float]:
        st = self.state
        return {
            "makespan": float(st.makespan),
            "lower_bound": float(self._lower_bound),
            "n_operations": float(st.n_jobs * st.n_machines),
        }

    def _episode_solution(self) -> JobShopSolution:
        st = self.state
        return {
            "instance": self.instance.name,
            "start": st.start.tolist(),
            "machine_sequences": [list(s) for s in st.machine_sequence],
            "makespan": int(st.makespan),
        }

    def dispatch_candidates(self) -> dict[str, np.ndarray]:
        """The legal operations with the attributes dispatching rules rank them by (ascending job).

        Keys: ``action``, ``job``, ``processing_time``, ``job_remaining_work`` (this op included),
        ``job_remaining_ops`` (included), ``job_work_done`` (up to and including this op), ``ready_time``
        (completion of the job's previous operation, 0 for a first operation).
        """
        st = self.state
        jobs = st.candidates()
        return rule_attributes(jobs, st.next_op[jobs], self._m, st.durations, self._cum, st.job_ready[jobs])

    def validate_solution(self, solution: dict[str, Any]) -> float:
        from .validate import validate_schedule

        return float(validate_schedule(self.instance, solution))

    # ------------------------------------------------------------------ rendering
    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self.state is None:
            return None
        from .render import gantt_rgb

        return gantt_rgb(self.instance, self.state.start)
