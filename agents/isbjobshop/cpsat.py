"""OR-Tools CP-SAT models of the blocking job shop with swaps, with known machine downtime.

The model (one per solve, built from a :class:`ShopSnapshot`):

* every operation ``o`` not yet started has a start ``s_o`` (only at times its machine is up), a
  completion ``c_o`` and an end of occupation ``e_o >= c_o``; its machine is occupied on ``[s_o, e_o)``
  (processing, then blocking);
* routing without buffers: ``e_(j,k) = s_(j,k+1)`` (a job leaves a machine when it starts its next
  operation) and ``e = c`` for a last operation (without blocking: ``e = c`` and ``s_(j,k+1) >= c_(j,k)``);
* one no-overlap constraint per machine. Touching intervals are allowed, which is exactly what makes
  **swaps** feasible: a cycle of blocked jobs that all leave and enter at the same instant;
* completion: ``c = s + p`` on a machine with no known downtime; otherwise ``c = T[s]``, a table of the
  completion of ``p`` units of work started at ``s`` under the known down intervals and the interruption
  mode (resume: the first time ``p`` up units have elapsed; restart: ``p`` contiguous up units after the
  last repair) — an element constraint;
* jobs already in the shop (when re-solving mid-episode) keep their machine from ``t0`` until they start
  their next operation, and cannot leave before their operation in process completes;
* minimize the makespan.

Without downtime this is the classic blocking job shop with swaps (BWS) model; with the realized
downtime of an episode it is the clairvoyant model. :func:`solve_snapshot` returns planned starts,
completions and leave times, the makespan, CP-SAT's proof status and its lower bound.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from ...envs.isbjobshop.state import PROC, ISBJobShopState
from ...envs.jobshop.instance import JobShopInstance


@dataclass
class ShopSnapshot:
    """What a solver knows at time ``t0``: the instance, progress, jobs in the shop, known downtime."""

    instance: JobShopInstance
    t0: int = 0
    blocking: bool = True
    interruption: str = "resume"
    next_op: list[int] | None = None  # per job: first operation not started (default all 0)
    #: job -> (machine held, earliest time it may leave it: completion of its op in process, or t0 if blocked)
    holding: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: per machine: known down intervals [a, b) (sorted); default none
    down: list[list[tuple[int, int]]] | None = None


@dataclass
class ScheduleRecord:
    """A complete schedule of the ops not started at a snapshot: start, completion, leave, makespan."""

    start: dict[tuple[int, int], int]
    completion: dict[tuple[int, int], int]
    leave: dict[tuple[int, int], int]
    makespan: int

    @classmethod
    def from_state(cls, sim: ISBJobShopState, from_ops: list[int] | None = None) -> "ScheduleRecord":
        n, m = sim.n_jobs, sim.n_machines
        first = from_ops if from_ops is not None else [0] * n
        keys = [(j, k) for j in range(n) for k in range(first[j], m)]
        return cls(
            start={key: sim.start_time[key[0]][key[1]] for key in keys},
            completion={key: sim.completion[key[0]][key[1]] for key in keys},
            leave={key: sim.leave_time[key[0]][key[1]] for key in keys},
            makespan=int(sim.makespan),
        )


@dataclass
class ISBSolveResult:
    start: dict[tuple[int, int], int]  # (job, op) -> planned start, for the ops not started at t0
    completion: dict[tuple[int, int], int]
    leave: dict[tuple[int, int], int]
    makespan: int
    optimal: bool
    lower_bound: float
    status: str
    wall_time_s: float
    #: True when CP-SAT found no schedule in time and this is the warm start it was given (kept as is)
    fallback: bool = False

    def machine_sequences(self, instance: JobShopInstance) -> list[list[tuple[int, int]]]:
        """Per machine, the planned operations in order of planned start."""
        seqs: list[list[tuple[int, int]]] = [[] for _ in range(instance.n_machines)]
        for (j, k), s in sorted(self.start.items(), key=lambda kv: (kv[1], kv[0])):
            seqs[int(instance.machines[j, k])].append((j, k))
        return seqs


def completion_table(down: list[tuple[int, int]], p: int, horizon: int, mode: str) -> np.ndarray:
    """``T[s]`` for ``s`` in ``0..horizon``: completion of ``p`` units of work started at ``s``.

    Entries for times at which the machine is down are unused (starts are not allowed then).
    """
    span = horizon + 1
    end = horizon + p + 1 + sum(b - a for a, b in down)  # enough room to finish anything started by horizon
    up = np.ones(end + 1, dtype=bool)
    for a, b in down:
        if a <= end:
            up[a : min(b, end + 1)] = False
    if mode == "resume":
        cum = np.concatenate([[0], np.cumsum(up)])  # cum[t] = up units in [0, t)
        target = cum[:span] + p
        return np.searchsorted(cum, target, side="left").astype(np.int64)
    # restart: c(s) = s + p if [s, s+p) is up, else c(b) for the end b of the first down interval inside
    table = np.zeros(span, dtype=np.int64)
    down_sorted = sorted(down)
    for s0 in range(span):
        s = s0
        while p > 0:
            hit = next((b for a, b in down_sorted if a < s + p and b > s), None)
            if hit is None:
                break
            s = hit
        table[s0] = s + p
    return table


def _up_domain(down: list[tuple[int, int]], lo: int, hi: int) -> cp_model.Domain:
    ivs = []
    cur = lo
    for a, b in sorted(down):
        if b <= cur:
            continue
        if a > hi:
            break
        if a > cur:
            ivs.append([cur, min(a - 1, hi)])
        cur = max(cur, b)
    if cur <= hi:
        ivs.append([cur, hi])
    return cp_model.Domain.from_intervals(ivs) if ivs else cp_model.Domain(lo, lo)


def solve_snapshot(
    snap: ShopSnapshot,
    time_limit_s: float = 10.0,
    workers: int = 2,
    horizon: int | None = None,
    hint: dict[tuple[int, int], int] | None = None,
    seed: int = 0,
    redundant: bool = True,
    params: dict[str, Any] | None = None,
    hint_schedule: "ScheduleRecord | None" = None,
    fallback: "ScheduleRecord | None" = None,
) -> ISBSolveResult:
    """Build and solve the model of :mod:`this module <schedgym.agents.isbjobshop.cpsat>` for ``snap``.

    ``hint_schedule``: a complete feasible schedule, hinted to CP-SAT (every variable). ``fallback``: a
    complete feasible schedule that is *not* hinted (``hint`` may carry its starts). When CP-SAT finds no
    schedule within its limits (status UNKNOWN, e.g. on a loaded machine), the result is ``hint_schedule``
    (else ``fallback``) with ``fallback=True`` and a status ending in ``_KEPT_WARM_START``; without either,
    a ``RuntimeError``. ``params``: extra CP-SAT parameters (e.g. ``max_deterministic_time``, which makes a
    run independent of the machine's load).
    """
    if time_limit_s <= 0:
        raise ValueError(f"time_limit_s must be > 0, got {time_limit_s}")
    inst = snap.instance
    n, m = inst.shape
    d = inst.durations
    mach = inst.machines
    t0 = int(snap.t0)
    next_op = list(snap.next_op) if snap.next_op is not None else [0] * n
    down = snap.down if snap.down is not None else [[] for _ in range(m)]
    if horizon is None:
        horizon = t0 + int(d.sum()) + sum(b - a for ivs in down for a, b in ivs) + max(
            (c for _, c in snap.holding.values()), default=0
        )
    H = int(horizon)
    model = cp_model.CpModel()
    s_var: dict[tuple[int, int], Any] = {}
    c_var: dict[tuple[int, int], Any] = {}
    e_var: dict[tuple[int, int], Any] = {}
    size_var: dict[tuple[int, int], Any] = {}
    per_machine: list[list[Any]] = [[] for _ in range(m)]
    processing: list[list[Any]] = [[] for _ in range(m)]
    tables: dict[tuple[int, int], list[int]] = {}
    for j in range(n):
        for k in range(next_op[j], m):
            i, p = int(mach[j, k]), int(d[j, k])
            dom = _up_domain(down[i], t0, H)
            s = model.new_int_var_from_domain(dom, f"s_{j}_{k}")
            has_down = any(b > t0 and a <= H for a, b in down[i])
            if has_down:
                key = (i, p)
                if key not in tables:
                    tables[key] = completion_table(down[i], p, H, snap.interruption).tolist()
                tab = tables[key]
                c = model.new_int_var(t0, max(tab), f"c_{j}_{k}")
                model.add_element(s, tab, c)
            else:
                c = s + p
            if snap.blocking and k < m - 1:
                e = model.new_int_var(t0, 2 * H + p, f"e_{j}_{k}")
                model.add(e >= c)
            else:
                e = c
            s_var[j, k], c_var[j, k], e_var[j, k] = s, c, e
            size = model.new_int_var(p, 2 * H + p, f"len_{j}_{k}")
            size_var[j, k] = size
            per_machine[i].append(model.new_interval_var(s, size, e, f"iv_{j}_{k}"))
            if redundant and not has_down:
                # processing alone, a fixed-size interval: implied, but strengthens propagation
                processing[i].append(model.new_fixed_size_interval_var(s, p, f"pr_{j}_{k}"))
        for k in range(next_op[j], m - 1):
            if snap.blocking:
                model.add(e_var[j, k] == s_var[j, k + 1])
            else:
                model.add(s_var[j, k + 1] >= c_var[j, k])
    ends = []
    hold_sizes: list[tuple[Any, tuple[int, int]]] = []
    for j, (i, c_known) in snap.holding.items():
        k = next_op[j]
        if k < m and snap.blocking:
            # holds machine i from t0 until it starts its next op, which is not before c_known
            model.add(s_var[j, k] >= c_known)
            size = model.new_int_var(0, 2 * H, f"hold_len_{j}")
            hold_sizes.append((size, (j, k)))
            per_machine[i].append(model.new_interval_var(t0, size, s_var[j, k], f"hold_{j}"))
        else:
            if k < m:
                model.add(s_var[j, k] >= c_known)
            per_machine[i].append(model.new_fixed_size_interval_var(t0, max(0, c_known - t0), f"hold_{j}"))
            if k == m:
                ends.append(c_known)
    for ivs in per_machine + processing:
        if len(ivs) > 1:
            model.add_no_overlap(ivs)
    makespan = model.new_int_var(0, 3 * H + int(d.max()) + max(ends, default=0), "makespan")
    for j in range(n):
        if next_op[j] < m:
            model.add(makespan >= c_var[j, m - 1])
    for c in ends:
        model.add(makespan >= c)
    model.minimize(makespan)
    if hint_schedule is not None:  # a complete feasible schedule: hint every variable (once)
        hinted: set[int] = set()

        def _hint(var: Any, val: int) -> None:
            if isinstance(var, cp_model.IntVar) and var.index not in hinted:
                hinted.add(var.index)
                model.add_hint(var, int(val))

        for key, v in hint_schedule.start.items():
            if key not in s_var:
                continue
            c_h, e_h = hint_schedule.completion[key], hint_schedule.leave[key]
            _hint(s_var[key], int(v))
            for var, val in ((c_var[key], c_h), (e_var[key], e_h), (size_var[key], e_h - int(v))):
                _hint(var, val)
        for var, key in hold_sizes:
            _hint(var, int(hint_schedule.start[key]) - t0)
        _hint(makespan, max([hint_schedule.completion[key] for key in s_var] + ends))
    if hint:
        for key, v in hint.items():
            if key in s_var and hint_schedule is None:
                model.add_hint(s_var[key], int(v))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed)
    # edge-finding-like propagation on the machines' no-overlap: proves blocking optima much faster
    # (la02: optimal in ~15 s instead of unproven after 120 s, 2 workers)
    solver.parameters.use_strong_propagation_in_disjunctive = True
    for key, value in (params or {}).items():
        if isinstance(value, list):
            getattr(solver.parameters, key).extend(value)
        else:
            setattr(solver.parameters, key, value)
    t_start = time.perf_counter()
    status = solver.solve(model)
    wall = time.perf_counter() - t_start
    if status == cp_model.MODEL_INVALID:
        raise RuntimeError(f"CP-SAT model invalid for {inst.name!r}: {model.validate()}")
    kept = hint_schedule if hint_schedule is not None else fallback
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE) and kept is not None:
        # no solution in time: keep the known feasible schedule; the solver's bound stays valid
        return ISBSolveResult(
            start=dict(kept.start),
            completion=dict(kept.completion),
            leave=dict(kept.leave),
            makespan=int(kept.makespan),
            optimal=False,
            lower_bound=float(solver.best_objective_bound) if status != cp_model.INFEASIBLE else float("nan"),
            status=f"{solver.status_name(status)}_KEPT_WARM_START",
            wall_time_s=wall,
            fallback=True,
        )
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise RuntimeError(
            f"CP-SAT found no blocking schedule for {inst.name!r} within {time_limit_s}s "
            f"(status {solver.status_name(status)}, horizon {H})"
        )
    start = {key: int(solver.value(v)) for key, v in s_var.items()}
    comp = {key: int(solver.value(v)) for key, v in c_var.items()}
    leave = {key: int(solver.value(v)) for key, v in e_var.items()}
    return ISBSolveResult(
        start=start,
        completion=comp,
        leave=leave,
        makespan=int(solver.value(makespan)),
        optimal=status == cp_model.OPTIMAL,
        lower_bound=float(solver.best_objective_bound),
        status=solver.status_name(status),
        wall_time_s=wall,
    )


def solve_blocking(instance: JobShopInstance, time_limit_s: float = 10.0, workers: int = 2,
                   seed: int = 0, warm_start: bool = True, params: dict[str, Any] | None = None) -> ISBSolveResult:
    """The blocking job shop with swaps and no downtime (exact on small instances).

    Never fails for want of time: the non-delay MWKR schedule (computed always; hinted by its starts and
    used as the horizon only with ``warm_start``) is returned, with ``fallback=True``, when CP-SAT finds
    nothing within its limits.
    """
    st = ISBJobShopState(instance, blocking=True, shutdown_prob=0.0)
    greedy_schedule(st)
    greedy = ScheduleRecord.from_state(st)
    hint, ub = None, None
    if warm_start:
        hint = {(j, k): st.start_time[j][k] for j in range(instance.n_jobs) for k in range(instance.n_machines)}
        ub = st.makespan
    return solve_snapshot(ShopSnapshot(instance), time_limit_s, workers, horizon=ub, hint=hint, seed=seed,
                          params=params, fallback=greedy)


# --------------------------------------------------------------------------- helpers on simulator states
def greedy_schedule(state: ISBJobShopState) -> ISBJobShopState:
    """Finish ``state`` in place with non-delay MWKR dispatching (ties: lowest job); returns it."""
    inst = state.instance
    rem = inst.durations[:, ::-1].cumsum(axis=1)[:, ::-1].tolist()
    state.compute_legal()
    while not state.done and not state.truncated:
        if state.legal:
            j = max(state.legal, key=lambda jj: (rem[jj][state.next_op[jj]], -jj))
            state.start(j)
            state.compute_legal()
        elif state.all_started or state.has_pending_event():
            state.advance()
            state.compute_legal()
        else:  # pragma: no cover - the simulator guarantees progress
            raise RuntimeError("greedy_schedule: no legal start and nothing pending")
    return state


def replay_sequences(state: ISBJobShopState, plan: ISBSolveResult) -> ISBJobShopState:
    """Finish ``state`` in place following ``plan``'s machine sequences, each op as early as possible
    (a start that is not next in its machine's sequence is taken only if nothing else can happen)."""
    inst = state.instance
    seqs = plan.machine_sequences(inst)
    pos = [0] * inst.n_machines
    planned = plan.start

    def next_planned(i: int) -> tuple[int, int] | None:
        while pos[i] < len(seqs[i]) and state.start_time[seqs[i][pos[i]][0]][seqs[i][pos[i]][1]] >= 0:
            pos[i] += 1
        return seqs[i][pos[i]] if pos[i] < len(seqs[i]) else None

    state.compute_legal()
    while not state.done and not state.truncated:
        elig = [
            j for j in state.legal
            if all(next_planned(state.mach[c][state.next_op[c]]) == (c, state.next_op[c])
                   for c in state.swap_cycle.get(j, [j]))
        ]
        if elig:
            state.start(min(elig, key=lambda jj: (planned.get((jj, state.next_op[jj]), 1 << 60), jj)))
        elif state.has_pending_event():
            state.advance()
        elif state.legal:
            state.start(state.legal[0])
        else:  # pragma: no cover - the simulator guarantees progress
            raise RuntimeError("replay_sequences: no legal start and nothing pending")
        state.compute_legal()
    return state


def snapshot_of(state: ISBJobShopState, knowledge: str) -> tuple[ShopSnapshot, ISBJobShopState]:
    """The solver's view of ``state`` and a copy of it whose future matches that view.

    ``knowledge="clairvoyant"``: every future down interval (the realization) is known (the caller fills
    ``snap.down`` once it knows the horizon); ``"current"``: only the down intervals in progress now (and
    their repair times) are known, no future failure is expected.
    """
    if knowledge not in ("clairvoyant", "current"):
        raise ValueError(f"knowledge must be 'clairvoyant' or 'current', got {knowledge!r}")
    state.sync()
    sim = copy.deepcopy(state)
    m = state.n_machines
    t0 = state.t
    down = None
    if knowledge == "current":
        sim.forget_future_failures()
        down = [[(t0, int(state.repair_end[i]))] if not state.up[i] else [] for i in range(m)]
    holding: dict[int, tuple[int, int]] = {}
    for j in range(state.n_jobs):
        i = state.held[j]
        if i < 0:
            continue
        if state.phase[j] == PROC:
            c = int(state.finish[i]) if knowledge == "clairvoyant" else int(sim.finish[i])
        else:
            c = t0
        holding[j] = (i, c)
    snap = ShopSnapshot(
        instance=state.instance,
        t0=t0,
        blocking=state.blocking,
        interruption=state.interruption,
        next_op=list(state.next_op),
        holding=holding,
        down=down,
    )
    return snap, sim
