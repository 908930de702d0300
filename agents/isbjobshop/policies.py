"""Solver-based ISBJSSP policies that act through the environment (``schedule_builder="serial"``).

All three replay a CP-SAT plan by **machine sequence**: an operation is started as soon as it is legal
and it is the next planned operation of its machine (for a swap, every member of the cycle must be);
otherwise the policy waits for the next event. Starting no later than planned never hurts here (a
blocked job only frees its machine earlier, and completions are monotone in the start time), so without
disruptions the replayed makespan is at most the solver's.

* ``isb-cpsat[:seconds]`` — blocking job shop with swaps, **no interruptions** known: solved once at
  reset; exact on small instances. Under shutdowns it keeps following the same sequences.
* ``isb-clairvoyant[:seconds]`` — knows the episode's shutdown realization (drawn at reset from the
  seed) and solves with it: its solver bound is a bound no online policy can beat on that episode.
* ``isb-reactive[:seconds]`` — solves at reset (no downtime known; 10 s by default), then **re-solves at every
  disruption** (at the first decision after new machine failures; failures themselves are not decision
  points of the environment), knowing the machines down at that moment
  and their repair times but no future failure, under a short time limit (default 1 s), warm-started
  with the better of MWKR and the current plan followed from the new state. The number and wall time of
  re-solves (``n_resolves``, ``resolve_time_s``, ``max_resolve_time_s``; the reset solve apart as
  ``initial_solve_time_s``) are reported in ``episode_extra``.

A solver policy never fails for want of time: when CP-SAT finds no schedule within its limit (a tiny
limit, a loaded machine), the policy plays its warm start (non-delay MWKR, or the best complete schedule
it knew) and says so: ``episode_extra["fallback"]`` is True (for ``isb-reactive``: some solve of the
episode kept its warm start) and ``solver_status`` ends in ``_KEPT_WARM_START``. ``solver_params`` (a
constructor keyword) passes extra CP-SAT parameters, e.g. ``{"max_deterministic_time": 5.0}`` with
``workers=1`` for results that do not depend on the machine's load.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np

from ...envs.isbjobshop.state import ISBJobShopState
from ...envs.isbjobshop.types import ISBView
from ..base import BasePolicy
from .cpsat import (
    ISBSolveResult,
    ScheduleRecord,
    ShopSnapshot,
    greedy_schedule,
    replay_sequences,
    snapshot_of,
    solve_blocking,
    solve_snapshot,
)


class _SequenceReplay(BasePolicy):
    """Shared machinery: follow per-machine planned sequences; wait when nothing planned can start."""

    default_limit = 10.0

    def __init__(self, base: str, variant: str | None = None, time_limit_s: float | None = None,
                 workers: int = 2, solver_params: dict[str, Any] | None = None) -> None:
        if variant:
            try:
                limit = float(variant)
            except ValueError:
                raise ValueError(f"{base}: variant must be a time limit in seconds, got {variant!r}") from None
        else:
            limit = time_limit_s if time_limit_s is not None else self.default_limit
        if limit <= 0:
            raise ValueError(f"{base}: time limit must be > 0 s, got {limit}")
        super().__init__(name=base if variant is None else f"{base}:{variant}",
                         env_kwargs={"schedule_builder": "serial"})
        self.time_limit_s = float(limit)
        self.workers = int(workers)
        self.solver_params = dict(solver_params or {})
        self.episode_extra: dict[str, Any] = {}
        self._seq: list[list[tuple[int, int]]] = []
        self._pos: list[int] = []
        self._planned: dict[tuple[int, int], int] = {}
        self.deviations = 0

    def reset(self, env: Any, seed: int | None = None) -> None:
        super().reset(env, seed)
        if not isinstance(env, ISBView):
            raise TypeError(f"{self.name} needs an ISBJSSP env (ISBView), got {type(env).__name__}")
        self.env: ISBView = env
        if env.schedule_builder != "serial":
            raise ValueError(
                f"{self.name} replays plans through an ISBJobShopEnv built with schedule_builder='serial' "
                "(the evaluation CLI does this from the policy's env_kwargs)"
            )
        self.deviations = 0
        self.seed = seed or 0

    def _adopt(self, res: Any) -> None:
        """Keep a solver result: its plan to replay and its status for the results row."""
        self.result = res
        self._set_plan(res)
        self.episode_extra = {
            "optimal": res.optimal,
            "solver_status": res.status,
            "solver_makespan": res.makespan,
            "solver_lower_bound": res.lower_bound,
            "solver_time_s": res.wall_time_s,
            "fallback": bool(res.fallback),
        }

    def _set_plan(self, result: ISBSolveResult) -> None:
        inst = self.env.instance
        self._seq = result.machine_sequences(inst)
        self._pos = [0] * inst.n_machines
        self._planned = dict(result.start)

    def _next_planned(self, st: ISBJobShopState, machine: int) -> tuple[int, int] | None:
        seq, pos = self._seq[machine], self._pos[machine]
        while pos < len(seq) and st.start_time[seq[pos][0]][seq[pos][1]] >= 0:
            pos += 1
        self._pos[machine] = pos
        return seq[pos] if pos < len(seq) else None

    def _eligible(self, st: ISBJobShopState) -> list[int]:
        out = []
        for j in st.legal:
            members = st.swap_cycle.get(j, [j])
            ok = True
            for c in members:
                k = st.next_op[c]
                if self._next_planned(st, st.mach[c][k]) != (c, k):
                    ok = False
                    break
            if ok:
                out.append(j)
        return out

    def _choose(self, st: ISBJobShopState, obs: dict[str, np.ndarray]) -> int | None:
        m = st.n_machines
        elig = self._eligible(st)
        if elig:
            j = min(elig, key=lambda jj: (self._planned.get((jj, st.next_op[jj]), 1 << 60), jj))
            return j * m + st.next_op[j]
        if obs["action_mask"][self.env.wait_node]:
            return int(self.env.wait_node)
        return None

    def _fallback(self, st: ISBJobShopState) -> int:
        self.deviations += 1
        self.episode_extra["plan_deviations"] = self.deviations
        m = st.n_machines
        j = min(st.legal, key=lambda jj: (self._planned.get((jj, st.next_op[jj]), 1 << 60), jj))
        return j * m + st.next_op[j]

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        st = self.env.state
        a = self._choose(st, obs)
        return a if a is not None else self._fallback(st)


class CPSatBlockingPolicy(_SequenceReplay):
    """CP-SAT on the blocking job shop with swaps (no downtime known), solved once at reset."""

    def __init__(self, variant: str | None = None, time_limit_s: float | None = None, workers: int = 2,
                 warm_start: bool = True, solver_params: dict[str, Any] | None = None) -> None:
        super().__init__("isb-cpsat", variant, time_limit_s, workers, solver_params)
        self.warm_start = warm_start

    def reset(self, env: Any, seed: int | None = None) -> None:
        super().reset(env, seed)
        res = solve_blocking(env.instance, self.time_limit_s, self.workers, seed=self.seed, warm_start=self.warm_start,
                             params=self.solver_params)
        self._adopt(res)


class ClairvoyantPolicy(_SequenceReplay):
    """CP-SAT that knows the episode's whole shutdown realization in advance (solved at reset)."""

    def __init__(self, variant: str | None = None, time_limit_s: float | None = None, workers: int = 2,
                 solver_params: dict[str, Any] | None = None) -> None:
        super().__init__("isb-clairvoyant", variant, time_limit_s, workers, solver_params)

    def reset(self, env: Any, seed: int | None = None) -> None:
        super().reset(env, seed)
        st = env.state
        if st.t != 0 or st.n_started:
            raise ValueError("isb-clairvoyant solves at the start of an episode (t=0, nothing started)")
        res = solve_clairvoyant(st, self.time_limit_s, self.workers, seed=self.seed, params=self.solver_params)
        self._adopt(res)


