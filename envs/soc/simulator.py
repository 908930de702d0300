"""The event-driven SoC simulator (pure Python/NumPy, no Gymnasium).

**Model.** Processing elements (PEs) run one task at a time, without preemption. Jobs (instances of
applications: DAGs of typed tasks) arrive at given times. A task is *ready* when every predecessor has
finished. A scheduler assigns a ready task to a *free* PE that supports its type (idle, nothing assigned);
the task starts when its input data has arrived::

    start(v) = max(now, max_u finish(u) + comm(u, v)),   comm(u, v) = floor(volume / bw[pe(u), pe(v)])

(0 on the same PE) and runs for its execution time on that PE's cluster times the task's noise factor.
From the assignment to its finish the PE is busy (reserved while the data travels). Events are task
finishes and job arrivals; :meth:`SoCSimulator.settle` processes them in time order and stops at the
next **decision epoch**: a moment where some ready task has a free PE that supports it. The scheduler
then :meth:`~SoCSimulator.assign`\\ s one task, or :meth:`~SoCSimulator.wait`\\ s for the next event (to keep
a PE for a faster one that is busy, say). ``max_jobs_in_system`` (DS3's ``max_jobs_in_parallel``) holds
arriving jobs in an admission queue while that many are unfinished; their latency still counts from
their arrival.

**Noise.** Each task carries a factor ``max(floor, 1 + sigma * N(0, 1))`` drawn with the episode (so the
realization does not depend on the policy); its duration on any PE is the PE's expected time times the
factor. The simulator exposes only expected times to policies (:meth:`pe_available_at`) until a task
ends.

:meth:`run` drives the simulator with a plain function (``decide(sim) -> (task, pe) | None``), with no
environment around it: the fast path the benchmarks and the static baselines use.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .instance import PE_KINDS, Application, SoC, check_workload
from .types import SoCSolution

# task states
WAITING, READY, ASSIGNED, DONE = 0, 1, 2, 3


@dataclass(eq=False)
class AppTables:
    """What the simulator, the env's features and the baselines need about one application on one SoC,
    computed once: per-task execution times on every PE (``inf`` where unsupported), supported-PE
    bitmasks, expected (mean over supporting PEs) and best times, mean transfer times and HEFT's upward
    rank."""

    app: Application
    ex: np.ndarray  # (n, P) expected execution time on each PE, inf if unsupported
    ex_list: list[list[float]]
    supmask: list[int]  # bit p set when PE p supports the task
    sup_pes: list[list[int]]  # the PEs that support the task, ascending
    preds: list[list[tuple[int, float]]]
    succs: list[list[tuple[int, float]]]
    sources: list[int]
    mean_ex: np.ndarray  # (n,) mean over supporting PEs
    min_ex: np.ndarray  # (n,)
    kind_ex: np.ndarray  # (n, len(PE_KINDS)) best time on a PE of each kind, inf if none
    n_supporting: np.ndarray  # (n,)
    mean_comm: np.ndarray  # (E,) mean transfer time of each edge over distinct supporting PE pairs
    rank_up: np.ndarray  # (n,) HEFT upward rank: mean_ex + max over successors (mean_comm + rank_up)
    rank_down: np.ndarray  # (n,) HEFT downward rank (longest mean path from an entry, excluding the task)
    topo_pos: list[int]  # position of each task in the application's topological order

    @classmethod
    def build(cls, app: Application, soc: SoC) -> "AppTables":
        check_workload(soc, [app])
        P = soc.n_pes
        ex = np.stack([soc.exec_row(t) for t in app.task_types]) if app.n_tasks else np.zeros((0, P))
        ok = np.isfinite(ex)
        supmask = [int(sum(1 << p for p in np.flatnonzero(row))) for row in ok]
        with np.errstate(invalid="ignore"):
            mean_ex = np.where(ok, ex, 0.0).sum(1) / ok.sum(1)
        min_ex = ex.min(1)
        kinds = np.array(soc.pe_kinds)
        kind_ex = np.full((app.n_tasks, len(PE_KINDS)), np.inf)
        for i, kind in enumerate(PE_KINDS):
            cols = kinds == kind
            if cols.any():
                kind_ex[:, i] = ex[:, cols].min(1)
        bw = soc.pe_bandwidth()
        mean_comm = np.zeros(app.n_edges)
        for i, ((u, v), vol) in enumerate(zip(app.edges.tolist(), app.volumes.tolist())):
            pu, pv = np.flatnonzero(ok[u]), np.flatnonzero(ok[v])
            c = np.floor(vol / bw[np.ix_(pu, pv)])
            distinct = pu[:, None] != pv[None, :]
            mean_comm[i] = float(c[distinct].mean()) if distinct.any() else 0.0
        succ_edges: list[list[tuple[int, int]]] = [[] for _ in range(app.n_tasks)]
        pred_edges: list[list[tuple[int, int]]] = [[] for _ in range(app.n_tasks)]
        for i, (u, v) in enumerate(app.edges.tolist()):
            succ_edges[u].append((v, i))
            pred_edges[v].append((u, i))
        rank_up = np.zeros(app.n_tasks)
        for k in reversed(app.topo_order):
            rank_up[k] = mean_ex[k] + max((mean_comm[i] + rank_up[s] for s, i in succ_edges[k]), default=0.0)
        rank_down = np.zeros(app.n_tasks)
        for k in app.topo_order:
            rank_down[k] = max((rank_down[u] + mean_ex[u] + mean_comm[i] for u, i in pred_edges[k]), default=0.0)
        return cls(
            app=app, ex=ex, ex_list=ex.tolist(), supmask=supmask,
            sup_pes=[np.flatnonzero(row).tolist() for row in ok],
            preds=[list(p) for p in app.preds], succs=[list(s) for s in app.succs], sources=list(app.sources),
            mean_ex=mean_ex, min_ex=min_ex, kind_ex=kind_ex, n_supporting=ok.sum(1),
            mean_comm=mean_comm, rank_up=rank_up, rank_down=rank_down,
            topo_pos=[pos for _, pos in sorted((k, i) for i, k in enumerate(app.topo_order))],
        )


class SoCSimulator:
    """One SoC, a set of applications, and an episode of jobs (see the module docstring).

    Per-task state lives in flat lists indexed by a global task id ``g``: job ``j``'s task ``k`` is
    ``g = job_base[j] + k``. After :meth:`reset` and every transition the simulator sits at a decision
    epoch (or is :attr:`done`).
    """

    def __init__(self, soc: SoC, apps: Sequence[Application], max_jobs_in_system: int | None = None,
                 log: bool = False) -> None:
        if max_jobs_in_system is not None and max_jobs_in_system < 1:
            raise ValueError(f"max_jobs_in_system must be >= 1 or None, got {max_jobs_in_system}")
        self.soc = soc
        self.apps = list(apps)
        self.app_index = {a.name: i for i, a in enumerate(self.apps)}
        if len(self.app_index) != len(self.apps):
            raise ValueError("applications must have distinct names")
        self.tables = [AppTables.build(a, soc) for a in self.apps]
        self.n_pes = soc.n_pes
        self.all_pes = (1 << self.n_pes) - 1
        self.bw = soc.pe_bandwidth().tolist()  # inf on the diagonal: vol // inf == 0
        self.max_jobs_in_system = max_jobs_in_system
        #: with ``log=True`` every state change is appended here as ``(kind, id)`` (``"ready"``/``"assign"``/
        #: ``"finish"`` with a task id, ``"admit"``/``"done"`` with a job id) for an observer to consume
        self.log: list[tuple[str, int]] | None = [] if log else None
        self.now = 0.0
        self.done = True

    # ------------------------------------------------------------------ episode
    def reset(self, jobs: Sequence[tuple[float, int]], factors: np.ndarray | Sequence[float] | None = None,
              warmup_jobs: int = 0) -> None:
        """Start an episode: ``jobs`` = ``(arrival time, application index)`` (sorted by arrival here);
        ``factors``: one noise factor per task, job by job in arrival order (None: no noise)."""
        order = sorted(range(len(jobs)), key=lambda i: (float(jobs[i][0]), i))
        self.job_arrival = [float(jobs[i][0]) for i in order]
        self.job_app = [int(jobs[i][1]) for i in order]
        if any(a < 0 or a >= len(self.apps) for a in self.job_app):
            raise ValueError(f"job application index outside 0..{len(self.apps) - 1}")
        if any(t < 0 or not math.isfinite(t) for t in self.job_arrival):
            raise ValueError("job arrival times must be finite and >= 0")
        sizes = [self.tables[a].app.n_tasks for a in self.job_app]
        self.job_base = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64).tolist()
        n = self.job_base[-1]
        self.n_jobs, self.n_tasks = len(order), n
        self.warmup_jobs = int(min(max(warmup_jobs, 0), self.n_jobs))
        if factors is None:
            self.factor: list[float] | None = None
        else:
            f = np.asarray(factors, np.float64).reshape(-1)
            if f.shape[0] != n:
                raise ValueError(f"{f.shape[0]} noise factors for {n} tasks")
            if (f <= 0).any() or not np.isfinite(f).all():
                raise ValueError("noise factors must be finite and > 0")
            self.factor = f.tolist()
        # per task
        self.t_job = np.repeat(np.arange(self.n_jobs), sizes).tolist()
        self.t_k = (np.arange(n) - np.repeat(np.asarray(self.job_base[:-1], np.int64), sizes)).tolist()
        self.t_left = [0] * n
        for j, a in enumerate(self.job_app):
            b = self.job_base[j]
            for k, p in enumerate(self.tables[a].preds):
                self.t_left[b + k] = len(p)
        self.t_state = [WAITING] * n
        self.t_pe = [-1] * n
        self.t_assign = [math.nan] * n
        self.t_start = [math.nan] * n
        self.t_end = [math.nan] * n
        self.t_ready_at = [math.nan] * n
        # per job
        self.job_left = sizes[:]
        self.job_admit = [math.nan] * self.n_jobs
        self.job_done = [math.nan] * self.n_jobs
        # per PE
        self.pe_task = [-1] * self.n_pes
        self.pe_expected_end = [0.0] * self.n_pes
        self.pe_busy_time = [0.0] * self.n_pes
        self.free_mask = self.all_pes
        # queues
        self.ready: list[int] = []
        self.ready_log: list[int] = []  # every task in the order it became ready (append-only)
        self._ready_masks: dict[int, int] = {}  # supported-PE bitmask -> number of ready tasks with it
        self.open_jobs: list[int] = []  # admitted, unfinished, in admission order
        self.admission: deque[int] = deque()
        if self.log is not None:
            self.log.clear()
        self._heap: list[tuple[float, int]] = []
        self.next_job = 0
        self.n_in_system = 0  # arrived, not finished (admitted or waiting for admission)
        self.n_admitted_open = 0
        self.n_finished_jobs = 0
        self.n_finished_tasks = 0
        self.n_assignments = 0
        self.n_waits = 0
        self.area = 0.0  # integral of n_in_system over time = sum of (partial) job latencies
        self.now = 0.0
        self.done = self.n_jobs == 0
        self.settle()

    # ------------------------------------------------------------------ queries
    def has_decision(self) -> bool:
        """Some ready task has a free PE that supports it."""
        fm = self.free_mask
        if not fm:
            return False
        for m, count in self._ready_masks.items():
            if count and m & fm:
                return True
        return False

    def _make_ready(self, g: int) -> None:
        self.t_state[g] = READY
        self.t_ready_at[g] = self.now
        self.ready.append(g)
        self.ready_log.append(g)
        m = self.tables[self.job_app[self.t_job[g]]].supmask[self.t_k[g]]
        self._ready_masks[m] = self._ready_masks.get(m, 0) + 1
        if self.log is not None:
            self.log.append(("ready", g))

    def supmask_of(self, g: int) -> int:
        return self.tables[self.job_app[self.t_job[g]]].supmask[self.t_k[g]]

    def legal_tasks(self) -> list[int]:
        """Ready tasks that a free PE supports (in the order they became ready)."""
        fm = self.free_mask
        return [g for g in self.ready if self.supmask_of(g) & fm]

    def free_pes_for(self, g: int) -> list[int]:
        """Free PEs that support task ``g``, ascending."""
        m = self.supmask_of(g) & self.free_mask
        return [p for p in range(self.n_pes) if m >> p & 1]

    def can_wait(self) -> bool:
        """Waiting reaches another event (a running task or a future arrival)."""
        return bool(self._heap) or self.next_job < self.n_jobs

    def next_event_time(self) -> float:
        t = self._heap[0][0] if self._heap else math.inf
        if self.next_job < self.n_jobs:
            t = min(t, self.job_arrival[self.next_job])
        return t

    def expected_time(self, g: int, p: int) -> float:
        """Expected execution time of task ``g`` on PE ``p`` (inf if unsupported)."""
        return self.tables[self.job_app[self.t_job[g]]].ex_list[self.t_k[g]][p]

    def data_ready(self, g: int, p: int) -> float:
        """When all inputs of ready task ``g`` would be on PE ``p`` (its job's admission for a source)."""
        j = self.t_job[g]
        base = self.job_base[j]
        tbl = self.tables[self.job_app[j]]
        dr = self.job_admit[j]
        bw, t_pe, t_end = self.bw, self.t_pe, self.t_end
        for ku, vol in tbl.preds[self.t_k[g]]:
            u = base + ku
            q = t_pe[u]
            c = t_end[u] + vol // bw[q][p]
            if c > dr:
                dr = c
        return dr

    def data_ready_many(self, g: int, pes: Sequence[int]) -> list[float]:
        """:meth:`data_ready` on each PE of ``pes`` (one pass over the predecessors)."""
        j = self.t_job[g]
        base = self.job_base[j]
        dr0 = self.job_admit[j]
        out = [dr0] * len(pes)
        bw, t_pe, t_end = self.bw, self.t_pe, self.t_end
        for ku, vol in self.tables[self.job_app[j]].preds[self.t_k[g]]:
            u = base + ku
            e = t_end[u]
            if vol == 0:
                for i in range(len(out)):
                    if e > out[i]:
                        out[i] = e
                continue
            row = bw[t_pe[u]]
            for i, p in enumerate(pes):
                c = e + vol // row[p]
                if c > out[i]:
                    out[i] = c
        return out

    def data_ready_row(self, g: int) -> np.ndarray:
        """:meth:`data_ready` on every PE, ``(P,)``."""
        return np.array([self.data_ready(g, p) for p in range(self.n_pes)])

    def pe_available_at(self, p: int) -> float:
        """When PE ``p`` is expected to be free: now if idle, else the expected end of its task (never in
        the past). Realized durations stay hidden until a task ends."""
        if self.pe_task[p] < 0:
            return self.now
        return max(self.now, self.pe_expected_end[p])

    # ------------------------------------------------------------------ transitions
    def assign(self, g: int, p: int) -> None:
        """Assign ready task ``g`` to free PE ``p`` now, then :meth:`settle` to the next decision epoch."""
        if not 0 <= g < self.n_tasks or self.t_state[g] != READY:
            raise ValueError(f"task {g} is not ready (state {self.t_state[g] if 0 <= g < self.n_tasks else 'none'})")
        if not 0 <= p < self.n_pes or not (self.free_mask >> p) & 1:
            raise ValueError(f"PE {p} is not free")
        j = self.t_job[g]
        k = self.t_k[g]
        tbl = self.tables[self.job_app[j]]
        mean = tbl.ex_list[k][p]
        if mean == math.inf:
            raise ValueError(f"PE {p} ({self.soc.pe_names[p]}) cannot run task type {tbl.app.task_types[k]!r}")
        now = self.now
        start = self.data_ready(g, p)
        if start < now:
            start = now
        dur = mean if self.factor is None else mean * self.factor[g]
        end = start + dur
        self.ready.remove(g)
        self._ready_masks[tbl.supmask[k]] -= 1
        self.t_state[g] = ASSIGNED
        self.t_pe[g] = p
        self.t_assign[g] = now
        self.t_start[g] = start
        self.t_end[g] = end
        self.pe_task[p] = g
        self.pe_expected_end[p] = start + mean
        self.pe_busy_time[p] += dur
        self.free_mask &= ~(1 << p)
        self.n_assignments += 1
        heapq.heappush(self._heap, (end, g))
        if self.log is not None:
            self.log.append(("assign", g))
        self.settle()

    def wait(self) -> None:
        """Let time run to the next event, then :meth:`settle`."""
        t = self.next_event_time()
        if t == math.inf:
            raise RuntimeError("wait() with no pending event: the simulation would stop forever")
        self.n_waits += 1
        self._advance_to(t)
        self.settle()

    def settle(self) -> None:
        """Process every event due now, then jump from event to event until a decision epoch or the end."""
        while True:
            self._process_due()
            if self.has_decision():
                return
            if self.next_job >= self.n_jobs and self.n_in_system == 0:
                self.done = True
                return
            t = self.next_event_time()
            if t == math.inf:  # pragma: no cover - check_workload makes this unreachable
                raise RuntimeError(f"deadlock at t={self.now}: ready tasks {self.ready[:10]} have no PE")
            self._advance_to(t)

    def _advance_to(self, t: float) -> None:
        if t > self.now:
            self.area += self.n_in_system * (t - self.now)
            self.now = t

    def _process_due(self) -> None:
        now, heap = self.now, self._heap
        while heap and heap[0][0] <= now:
            _, g = heapq.heappop(heap)
            self._finish(g)
        while self.next_job < self.n_jobs and self.job_arrival[self.next_job] <= now:
            j = self.next_job
            self.next_job += 1
            self.n_in_system += 1
            if self.max_jobs_in_system is not None and self.n_admitted_open >= self.max_jobs_in_system:
                self.admission.append(j)
            else:
                self._admit(j)

    def _admit(self, j: int) -> None:
        self.n_admitted_open += 1
        self.job_admit[j] = self.now
        self.open_jobs.append(j)
        log = self.log
        if log is not None:
            log.append(("admit", j))
        base = self.job_base[j]
        for k in self.tables[self.job_app[j]].sources:
            self._make_ready(base + k)

    def _finish(self, g: int) -> None:
        p = self.t_pe[g]
        self.pe_task[p] = -1
        self.free_mask |= 1 << p
        self.t_state[g] = DONE
        self.n_finished_tasks += 1
        log = self.log
        if log is not None:
            log.append(("finish", g))
        j = self.t_job[g]
        base = self.job_base[j]
        t_left = self.t_left
        for kv, _ in self.tables[self.job_app[j]].succs[self.t_k[g]]:
            v = base + kv
            t_left[v] -= 1
            if t_left[v] == 0:
                self._make_ready(v)
        self.job_left[j] -= 1
        if self.job_left[j] == 0:
            self.job_done[j] = self.now
            self.n_finished_jobs += 1
            self.n_in_system -= 1
            self.n_admitted_open -= 1
            self.open_jobs.remove(j)
            if log is not None:
                log.append(("done", j))
            if self.admission:
                self._admit(self.admission.popleft())

    # ------------------------------------------------------------------ fast path
    def run(self, decide: Callable[["SoCSimulator"], tuple[int, int] | None]) -> None:
        """Drive the episode to its end: at each decision epoch ``decide(sim)`` returns ``(task, pe)`` to
        assign, or None to wait for the next event."""
        while not self.done:
            choice = decide(self)
            if choice is None:
                self.wait()
            else:
                self.assign(int(choice[0]), int(choice[1]))

    # ------------------------------------------------------------------ results
    def job_latencies(self, include_warmup: bool = False) -> np.ndarray:
        lo = 0 if include_warmup else self.warmup_jobs
        return np.asarray(self.job_done[lo:], np.float64) - np.asarray(self.job_arrival[lo:], np.float64)

    def metrics(self) -> dict[str, float]:
        """Job latency (mean, p50, p95, max; warm-up jobs left out), makespan, throughput, utilization."""
        lat = self.job_latencies()
        ok = lat[np.isfinite(lat)]
        measured = self.n_jobs - self.warmup_jobs
        makespan = float(np.nanmax(self.t_end)) if self.n_tasks else 0.0
        first = self.job_arrival[self.warmup_jobs] if measured > 0 else 0.0
        last = float(np.nanmax(np.asarray(self.job_done[self.warmup_jobs:], np.float64))) if measured > 0 else 0.0
        window = max(last - first, 1e-9)
        busy = np.asarray(self.pe_busy_time)
        return {
            "avg_latency": float(ok.mean()) if ok.size else math.nan,
            "p50_latency": float(np.percentile(ok, 50)) if ok.size else math.nan,
            "p95_latency": float(np.percentile(ok, 95)) if ok.size else math.nan,
            "max_latency": float(ok.max()) if ok.size else math.nan,
            "makespan": makespan,
            "throughput_jobs_per_ms": 1000.0 * measured / window if measured > 0 else math.nan,
            "jobs": float(self.n_jobs),
            "measured_jobs": float(measured),
            "tasks": float(self.n_tasks),
            "utilization": float(busy.sum() / (self.n_pes * makespan)) if makespan > 0 else 0.0,
            "waits": float(self.n_waits),
            "injection_rate_jobs_per_ms": (1000.0 * (self.n_jobs - 1) / self.job_arrival[-1]
                                           if self.n_jobs > 1 and self.job_arrival[-1] > 0 else math.nan),
        }

    def solution(self) -> "SoCSolution":
        """The plain record the validator checks (see :mod:`schedgym.envs.soc.validate`)."""
        return {
            "soc": self.soc.name,
            "jobs": [{"app": self.apps[a].name, "arrival": t} for a, t in zip(self.job_app, self.job_arrival)],
            "warmup_jobs": self.warmup_jobs,
            "max_jobs_in_system": self.max_jobs_in_system,
            "tasks": {
                "job": list(self.t_job),
                "task": list(self.t_k),
                "pe": list(self.t_pe),
                "start": list(self.t_start),
                "end": list(self.t_end),
                "factor": list(self.factor) if self.factor is not None else [1.0] * self.n_tasks,
            },
        }
