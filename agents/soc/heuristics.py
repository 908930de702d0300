"""List-scheduling baselines of the SoC domain: the online rules of DS3 and the static HEFT family.

Every baseline is a **planner** on the simulator: ``reset(sim)`` then ``decide(sim) -> (task, pe) | None``
at each decision epoch (None: wait for the next event). :meth:`SoCSimulator.run` drives a planner
without an environment (the fast path of the benchmarks); :class:`PlannerPolicy` drives it through
``schedgym/SoCDAG-v0`` (two steps per assignment: the task node, then the PE node).

**Online rules** (:class:`OnlineListScheduler`), as DS3's schedulers: whenever tasks become ready, the
rule commits each to a PE at once, busy or not, and the PE runs its committed tasks in order (DS3's PE
queues; here the planner keeps the queue and assigns a task when its PE frees). A PE's expected
availability is the expected end of its running and committed tasks; the expected finish of task ``t``
on PE ``p`` is ``EFT = max(avail(p), data_ready(t, p), now) + w(t, p)`` with expected times ``w``
(realized noisy durations are unknown until a task ends).

* ``etf`` — earliest task first: repeatedly the (ready task, PE) pair with the smallest EFT;
* ``eft`` — each ready task in order of readiness to the PE of its smallest EFT;
* ``met`` — each ready task to a PE of its minimum execution time (ties: the smallest EFT);
* ``stf`` — shortest task first: ready tasks by their minimum execution time, each to its smallest EFT;
* ``heft-rt`` — HEFT's rule at run time: ready tasks by upward rank (descending), each to its smallest EFT.

**Static plans** (:class:`StaticPlanner`): the whole episode's schedule is computed at reset from the
expected times, with every job's arrival as its release time (for a batch, all at 0; for a stream it is
clairvoyant: it knows the future jobs), then replayed: each free PE takes the next task of its planned
sequence once that task is ready. Without noise the replay reproduces the plan's times exactly.

* ``heft`` — Topcuoglu et al. 2002: tasks by upward rank, each to the PE of its earliest finish time with
  the insertion policy (the earliest idle gap on the PE that fits the task after its data is there);
* ``peft`` — Arabnejad and Barbosa 2014: the optimistic cost table ``OCT(t, p)``, ready tasks by mean OCT,
  each to the PE minimizing ``EFT + OCT`` (insertion-based EFT).
"""

from __future__ import annotations

import math
from bisect import insort
from collections import deque
from typing import Any, Protocol, Sequence

import numpy as np

from ...envs.soc.env import WAIT
from ...envs.soc.types import SoCSchedulingView
from ...envs.soc.simulator import ASSIGNED, READY, SoCSimulator
from ..base import BasePolicy

ONLINE_RULES: tuple[str, ...] = ("etf", "eft", "met", "stf", "heft-rt")


class Planner(Protocol):
    """A scheduler that acts on the simulator directly."""

    def reset(self, sim: SoCSimulator) -> None: ...

    def decide(self, sim: SoCSimulator) -> tuple[int, int] | None: ...


def _sup_pes(sim: SoCSimulator, g: int) -> tuple[list[int], list[float]]:
    """The PEs that support task ``g`` (ascending) and its expected time on every PE."""
    tbl = sim.tables[sim.job_app[sim.t_job[g]]]
    k = sim.t_k[g]
    return tbl.sup_pes[k], tbl.ex_list[k]


