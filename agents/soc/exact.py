"""OR-Tools CP-SAT model of an SoC batch (a few jobs), replayed through ``schedgym/SoCDAG-v0``.

The model (expected execution times, every job released at its arrival):

* a start ``s_t`` per task and one optional interval per (task, PE that supports it), exactly one present;
  the task's end is ``s_t + sum_p x_tp * w_tp``;
* one no-overlap constraint per PE over its optional intervals (zero-length tasks included);
* ``s_t >=`` its job's arrival;
* for an edge ``u -> v`` of volume ``V``: ``s_v >= e_u`` always, and ``s_v >= e_u + floor(V / bw[a][b])``
  when ``u`` runs in cluster ``a`` and ``v`` in cluster ``b`` — for ``a == b`` only when they are on
  different PEs (a "same PE" literal per edge, from the PEs the two tasks share);
* objective: the makespan (``reward="makespan"``), or the sum of job completion times (mean latency).

It is solved at reset with HEFT's schedule as a hint (and fallback if CP-SAT finds nothing within the
limit), then replayed like every static plan (:class:`~.heuristics.StaticPlanner`). ``episode_extra``
reports ``optimal`` (proven), the solver's objective and bound, its wall time and status. The
optimality is that of the expected-time model: under noise the replay differs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from ...envs.soc.simulator import SoCSimulator
from .heuristics import StaticPlan, StaticPlanner, StaticPolicy, heft_plan


@dataclass
class SoCSolveResult:
    plan: StaticPlan
    objective: float
    bound: float
    optimal: bool
    status: str
    wall_time_s: float
    used_fallback: bool


def _int(x: float, what: str) -> int:
    if not float(x).is_integer():
        raise ValueError(f"CP-SAT needs integer times; {what} is {x}")
    return int(x)


def solve_batch(sim: SoCSimulator, objective: str = "makespan", time_limit_s: float = 10.0, workers: int = 2,
                seed: int = 0, deterministic_time: float | None = None) -> SoCSolveResult:
    """Solve the episode loaded in ``sim`` (after ``sim.reset``) exactly, under a time limit.

    ``deterministic_time`` (with ``workers=1``) bounds CP-SAT's work in its deterministic time units instead
    of seconds, so a result does not depend on the machine's speed or load (the tests use it)."""
    if objective not in ("makespan", "avg_latency"):
        raise ValueError(f"objective must be 'makespan' or 'avg_latency', got {objective!r}")
    if time_limit_s <= 0:
        raise ValueError(f"time limit must be > 0, got {time_limit_s}")
    soc = sim.soc
    P = sim.n_pes
    cl = soc.pe_cluster_index.tolist()
    clusters = soc.clusters
    members = [[p for p in range(P) if cl[p] == c] for c in range(len(clusters))]
    hint = heft_plan(sim)
    n = sim.n_tasks
    rel = [_int(sim.job_arrival[sim.t_job[g]], "an arrival") for g in range(n)]
    # horizon: the hint's makespan bounds every start of an optimal makespan schedule; the latency
    # objective may move work later, so give it the serial sum of every task's longest time and transfer
    if objective == "makespan":
        horizon = _int(math.ceil(hint.makespan), "the HEFT makespan")
    else:
        bw_min = float(soc.bandwidth.min())
        total = 0.0
        for a in sim.job_app:
            tbl = sim.tables[a]
            ex = np.where(np.isfinite(tbl.ex), tbl.ex, 0.0)
            total += float(ex.max(1).sum()) + float(np.floor(tbl.app.volumes / bw_min).sum())
        horizon = int(max(rel) + total + 1)
    m = cp_model.CpModel()
    start, end, x = [], [], []
    per_pe: list[list[Any]] = [[] for _ in range(P)]
    for g in range(n):
        j = sim.t_job[g]
        tbl = sim.tables[sim.job_app[j]]
        k = sim.t_k[g]
        s = m.new_int_var(rel[g], horizon, f"s{g}")
        e = m.new_int_var(rel[g], horizon, f"e{g}")
        lits: dict[int, Any] = {}
        dur_terms = []
        for p in range(P):
            w = tbl.ex_list[k][p]
            if w == math.inf:
                continue
            wi = _int(w, f"task {tbl.app.task_names[k]} on {soc.pe_names[p]}")
            lit = m.new_bool_var(f"x{g}_{p}")
            iv = m.new_optional_fixed_size_interval_var(s, wi, lit, f"i{g}_{p}")
            per_pe[p].append(iv)
            lits[p] = lit
            dur_terms.append(wi * lit)
        m.add_exactly_one(lits.values())
        m.add(e == s + sum(dur_terms))
        start.append(s)
        end.append(e)
        x.append(lits)
    for ivs in per_pe:
        if len(ivs) > 1:
            m.add_no_overlap(ivs)
    in_cluster: dict[tuple[int, int], Any] = {}

    def on_cluster(g: int, c: int) -> Any:
        key = (g, c)
        if key not in in_cluster:
            lits = [x[g][p] for p in members[c] if p in x[g]]
            if not lits:
                in_cluster[key] = None
            elif len(lits) == 1:
                in_cluster[key] = lits[0]
            else:
                y = m.new_bool_var(f"y{g}_{c}")
                m.add(sum(lits) == y)
                m.add_hint(y, 1 if cl[hint.pe[g]] == c else 0)
                in_cluster[key] = y
        return in_cluster[key]

    # redundant: a cluster's PEs are busy at most (PEs x makespan) in all, which gives the solver a
    # load-balancing bound far above the critical path on wide graphs (e.g. pulse Doppler)
    cluster_load: list[tuple[int, list[tuple[int, Any]]]] = []
    for c, pes in enumerate(members):
        terms = []
        for g in range(n):
            y = on_cluster(g, c)
            if y is None:
                continue
            w = int(next(sim.expected_time(g, p) for p in pes if sim.expected_time(g, p) < math.inf))
            if w > 0:
                terms.append((w, y))
        if terms:
            cluster_load.append((len(pes), terms))
    bwc = soc.bandwidth
    for j, a in enumerate(sim.job_app):
        tbl = sim.tables[a]
        base = sim.job_base[j]
        for (ku, kv), vol in zip(tbl.app.edges.tolist(), tbl.app.volumes.tolist()):
            u, v = base + ku, base + kv
            m.add(start[v] >= end[u])
            if vol <= 0:
                continue
            for ca in range(len(clusters)):
                yu = on_cluster(u, ca)
                if yu is None:
                    continue
                for cb in range(len(clusters)):
                    yv = on_cluster(v, cb)
                    if yv is None:
                        continue
                    c = int(vol // float(bwc[ca, cb]))
                    if c <= 0:
                        continue
                    if ca != cb:
                        m.add(start[v] >= end[u] + c).only_enforce_if([yu, yv])
                        continue
                    shared = [p for p in members[ca] if p in x[u] and p in x[v]]
                    if len(members[ca]) == 1:
                        continue  # one PE: same PE, free transfer
                    same_lits = []
                    for p in shared:
                        w = m.new_bool_var(f"same{u}_{v}_{p}")
                        m.add_implication(w, x[u][p])
                        m.add_implication(w, x[v][p])
                        m.add_bool_or([x[u][p].Not(), x[v][p].Not(), w])
                        m.add_hint(w, 1 if hint.pe[u] == p == hint.pe[v] else 0)
                        same_lits.append(w)
                    same = sum(same_lits) if same_lits else 0
                    m.add(start[v] - end[u] + c * same >= c).only_enforce_if([yu, yv])
    if objective == "makespan":
        mk = m.new_int_var(0, horizon, "makespan")
        m.add_max_equality(mk, end)
        m.add_hint(mk, int(round(hint.makespan)))
        t0_release = min(rel) if rel else 0
        for size, terms in cluster_load:
            m.add(sum(w * y for w, y in terms) <= size * (mk - t0_release))
        lb = load_bound(sim, min(2.0, time_limit_s / 5), workers, deterministic_time)
        m.add(mk >= t0_release + lb)
        m.minimize(mk)
    else:
        done = []
        for j in range(sim.n_jobs):
            b0, b1 = sim.job_base[j], sim.job_base[j + 1]
            cj = m.new_int_var(0, horizon, f"c{j}")
            m.add_max_equality(cj, end[b0:b1])
            m.add_hint(cj, int(round(max(hint.end[b0:b1]))))
            done.append(cj)
        m.minimize(sum(done))
    for g in range(n):
        m.add_hint(start[g], int(round(hint.start[g])))
        m.add_hint(end[g], int(round(hint.end[g])))
        for p, lit in x[g].items():
            m.add_hint(lit, 1 if hint.pe[g] == p else 0)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed)
    if deterministic_time is not None:
        solver.parameters.max_deterministic_time = float(deterministic_time)
    t0 = time.perf_counter()
    status = solver.solve(m)
    wall = time.perf_counter() - t0
    arrivals = sim.job_arrival
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        pe = [next(p for p, lit in x[g].items() if solver.value(lit)) for g in range(n)]
        st = [float(solver.value(start[g])) for g in range(n)]
        plan = StaticPlan(sim, pe, st)
        obj = float(solver.objective_value)
        bound = float(solver.best_objective_bound)
        fallback = False
    else:
        plan, fallback = hint, True
        obj, bound = math.nan, math.nan
    if objective == "avg_latency":  # report the mean latency, as the env does
        k = max(sim.n_jobs, 1)
        shift = sum(arrivals)
        obj = (obj - shift) / k if obj == obj else obj
        bound = (bound - shift) / k if bound == bound else bound
    return SoCSolveResult(plan=plan, objective=obj, bound=bound, optimal=status == cp_model.OPTIMAL,
                          status=solver.status_name(status), wall_time_s=wall, used_fallback=fallback)


