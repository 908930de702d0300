"""Exact-solver policies never fail for want of time, and their proofs do not depend on the machine's load.

CP-SAT is stopped before it finds anything by a deterministic budget (``max_deterministic_time`` with one
worker): the same outcome as a tiny wall-clock limit on a loaded machine, but reproducible anywhere.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import schedgym.envs  # noqa: F401
from schedgym.agents.base import run_episode
from schedgym.agents.jobshop.cpsat import CPSatPolicy, _mwkr_schedule, solve_jobshop
from schedgym.agents.registry import make_policy
from schedgym.envs.jobshop import generate_random

NOTHING = {"time_limit_s": 600.0, "workers": 1, "solver_params": {"max_deterministic_time": 1e-9}}
DET = {"time_limit_s": 600.0, "workers": 1, "solver_params": {"max_deterministic_time": 20.0}}


@pytest.mark.parametrize("warm_start", [True, False])
def test_jobshop_cpsat_plays_its_warm_start_when_cpsat_finds_nothing(warm_start: bool) -> None:
    """Before the fix: ``RuntimeError: CP-SAT found no schedule ... (status UNKNOWN)``."""
    inst = generate_random(10, 6, np.random.default_rng(3), 1, 99)
    pol = CPSatPolicy(warm_start=warm_start, **NOTHING)
    out = run_episode(gym.make("schedgym/JobShop-v0", instance=inst, **pol.env_kwargs), pol, seed=0)
    assert out.validated_objective == out.objective
    assert out.extra["fallback"] is True and out.extra["optimal"] is False
    assert out.extra["solver_status"].endswith("_KEPT_WARM_START")
    mwkr = run_episode(gym.make("schedgym/JobShop-v0", instance=inst, schedule_builder="nondelay"),
                       make_policy("mwkr:nondelay"), seed=0)
    # the replay of the non-delay MWKR schedule in start order reproduces it (or beats it)
    assert out.objective <= out.extra["solver_makespan"] == mwkr.objective
    assert out.extra["solver_lower_bound"] <= out.objective


def test_solve_jobshop_without_a_fallback_still_says_why() -> None:
    inst = generate_random(10, 6, np.random.default_rng(3), 1, 99)
    with pytest.raises(RuntimeError, match="UNKNOWN"):
        solve_jobshop(inst, 600, 1, params=NOTHING["solver_params"])
    res = solve_jobshop(inst, 600, 1, params=NOTHING["solver_params"], fallback=_mwkr_schedule(inst))
    assert res.fallback and res.makespan == int((res.start + inst.durations).max())


@pytest.mark.parametrize("name, optimum", [("ft06", 55), ("la02", 655)])
def test_jobshop_cpsat_proof_under_a_deterministic_limit(name: str, optimum: int, jsplib_dir) -> None:
    """The load-independent form of ``test_jobshop.py::test_cpsat_proves_small_optima_and_replays_exactly``:
    one worker, a deterministic budget, the wall-clock limit only a safety net."""
    pol = CPSatPolicy(**DET)
    out = run_episode(gym.make("schedgym/JobShop-v0", instance=name, **pol.env_kwargs), pol, seed=0)
    assert out.extra["optimal"] is True and out.extra["fallback"] is False
    assert out.objective == optimum == out.extra["solver_makespan"]


def test_jobshop_cpsat_by_name_reports_fallback() -> None:
    """``cpsat:<seconds>`` under any load: a validated schedule, ``fallback`` reported either way."""
    inst = generate_random(6, 6, np.random.default_rng(0), 1, 99)
    pol = make_policy("cpsat:0.05")
    out = run_episode(gym.make("schedgym/JobShop-v0", instance=inst, **pol.env_kwargs), pol, seed=0)
    assert out.validated_objective == out.objective <= out.extra["solver_makespan"]
    assert out.extra["fallback"] == out.extra["solver_status"].endswith("_KEPT_WARM_START")
