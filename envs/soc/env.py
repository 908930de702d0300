"""``schedgym/SoCDAG-v0``: mapping the tasks of streaming (or batch) jobs onto a heterogeneous SoC."""

from __future__ import annotations

import math
import os
from typing import Any, Mapping, Sequence

import numpy as np

from ..core import GraphSchedulingEnv, GraphSpec, Objective
from .generator import TopcuogluGenerator
from .instance import PE_KINDS, Application, SoC, check_workload, critical_path, load_app, load_soc, resolve_mix
from .simulator import ASSIGNED, DONE, READY, WAITING, SoCSimulator
from .types import SoCSchedulingView, SoCSolution

#: node feature columns (one table for every node type; a column a node type does not use is 0)
NODE_FEATURES: tuple[str, ...] = (
    "is_wait",  # the wait node
    "is_pe",
    "is_task",
    "legal",  # 1 where the action mask allows it
    "selected",  # the task chosen in the first step (second step only)
    "task_ready",  # all predecessors finished, not assigned
    "task_assigned",  # on a PE (running, or reserved while its input data travels)
    "task_waiting",  # some predecessor unfinished
    "time_min",  # expected execution time on its fastest PE / T
    "time_mean",  # mean over the PEs that support it / T
    "time_cpu_little",  # expected time on the fastest PE of each kind / T (0: no such PE supports it)
    "time_cpu_big",
    "time_accelerator",
    "time_cpu",
    "supported_share",  # PEs that can run it / PEs
    "rank_up",  # HEFT upward rank (remaining critical path, mean times and transfers) / T
    "job_age",  # (now - job arrival) / T
    "job_progress",  # finished tasks of its job / tasks of its job
    "data_wait",  # ready tasks: min over supporting PEs of (input data on that PE - now)+ / T
    "eft_free",  # ready tasks: earliest expected finish on a free PE, minus now, / T (20: no free PE)
    "eft_any",  # ready tasks: earliest expected finish on any PE (busy ones when they are expected free) - now, / T
    "pair_eft",  # second step: expected finish of the chosen node paired with this one, minus now, / T
    "pe_busy",  # PE running or holding a task
    "pe_busy_until",  # PE: (expected end of its task - now)+ / T
    "pe_cpu_little",  # PE kind one-hot
    "pe_cpu_big",
    "pe_accelerator",
    "pe_cpu",
    "pe_ready_share",  # PE: share of the ready tasks it can run
)
GLOBAL_FEATURES: tuple[str, ...] = (
    "phase",  # 0: pick a task, a PE or wait; 1: pick the other half of the pair
    "jobs_in_system",  # admitted unfinished jobs / max_jobs_in_system (batch: / jobs)
    "admission_queue",  # jobs waiting for admission / max_jobs_in_system
    "ready_tasks",  # ready tasks / PEs
    "free_pes",  # free PEs / PEs
    "arrivals_left",  # jobs still to arrive / jobs
    "offered_load",  # mean job work (fastest PEs) / (mean inter-arrival * PEs); 0 for a batch
    "noise",  # relative std of execution times
)
# node types
NT_WAIT, NT_PE, NT_TASK = 0, 1, 2
# edge types
ET_PREC_DATA, ET_PREC_CTRL, ET_CAN_FAST, ET_CAN, ET_RUNS_ON, ET_DATA_ON = 0, 1, 2, 3, 4, 5
WAIT = 0  #: node index of the wait node
_EMPTY = np.zeros(0, np.int64)
_F = {name: i for i, name in enumerate(NODE_FEATURES)}
_KIND_COLS = [_F[f"time_{k}"] for k in PE_KINDS]
_STATIC_COLS = [_F["time_min"], _F["time_mean"], *_KIND_COLS, _F["supported_share"], _F["rank_up"]]
# columns written as scalars through the graph's flat memoryview (row * len(NODE_FEATURES) + column)
_COL_LEGAL, _COL_SELECTED, _COL_PAIR_EFT = _F["legal"], _F["selected"], _F["pair_eft"]
_COL_READY, _COL_ASSIGNED, _COL_WAITING = _F["task_ready"], _F["task_assigned"], _F["task_waiting"]
_COL_DATA_WAIT, _COL_EFT_FREE, _COL_EFT_ANY = _F["data_wait"], _F["eft_free"], _F["eft_any"]
_COL_PE_BUSY, _COL_PE_BUSY_UNTIL, _COL_PE_READY_SHARE = _F["pe_busy"], _F["pe_busy_until"], _F["pe_ready_share"]
REWARDS = ("latency", "makespan")
ARRIVALS = ("poisson", "fixed", "batch")