def load_bound(sim: SoCSimulator, time_limit_s: float = 2.0, workers: int = 2,
               deterministic_time: float | None = None) -> int:
    """A lower bound on the work span of the episode: the best split of all tasks over the clusters when each
    cluster of ``k`` PEs may work ``k x T`` in all (no precedence), solved on its own (a small model)."""
    m = cp_model.CpModel()
    soc = sim.soc
    sizes = {c: soc.pe_clusters.count(c) for c in soc.clusters}
    first_pe = {c: soc.pe_clusters.index(c) for c in soc.clusters if c in soc.pe_clusters}
    total = 0
    load: dict[str, list[Any]] = {c: [] for c in first_pe}
    for g in range(sim.n_tasks):
        lits = []
        for c, p in first_pe.items():
            w = sim.expected_time(g, p)
            if w == math.inf:
                continue
            y = m.new_bool_var("")
            lits.append(y)
            if w > 0:
                load[c].append(int(w) * y)
                total += int(w)
        m.add_exactly_one(lits)
    t = m.new_int_var(0, max(total, 0), "T")
    for c, terms in load.items():
        if terms:
            m.add(sum(terms) <= sizes[c] * t)
    m.minimize(t)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = int(workers)
    if deterministic_time is not None:
        solver.parameters.max_deterministic_time = float(deterministic_time) / 5
    solver.solve(m)
    return int(math.floor(solver.best_objective_bound))


