"""Exact reference for VM rescheduling: an OR-Tools CP-SAT model that picks at most MNL migrations to
minimise the fragment rate, solved at reset and replayed through the env (``vm-cpsat:<seconds>``).

**Model (type flows).** VMs of one type on one NUMA node are interchangeable (same demand, same
effect on every node), so the model counts, per VM type, how many leave each NUMA node
(``out[t, n]``, at most the movable VMs of that type there) and how many arrive (``in[t, n]``); a
double-NUMA type does the same per PM. Per type, arrivals equal departures. Every node's final free
cores and memory are >= 0. The final free cores are written ``16 q_n + r_n`` with ``0 <= r_n <= 15``,
and the objective is ``(MNL + 1) * sum r_n + migrations``: the least FR first (the denominator,
the free cores of active PMs, is fixed), then the fewest migrations. VMs in anti-affinity groups get
individual 0/1 variables per allowed destination (PMs/racks that held no other member at the start,
at most one member per PM/rack), and at most MNL migrations in all. Any solution maps to exactly as
many migrations (a type that both leaves and enters a node cancels out).

**Intermediate capacity.** The model constrains the final state. The migrations are then ordered:
repeatedly apply one whose destination has room now. If none has (a cycle of VMs waiting for each
other's room), the destinations involved get the conservative constraint "arrivals fit in the free
room at the start" and the model is solved again with the time left (at most ``max_rounds`` times). The search starts from
the ``vm-slot`` heuristic's migrations (a complete hint), and the result is never worse than them.
The **bound** reported is the first model's bound, valid for the sequenced problem too (it is a
relaxation of it).

Decision latency is part of the result: ``episode_extra`` reports the solve wall time, the status,
the model's FR and the FR bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...envs.vm.types import VMView
from ..base import BasePolicy


@dataclass
class VMSolveResult:
    """What the solver returned: migrations ``(vm, pm, numa)`` in a feasible order, and its figures."""

    migrations: list[tuple[int, int, int]]
    status: str
    fr: float
    fr_bound: float
    fr_initial: float
    solve_time_s: float
    rounds: int
    info: dict[str, Any] = field(default_factory=dict)


def solve_vm(state: Any, mnl: int, time_limit: float = 10.0, workers: int = 1,
             deterministic_time: float | None = None, max_rounds: int = 4, hint: bool = True) -> VMSolveResult:
    """Solve the rescheduling of ``state`` (a :class:`schedgym.envs.vm.state.VMState` at the start of an
    episode) with at most ``mnl`` migrations. ``deterministic_time`` (CP-SAT's deterministic limit)
    makes the result independent of the machine's speed (for tests). ``hint``: start the search from
    the ``vm-slot`` heuristic's migrations (its time counts in the wall time)."""
    t0 = time.perf_counter()
    hint_moves = None
    if hint:
        from .heuristics import slot_completion_moves

        hint_moves = slot_completion_moves(state, mnl)
    conservative: set[int] = set()  # NUMA node indices 2p + k
    first_bound: float | None = None
    status = "NONE"
    rounds = 0
    result_moves: list[tuple[int, int, int]] = []
    fr_model = state.fr()
    while rounds < max_rounds:
        rounds += 1
        left = time_limit - (time.perf_counter() - t0)
        if left <= 0.01 and rounds > 1:
            break
        out = _solve_once(state, mnl, max(left, 0.01), workers, deterministic_time, conservative,
                          hint_moves if rounds == 1 else None)
        status = out["status"]
        if first_bound is None:
            first_bound = out["fr_bound"]
        if out["moves"] is None:
            break
        fr_model = out["fr"]
        order, stuck = _sequence(state, out["moves"])
        if not stuck:
            result_moves = order
            break
        result_moves = order  # a feasible prefix in case the next round finds nothing
        conservative |= {n for _, p, k, nodes in stuck for n in nodes}
    check = state.copy()
    for v, p, k in result_moves:
        check.move(v, p, k)
    if hint_moves is not None:  # never worse than the hint (a later round may have lost it)
        hinted = state.copy()
        for v, p, k in hint_moves:
            hinted.move(v, p, k)
        if hinted.sum_mod < check.sum_mod:
            result_moves, check = list(hint_moves), hinted
    return VMSolveResult(
        migrations=result_moves, status=status, fr=check.fr(),
        fr_bound=float(first_bound) if first_bound is not None else 0.0, fr_initial=state.fr(),
        solve_time_s=time.perf_counter() - t0, rounds=rounds,
        info={"fr_model": fr_model, "conservative_nodes": len(conservative)},
    )


def _solve_once(state: Any, mnl: int, time_limit: float, workers: int, deterministic_time: float | None,
                conservative: set[int], hint_moves: list[tuple[int, int, int]] | None = None) -> dict[str, Any]:
    from ortools.sat.python import cp_model

    st = state
    P = st.n_pms
    T = len(st.type_cpu)
    model = cp_model.CpModel()
    act = st.active
    fc0, fm0 = st.free_cpu, st.free_mem
    free_movable = st.movable & ~st.in_group
    # movable counts per type and node / PM
    cnt_single = np.zeros((T, P, 2), np.int64)
    cnt_double = np.zeros((T, P), np.int64)
    for v in np.flatnonzero(free_movable):
        t = st.vm_type[v]
        if st.double[v]:
            cnt_double[t, st.vm_pm[v]] += 1
        else:
            cnt_single[t, st.vm_pm[v], st.vm_numa[v]] += 1
    cap = st.snapshot.numa_cpu
    dcpu = [[[] for _ in range(2)] for _ in range(P)]  # linear terms of the change of free cores per node
    dmem = [[[] for _ in range(2)] for _ in range(P)]
    incoming_cpu = [[[] for _ in range(2)] for _ in range(P)]
    incoming_mem = [[[] for _ in range(2)] for _ in range(P)]
    mig_terms = []
    flows: dict[str, dict] = {"single": {}, "double": {}}
    for t in range(T):
        c, m = int(st.type_cpu[t]), int(st.type_mem[t])
        if st.type_double[t]:
            if cnt_double[t].sum() == 0:
                continue
            outs, ins = [], []
            for p in range(P):
                if not act[p]:
                    continue
                o = model.NewIntVar(0, int(min(cnt_double[t, p], mnl)), f"od{t}_{p}") if cnt_double[t, p] else None
                ub = int(min(mnl, cap[p].min() // max(c, 1)))
                i = model.NewIntVar(0, ub, f"id{t}_{p}") if ub > 0 else None
                for k in (0, 1):
                    if o is not None:
                        dcpu[p][k].append(c * o)
                        dmem[p][k].append(m * o)
                    if i is not None:
                        dcpu[p][k].append(-c * i)
                        dmem[p][k].append(-m * i)
                        incoming_cpu[p][k].append(c * i)
                        incoming_mem[p][k].append(m * i)
                if o is not None:
                    outs.append(o)
                    mig_terms.append(o)
                    flows["double"][(t, p, "out")] = o
                if i is not None:
                    ins.append(i)
                    flows["double"][(t, p, "in")] = i
            model.Add(sum(ins) == sum(outs))
        else:
            if cnt_single[t].sum() == 0:
                continue
            outs, ins = [], []
            for p in range(P):
                if not act[p]:
                    continue
                for k in (0, 1):
                    n = cnt_single[t, p, k]
                    o = model.NewIntVar(0, int(min(n, mnl)), f"o{t}_{p}_{k}") if n else None
                    ub = int(min(mnl, cap[p, k] // max(c, 1)))
                    i = model.NewIntVar(0, ub, f"i{t}_{p}_{k}") if ub > 0 else None
                    if o is not None:
                        dcpu[p][k].append(c * o)
                        dmem[p][k].append(m * o)
                        outs.append(o)
                        mig_terms.append(o)
                        flows["single"][(t, p, k, "out")] = o
                    if i is not None:
                        dcpu[p][k].append(-c * i)
                        dmem[p][k].append(-m * i)
                        incoming_cpu[p][k].append(c * i)
                        incoming_mem[p][k].append(m * i)
                        ins.append(i)
                        flows["single"][(t, p, k, "in")] = i
            model.Add(sum(ins) == sum(outs))
    # anti-affinity members: individual choices among conservative destinations
    member_vars: dict[int, list[tuple[Any, int, int]]] = {}
    group_pm_terms: dict[tuple[int, int], list[Any]] = {}
    for v in np.flatnonzero(st.movable & st.in_group):
        v = int(v)
        forbidden = set(st.forbidden_pms(v).tolist())
        c, m = int(st.dem_cpu[v]), int(st.dem_mem[v])
        p0, k0 = int(st.vm_pm[v]), int(st.vm_numa[v])
        choices = []
        for p in range(P):
            if not act[p] or p in forbidden:
                continue
            if st.double[v]:
                if p == p0 or cap[p].min() < c:
                    continue
                choices.append((p, 0))
            else:
                for k in (0, 1):
                    if (p, k) == (p0, k0) or cap[p, k] < c:
                        continue
                    choices.append((p, k))
        xs = []
        src_nodes = (0, 1) if st.double[v] else (k0,)
        for p, k in choices:
            x = model.NewBoolVar(f"x{v}_{p}_{k}")
            xs.append((x, p, k))
            dst_nodes = (0, 1) if st.double[v] else (k,)
            for kk in dst_nodes:
                dcpu[p][kk].append(-c * x)
                dmem[p][kk].append(-m * x)
                incoming_cpu[p][kk].append(c * x)
                incoming_mem[p][kk].append(m * x)
            for kk in src_nodes:
                dcpu[p0][kk].append(c * x)
                dmem[p0][kk].append(m * x)
            for gi in st.vm_groups.get(v, ()):
                gran = st.groups[gi][0]
                key = p if gran == "host" else int(st.pm_rack[p])
                group_pm_terms.setdefault((gi, key), []).append(x)
        if xs:
            model.Add(sum(x for x, _, _ in xs) <= 1)
            member_vars[v] = xs
            mig_terms.extend(x for x, _, _ in xs)
    for terms in group_pm_terms.values():
        if len(terms) > 1:
            model.Add(sum(terms) <= 1)
    model.Add(sum(mig_terms) <= int(mnl)) if mig_terms else None
    # final free >= 0, decomposition into 16-core slots and remainders
    rems = []
    fin_vars: dict[tuple[int, int], tuple[Any, Any, Any]] = {}
    for p in range(P):
        for k in (0, 1):
            f0, g0 = int(fc0[p, k]), int(fm0[p, k])
            if not act[p]:
                continue
            fin = model.NewIntVar(0, int(cap[p, k]), f"f{p}_{k}")
            model.Add(fin == f0 + sum(dcpu[p][k]))
            model.Add(g0 + sum(dmem[p][k]) >= 0)
            q = model.NewIntVar(0, int(cap[p, k]) // 16, f"q{p}_{k}")
            r = model.NewIntVar(0, 15, f"r{p}_{k}")
            model.Add(fin == 16 * q + r)
            rems.append(r)
            fin_vars[(p, k)] = (fin, q, r)
            if (2 * p + k) in conservative:
                model.Add(sum(incoming_cpu[p][k]) <= f0)
                model.Add(sum(incoming_mem[p][k]) <= g0)
    weight = int(mnl) + 1
    model.Minimize(weight * sum(rems) + sum(mig_terms))
    if hint_moves:
        _add_hint(model, st, hint_moves, flows, member_vars, fin_vars)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.num_workers = int(workers)
    if deterministic_time is not None:
        solver.parameters.max_deterministic_time = float(deterministic_time)
    code = solver.Solve(model)
    status = solver.StatusName(code)
    total = st.total_free
    bound_obj = solver.BestObjectiveBound() if code in (cp_model.OPTIMAL, cp_model.FEASIBLE) else 0.0
    bound_rem = max(0.0, np.ceil((bound_obj - mnl) / weight - 1e-9))
    fr_bound = bound_rem / total if total else 0.0
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return {"status": status, "moves": None, "fr": st.fr(), "fr_bound": fr_bound}
    rem_val = sum(solver.Value(r) for r in rems)
    moves = _extract(st, solver, flows, member_vars)
    return {"status": status, "moves": moves, "fr": rem_val / total if total else 0.0, "fr_bound": fr_bound}


def _add_hint(model: Any, st: Any, moves: list[tuple[int, int, int]], flows: dict, member_vars: dict,
              fin_vars: dict) -> None:
    """A complete hint from a feasible migration list: net flows per type and node, member choices, and
    the final free cores split into slots and remainders."""
    end = st.copy()
    for mv in moves:
        end.move(*mv)
    counts: dict[tuple, int] = {}
    chosen: dict[int, tuple[int, int]] = {}
    for v in sorted({mv[0] for mv in moves}):
        p0, k0, p1, k1 = int(st.vm_pm[v]), int(st.vm_numa[v]), int(end.vm_pm[v]), int(end.vm_numa[v])
        if (p0, k0) == (p1, k1):
            continue
        t = int(st.vm_type[v])
        if st.in_group[v]:
            chosen[v] = (p1, 0 if st.double[v] else k1)
        elif st.double[v]:
            counts[(t, p0, "out")] = counts.get((t, p0, "out"), 0) + 1
            counts[(t, p1, "in")] = counts.get((t, p1, "in"), 0) + 1
        else:
            counts[(t, p0, k0, "out")] = counts.get((t, p0, k0, "out"), 0) + 1
            counts[(t, p1, k1, "in")] = counts.get((t, p1, k1, "in"), 0) + 1
    for kind in ("single", "double"):
        for key, var in flows[kind].items():
            model.AddHint(var, counts.get(key, 0))
    for v, xs in member_vars.items():
        for x, p, k in xs:
            model.AddHint(x, int(chosen.get(v) == (p, k)))
    for (p, k), (fin, q, r) in fin_vars.items():
        f = int(end.free_cpu[p, k])
        model.AddHint(fin, f)
        model.AddHint(q, f // 16)
        model.AddHint(r, f % 16)


def _extract(st: Any, solver: Any, flows: dict, member_vars: dict) -> list[tuple[int, int, int]]:
    """Turn the flows into concrete migrations ``(vm, pm, numa)`` (unordered)."""
    moves: list[tuple[int, int, int]] = []
    free_movable = st.movable & ~st.in_group
    T = len(st.type_cpu)
    for t in range(T):
        outs: dict[tuple[int, int], int] = {}
        ins: dict[tuple[int, int], int] = {}
        if st.type_double[t]:
            for (tt, p, kind), var in flows["double"].items():
                if tt != t:
                    continue
                val = solver.Value(var)
                if val:
                    (outs if kind == "out" else ins)[(p, 0)] = val
        else:
            for (tt, p, k, kind), var in flows["single"].items():
                if tt != t:
                    continue
                val = solver.Value(var)
                if val:
                    (outs if kind == "out" else ins)[(p, k)] = val
        for node in set(outs) & set(ins):  # leaving and entering the same node cancel out
            c = min(outs[node], ins[node])
            outs[node] -= c
            ins[node] -= c
        sources: list[int] = []
        for (p, k), n in sorted(outs.items()):
            if n <= 0:
                continue
            if st.type_double[t]:
                cand = np.flatnonzero(free_movable & (st.vm_type == t) & (st.vm_pm == p))
            else:
                cand = np.flatnonzero(free_movable & (st.vm_type == t) & (st.vm_pm == p) & (st.vm_numa == k))
            sources.extend(int(v) for v in cand[:n])
        dests = [node for node, n in sorted(ins.items()) for _ in range(max(n, 0))]
        # pair sources with destinations, avoiding a VM landing where it is
        for v, (p, k) in zip(sources, _pair(st, sources, dests)):
            moves.append((v, p, k))
    for v, xs in member_vars.items():
        for x, p, k in xs:
            if solver.Value(x):
                moves.append((v, p, k))
    return moves


def _pair(st: Any, sources: list[int], dests: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Assign destinations to sources so no VM is sent to its own node (possible after cancellation)."""
    dests = list(dests)
    out: list[tuple[int, int]] = []
    for v in sources:
        own = (int(st.vm_pm[v]), 0 if st.double[v] else int(st.vm_numa[v]))
        j = next((i for i, d in enumerate(dests) if d != own and not (st.double[v] and d[0] == own[0])), 0)
        out.append(dests.pop(j))
    return out


def _sequence(state: Any, moves: list[tuple[int, int, int]]):
    """Order ``moves`` so each fits when it happens; returns (ordered feasible prefix, stuck moves with
    the NUMA node indices they need)."""
    st = state.copy()
    pending = list(moves)
    order: list[tuple[int, int, int]] = []
    progress = True
    while pending and progress:
        progress = False
        for mv in list(pending):
            v, p, k = mv
            if st.why_illegal(v, p, k) is None:
                st.move(v, p, k)
                order.append(mv)
                pending.remove(mv)
                progress = True
    stuck = []
    for v, p, k in pending:
        nodes = (2 * p, 2 * p + 1) if state.double[v] else (2 * p + k,)
        stuck.append((v, p, k, nodes))
    return order, stuck


class CPSatVMPolicy(BasePolicy):
    """``vm-cpsat:<seconds>``: solve at reset (CP-SAT, ``workers`` threads), replay the migrations."""

    def __init__(self, time_limit: float = 10.0, workers: int = 1, deterministic_time: float | None = None) -> None:
        if time_limit <= 0:
            raise ValueError(f"vm-cpsat: the time limit must be > 0 seconds, got {time_limit}")
        super().__init__(f"vm-cpsat:{time_limit:g}")
        self.time_limit = float(time_limit)
        self.workers = int(workers)
        self.deterministic_time = deterministic_time
        self.result: VMSolveResult | None = None
        self._queue: list[tuple[int, int, int]] = []
        self._current: tuple[int, int, int] | None = None
        self.episode_extra: dict[str, Any] = {}

    env: VMView  # type: ignore[assignment]

    def reset(self, env: Any, seed: int | None = None) -> None:
        super().reset(env, seed)
        self.env = env
        self.result = solve_vm(env.state, env.mnl, self.time_limit, self.workers, self.deterministic_time)
        self._queue = list(self.result.migrations)
        self._current = None
        r = self.result
        self.episode_extra = {"solve_time_s": r.solve_time_s, "status": r.status, "fr_model": r.info["fr_model"],
                              "fr_bound": float(r.fr_bound), "rounds": r.rounds}

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        env = self.env
        if env.stage == 0:
            if not self._queue:
                return env.stop_node
            self._current = self._queue.pop(0)
            return env.vm_node(self._current[0])
        assert self._current is not None
        _, p, k = self._current
        return env.numa_node(p, k)