# ------------------------------------------------------------------------------------- online
class OnlineListScheduler:
    """DS3-style online list scheduling with per-PE commitments (see the module docstring)."""

    def __init__(self, rule: str) -> None:
        if rule not in ONLINE_RULES:
            raise ValueError(f"unknown online rule {rule!r}; known: {ONLINE_RULES}")
        self.rule = rule

    def reset(self, sim: SoCSimulator) -> None:
        P = sim.n_pes
        self.queue: list[deque[int]] = [deque() for _ in range(P)]
        self.qmask = 0  # PEs with committed tasks
        self.avail = [0.0] * P
        self.seen_ready = 0  # tasks of sim.ready_log already committed
        self.dr_on: dict[int, float] = {}
        self._seen = list(sim.pe_task)
        self._noisy = sim.factor is not None

    def _refresh(self, sim: SoCSimulator) -> None:
        """Under noise, re-chain the expected availability of a PE whose running task changed."""
        pe_task = sim.pe_task
        for p, g in enumerate(pe_task):
            if g != self._seen[p]:
                self._seen[p] = g
                t = sim.pe_available_at(p)
                for q in self.queue[p]:
                    d = self.dr_on[q]
                    t = (t if t > d else d) + sim.expected_time(q, p)
                self.avail[p] = t

    def decide(self, sim: SoCSimulator) -> tuple[int, int] | None:
        log = sim.ready_log
        if len(log) > self.seen_ready:
            new = log[self.seen_ready:]
            self.seen_ready = len(log)
            if self._noisy:
                self._refresh(sim)
            self._commit(sim, new)
        m = self.qmask & sim.free_mask
        if not m:
            return None
        p = (m & -m).bit_length() - 1
        q = self.queue[p]
        g = q.popleft()
        if not q:
            self.qmask &= ~(1 << p)
        self.dr_on.pop(g, None)
        return g, p

    def _options(self, sim: SoCSimulator, g: int) -> list[tuple[int, float, float]]:
        """(pe, data ready, expected time) for each PE that supports ``g``."""
        pes, exr = _sup_pes(sim, g)
        return [(p, d, exr[p]) for p, d in zip(pes, sim.data_ready_many(g, pes))]

    def _best(self, opts: list[tuple[int, float, float]], now: float) -> tuple[float, int, float]:
        avail = self.avail
        best, bp, bd = math.inf, -1, 0.0
        for p, d, w in opts:
            a = avail[p]
            s = a if a > d else d
            if s < now:
                s = now
            f = s + w
            if f < best:
                best, bp, bd = f, p, d
        return best, bp, bd

    def _commit_one(self, g: int, p: int, f: float, d: float) -> None:
        self.queue[p].append(g)
        self.qmask |= 1 << p
        self.avail[p] = f
        self.dr_on[g] = d

    def _commit(self, sim: SoCSimulator, new: list[int]) -> None:
        now = sim.now
        rule = self.rule
        if rule == "etf":
            pending = {g: self._options(sim, g) for g in new}
            while pending:
                best, bg, bp, bd = math.inf, -1, -1, 0.0
                for g, opts in pending.items():
                    f, p, d = self._best(opts, now)
                    if f < best:
                        best, bg, bp, bd = f, g, p, d
                self._commit_one(bg, bp, best, bd)
                del pending[bg]
            return
        if rule == "heft-rt":
            order = sorted(new, key=lambda g: -sim.tables[sim.job_app[sim.t_job[g]]].rank_up[sim.t_k[g]])
        elif rule == "stf":
            order = sorted(new, key=lambda g: sim.tables[sim.job_app[sim.t_job[g]]].min_ex[sim.t_k[g]])
        else:
            order = new
        for g in order:
            opts = self._options(sim, g)
            if rule == "met":
                wmin = min(w for _, _, w in opts)
                opts = [o for o in opts if o[2] == wmin]
            f, p, d = self._best(opts, now)
            self._commit_one(g, p, f, d)


# ------------------------------------------------------------------------------------- static
class Timeline:
    """Busy intervals of one PE, sorted, for insertion-based earliest start times."""

    def __init__(self) -> None:
        self.intervals: list[tuple[float, float]] = []

    def earliest_start(self, ready: float, duration: float) -> float:
        """The earliest ``s >= ready`` with ``[s, s + duration)`` in an idle gap (the insertion policy); a
        zero-length task may touch an interval's ends, never sit strictly inside it."""
        s = ready
        for a, b in self.intervals:
            if s + duration <= a:
                return s
            if b > s:
                s = b
        return s

    def insert(self, s: float, e: float) -> None:
        insort(self.intervals, (s, e))


class StaticPlan:
    """A full schedule: PE and planned start of every task, and each PE's sequence."""

    def __init__(self, sim: SoCSimulator, pe: Sequence[int], start: Sequence[float]) -> None:
        self.pe = list(pe)
        self.start = list(start)
        end = [s + (sim.expected_time(g, p) if p >= 0 else 0.0) for g, (p, s) in enumerate(zip(self.pe, self.start))]
        self.end = end
        seqs: list[list[int]] = [[] for _ in range(sim.n_pes)]
        for g in sorted(range(sim.n_tasks), key=lambda g: (self.start[g], end[g], g)):
            seqs[self.pe[g]].append(g)
        self.sequences = seqs

    @property
    def makespan(self) -> float:
        return max(self.end) if self.end else 0.0


