"""Exact reference for both modes: an OR-Tools CP-SAT model with a 2-D no-overlap (time x address).

Every buffer is a rectangle: its live interval ``[lower, upper)`` on the time axis (fixed) and
``[y, y + size)`` on the address axis, with ``0 <= y <= capacity - size``; ``AddNoOverlap2D`` forbids two
rectangles to intersect, and a redundant ``AddCumulative`` over the time intervals (demand = size,
capacity = capacity) strengthens propagation.

* **Allocation** (MiniMalloc's problem): a feasibility model. ``FEASIBLE``/``OPTIMAL`` = solved;
  ``INFEASIBLE`` = proved that no allocation exists under the capacity.
* **Mapping**: a literal ``fast_b`` per buffer makes both of its intervals optional; the objective
  ``sum_k d_k`` with ``d_k >= compute_k`` and ``d_k >= sum_uses bytes / bw(fast_b)`` is the roofline
  program time, in integer units of ``T_slow / time_resolution``. With ``copies="ignore"`` that is the
  whole objective: copy-engine stalls only add time, so its optimum is a **lower bound** on the best
  program time. With ``copies="estimate"`` (the policy's default) each fast buffer also adds its
  exposed copy time (:func:`~schedgym.envs.memory.simulator.exposed_copy_time`, estimated alone on an
  idle copy engine), which steers the model away from copies that cannot be hidden; the objective is
  then an estimate, not a bound. Either way the replayed mapping's program time (the simulator's, with
  the copy engine) is what the episode reports.

ortools is imported inside the solving functions only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from schedgym.agents.base import BasePolicy
from schedgym.envs.memory.instance import MemoryInstance
from schedgym.envs.memory.simulator import exposed_copy_time, instruction_times
from schedgym.envs.memory.types import MemoryView

from .heuristics import buffer_order, fit_plan, xla_plan


@dataclass
class ExactResult:
    """What the solver found.

    Attributes:
        status: CP-SAT status name (``OPTIMAL``, ``FEASIBLE``, ``INFEASIBLE``, ``UNKNOWN``, ``MODEL_INVALID``).
        offsets: per buffer, the offset, or -1 (not in fast memory / no solution).
        solved: a placement was found (allocation: of every buffer).
        proved: ``OPTIMAL`` or ``INFEASIBLE`` (the answer is proved).
        objective: mapping: the model's roofline program time in seconds (None in allocation).
        bound: mapping: CP-SAT's lower bound on it in seconds.
        wall_time_s, deterministic_time: the solver's effort.
    """

    status: str
    offsets: np.ndarray
    solved: bool
    proved: bool
    objective: float | None = None
    bound: float | None = None
    wall_time_s: float = 0.0
    deterministic_time: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _solver(time_limit: float | None, deterministic_time: float | None, workers: int, seed: int):
    from ortools.sat.python import cp_model

    solver = cp_model.CpSolver()
    p = solver.parameters
    if time_limit is not None:
        p.max_time_in_seconds = float(time_limit)
    if deterministic_time is not None:
        p.max_deterministic_time = float(deterministic_time)
    p.num_workers = int(workers)
    p.random_seed = int(seed)
    return solver


def solve_allocation(
    instance: MemoryInstance,
    time_limit: float | None = 10.0,
    deterministic_time: float | None = None,
    workers: int = 1,
    seed: int = 0,
    hint: np.ndarray | None = None,
) -> ExactResult:
    """CP-SAT feasibility model of the allocation under ``instance.capacity``."""
    from ortools.sat.python import cp_model

    t0 = time.perf_counter()
    n, cap = instance.n_buffers, instance.capacity
    if (instance.size > cap).any():
        return ExactResult("INFEASIBLE", np.full(n, -1, np.int64), False, True, extra={"reason": "a buffer exceeds the capacity"})
    m = cp_model.CpModel()
    xs, ys, y = [], [], []
    for b in range(n):
        s, lo, up = int(instance.size[b]), int(instance.lower[b]), int(instance.upper[b])
        yb = m.NewIntVar(0, cap - s, f"y{b}")
        y.append(yb)
        if s == 0:
            continue
        xs.append(m.NewFixedSizeIntervalVar(lo, up - lo, f"t{b}"))
        ys.append(m.NewFixedSizeIntervalVar(yb, s, f"a{b}"))
    m.AddNoOverlap2D(xs, ys)
    m.AddCumulative(xs, [int(s) for s in instance.size if s > 0], cap)
    if hint is not None:
        for b in range(n):
            if hint[b] >= 0:
                m.AddHint(y[b], int(hint[b]))
    solver = _solver(time_limit, deterministic_time, workers, seed)
    status = solver.Solve(m)
    name = solver.StatusName(status)
    ok = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    off = np.array([solver.Value(v) for v in y], np.int64) if ok else np.full(n, -1, np.int64)
    return ExactResult(name, off, ok, status in (cp_model.OPTIMAL, cp_model.INFEASIBLE),
                       wall_time_s=time.perf_counter() - t0, deterministic_time=solver.deterministic_time)


def solve_mapping(
    instance: MemoryInstance,
    time_limit: float | None = 10.0,
    deterministic_time: float | None = None,
    workers: int = 1,
    seed: int = 0,
    hint: np.ndarray | None = None,
    time_resolution: int = 10_000_000,
    copies: str = "estimate",
) -> ExactResult:
    """CP-SAT model of the mapping minimising the roofline program time, plus the estimated exposed copy
    time with ``copies="estimate"`` (see the module docstring)."""
    if copies not in ("estimate", "ignore"):
        raise ValueError(f"copies must be 'estimate' or 'ignore', got {copies!r}")
    from ortools.sat.python import cp_model

    p = instance.program
    if p is None:
        raise ValueError(f"instance {instance.name!r} has no program: mapping needs one")
    t0 = time.perf_counter()
    n, cap = instance.n_buffers, instance.capacity
    hw = p.hardware
    t_slow = float(instruction_times(instance, np.zeros(n, bool)).sum())
    unit = t_slow / time_resolution  # seconds per integer unit
    m = cp_model.CpModel()
    fast = [m.NewBoolVar(f"f{b}") for b in range(n)]
    y = []
    xs, ys, dem = [], [], []
    for b in range(n):
        s, lo, up = int(instance.size[b]), int(instance.lower[b]), int(instance.upper[b])
        if s > cap:
            m.Add(fast[b] == 0)
            y.append(None)
            continue
        yb = m.NewIntVar(0, cap - s, f"y{b}")
        y.append(yb)
        if s == 0:
            continue
        xs.append(m.NewOptionalFixedSizeIntervalVar(lo, up - lo, fast[b], f"t{b}"))
        ys.append(m.NewOptionalFixedSizeIntervalVar(yb, s, fast[b], f"a{b}"))
        dem.append(s)
    m.AddNoOverlap2D(xs, ys)
    m.AddCumulative(xs, dem, cap)
    comp = p.flops / hw.peak_flops
    terms: list[list[tuple[int, float]]] = [[] for _ in range(p.n_instructions)]
    for k, b, byt in zip(p.use_instr.tolist(), p.use_buffer.tolist(), p.use_bytes.tolist()):
        terms[k].append((b, byt))
    durs = []
    horizon = int(np.ceil(t_slow / unit)) * 2 + 10
    for k in range(p.n_instructions):
        dk = m.NewIntVar(0, horizon, f"d{k}")
        m.Add(dk >= int(np.ceil(comp[k] / unit)))
        slow_t = sum(byt / hw.slow_bw for _, byt in terms[k])
        expr = int(round(slow_t / unit))
        gains: dict[int, float] = {}
        for b, byt in terms[k]:
            gains[b] = gains.get(b, 0.0) + byt * (1.0 / hw.slow_bw - 1.0 / hw.fast_bw)
        lin = expr - sum(int(round(g / unit)) * fast[b] for b, g in gains.items())
        m.Add(dk >= lin)
        durs.append(dk)
    penalty = []
    if copies == "estimate":
        exposed = exposed_copy_time(instance)
        penalty = [int(round(exposed[b] / unit)) * fast[b] for b in range(n) if exposed[b] > 0]
    m.Minimize(sum(durs) + sum(penalty))
    if hint is not None:
        for b in range(n):
            m.AddHint(fast[b], 1 if hint[b] >= 0 else 0)
            if hint[b] >= 0 and y[b] is not None:
                m.AddHint(y[b], int(hint[b]))
    solver = _solver(time_limit, deterministic_time, workers, seed)
    status = solver.Solve(m)
    name = solver.StatusName(status)
    ok = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    off = np.full(n, -1, np.int64)
    if ok:
        for b in range(n):
            if solver.Value(fast[b]) and y[b] is not None:
                off[b] = solver.Value(y[b])
    return ExactResult(
        name, off, ok, status == cp_model.OPTIMAL,
        objective=solver.ObjectiveValue() * unit if ok else None,
        bound=solver.BestObjectiveBound() * unit if ok else None,
        wall_time_s=time.perf_counter() - t0, deterministic_time=solver.deterministic_time,
        extra={"time_unit_s": unit, "copies": copies},
    )


class CPSatMemoryPolicy(BasePolicy):
    """Solve the instance with CP-SAT at reset, replay the placement by increasing offset.

    ``mem-cpsat:<seconds>`` (default 10, one worker). In allocation mode a run that finds no
    allocation (unknown or proved infeasible) falls back to best-fit by size, which then usually dead-ends:
    the episode counts as unsolved. ``episode_extra`` reports the status, proof and solve time."""

    def __init__(self, time_limit: float = 10.0, workers: int = 1, deterministic_time: float | None = None) -> None:
        super().__init__(name=f"mem-cpsat:{time_limit:g}")
        self.time_limit = float(time_limit)
        self.workers = int(workers)
        self.deterministic_time = deterministic_time

    def reset(self, env: Any, seed: int | None = None) -> None:
        super().reset(env, seed)
        view = cast(MemoryView, env)
        self.view = view
        inst = view.instance
        if view.mode == "allocation":
            hint = fit_plan(inst, buffer_order(inst, "size"), best=True)
            res = solve_allocation(inst, self.time_limit, self.deterministic_time, self.workers, hint=hint)
            off = res.offsets if res.solved else hint
        else:
            hint = xla_plan(inst)
            res = solve_mapping(inst, self.time_limit, self.deterministic_time, self.workers, hint=hint)
            off = res.offsets if res.solved else hint
        self.result = res
        placed = np.flatnonzero(off >= 0)
        self.queue = placed[np.lexsort((placed, off[placed]))].tolist()
        self._pos = 0
        self.episode_extra = {
            "status": res.status, "proved": res.proved, "solve_time_s": res.wall_time_s,
            "deterministic_time": res.deterministic_time,
            **({"model_program_time_us": res.objective * 1e6} if res.objective is not None else {}),
        }

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        mask = obs["action_mask"]
        if self._pos < len(self.queue):
            b = self.queue[self._pos]
            self._pos += 1
            if not mask[b]:
                raise RuntimeError(f"{self.name}: buffer {b} of the solver's placement is not placeable on replay (a bug)")
            return int(b)
        if self.view.mode == "mapping":
            return int(self.view.stop_node)
        placed = self.view.placed()
        for b in buffer_order(self.view.instance, "size").tolist():
            if not placed[b] and mask[b]:
                return int(b)
        return int(np.flatnonzero(mask)[0])