def solve_clairvoyant(state: ISBJobShopState, time_limit_s: float = 10.0, workers: int = 2,
                      seed: int = 0, params: dict[str, Any] | None = None) -> ISBSolveResult:
    """Solve the episode that starts from ``state`` (at t=0) knowing its shutdown realization.

    Warm start: the better of a non-delay MWKR run and the replay of the blocking CP-SAT plan (solved
    without downtime, half of the time limit) on the realization — both complete, feasible schedules
    that the model is hinted with; the solver keeps it if it finds nothing better in time. The result's
    ``lower_bound`` is the larger of CP-SAT's bound on the clairvoyant optimum and its bound on the
    no-downtime problem (downtime can only lengthen a schedule). ``fallback`` is True when CP-SAT found
    nothing better in time and the warm start is returned as is. ``params``: extra CP-SAT parameters for
    both solves.
    """
    snap, sim = snapshot_of(state, "clairvoyant")
    greedy_schedule(sim)  # same realization (the copy carries the per-machine generators' state)
    candidates = [sim]
    det = solve_blocking(state.instance, max(0.5 * time_limit_s, 0.1), workers, seed=seed, params=params)
    sim2 = replay_sequences(copy.deepcopy(state), det)
    candidates.append(sim2)
    best = min((c for c in candidates if not c.truncated), key=lambda c: c.makespan, default=None)
    if best is None:
        raise RuntimeError("clairvoyant: no warm start finished before max_time")
    ub = int(best.makespan)
    m = state.n_machines
    reach = 4 * ub + int(state.instance.durations.max()) + 10
    snap.down = [list(state.downtime.until(i, reach)) for i in range(m)]
    remaining = max(time_limit_s - det.wall_time_s, 0.1)
    res = solve_snapshot(snap, remaining, workers, horizon=ub, seed=seed,
                         hint_schedule=ScheduleRecord.from_state(best), params=params)
    # Downtime only removes capacity: a schedule feasible with downtime keeps its occupation intervals
    # and completes no later without it, so a bound of the no-downtime problem bounds the clairvoyant one.
    if np.isfinite(det.lower_bound) and (not np.isfinite(res.lower_bound) or det.lower_bound > res.lower_bound):
        res.lower_bound = float(det.lower_bound)
    if res.makespan <= res.lower_bound:
        res.optimal = True
    return res