def _release(sim: SoCSimulator, g: int) -> float:
    return sim.job_arrival[sim.t_job[g]]


def _task_iter(sim: SoCSimulator):
    """(g, job, table, k) for every task of the episode."""
    for j, a in enumerate(sim.job_app):
        tbl = sim.tables[a]
        base = sim.job_base[j]
        for k in range(tbl.app.n_tasks):
            yield base + k, j, tbl, k


def _place(sim: SoCSimulator, g: int, pe: list[int], end: list[float], timelines: list[Timeline],
           extra: np.ndarray | None = None) -> tuple[int, float]:
    """Insertion-based placement of ``g`` (its predecessors placed): the PE minimizing EFT (+ ``extra[p]``)."""
    j = sim.t_job[g]
    tbl = sim.tables[sim.job_app[j]]
    k = sim.t_k[g]
    base = sim.job_base[j]
    exr = tbl.ex_list[k]
    m = tbl.supmask[k]
    rel = sim.job_arrival[j]
    best, bp, bs = math.inf, -1, 0.0
    bw = sim.bw
    for p in range(sim.n_pes):
        if not m >> p & 1:
            continue
        dr = rel
        for ku, vol in tbl.preds[k]:
            u = base + ku
            c = end[u] + vol // bw[pe[u]][p]
            if c > dr:
                dr = c
        w = exr[p]
        s = timelines[p].earliest_start(dr, w)
        key = s + w + (float(extra[p]) if extra is not None else 0.0)
        if key < best - 1e-9:
            best, bp, bs = key, p, s
    return bp, bs


def heft_plan(sim: SoCSimulator) -> StaticPlan:
    """HEFT (Topcuoglu et al. 2002) with the insertion policy over every job of the episode (release times
    = arrivals): tasks by decreasing upward rank (ties: job, then topological position)."""
    n = sim.n_tasks
    keys = []
    for g, j, tbl, k in _task_iter(sim):
        keys.append((-float(tbl.rank_up[k]), j, tbl.topo_pos[k], g))
    keys.sort()
    pe = [-1] * n
    start = [0.0] * n
    end = [0.0] * n
    timelines = [Timeline() for _ in range(sim.n_pes)]
    for *_, g in keys:
        p, s = _place(sim, g, pe, end, timelines)
        w = sim.expected_time(g, p)
        pe[g], start[g], end[g] = p, s, s + w
        timelines[p].insert(s, s + w)
    return StaticPlan(sim, pe, start)


def oct_table(sim: SoCSimulator, a: int) -> np.ndarray:
    """PEFT's optimistic cost table of application ``a``: ``OCT(t, p)``, ``inf`` where ``p`` cannot run ``t``."""
    tbl = sim.tables[a]
    app = tbl.app
    ex = tbl.ex
    sup = np.isfinite(ex)
    oct_ = np.zeros_like(ex)
    edge_comm = {(int(u), int(v)): float(c) for (u, v), c in zip(app.edges.tolist(), tbl.mean_comm.tolist())}
    P = sim.n_pes
    eye = np.eye(P, dtype=bool)
    for t in reversed(app.topo_order):
        row = np.zeros(P)
        for s, _ in tbl.succs[t]:
            cand = oct_[s] + ex[s]  # (P,) over the successor's PE q
            # value for each p: min over q of cand[q] + c(t, s) [p != q]
            c = edge_comm[(t, s)]
            mat = cand[None, :] + np.where(eye, 0.0, c)
            mat[:, ~sup[s]] = np.inf
            row = np.maximum(row, mat.min(1))
        oct_[t] = np.where(sup[t], row, np.inf)
    return oct_


def peft_plan(sim: SoCSimulator) -> StaticPlan:
    """PEFT (Arabnejad and Barbosa 2014): a ready list ordered by mean OCT; each task to the PE minimizing
    insertion-based EFT + OCT. Release times = job arrivals."""
    octs = {a: oct_table(sim, a) for a in set(sim.job_app)}
    n = sim.n_tasks
    rank = [0.0] * n
    left = [0] * n
    for g, j, tbl, k in _task_iter(sim):
        row = octs[sim.job_app[j]][k]
        rank[g] = float(row[np.isfinite(row)].mean())
        left[g] = len(tbl.preds[k])
    import heapq

    ready = [(-rank[g], sim.t_job[g], sim.t_k[g], g) for g in range(n) if left[g] == 0]
    heapq.heapify(ready)
    pe = [-1] * n
    start = [0.0] * n
    end = [0.0] * n
    timelines = [Timeline() for _ in range(sim.n_pes)]
    while ready:
        *_, g = heapq.heappop(ready)
        j = sim.t_job[g]
        a = sim.job_app[j]
        k = sim.t_k[g]
        p, s = _place(sim, g, pe, end, timelines, extra=octs[a][k])
        w = sim.expected_time(g, p)
        pe[g], start[g], end[g] = p, s, s + w
        timelines[p].insert(s, s + w)
        base = sim.job_base[j]
        for kv, _ in sim.tables[a].succs[k]:
            v = base + kv
            left[v] -= 1
            if left[v] == 0:
                heapq.heappush(ready, (-rank[v], j, kv, v))
    return StaticPlan(sim, pe, start)