class SoCDAGEnv(GraphSchedulingEnv):
    """Map the tasks of jobs (DAGs of typed tasks) onto the processing elements of a heterogeneous SoC.

    ## Description
    Jobs of the DS3 reference applications (WiFi TX/RX, range detection, single-carrier TX/RX, temporal
    mitigation, pulse Doppler) arrive continuously (or as a batch at time 0) at an SoC of big/LITTLE
    cores and accelerators (:mod:`schedgym.envs.soc.simulator`). A task runs only on PEs that support its
    type, for the PE type's time (times a hidden noise factor); data moves between PEs at the link's
    bandwidth. Whenever a ready task and a free PE that supports it exist, the agent decides.

    ## Action Space
    ``Discrete(max_nodes)``, **two steps per assignment**: the first step picks one half of a (task, PE)
    pair, the second the other half. First: a ready task that some free PE supports, a free PE that
    supports some ready task, or the **wait** node (node 0: let time run to the next event, keeping the
    free PEs free, e.g. for a busy accelerator). Second: a free PE that runs the chosen task, or a ready
    task that the chosen PE runs. The task starts on the PE as soon as its input data is there. Two steps
    rather than one pick over (task, PE) pair nodes keep the graph at tasks + PEs (pair nodes would be
    quadratic) and score the same node embeddings that carry the features. Either half may come first
    because both list-scheduling views are natural (a task is ready: where? a PE is free: what?), and so
    that a legal first step of one episode's start is legal at another's (Gymnasium's checker samples
    from a previous state).

    ## Observation Space
    The contract's padded graph: the wait node (type 0), one node per PE (type 1, nodes ``1..P``) and one
    per unfinished task of the jobs in the system (type 2; ready tasks first when ``max_nodes`` would
    overflow). Edges: precedence between tasks, with data (type 0) or without (1); for ready tasks, the
    capability edges task -> PE to the PEs of the fastest kind (2) and to the others (3); a running or
    reserved task -> its PE (4); PE -> ready task where its input data sits (5). Node features
    :data:`NODE_FEATURES`, globals :data:`GLOBAL_FEATURES`; times are divided by ``T``, the mean over the
    job mix of the applications' best-case critical paths. Realized (noisy) durations are never observed
    before a task ends.

    ## Rewards
    ``reward="latency"`` (default): ``-(integral of jobs in the system over the step) / (jobs * T)``, so the
    return is ``-(mean job latency) / T``. ``reward="makespan"``: ``-(time advanced) / T``, a return of
    ``-makespan / T``. The objective (``env.objective``) follows: ``avg_latency`` or ``makespan``.

    ## Starting State
    The episode's jobs are drawn from ``self.np_random``: applications from ``mix``, exponential
    inter-arrival times (``arrival="poisson"``, mean ``mean_interarrival_us``; ``"fixed"``: exactly the
    mean; ``"batch"``: all at 0), noise factors ``max(noise_floor, 1 + noise * N(0, 1))`` per task;
    ``jobs=[...]`` gives an explicit batch; ``random_dag={...}`` draws one Topcuoglu random DAG and its
    processors per episode. The first observation is the first decision.

    ## Episode End
    Terminates when every job has finished (``n_jobs`` jobs, or those arriving before ``horizon_us``);
    truncates after ``max_steps`` steps when set. ``info["metrics"]``: ``avg_latency``, ``p50_latency``,
    ``p95_latency``, ``max_latency`` (the first ``warmup_jobs`` jobs left out), ``makespan``, throughput,
    utilization; ``info["solution"]`` the schedule that :func:`schedgym.envs.soc.validate.validate_soc_schedule`
    checks.

    ## Arguments
    ``soc`` (name, path or :class:`~.instance.SoC`; default ``"ds3_16pe_head"``), ``mix`` (mix name of
    :data:`~.instance.MIXES`, an application name, a list, or ``{app: probability}``; default ``"ds3"``),
    ``jobs``, ``n_jobs`` (10), ``arrival``, ``mean_interarrival_us`` (100), ``horizon_us``, ``warmup_jobs``,
    ``noise``, ``noise_floor`` (0.1), ``max_jobs_in_system`` (12, DS3's ``max_jobs_in_parallel``; streaming
    only), ``random_dag`` (kwargs of :class:`~.generator.TopcuogluGenerator`), ``reward``, ``max_nodes``
    (default: enough for every task in the system), ``max_edges`` (default: enough for every precedence
    edge and the capability edges of 64 ready tasks; edges past it are dropped, precedence first kept),
    ``max_steps``, ``render_mode``.

    Example::

        env = gym.make("schedgym/SoCDAG-v0", mix="wifi", mean_interarrival_us=80, noise=0.2)
        env = gym.make("schedgym/SoCDAG-v0", soc="topcuoglu_3p", jobs=["topcuoglu"], reward="makespan")

    ## Version History
    * v0: initial version (DS3 HEAD and paper SoCs, the six DS3 applications + pulse Doppler, the
      Topcuoglu example and random DAGs; two-step action with a wait node; noise; admission limit).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}
    objective = Objective("avg_latency", "min")

    def __init__(
        self,
        soc: SoC | str | os.PathLike[str] = "ds3_16pe_head",
        mix: Mapping[str, float] | str | Sequence[str] = "ds3",
        jobs: Sequence[str] | None = None,
        n_jobs: int = 10,
        arrival: str = "poisson",
        mean_interarrival_us: float = 100.0,
        horizon_us: float | None = None,
        warmup_jobs: int = 0,
        noise: float = 0.0,
        noise_floor: float = 0.1,
        max_jobs_in_system: int | None = 12,
        random_dag: Mapping[str, Any] | None = None,
        reward: str = "latency",
        max_nodes: int | None = None,
        max_edges: int | None = None,
        max_steps: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        self._init_render(render_mode)
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
        if arrival not in ARRIVALS:
            raise ValueError(f"arrival must be one of {ARRIVALS}, got {arrival!r}")
        if not (mean_interarrival_us > 0 and math.isfinite(mean_interarrival_us)):
            raise ValueError(f"mean_interarrival_us must be > 0, got {mean_interarrival_us}")
        if noise < 0 or not 0 < noise_floor <= 1:
            raise ValueError(f"need noise >= 0 and 0 < noise_floor <= 1, got noise={noise}, noise_floor={noise_floor}")
        if n_jobs < 1:
            raise ValueError(f"n_jobs must be >= 1, got {n_jobs}")
        self.reward_mode = reward
        self.objective = Objective("avg_latency" if reward == "latency" else "makespan", "min")
        self.noise, self.noise_floor = float(noise), float(noise_floor)
        self.warmup_jobs = int(warmup_jobs)
        self.horizon_us = None if horizon_us is None else float(horizon_us)
        self.mean_interarrival_us = float(mean_interarrival_us)
        self.max_steps = max_steps
        self.generator = TopcuogluGenerator(**dict(random_dag)) if random_dag is not None else None
        if self.generator is not None:
            self.batch_jobs: list[str] | None = ["random-dag"]
            self.arrival, self.n_jobs = "batch", 1
            self.soc = None
            self.mix: dict[str, float] = {}
            n_pes, max_tasks = self.generator.n_pes, self.generator.n_tasks
            task_nodes = max_tasks
            max_edges_task = self.generator.n_tasks * (2 * self.generator.out_degree + 1)
        else:
            self.soc = load_soc(soc)
            if jobs is not None:
                self.batch_jobs = [str(j) for j in jobs]
                if not self.batch_jobs:
                    raise ValueError("jobs must name at least one application")
                self.arrival, self.n_jobs = "batch", len(self.batch_jobs)
                names = list(dict.fromkeys(self.batch_jobs))
                self.mix = {}
            else:
                self.batch_jobs = None
                self.arrival, self.n_jobs = arrival, int(n_jobs)
                self.mix = resolve_mix(mix)
                names = list(self.mix)
            self.apps = [load_app(a) for a in names]
            check_workload(self.soc, self.apps)  # a job that can never finish fails here, not by a hang
            n_pes = self.soc.n_pes
            sizes = {a.name: a.n_tasks for a in self.apps}
            edges = {a.name: a.n_edges for a in self.apps}
            if self.batch_jobs is not None:
                task_nodes = sum(sizes[a] for a in self.batch_jobs)
                max_edges_task = sum(edges[a] for a in self.batch_jobs)
            else:
                open_jobs = self.n_jobs if max_jobs_in_system is None or arrival == "batch" else min(max_jobs_in_system, self.n_jobs)
                task_nodes = open_jobs * max(sizes.values())
                max_edges_task = open_jobs * max(edges.values())
        self.max_jobs_in_system = None if self.arrival == "batch" else max_jobs_in_system
        self.n_pes = n_pes
        n_max = int(max_nodes) if max_nodes is not None else 1 + n_pes + task_nodes
        if n_max < 2 + n_pes:
            raise ValueError(f"max_nodes must be >= {2 + n_pes} (wait node, {n_pes} PEs, one task), got {max_nodes}")
        self.max_nodes = n_max
        self.max_task_nodes = n_max - 1 - n_pes
        t_nodes = min(task_nodes, self.max_task_nodes)
        # precedence + data-on (both bounded by the edges among tasks in the system) + runs-on + capability
        cap_tasks = min(t_nodes, 64)
        e_max = int(max_edges) if max_edges is not None else 2 * max_edges_task + n_pes + cap_tasks * n_pes
        self.max_cap_edges = max(e_max - 2 * max_edges_task - n_pes, n_pes)
        self._init_graph(GraphSpec(
            max_nodes=n_max, max_edges=max(e_max, 1), node_features=len(NODE_FEATURES), n_node_types=3,
            n_edge_types=6, global_features=len(GLOBAL_FEATURES), node_feature_names=NODE_FEATURES,
            global_feature_names=GLOBAL_FEATURES,
        ))
        self.sim: SoCSimulator | None = None
        self._per_app_sim: SoCSimulator | None = None  # the simulator _per_app was built for
        self._per_app: dict[int, tuple[Any, ...]] = {}
        if self.generator is None:
            self.sim = SoCSimulator(self.soc, self.apps, self.max_jobs_in_system, log=True)
            self._set_scale()
        self.phase = 0
        self.chosen_task = -1
        self.chosen_pe = -1

    def __getstate__(self) -> dict[str, Any]:
        # the memoryview of the task rows does not pickle: rebuilt from the array on unpickling
        state = self.__dict__.copy()
        state.pop("_mv_task_rows", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "_task_rows" in state:
            self._mv_task_rows = memoryview(self._task_rows).cast("B").cast("f")

    # ------------------------------------------------------------------ the named door
    def task_node(self, g: int) -> int:
        """Node index of task ``g`` in the current observation (-1 if it is not a node)."""
        return int(self._node_of[g])

    def pe_node(self, p: int) -> int:
        return 1 + p

    # ------------------------------------------------------------------ episode
    def _set_scale(self) -> None:
        sim = self.sim
        assert sim is not None
        weights = self.mix or {a.name: 1.0 for a in sim.apps}
        lbs = {a.name: critical_path(a, sim.soc) for a in sim.apps}
        total = sum(weights.values())
        self.T = max(sum(w * lbs[a] for a, w in weights.items()) / total, 1e-9)
        work = sum(w * float(sim.tables[sim.app_index[a]].min_ex.sum()) for a, w in weights.items()) / total
        self._offered_load = 0.0 if self.arrival == "batch" else work / (self.mean_interarrival_us * sim.n_pes)

    def _draw_jobs(self) -> list[tuple[float, int]]:
        rng = self.np_random
        sim = self.sim
        assert sim is not None
        if self.batch_jobs is not None:
            return [(0.0, sim.app_index[a]) for a in self.batch_jobs]
        names = list(self.mix)
        probs = np.array([self.mix[a] for a in names])
        n = self.n_jobs
        apps = rng.choice(len(names), size=n, p=probs)
        if self.arrival == "batch":
            times = np.zeros(n)
        elif self.arrival == "fixed":
            times = np.arange(n) * self.mean_interarrival_us
        else:  # DS3: int(expovariate(1 / scale)) microseconds between jobs
            gaps = np.floor(rng.exponential(self.mean_interarrival_us, size=n))
            gaps[0] = 0.0
            times = np.cumsum(gaps)
        if self.horizon_us is not None:
            keep = times < self.horizon_us
            keep[0] = True
            times, apps = times[keep], apps[keep]
        return [(float(t), sim.app_index[names[a]]) for t, a in zip(times, apps)]

    def _reset_state(self, options: dict[str, Any] | None) -> None:
        rng = self.np_random
        if self.generator is not None:
            app, soc = self.generator(rng)
            self.soc, self.apps = soc, [app]
            self.sim = SoCSimulator(soc, [app], None, log=True)
            self._set_scale()
        sim = self.sim
        assert sim is not None
        jobs = self._draw_jobs()
        n_tasks = sum(sim.tables[a].app.n_tasks for _, a in jobs)
        factors = None
        if self.noise > 0:
            factors = np.maximum(self.noise_floor, 1.0 + self.noise * rng.standard_normal(n_tasks))
        self._build_static(jobs)
        sim.reset(jobs, factors, self.warmup_jobs)
        self._area = sim.area
        self._now = sim.now
        self._steps = 0
        self.phase = 0
        self.chosen_task = -1
        self.chosen_pe = -1
        self._consume_log()
        self._build_obs()

    def _build_static(self, jobs: list[tuple[float, int]]) -> None:
        """Per-task arrays of the episode (features, supports, edges) and the caches of the incremental
        observation (see :meth:`_build_obs`)."""
        sim = self.sim
        assert sim is not None
        order = sorted(range(len(jobs)), key=lambda i: (jobs[i][0], i))  # the simulator's job order
        app_of = [jobs[i][1] for i in order]
        T = self.T
        P = sim.n_pes
        if self._per_app_sim is not sim:  # per-application tables, kept while the simulator is the same
            self._per_app = {}
            self._per_app_sim = sim
        per_app = self._per_app
        for a in set(app_of) - per_app.keys():
            t = sim.tables[a]
            f = np.zeros((t.app.n_tasks, len(_STATIC_COLS)), np.float32)
            f[:, 0] = t.min_ex / T
            f[:, 1] = t.mean_ex / T
            kind = np.where(np.isfinite(t.kind_ex), t.kind_ex, 0.0) / T
            f[:, 2:2 + len(PE_KINDS)] = kind
            f[:, 2 + len(PE_KINDS)] = t.n_supporting / P
            f[:, 3 + len(PE_KINDS)] = t.rank_up / T
            sup = np.isfinite(t.ex)
            fast = sup & (t.ex <= t.min_ex[:, None] + 1e-9)
            ctrl = (t.app.volumes == 0)
            # per task, what a ready task's features and edges need: supported-PE bitmask, the supporting
            # PEs, their expected times, and the PE nodes of its fastest kind and of the others
            capability = [
                (t.supmask[k], t.sup_pes[k], [t.ex_list[k][p] for p in t.sup_pes[k]],
                 (np.flatnonzero(fast[k]) + 1).tolist(), (np.flatnonzero(sup[k] & ~fast[k]) + 1).tolist())
                for k in range(t.app.n_tasks)
            ]
            per_app[a] = (f, capability, t.app.edges, ctrl)
        sizes = [sim.tables[a].app.n_tasks for a in app_of]
        static = np.concatenate([per_app[a][0] for a in app_of])
        # every task's row as a node: is_task, the static columns, and the state and job-progress columns
        # kept current by _consume_log (task_waiting until it becomes ready)
        rows = np.zeros((static.shape[0], len(NODE_FEATURES)), np.float32)
        rows[:, _F["is_task"]] = 1.0
        rows[:, _STATIC_COLS] = static
        rows[:, _F["task_waiting"]] = 1.0
        self._task_rows = rows
        self._mv_task_rows = memoryview(rows).cast("B").cast("f")
        self._capability = [c for a in app_of for c in per_app[a][1]]
        self._job_size = np.asarray(sizes, np.float32)
        self._arrival = np.array([jobs[i][0] for i in order], np.float64)
        self._t_arrival = np.repeat(self._arrival, sizes)
        base = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._job_edges = [(per_app[a][2] + base[j], per_app[a][3]) for j, a in enumerate(app_of)]
        n = int(base[-1])
        self._state = np.full(n, WAITING, np.int8)
        #: ready tasks: (supported-PE bitmask, supporting PEs, when the input data would be on each, their
        #: expected times, the earliest of those data times, fastest-kind PE nodes, other PE nodes, the PE
        #: nodes holding input data)
        self._ready_info: dict[int, tuple[Any, ...]] = {}
        self._job_done_tasks = np.zeros(len(app_of), np.float32)
        self._node_of = np.full(n, -1, np.int64)
        self._node_task = np.zeros(0, np.int64)
        self._sys_tasks = np.zeros(0, np.int64)
        self._sys_edges = np.zeros((2, 0), np.int64)  # precedence among the tasks in the system: with data first
        self._sys_edge_type = np.zeros(0, np.int64)
        self._sys_dirty = True
        self._pe_kind = np.zeros((P, len(PE_KINDS)), np.float32)
        for p, kind in enumerate(sim.soc.pe_kinds):
            self._pe_kind[p, PE_KINDS.index(kind)] = 1.0
        g = self.graph
        g.clear()
        g.node_type[1:1 + P] = NT_PE
        g.nodes[WAIT, _F["is_wait"]] = 1.0
        g.nodes[1:1 + P, _F["is_pe"]] = 1.0
        g.nodes[1:1 + P, _F["pe_cpu_little"]:_F["pe_cpu"] + 1] = self._pe_kind
        self._clean_rows = 1 + P  # rows 0..P hold their constant columns; the rest are zero
        self._second_marks: bool | None = None
        # incremental observation: the task nodes and the precedence edges change only when the set of task
        # nodes does (see _build_structure)
        self._structure_dirty = True
        self._any_state_change = False  # a task became ready or was assigned since the last observation
        self._truncated = False  # the last build kept only max_task_nodes of the tasks in the system
        self._node_arrival = np.zeros(0, np.float64)
        self._n_prec_edges = 0
        self._ready_nodes: list[tuple[int, int, tuple[Any, ...]]] = []  # (task, node, ready info), node order

    def _consume_log(self) -> None:
        """Mirror the simulator's state changes into the env's arrays: task states and their rows' state
        and job-progress columns, the ready tasks' data-ready times, and what makes the task nodes stale."""
        sim = self.sim
        assert sim is not None and sim.log is not None
        state, rows, NF = self._state, self._mv_task_rows, len(NODE_FEATURES)
        for kind, x in sim.log:
            if kind == "ready":
                state[x] = READY
                rows[x * NF + _COL_WAITING] = 0.0
                rows[x * NF + _COL_READY] = 1.0
                self._any_state_change = True
                j = sim.t_job[x]
                supmask, sup, ex, fast_nodes, other_nodes = self._capability[x]
                dr = sim.data_ready_many(x, sup)
                preds = sim.tables[sim.job_app[j]].preds[sim.t_k[x]]
                if preds:
                    base, t_pe = sim.job_base[j], sim.t_pe
                    data_nodes = sorted({t_pe[base + ku] + 1 for ku, _ in preds})
                else:
                    data_nodes = []
                self._ready_info[x] = (supmask, sup, dr, ex, min(dr), fast_nodes, other_nodes, data_nodes)
            elif kind == "assign":
                state[x] = ASSIGNED
                rows[x * NF + _COL_READY] = 0.0
                rows[x * NF + _COL_ASSIGNED] = 1.0
                self._any_state_change = True
                del self._ready_info[x]
            elif kind == "finish":
                state[x] = DONE
                rows[x * NF + _COL_ASSIGNED] = 0.0
                j = sim.t_job[x]
                done = self._job_done_tasks
                done[j] += 1
                b0, b1 = sim.job_base[j], sim.job_base[j + 1]
                self._task_rows[b0:b1, _F["job_progress"]] = done[j] / self._job_size[j]
                self._structure_dirty = True
            else:  # admit / done
                self._sys_dirty = True
                self._structure_dirty = True
        if self._truncated and self._any_state_change:  # which tasks are kept depends on which are ready
            self._structure_dirty = True
        sim.log.clear()

    def _apply(self, action: int) -> tuple[float, bool, bool]:
        sim = self.sim
        assert sim is not None
        P = self.n_pes
        if self.phase == 0:
            if action == WAIT:
                sim.wait()
            else:
                if action <= P:
                    self.chosen_pe = action - 1
                else:
                    self.chosen_task = int(self._node_task[action - 1 - P])
                self.phase = 1
                self._second_step_obs()
                self._steps += 1
                return 0.0, False, False
        else:
            if self.chosen_task >= 0:
                sim.assign(self.chosen_task, action - 1)
            else:
                sim.assign(int(self._node_task[action - 1 - P]), self.chosen_pe)
            self.phase = 0
            self.chosen_task = self.chosen_pe = -1
        self._steps += 1
        if self.reward_mode == "latency":
            reward = -(sim.area - self._area) / (sim.n_jobs * self.T)
        else:
            reward = -(sim.now - self._now) / self.T
        self._area, self._now = sim.area, sim.now
        self._consume_log()
        terminated = sim.done
        truncated = bool(not terminated and self.max_steps is not None and self._steps >= self.max_steps)
        self._build_obs()
        return float(reward), terminated, truncated

    # ------------------------------------------------------------------ observation
    def _refresh_system(self) -> None:
        """The tasks of the admitted jobs and their precedence edges (with data first, then without)."""
        sim = self.sim
        assert sim is not None
        jobs = sim.open_jobs
        if jobs:
            base = sim.job_base
            self._sys_tasks = np.concatenate([np.arange(base[j], base[j + 1]) for j in jobs])
            e = np.concatenate([self._job_edges[j][0] for j in jobs])
            ctrl = np.concatenate([self._job_edges[j][1] for j in jobs])
            order = np.argsort(ctrl, kind="stable")
            self._sys_edges = np.ascontiguousarray(e[order].T)
            self._sys_edge_type = np.where(ctrl[order], ET_PREC_CTRL, ET_PREC_DATA)
        else:
            self._sys_tasks = np.zeros(0, np.int64)
            self._sys_edges = np.zeros((2, 0), np.int64)
            self._sys_edge_type = np.zeros(0, np.int64)
        self._sys_dirty = False

    def _build_structure(self) -> None:
        """The part of the observation that changes only when the set of task nodes does (a task
        finishes, a job is admitted or done; with ``max_nodes`` too small, also a task becoming ready or
        assigned): which tasks are nodes, their node types, the padding rows, and the precedence edges
        (the first edges of the padded arrays)."""
        g = self.graph
        sim = self.sim
        assert sim is not None
        P = self.n_pes
        if self._sys_dirty:
            self._refresh_system()
        used = max(g.n_nodes, self._clean_rows)
        node_of = self._node_of
        node_of[self._node_task] = -1
        tasks = self._sys_tasks
        st = self._state[tasks]
        live = st != DONE
        tasks, st = tasks[live], st[live]
        self._truncated = tasks.size > self.max_task_nodes
        if self._truncated:  # ready tasks first, then the oldest jobs' tasks
            keep = np.argsort(st != READY, kind="stable")[: self.max_task_nodes]
            keep.sort()
            tasks = tasks[keep]
        lo, hi = 1 + P, 1 + P + tasks.size
        self._node_task = tasks
        node_of[tasks] = np.arange(lo, hi)
        g.n_nodes = hi
        g.node_type[lo:hi] = NT_TASK
        if used > hi:
            g.nodes[hi:used] = 0.0
            g.node_type[hi:used] = 0
            g.action_mask[hi:used] = 0
        self._node_arrival = self._t_arrival[tasks]
        # precedence edges between task nodes
        ends = node_of[self._sys_edges]
        ok = (ends >= 0).all(0)
        m = min(int(np.count_nonzero(ok)), g.edge_type.shape[0])
        if m:
            g.edge_index[:, :m] = ends[:, ok][:, :m]
            g.edge_type[:m] = self._sys_edge_type[ok][:m]
        self._n_prec_edges = m
        self._structure_dirty = False

    def _build_terminal_obs(self) -> None:
        """Every job is done: the wait and PE nodes only, all PEs free, no edges; the mask keeps the wait
        node (the terminal observation is never acted on, but a mask must allow something)."""
        g = self.graph
        P = self.n_pes
        x = g.nodes
        used, used_edges = max(g.n_nodes, self._clean_rows), g.n_edges
        x[1 + P:used] = 0.0
        g.node_type[1 + P:used] = 0
        g.action_mask[:used] = 0
        g.action_mask[WAIT] = 1
        for col in ("legal", "pe_busy", "pe_busy_until", "pe_ready_share"):
            x[:1 + P, _F[col]] = 0.0
        g.edge_index[:, :used_edges] = 0
        g.edge_type[:used_edges] = 0
        g.n_nodes, g.n_edges = 1 + P, 0
        self._node_of[self._node_task] = -1
        self._node_task = _EMPTY
        self._ready_nodes = []
        self._structure_dirty = True

    def _build_obs(self) -> None:
        """The phase-0 observation of the current decision epoch.

        Incremental and with few NumPy calls per step (each costs about a microsecond, more than the
        arithmetic of this small graph): every task's row (static, state and job-progress columns) is
        kept current by :meth:`_consume_log`, and the task nodes, padding and precedence edges by
        :meth:`_build_structure`, rerun only when the set of task nodes changes. Each call copies the
        task rows in with one gather, writes the job ages, and computes the few ready tasks' and the PEs'
        columns in plain Python from the data-ready times cached when each task became ready, writing
        scalars through the graph's memoryviews; the capability, data and runs-on edges go in with one
        write per array. ``tests/test_soc_obs.py`` checks the result against a reference computation."""
        g = self.graph
        sim = self.sim
        assert sim is not None
        P = self.n_pes
        x = g.nodes
        if self._second_marks is not None:  # undo the second step's marks on the wait/PE rows
            x[:1 + P, _F["selected"]] = 0.0
            x[:1 + P, _F["pair_eft"]] = 0.0
            self._second_marks = None
        if sim.done:
            g.globals.fill(0.0)
            self._build_terminal_obs()
            return
        used_edges = g.n_edges
        if self._structure_dirty:
            self._build_structure()
        self._any_state_change = False
        now, T = sim.now, self.T
        tasks = self._node_task
        lo, hi = 1 + P, 1 + P + tasks.size
        np.take(self._task_rows, tasks, axis=0, out=x[lo:hi])
        np.divide(np.subtract(now, self._node_arrival), T, out=x[lo:hi, _F["job_age"]])
        mask = g.action_mask
        mask[lo:hi] = 0
        mvx, mvm, NF = g.mv_nodes, g.mv_action_mask, len(NODE_FEATURES)
        fm = sim.free_mask
        exp_end = sim.pe_expected_end
        # ready task nodes, in node order
        node_of = self._node_of
        info = self._ready_info
        ready_nodes = sorted((int(node_of[t]), t) for t in sim.ready)
        if ready_nodes and ready_nodes[0][0] < 0:  # max_nodes too small: some ready tasks are not nodes
            ready_nodes = [(n, t) for n, t in ready_nodes if n >= 0]
        ready = self._ready_nodes = [(t, n, info[t]) for n, t in ready_nodes]
        share = [0] * P
        pe_legal = 0
        fast_src: list[int] = []
        fast_dst: list[int] = []
        other_src: list[int] = []
        other_dst: list[int] = []
        data_src: list[int] = []
        data_dst: list[int] = []
        inf = math.inf
        for t, n, (supmask, sup, dr, ex, dr_min, fast_nodes, other_nodes, data_nodes) in ready:
            row = n * NF
            d = dr_min - now
            mvx[row + _COL_DATA_WAIT] = (d if d > 0.0 else 0.0) / T
            best_any = best_free = inf
            for p, d, e in zip(sup, dr, ex):
                share[p] += 1
                if fm >> p & 1:
                    v = (d if d > now else now) + e
                    if v < best_free:
                        best_free = v
                else:
                    a = exp_end[p]
                    if a < now:
                        a = now
                    v = (d if d > a else a) + e
                if v < best_any:
                    best_any = v
            v = (best_free - now) / T
            mvx[row + _COL_EFT_FREE] = v if v < 20.0 else 20.0
            v = (best_any - now) / T
            mvx[row + _COL_EFT_ANY] = v if v < 20.0 else 20.0
            if supmask & fm:
                mvx[row + _COL_LEGAL] = 1.0
                mvm[n] = 1
                pe_legal |= supmask
            fast_src += [n] * len(fast_nodes)
            fast_dst += fast_nodes
            other_src += [n] * len(other_nodes)
            other_dst += other_nodes
            if data_nodes:
                data_src += data_nodes
                data_dst += [n] * len(data_nodes)
        # PE nodes
        pe_legal &= fm
        n_ready = len(ready)
        n_free = 0
        for p in range(P):
            row = (1 + p) * NF
            if fm >> p & 1:
                n_free += 1
                mvx[row + _COL_PE_BUSY] = 0.0
                mvx[row + _COL_PE_BUSY_UNTIL] = 0.0
            else:
                mvx[row + _COL_PE_BUSY] = 1.0
                d = exp_end[p] - now
                mvx[row + _COL_PE_BUSY_UNTIL] = (d if d > 0.0 else 0.0) / T
            legal = pe_legal >> p & 1
            mvx[row + _COL_LEGAL] = legal
            mvm[1 + p] = legal
            mvx[row + _COL_PE_READY_SHARE] = share[p] / n_ready if n_ready else 0.0
        can_wait = sim.can_wait()
        mvm[WAIT] = can_wait
        mvx[WAIT * NF + _COL_LEGAL] = can_wait
        # globals
        gl = g.mv_globals
        cap = self.max_jobs_in_system or sim.n_jobs
        gl[0] = 0.0
        gl[1] = len(sim.open_jobs) / cap
        gl[2] = len(sim.admission) / cap
        gl[3] = len(sim.ready) / P
        gl[4] = n_free / P
        gl[5] = (sim.n_jobs - sim.next_job) / sim.n_jobs
        gl[6] = self._offered_load
        gl[7] = self.noise
        # edges after the precedence edges: capability (fastest kind, then the others, within the
        # capability budget), data-on, runs-on
        budget = self.max_cap_edges
        n_fast = min(len(fast_src), budget)
        n_other = min(len(other_src), budget - n_fast)
        runs = sorted((int(node_of[t]), p + 1) for p, t in enumerate(sim.pe_task) if t >= 0 and node_of[t] >= 0)
        src = fast_src[:n_fast] + other_src[:n_other] + data_src + [n for n, _ in runs]
        n0 = self._n_prec_edges
        m = min(len(src), g.edge_type.shape[0] - n0)
        if m > 0:
            dst = fast_dst[:n_fast] + other_dst[:n_other] + data_dst + [p for _, p in runs]
            kinds = ([ET_CAN_FAST] * n_fast + [ET_CAN] * n_other + [ET_DATA_ON] * len(data_src)
                     + [ET_RUNS_ON] * len(runs))
            g.edge_index[0, n0:n0 + m] = src[:m]
            g.edge_index[1, n0:n0 + m] = dst[:m]
            g.edge_type[n0:n0 + m] = kinds[:m]
        n = n0 + max(m, 0)
        if used_edges > n:
            g.edge_index[:, n:used_edges] = 0
            g.edge_type[n:used_edges] = 0
        g.n_edges = n

    def _second_step_obs(self) -> None:
        """The same graph; the chosen node is marked and only the other halves of its pairs are legal: the
        free PEs that run the chosen task, or the ready tasks the chosen PE runs."""
        g = self.graph
        sim = self.sim
        assert sim is not None
        n_nodes = g.n_nodes  # rows past it are all zero
        g.action_mask[:n_nodes] = 0
        g.nodes[:n_nodes, _F["legal"]] = 0.0
        mvx, mvm, NF = g.mv_nodes, g.mv_action_mask, len(NODE_FEATURES)
        now, T = sim.now, self.T
        fm = sim.free_mask
        pairs: list[tuple[int, float]] = []  # (legal node, pair's expected finish)
        if self.chosen_task >= 0:
            node = int(self._node_of[self.chosen_task])
            _, sup, dr, ex, *_ = self._ready_info[self.chosen_task]
            for p, d, e in zip(sup, dr, ex):
                if fm >> p & 1:
                    pairs.append((1 + p, (d if d > now else now) + e))
        else:
            p = self.chosen_pe
            node = 1 + p
            for _, n, (supmask, sup, dr, ex, *_) in self._ready_nodes:
                if supmask >> p & 1:
                    i = sup.index(p)
                    d = dr[i]
                    pairs.append((n, (d if d > now else now) + ex[i]))
        for n, pair in pairs:
            mvx[n * NF + _COL_PAIR_EFT] = (pair - now) / T
            mvx[n * NF + _COL_LEGAL] = 1.0
            mvm[n] = 1
        mvx[node * NF + _COL_SELECTED] = 1.0
        self._second_marks = True
        g.mv_globals[0] = 1.0

    def _describe_illegal(self, action: int) -> str:
        sim = self.sim
        assert sim is not None
        P = self.n_pes
        if self.phase == 1 and self.chosen_task >= 0:
            if 1 <= action <= P:
                why = "busy" if not (sim.free_mask >> (action - 1)) & 1 else "unable to run it"
                return (f"the second step picks a PE for task {self.chosen_task}; PE {action - 1} "
                        f"({sim.soc.pe_names[action - 1]}) is {why}")
            return f"the second step must pick a free PE that runs task {self.chosen_task}, not a task or wait node"
        if self.phase == 1:
            return (f"the second step picks a ready task that PE {self.chosen_pe} ({sim.soc.pe_names[self.chosen_pe]}) "
                    f"can run")
        if action == WAIT:
            return "waiting would stop time forever: no task is running and no job will arrive"
        if 1 <= action <= P:
            busy = not (sim.free_mask >> (action - 1)) & 1
            return f"PE {action - 1} ({sim.soc.pe_names[action - 1]}) is {'busy' if busy else 'free but runs no ready task'}"
        if action >= self.graph.n_nodes:
            return "it is a padding node"
        t = int(self._node_task[action - 1 - P])
        st = int(self._state[t])
        if st != READY:
            return f"task {t} is not ready ({['waiting for its predecessors', '', 'already assigned', 'done'][st]})"
        return f"task {t} is ready but no free PE can run it"

    def _step_info(self) -> dict[str, Any]:
        sim = self.sim
        return {"time": float(sim.now), "phase": self.phase} if sim is not None else {}

    def _episode_metrics(self) -> dict[str, float]:
        sim = self.sim
        assert sim is not None
        m = sim.metrics()
        m["steps"] = float(self._steps)
        m["time_scale_T"] = float(self.T)
        return m

    def _episode_solution(self) -> SoCSolution:  # type: ignore[override]
        sim = self.sim
        assert sim is not None
        return sim.solution()

    def validate_solution(self, solution: dict[str, Any]) -> float:
        from .validate import validate_soc_schedule

        sim = self.sim
        assert sim is not None
        expected_jobs = [(sim.apps[a].name, t) for a, t in zip(sim.job_app, sim.job_arrival)]
        factors = sim.factor if sim.factor is not None else [1.0] * sim.n_tasks
        return validate_soc_schedule(sim.soc, {a.name: a for a in sim.apps}, solution, self.objective.name,
                                     expected_jobs=expected_jobs, expected_factors=factors)

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self.sim is None:
            return None
        from .render import gantt_rgb

        return gantt_rgb(self.sim.solution(), self.sim.soc)