class ReactivePolicy(_SequenceReplay):
    """Re-solve with CP-SAT at every disruption (newly observed machine failures), then follow the plan."""

    default_limit = 1.0

    def __init__(self, variant: str | None = None, time_limit_s: float | None = None, workers: int = 2,
                 initial_time_limit_s: float | None = None, solver_params: dict[str, Any] | None = None) -> None:
        super().__init__("isb-reactive", variant, time_limit_s, workers, solver_params)
        #: the plan at reset gets the offline budget (default 10 s, as isb-cpsat); re-solves get ``time_limit_s``
        self.initial_time_limit_s = (
            initial_time_limit_s if initial_time_limit_s is not None else max(10.0, self.time_limit_s)
        )
        self._last: ISBSolveResult | None = None

    def _solve(self, st: ISBJobShopState, limit: float, initial: bool = False) -> None:
        t0 = time.perf_counter()
        snap, sim = snapshot_of(st, "current")
        # warm starts (complete schedules under the solver's view): MWKR, and the current plan followed on
        candidates = [greedy_schedule(copy.deepcopy(sim))]
        if self._last is not None:
            candidates.append(replay_sequences(copy.deepcopy(sim), self._last))
        best = min((c for c in candidates if not c.truncated), key=lambda c: c.makespan)
        record = ScheduleRecord.from_state(best, list(st.next_op))
        res = solve_snapshot(snap, limit, self.workers, horizon=int(best.makespan), seed=self.seed,
                             hint_schedule=record, params=self.solver_params)
        self.n_fallbacks += int(res.fallback)
        dt = time.perf_counter() - t0
        self._last = res
        self._set_plan(res)
        self._seen_failures = st.n_failures
        if initial:
            self.episode_extra.update({"initial_solve_time_s": dt, "initial_solver_status": res.status})
        else:
            self.n_solves += 1
            self.solve_time += dt
            self.max_solve = max(self.max_solve, dt)
        self.episode_extra.update(
            {
                "n_resolves": self.n_solves,
                "resolve_time_s": self.solve_time,
                "max_resolve_time_s": self.max_solve,
                "last_solver_status": res.status,
                "fallback": self.n_fallbacks > 0,
                "n_fallbacks": self.n_fallbacks,
            }
        )

    def reset(self, env: Any, seed: int | None = None) -> None:
        super().reset(env, seed)
        self.n_solves, self.solve_time, self.max_solve = 0, 0.0, 0.0
        self.n_fallbacks = 0
        self._last = None
        self.episode_extra = {}
        self._solve(env.state, self.initial_time_limit_s, initial=True)

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        st = self.env.state
        if st.n_failures != self._seen_failures:
            self._solve(st, self.time_limit_s)
        a = self._choose(st, obs)
        if a is None:  # the plan is stuck: re-solve once from here, then fall back
            self._solve(st, self.time_limit_s)
            a = self._choose(st, obs)
        return a if a is not None else self._fallback(st)


__all__ = ["CPSatBlockingPolicy", "ClairvoyantPolicy", "ReactivePolicy", "ShopSnapshot", "solve_clairvoyant"]
