"""``schedgym/ISBJobShop-v0`` (+ ``BlockingJobShop-v0``, ``InterruptJobShop-v0``): job shops without buffers
whose machines break down, as a dynamic-graph dispatching environment."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..core import GraphSchedulingEnv, GraphSpec, Objective, check_number
from ..jobshop.family import pick_instance, resolve_instance, rule_attributes
from ..jobshop.generator import generate_random
from ..jobshop.instance import MAX_DURATION, JobShopInstance
from .types import ISBSolution
from .state import (
    INF,
    INTERRUPTIONS,
    OP_BLOCKED,
    OP_DONE,
    OP_PENDING,
    OP_PROCESSING,
    PROC,
    ISBJobShopState,
    check_probability,
    check_time_scale,
    parse_repair,
)

#: schedule builders of this env. ``"nondelay"``: time advances by itself until some operation can start,
#: and the agent must start one (no waiting while an operation could start). ``"serial"``: the agent may
#: also pick the wait node to let time run to the next event (a completion, or the repair of a down machine
#: without an operation in process); this is how
#: exact schedules are replayed. ``"active"`` (Giffler-Thompson) is not defined under blocking.
SCHEDULE_BUILDERS: tuple[str, ...] = ("nondelay", "serial")

#: node feature columns (one layout for the three node types; unused columns are 0)
NODE_FEATURES: tuple[str, ...] = (
    "is_operation",
    "is_machine",
    "is_wait",
    "processing_time",  # op: p / max p
    "remaining_processing",  # op: remaining p / max p (pending: p; processing: what is left); 0 otherwise
    "pending",  # op not started
    "processing",  # op in process (also while its machine is down); machine: processing a job
    "blocked",  # op finished, its job still holds the machine; machine: holds such a job
    "done",  # op left its machine (removed from the graph: no edges)
    "legal",  # = action mask
    "job_remaining_work",  # op: work of its job from this op on (included) / longest job
    "job_remaining_ops",  # op: ops of its job from this op on (included) / n_machines
    "machine_up",  # op: its machine is up; machine: is up
    "machine_free",  # op: its machine holds no job; machine: holds no job
    "repair_remaining",  # machine: (repair end - now) / scale while down
    "waiting_time",  # op: (now - ready time) / scale for the next op of a waiting or blocked job
)
GLOBAL_FEATURES: tuple[str, ...] = ("progress", "time", "machines_down", "jobs_blocked")
#: edge types: job precedence among remaining ops; pending op -> the machine it needs;
#: machine -> the op that occupies it (processing or blocking)
EDGE_JOB, EDGE_NEEDS, EDGE_OCCUPIES = 0, 1, 2
NODE_OP, NODE_MACHINE, NODE_WAIT = 0, 1, 2
_ONEHOT = np.eye(4, dtype=np.float32)[[OP_PENDING, OP_PROCESSING, OP_BLOCKED, OP_DONE]]


def parse_shutdown_probs(value: Any) -> tuple[float, ...]:
    """``shutdown_prob`` as the tuple of probabilities an episode draws from: one number, or a non-empty
    list of numbers in ``[0, 1)``; ``ValueError`` naming the entry otherwise."""
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 1):
        if len(value) == 0:
            raise ValueError("ISBJobShopEnv: shutdown_prob is an empty list; give a number or a non-empty list")
        return tuple(check_probability(p, f"ISBJobShopEnv: shutdown_prob[{i}]") for i, p in enumerate(value))
    return (check_probability(value, "ISBJobShopEnv: shutdown_prob"),)


#: the random instances' ``n_jobs`` without ``sizes`` or ``instance``
DEFAULT_N_JOBS: int = 6
#: the random instances' ``n_machines`` without ``sizes`` or ``instance``
DEFAULT_N_MACHINES: int = 4


def sizes_padding(sizes: tuple[tuple[int, int], ...], given: Any, n_jobs: int | None,
                  n_machines: int | None) -> tuple[int, int]:
    """The padding ``(n_jobs, n_machines)`` of random instances drawn from ``sizes`` (the largest of each); an
    ``n_jobs`` / ``n_machines`` given beside ``sizes`` must equal it (it used to be ignored silently):
    ``ValueError`` naming both otherwise (``given``: ``sizes`` as the caller wrote it, for the message)."""
    padding = (max(n for n, _ in sizes), max(m for _, m in sizes))
    if (n_jobs is not None and n_jobs != padding[0]) or (n_machines is not None and n_machines != padding[1]):
        raise ValueError(f"ISBJobShopEnv: sizes={given!r} pads to n_jobs={padding[0]}, n_machines={padding[1]}; an "
                         f"n_jobs=/n_machines= beside it must equal that, got n_jobs={n_jobs!r}, n_machines={n_machines!r}")
    return padding


def parse_sizes(value: Any) -> tuple[tuple[int, int], ...]:
    """``sizes`` as a tuple of ``(n_jobs, n_machines)`` pairs of positive integers; ``ValueError`` naming
    the entry otherwise."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) == 0:
        raise ValueError(f"ISBJobShopEnv: sizes must be a non-empty list of [n_jobs, n_machines] pairs, got {value!r}")
    out = []
    for i, pair in enumerate(value):
        if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise ValueError(f"ISBJobShopEnv: sizes[{i}] must be a pair [n_jobs, n_machines], got {pair!r}")
        n = check_number(f"sizes[{i}][0] (n_jobs)", pair[0], minimum=1, integer=True, owner="ISBJobShopEnv")
        m = check_number(f"sizes[{i}][1] (n_machines)", pair[1], minimum=1, integer=True, owner="ISBJobShopEnv")
        out.append((int(n), int(m)))
    return tuple(out)