STATIC_PLANS = {"heft": heft_plan, "peft": peft_plan}


class StaticPlanner:
    """Replays a :class:`StaticPlan`: each free PE takes the next unassigned task of its sequence (whose job
    is admitted) once that task is ready; otherwise wait."""

    def __init__(self, method: str = "heft") -> None:
        if method not in STATIC_PLANS and method != "given":
            raise ValueError(f"unknown static plan {method!r}; known: {sorted(STATIC_PLANS)}")
        self.method = method
        self.plan: StaticPlan | None = None

    def make_plan(self, sim: SoCSimulator) -> StaticPlan:
        return STATIC_PLANS[self.method](sim)

    def reset(self, sim: SoCSimulator, plan: StaticPlan | None = None) -> None:
        self.plan = plan if plan is not None else self.make_plan(sim)
        self.ptr = [0] * sim.n_pes

    def decide(self, sim: SoCSimulator) -> tuple[int, int] | None:
        assert self.plan is not None
        fm = sim.free_mask
        state, admit, t_job = sim.t_state, sim.job_admit, sim.t_job
        for p, seq in enumerate(self.plan.sequences):
            if not fm >> p & 1:
                continue
            i = self.ptr[p]
            while i < len(seq) and state[seq[i]] >= ASSIGNED:
                i += 1
            self.ptr[p] = i
            while i < len(seq):
                g = seq[i]
                if state[g] < ASSIGNED and admit[t_job[g]] == admit[t_job[g]]:  # admitted (not NaN)
                    if state[g] == READY:
                        return g, p
                    break
                i += 1
        return None


# ------------------------------------------------------------------------------------- policies
class PlannerPolicy(BasePolicy):
    """A planner acting through ``schedgym/SoCDAG-v0``: the task node, then the PE node (or wait)."""

    def __init__(self, name: str, planner: Any) -> None:
        super().__init__(name=name)
        self.planner = planner
        self._pending_pe = -1
        self.episode_extra: dict[str, Any] = {}

    def reset(self, env: Any, seed: int | None = None) -> None:
        super().reset(env, seed)
        if not isinstance(env, SoCSchedulingView):
            raise TypeError(f"{self.name}: needs a schedgym/SoCDAG-v0 env (SoCSchedulingView), got {type(env).__name__}")
        view: SoCSchedulingView = env
        if view.sim is None:  # pragma: no cover - reset() builds it
            raise ValueError(f"{self.name}: reset the env before the policy")
        self._pending_pe = -1
        self._reset_planner(view.sim, seed)

    def _reset_planner(self, sim: SoCSimulator, seed: int | None) -> None:
        self.planner.reset(sim)

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        view: SoCSchedulingView = self.env  # type: ignore[assignment]
        if view.phase == 1:
            if view.chosen_task < 0 or self._pending_pe < 0:
                raise RuntimeError(f"{self.name}: the env is in its second step but the policy chose no task")
            p, self._pending_pe = self._pending_pe, -1
            return view.pe_node(p)
        choice = self.planner.decide(view.sim)
        if choice is None:
            return WAIT
        g, p = choice
        node = view.task_node(g)
        if node < 0:
            raise RuntimeError(f"{self.name}: task {g} is not a node of the observation (max_nodes too small?)")
        self._pending_pe = p
        return node


class StaticPolicy(PlannerPolicy):
    """:class:`PlannerPolicy` over a static plan, reporting the planned makespan."""

    def _reset_planner(self, sim: SoCSimulator, seed: int | None) -> None:
        self.planner.reset(sim)
        plan = self.planner.plan
        self.episode_extra = {"planned_makespan": plan.makespan}
