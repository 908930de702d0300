"""OR-Tools CP-SAT model of the job shop, and a Policy that replays its schedule through the env.

The model: an interval per operation, job precedence, one no-overlap constraint per machine,
minimize the makespan. :func:`solve_jobshop` returns the start times, the makespan, whether CP-SAT
proved it optimal, and its best lower bound. :class:`CPSatPolicy` solves at reset and replays the
operations in order of their CP-SAT start times under the ``"serial"`` schedule builder, where each
operation starts at ``max(job ready, machine ready)``: by induction every replayed start is no later
than CP-SAT's, so the replayed makespan equals (or beats) the solver's.

The policy never fails for want of time: when CP-SAT finds no schedule within its limit (a tiny limit,
a loaded machine), it replays its warm start (the non-delay MWKR schedule) and says so
(``episode_extra["fallback"]`` is True, ``solver_status`` ends in ``_KEPT_WARM_START``). For results that
do not depend on the machine's load, give ``workers=1`` and ``solver_params={"max_deterministic_time": ...}``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from ...envs.jobshop.instance import JobShopInstance
from ...envs.jobshop.types import JobShopView
from ..base import BasePolicy


@dataclass
class CPSatResult:
    start: np.ndarray  # (n_jobs, n_machines) start times
    makespan: int
    optimal: bool
    lower_bound: float
    status: str
    wall_time_s: float
    #: True when CP-SAT found no schedule in time and ``start`` is the ``fallback`` schedule it was given
    fallback: bool = False


def solve_jobshop(
    instance: JobShopInstance,
    time_limit_s: float = 10.0,
    workers: int = 2,
    hint: np.ndarray | None = None,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    fallback: np.ndarray | None = None,
) -> CPSatResult:
    """Solve ``instance`` with CP-SAT under a time limit. ``hint``: start times of a known schedule.

    ``fallback``: start times of a feasible schedule, returned (``fallback=True``, status ending in
    ``_KEPT_WARM_START``) when CP-SAT finds no schedule within its limits; without it that is a
    ``RuntimeError``. ``params``: extra CP-SAT parameters (e.g. ``max_deterministic_time``).
    """
    if time_limit_s <= 0:
        raise ValueError(f"time_limit_s must be > 0, got {time_limit_s}")
    n, m = instance.shape
    d = instance.durations
    horizon = int(d.sum())
    model = cp_model.CpModel()
    starts = [[model.new_int_var(0, horizon, f"s_{j}_{k}") for k in range(m)] for j in range(n)]
    ends = [[starts[j][k] + int(d[j, k]) for k in range(m)] for j in range(n)]
    per_machine: list[list[Any]] = [[] for _ in range(m)]
    for j in range(n):
        for k in range(m):
            iv = model.new_fixed_size_interval_var(starts[j][k], int(d[j, k]), f"iv_{j}_{k}")
            per_machine[int(instance.machines[j, k])].append(iv)
            if k > 0:
                model.add(starts[j][k] >= ends[j][k - 1])
    for ivs in per_machine:
        model.add_no_overlap(ivs)
    makespan = model.new_int_var(0, horizon, "makespan")
    model.add_max_equality(makespan, [ends[j][m - 1] for j in range(n)])
    model.minimize(makespan)
    if hint is not None:
        for j in range(n):
            for k in range(m):
                model.add_hint(starts[j][k], int(hint[j, k]))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed)
    for key, value in (params or {}).items():
        setattr(solver.parameters, key, value)
    t0 = time.perf_counter()
    status = solver.solve(model)
    wall = time.perf_counter() - t0
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE) and status != cp_model.MODEL_INVALID \
            and fallback is not None:
        start = np.asarray(fallback, dtype=np.int64)
        return CPSatResult(
            start=start.copy(),
            makespan=int((start + d).max()),
            optimal=False,
            lower_bound=float(solver.best_objective_bound),
            status=f"{solver.status_name(status)}_KEPT_WARM_START",
            wall_time_s=wall,
            fallback=True,
        )
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise RuntimeError(
            f"CP-SAT found no schedule for {instance.name!r} within {time_limit_s}s (status {solver.status_name(status)})"
        )
    start = np.array([[solver.value(starts[j][k]) for k in range(m)] for j in range(n)], np.int64)
    return CPSatResult(
        start=start,
        makespan=int(solver.value(makespan)),
        optimal=status == cp_model.OPTIMAL,
        lower_bound=float(solver.best_objective_bound),
        status=solver.status_name(status),
        wall_time_s=wall,
    )


class CPSatPolicy(BasePolicy):
    """Solve the episode's instance with CP-SAT at reset, then replay it (``variant``: time limit in s)."""

    name = "cpsat"

    def __init__(self, variant: str | None = None, time_limit_s: float | None = None, workers: int = 2,
                 warm_start: bool = True, solver_params: dict[str, Any] | None = None) -> None:
        limit = float(variant) if variant else (time_limit_s if time_limit_s is not None else 10.0)
        super().__init__(name="cpsat" if variant is None else f"cpsat:{variant}",
                         env_kwargs={"schedule_builder": "serial"})
        self.time_limit_s = limit
        self.workers = workers
        self.warm_start = warm_start
        self.solver_params = dict(solver_params or {})
        self.result: CPSatResult | None = None
        self.episode_extra: dict[str, Any] = {}

    def reset(self, env: Any, seed: int | None = None) -> None:
        super().reset(env, seed)
        if not isinstance(env, JobShopView):
            raise TypeError(f"{self.name} needs schedgym/JobShop-v0 (a JobShopView), got {type(env).__name__}")
        self.env: JobShopView = env
        if env.schedule_builder != "serial":
            raise ValueError("CPSatPolicy replays through the 'serial' schedule builder; build the env with "
                             "schedule_builder='serial' (the evaluation CLI does this from env_kwargs)")
        instance = env.instance
        greedy = _mwkr_schedule(instance)  # the warm start, and what is played if CP-SAT finds nothing in time
        self.result = solve_jobshop(instance, self.time_limit_s, self.workers, hint=greedy if self.warm_start else None,
                                    seed=seed or 0, params=self.solver_params, fallback=greedy)
        self._order_key = self.result.start
        self.episode_extra = {
            "optimal": self.result.optimal,
            "solver_makespan": self.result.makespan,
            "solver_lower_bound": self.result.lower_bound,
            "solver_time_s": self.result.wall_time_s,
            "solver_status": self.result.status,
            "fallback": self.result.fallback,
        }

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        cand = self.env.dispatch_candidates()
        starts = self._order_key[cand["job"], self.env.state.next_op[cand["job"]]]
        return int(cand["action"][int(np.argmin(starts))])


def _mwkr_schedule(instance: JobShopInstance) -> np.ndarray:
    """Start times of the non-delay MWKR schedule (a cheap warm start for CP-SAT)."""
    from ...envs.jobshop.state import JobShopState

    st = JobShopState(instance, "nondelay")
    rem = instance.durations[:, ::-1].cumsum(axis=1)[:, ::-1]
    while not st.done:
        jobs = st.candidates()
        work = rem[jobs, st.next_op[jobs]]
        st.schedule(int(jobs[int(np.argmax(work))]))
    return st.start.copy()