def max_ops(sizes: tuple[tuple[int, int], ...] | None, n_jobs: int, n_machines: int) -> int:
    """The most operations a random instance of the env can have."""
    if sizes is None:
        return int(n_jobs) * int(n_machines)
    return max(n * m for n, m in sizes)


class ISBJobShopEnv(GraphSchedulingEnv):
    """The interrupting swap-allowed blocking job shop (ISBJSSP) as sequential dispatching.

    ``n_jobs`` jobs visit every one of ``n_machines`` machines once, in a given order, for given integer
    processing times. There are **no buffers**: a job that finishes an operation keeps (blocks) its machine
    until it starts its next operation; after its last operation it leaves the shop. Blocked jobs that
    wait for each other's machines in a cycle may **swap** (all move at the same instant). Machines
    **shut down** at random (probability ``shutdown_prob`` per machine per time unit; repair times from
    ``repair``), interrupting the operation in process, which then resumes (``interruption="resume"``) or
    restarts (``"restart"``) when the machine is repaired. The objective is the makespan (minimized).
    Semantics in full: :mod:`schedgym.envs.isbjobshop.state` and ``docs/isbjobshop.md`` (after Wong et
    al. 2023, arXiv 2302.02506).

    ## Action Space
    ``Discrete(N_max)``, ``N_max = n_jobs * n_machines + n_machines + 1``. Node ``j * n_machines + k``
    starts operation ``k`` of job ``j`` now; it is legal when it is the job's next operation, its machine
    is up, and the machine is free or held by a blocked job of a swap cycle that frees it (picking any
    member of a cycle performs the whole swap). Machine nodes are never legal. The last node is *wait*:
    under ``schedule_builder="serial"`` it is legal whenever something is in process or a machine is down
    and runs time to the next event (a completion, or the repair of a down machine with nothing in
    process); under ``"nondelay"`` (default) it is never legal and time runs by
    itself until an operation can start. An action naming a busy or down machine raises
    :class:`~schedgym.envs.core.IllegalActionError` naming the operation and the machine's state.

    ## Observation Space
    The contract's padded graph dict (:mod:`schedgym.envs.core`) of a **dynamic disjunctive graph**:
    operation nodes (type 0), one node per machine (type 1) and the wait node (type 2). Edges change as
    the shop evolves: type 0 links each remaining operation to its job successor; type 1 links each
    pending operation to the machine it needs; type 2 links a machine to the operation occupying it
    (processing or blocking). Operations that have left their machine lose every edge and are flagged
    ``done`` (their rows stay, so node indices stay valid actions). Node features (:data:`NODE_FEATURES`)
    include machine up/down state, time to repair, and blocking status; globals: :data:`GLOBAL_FEATURES`.
    Times are divided by the instance's trivial lower bound.

    ## Rewards
    ``-(time elapsed during the step) * reward_scale`` (``reward_scale`` defaults to ``1 / lower bound``):
    the episode return is ``-makespan * reward_scale``. ``reward="sparse"`` gives it all at the end.

    ## Starting State
    Time 0, every machine up and empty, every job before its first operation. The instance is fixed
    (``instance=``: a :class:`~schedgym.envs.jobshop.instance.JobShopInstance`, a name such as ``"la01"``,
    or a file path), passed at reset (``options={"instance": ...}``, up to the construction sizes), or
    random ``n_jobs x n_machines`` (durations uniform in ``duration_low..duration_high``) from
    ``self.np_random``. The machines' failure/repair realization is drawn from ``self.np_random`` at reset:
    a seed fixes it, independently of the actions taken. ``options={"downtime": [[(a, b), ...], ...]}``
    replaces it with a fixed realization (per machine, down intervals ``[a, b)``; what-if studies, tests).

    ## Episode End
    Terminates when every job has left the shop. Truncates if time passes ``max_time`` (default
    ``100 * (total work + 10 * n_machines) + 1000``; reachable only with ``"restart"`` and frequent
    failures). ``info["metrics"]``: ``makespan``, ``lower_bound``, ``blocking_time``, ``n_swaps``,
    ``n_failures``, ``n_interruptions``, ``downtime`` (machine-time down before the makespan).
    ``info["solution"]``: entry/completion/leave time of every operation, the realized down intervals and
    the swaps, checked by :func:`schedgym.envs.isbjobshop.validate.validate_isb_schedule`.

    ## Arguments
    ``instance``, ``n_jobs``, ``n_machines`` (default 6 x 4), ``sizes`` (a list of ``(n_jobs, n_machines)``
    pairs: each reset draws one uniformly from ``self.np_random`` for its random instance; the padding is the
    largest ``n_jobs`` x the largest ``n_machines``; not with ``instance``; an ``n_jobs`` or ``n_machines``
    beside ``sizes`` must equal that padding; beside ``instance`` they are ignored: its shape is the padding),
    ``blocking`` (default True),
    ``shutdown_prob`` (in [0, 1), default 0; or a list of such probabilities: each reset draws one
    uniformly, see :attr:`shutdown_probs`), ``repair`` (default ``("uniform", 1, 10)``; also an int, ``("constant", d)``,
    ``("geometric", mean)`` or a dict), ``interruption`` (``"resume"``/``"restart"``), ``schedule_builder``
    (``"nondelay"``/``"serial"``), ``reward`` (``"dense"``/``"sparse"``), ``reward_scale``,
    ``duration_low``, ``duration_high``, ``max_time``, ``render_mode`` (``"rgb_array"``).

    ## Worked example
    Two jobs, two machines, blocking, no failures: job 0 = (M0, 3) then (M1, 2); job 1 = (M1, 2) then
    (M0, 4). At t=0 both first operations start (nodes 0 and 2). Job 1 finishes on M1 at t=2 and
    *blocks* M1: it wants M0, held by job 0. Job 0 finishes at t=3 and blocks M0: it wants M1, held by
    job 1. Neither machine is free, a deadlock without swaps; here both jobs form a cycle and the swap is
    legal (nodes 1 and 3 both perform it): at t=3 job 0 moves to M1 and job 1 to M0. Job 0 ends at 5,
    job 1 at 7: makespan 7, blocking time 1 (job 1 on M1 during [2, 3))::

        import gymnasium as gym, numpy as np, schedgym.envs
        from schedgym.envs.jobshop.instance import JobShopInstance
        inst = JobShopInstance(np.array([[0, 1], [1, 0]]), np.array([[3, 2], [2, 4]]), name="swap2")
        env = gym.make("schedgym/BlockingJobShop-v0", instance=inst)
        obs, info = env.reset(seed=0)          # legal: nodes 0 and 2
        obs, *_ = env.step(0)
        obs, *_ = env.step(2)                  # time runs to t=3: legal nodes 1 and 3 (the swap)
        obs, r, terminated, truncated, info = env.step(1)
        info["metrics"]["makespan"], info["metrics"]["n_swaps"]   # (7.0, 1.0)
    """

    objective = Objective("makespan", "min")

    def __init__(
        self,
        instance: JobShopInstance | str | os.PathLike[str] | None = None,
        n_jobs: int | None = None,
        n_machines: int | None = None,
        blocking: bool = True,
        shutdown_prob: float = 0.0,
        repair: Any = ("uniform", 1, 10),
        interruption: str = "resume",
        schedule_builder: str = "nondelay",
        reward: str = "dense",
        reward_scale: float | None = None,
        duration_low: int = 1,
        duration_high: int = 99,
        max_time: int | None = None,
        render_mode: str | None = None,
        sizes: Any = None,
    ) -> None:
        if schedule_builder is None:
            schedule_builder = "nondelay"
        if schedule_builder not in SCHEDULE_BUILDERS:
            hint = (
                " (Giffler-Thompson active schedules assume an operation's end is known when it is "
                "scheduled; under blocking it depends on later decisions)"
                if schedule_builder == "active"
                else ""
            )
            raise ValueError(
                f"ISBJobShopEnv: schedule_builder must be one of {SCHEDULE_BUILDERS}, got {schedule_builder!r}{hint}"
            )
        if reward not in ("dense", "sparse"):
            raise ValueError(f"ISBJobShopEnv: reward must be 'dense' or 'sparse', got {reward!r}")
        if interruption not in INTERRUPTIONS:
            raise ValueError(f"ISBJobShopEnv: interruption must be one of {INTERRUPTIONS}, got {interruption!r}")
        self._init_render(render_mode)
        #: the shutdown probabilities an episode draws from (one value: every episode uses it)
        self.shutdown_probs: tuple[float, ...] = parse_shutdown_probs(shutdown_prob)
        #: this episode's shutdown probability (the largest of :attr:`shutdown_probs` until the first reset)
        self.shutdown_prob = max(self.shutdown_probs)
        self.repair = parse_repair(repair)
        self.fixed_instance = resolve_instance(instance) if instance is not None else None
        #: the random instance sizes an episode draws from (None: ``n_jobs`` x ``n_machines`` only)
        self.sizes: tuple[tuple[int, int], ...] | None = None
        if sizes is not None:
            if self.fixed_instance is not None:
                raise ValueError("ISBJobShopEnv: give either instance= or sizes= (random instance sizes), not both")
            self.sizes = parse_sizes(sizes)
            n_jobs, n_machines = sizes_padding(self.sizes, sizes, n_jobs, n_machines)
        if self.fixed_instance is not None:
            # the instance's shape, whatever n_jobs / n_machines say: training configs merge their random-instance
            # sizes with a validation instance (env.kwargs + val.env_kwargs), so they are not an error here
            n_jobs, n_machines = self.fixed_instance.shape
        n_jobs = DEFAULT_N_JOBS if n_jobs is None else n_jobs
        n_machines = DEFAULT_N_MACHINES if n_machines is None else n_machines
        owner = "ISBJobShopEnv"
        n_jobs = check_number("n_jobs", n_jobs, minimum=1, integer=True, owner=owner)
        n_machines = check_number("n_machines", n_machines, minimum=1, integer=True, owner=owner)
        duration_low = check_number("duration_low", duration_low, minimum=0, integer=True, owner=owner)
        duration_high = check_number("duration_high", duration_high, minimum=0, maximum=MAX_DURATION, integer=True,
                                     owner=owner)
        max_time = check_number("max_time", max_time, minimum=1, integer=True, allow_none=True, owner=owner)
        reward_scale = check_number("reward_scale", reward_scale, minimum=0.0, exclusive=True, allow_none=True,
                                    owner=owner)
        if not 0 <= duration_low <= duration_high:
            raise ValueError(f"ISBJobShopEnv: need 0 <= duration_low <= duration_high, got {duration_low}, {duration_high}")
        # time magnitudes: failures are drawn per time unit, so bound the expected failures up front
        if self.fixed_instance is not None:
            check_time_scale(int(self.fixed_instance.durations.sum()), self.shutdown_prob,
                             f"ISBJobShopEnv: instance {self.fixed_instance.name!r}")
        else:
            check_time_scale(max_ops(self.sizes, n_jobs, n_machines) * int(duration_high), self.shutdown_prob,
                             f"ISBJobShopEnv: random {n_jobs}x{n_machines} instances with durations up to {duration_high}")
        self.n_jobs, self.n_machines = int(n_jobs), int(n_machines)
        self.blocking = bool(blocking)
        self.interruption = interruption
        self.schedule_builder = schedule_builder
        self.reward_mode = reward
        self.reward_scale = reward_scale
        self.duration_low, self.duration_high = int(duration_low), int(duration_high)
        self.max_time = max_time
        n, m = self.n_jobs, self.n_machines
        n_ops = n * m
        self.wait_node = n_ops + m
        max_edges = n * (m - 1) + n_ops + m
        self._init_graph(
            GraphSpec(
                max_nodes=n_ops + m + 1,
                max_edges=max(1, max_edges),
                node_features=len(NODE_FEATURES),
                n_node_types=3,
                n_edge_types=3,
                global_features=len(GLOBAL_FEATURES),
                node_feature_names=NODE_FEATURES,
                global_feature_names=GLOBAL_FEATURES,
            )
        )
        self.instance: JobShopInstance | None = None
        self.state: ISBJobShopState | None = None

    # ------------------------------------------------------------------ episode
    def _pick_instance(self, options: dict[str, Any] | None) -> JobShopInstance:
        """The episode's instance. With :attr:`sizes`, a random one of a size drawn from them (an instance
        given at reset must then fit within the padding); otherwise the job shop family's rule (an
        instance given at reset must have the env's exact size)."""
        if self.sizes is None:
            return pick_instance(self, options, fits="exact")
        if options and options.get("instance") is not None:
            return pick_instance(self, options, fits="within")
        n, m = self.sizes[int(self.np_random.integers(len(self.sizes)))] if len(self.sizes) > 1 else self.sizes[0]
        return generate_random(n, m, self.np_random, self.duration_low, self.duration_high)

    def _draw_shutdown_prob(self) -> float:
        """This episode's shutdown probability: the only one, or one drawn uniformly from
        :attr:`shutdown_probs` (``self.np_random``, before the instance and the realization)."""
        probs = self.shutdown_probs
        return probs[0] if len(probs) == 1 else probs[int(self.np_random.integers(len(probs)))]

    def _reset_state(self, options: dict[str, Any] | None) -> None:
        self.shutdown_prob = self._draw_shutdown_prob()
        inst = self._pick_instance(options)
        self.instance = inst
        self.state = ISBJobShopState(
            inst,
            blocking=self.blocking,
            shutdown_prob=self.shutdown_prob,
            repair=self.repair,
            interruption=self.interruption,
            rng=self.np_random,
            max_time=self.max_time,
            downtime=(options or {}).get("downtime"),
        )
        n, m = inst.shape
        n_ops = n * m
        self.wait_node = n_ops + m  # the padding's last node unless the episode's instance is smaller
        d = inst.durations.astype(np.float64)
        self._lb = float(max(1, inst.lower_bound()))
        self._scale = self.reward_scale if self.reward_scale is not None else 1.0 / self._lb
        self._cum = np.cumsum(d, axis=1)
        self._cum_list = self._cum.tolist()
        rem_work = np.cumsum(d[:, ::-1], axis=1)[:, ::-1]
        self._p_norm = (d / max(1.0, d.max())).ravel()
        self._pmax = max(1.0, float(d.max()))
        self._op_machine = inst.machines.ravel().astype(np.int64)
        ids = np.arange(n_ops).reshape(n, m)
        self._prec_src = ids[:, :-1].ravel()
        self._prec_dst = ids[:, 1:].ravel()
        self._needs_dst = n_ops + self._op_machine
        g = self.graph
        g.clear()
        g.n_nodes = n_ops + m + 1
        x = g.nodes
        x[:n_ops, 0] = 1.0
        x[n_ops : n_ops + m, 1] = 1.0
        x[self.wait_node, 2] = 1.0
        x[:n_ops, 3] = self._p_norm
        x[:n_ops, 10] = (rem_work / max(1.0, rem_work[:, 0].max())).ravel()
        x[:n_ops, 11] = np.tile((m - np.arange(m)) / m, n)
        g.node_type[:n_ops] = NODE_OP
        g.node_type[n_ops : n_ops + m] = NODE_MACHINE
        g.node_type[self.wait_node] = NODE_WAIT
        self._settle()
        self._encode()

    def _settle(self) -> None:
        """After an action (or at reset): let time run as the builder requires."""
        st = self.state
        if st.all_started:
            st.finish_all()
        elif self.schedule_builder == "nondelay":
            st.advance_until_decision()
        else:
            st.compute_legal()

    def _encode(self) -> None:
        """Rebuild the observation (features, edges, mask) from the simulator state."""
        st = self.state
        g = self.graph
        n, m = st.n_jobs, st.n_machines
        n_ops = n * m
        t = st.t
        x = g.nodes
        status = st.op_status
        pending = status == OP_PENDING
        x[:n_ops, 5:9] = _ONEHOT[status]  # pending, processing, blocked, done
        x[:n_ops, 4] = self._p_norm * pending
        up = np.array(st.up, dtype=np.float32)
        free = np.array([h < 0 for h in st.holder], dtype=np.float32)
        x[:n_ops, 12] = up[self._op_machine]
        x[:n_ops, 13] = free[self._op_machine]
        mrows = slice(n_ops, n_ops + m)
        x[mrows, 12] = up
        x[mrows, 13] = free
        x[mrows, 14] = 0.0
        x[mrows, 6:8] = 0.0
        x[:n_ops, 15] = 0.0
        occ_src, occ_dst = [], []
        for i in range(m):
            h = st.holder[i]
            if not st.up[i]:
                x[n_ops + i, 14] = (st.repair_end[i] - t) / self._lb
            if h >= 0:
                k = st.next_op[h] - 1
                oid = h * m + k
                occ_src.append(n_ops + i)
                occ_dst.append(oid)
                if st.phase[h] == PROC:
                    x[n_ops + i, 6] = 1.0
                    left = st.work_left(i)
                    x[oid, 4] = left / self._pmax
                else:
                    x[n_ops + i, 7] = 1.0
        for j in range(n):
            ph = st.phase[j]
            if ph == 0 or ph == 2:  # WAIT or BLOCK: its next op is ready
                x[j * m + st.next_op[j], 15] = (t - st.ready_time[j]) / self._lb
        # edges
        keep = status[self._prec_src] != OP_DONE
        src0, dst0 = self._prec_src[keep], self._prec_dst[keep]
        pidx = np.flatnonzero(pending)
        e0, e1, e2 = src0.size, pidx.size, len(occ_src)
        ei, et = g.edge_index, g.edge_type
        ei[0, :e0] = src0
        ei[1, :e0] = dst0
        et[:e0] = EDGE_JOB
        ei[0, e0 : e0 + e1] = pidx
        ei[1, e0 : e0 + e1] = self._needs_dst[pidx]
        et[e0 : e0 + e1] = EDGE_NEEDS
        ei[0, e0 + e1 : e0 + e1 + e2] = occ_src
        ei[1, e0 + e1 : e0 + e1 + e2] = occ_dst
        et[e0 + e1 : e0 + e1 + e2] = EDGE_OCCUPIES
        ne = e0 + e1 + e2
        if ne < g.n_edges:
            ei[:, ne : g.n_edges] = 0
            et[ne : g.n_edges] = 0
        g.n_edges = ne
        # mask
        mask = g.action_mask
        mask.fill(0)
        for j in st.legal:
            mask[j * m + st.next_op[j]] = 1
        if (
            self.schedule_builder == "serial"
            and not st.done
            and not st.truncated
            and st.has_pending_event()
        ):
            mask[self.wait_node] = 1
        x[:n_ops, 9] = mask[:n_ops]
        x[self.wait_node, 9] = mask[self.wait_node]
        # globals
        gl = g.globals
        gl[0] = st.n_started / n_ops
        gl[1] = t / self._lb
        gl[2] = (m - sum(st.up)) / m
        gl[3] = sum(1 for ph in st.phase if ph == 2) / n

    def _apply(self, action: int) -> tuple[float, bool, bool]:
        st = self.state
        t0 = st.t
        if action == self.wait_node:
            st.advance()
            if st.all_started:
                st.finish_all()
            else:
                st.compute_legal()
        else:
            st.start(action // st.n_machines)
            self._settle()
        self._encode()
        done = st.done
        truncated = st.truncated and not done
        if self.reward_mode == "dense":
            reward = -(min(st.t, st.max_time) - t0) * self._scale
        else:
            reward = -float(st.makespan) * self._scale if done else 0.0
        return reward, done, truncated

    def _describe_illegal(self, action: int) -> str:
        st = self.state
        m = st.n_machines
        n_ops = st.n_jobs * m
        if action > self.wait_node:
            return f"node {action} is padding: this episode's instance has {self.wait_node + 1} nodes"
        if action == self.wait_node:
            if self.schedule_builder != "serial":
                return "the wait node is only legal under schedule_builder='serial'"
            return "nothing is in process and no machine is down, so waiting would change nothing"
        if n_ops <= action < n_ops + m:
            return f"node {action} is machine {action - n_ops}, not an operation"
        job, k = divmod(action, m)
        if st.next_op[job] > k:
            return f"operation {k} of job {job} has already started"
        if st.next_op[job] < k:
            return f"operation {k} of job {job} waits for operation {st.next_op[job]} of its job"
        return st.describe_job(job)

    def _episode_metrics(self) -> dict[str, float]:
        st = self.state
        ms = st.makespan
        downtime = sum(
            min(b, ms) - a for ivs in st.realized_downtime(ms) for a, b in ivs
        )
        return {
            "makespan": float(ms),
            "lower_bound": float(self.instance.lower_bound()),
            "blocking_time": float(st.blocking_time()),
            "n_swaps": float(len(st.swaps)),
            "n_failures": float(st.n_failures),
            "n_interruptions": float(sum(map(sum, st.n_interrupts))),
            "downtime": float(downtime),
        }

    def _episode_solution(self) -> ISBSolution:
        return self.state.solution()

    def _step_info(self) -> dict[str, Any]:
        st = self.state
        return {"time": int(st.t), "n_failures": int(st.n_failures)}

    def dispatch_candidates(self) -> dict[str, np.ndarray]:
        """The legal operation starts with the attributes dispatching rules rank them by (ascending job).

        Keys: ``action`` (node index), ``job``, ``processing_time``, ``job_remaining_work`` (this op
        included), ``job_remaining_ops`` (included), ``job_work_done`` (up to and including this op),
        ``ready_time`` (completion of the job's previous operation, 0 for a first operation). The wait node
        is never a candidate (rules take it when the dict is empty).
        """
        st = self.state
        return rule_attributes(np.array(st.legal, dtype=np.int64), [st.next_op[j] for j in st.legal], st.n_machines,
                               self.instance.durations, self._cum, [st.ready_time[j] for j in st.legal])

    def validate_solution(self, solution: dict[str, Any]) -> float:
        from .validate import validate_isb_schedule

        return float(validate_isb_schedule(self.instance, solution))

    # ------------------------------------------------------------------ rendering
    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self.state is None:
            return None
        from .render import isb_gantt_rgb

        return isb_gantt_rgb(self.instance, self.state)


__all__ = ["GLOBAL_FEATURES", "ISBJobShopEnv", "NODE_FEATURES", "SCHEDULE_BUILDERS", "INF", "parse_shutdown_probs",
           "parse_sizes"]