class CPSatPlanner(StaticPlanner):
    """:class:`StaticPlanner` whose plan is CP-SAT's."""

    def __init__(self, objective: str = "makespan", time_limit_s: float = 10.0, workers: int = 2,
                 deterministic_time: float | None = None) -> None:
        super().__init__("given")
        self.objective, self.time_limit_s, self.workers = objective, time_limit_s, workers
        self.deterministic_time = deterministic_time
        self.result: SoCSolveResult | None = None

    def make_plan(self, sim: SoCSimulator) -> StaticPlan:
        self.result = solve_batch(sim, self.objective, self.time_limit_s, self.workers,
                                  deterministic_time=self.deterministic_time)
        return self.result.plan


class CPSatPolicy(StaticPolicy):
    """``soc-cpsat:<seconds>``: the CP-SAT plan of the episode (the env's objective), replayed."""

    def __init__(self, time_limit_s: float = 10.0, workers: int = 2, name: str = "soc-cpsat",
                 deterministic_time: float | None = None) -> None:
        super().__init__(name, CPSatPlanner(time_limit_s=time_limit_s, workers=workers,
                                            deterministic_time=deterministic_time))

    def reset(self, env: Any, seed: int | None = None) -> None:
        self.planner.objective = env.objective.name
        super().reset(env, seed)
        r = self.planner.result
        assert r is not None
        self.episode_extra = {
            "optimal": r.optimal,
            "solver_objective": r.objective,
            "solver_bound": r.bound,
            "solver_time_s": r.wall_time_s,
            "solver_status": r.status,
            "fallback_heft": r.used_fallback,
            "planned_makespan": r.plan.makespan,
        }
