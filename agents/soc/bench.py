"""Speed of the SoC simulator and of ``schedgym/SoCDAG-v0`` (rows for ``schedgym-bench``).

* **simulator alone, ETF**: the WiFi TX/RX mix streaming into ``ds3_16pe_head`` (2,000 jobs, about 30k
  tasks, 10 jobs/ms: near saturation) run by :meth:`SoCSimulator.run` with DS3's ETF rule
  (:class:`~.heuristics.OnlineListScheduler`): tasks/s, the rule's own cost included; also without noise
  and with HEFT-RT;
* **env + random policy**: ``SoCDAG-v0`` with its default kwargs (the DS3 mix, 10 jobs) under a random
  masked policy, observations included: steps/s and decisions/s (an assignment is two steps, a wait one);
  the same actions replayed without the policy (env only);
* **env + ETF policy**: the same env driven by the ``etf`` baseline through the two-step action.

Each speed row comes twice: per second of wall clock, and per second of this process's CPU time
(``time.process_time``, marked "(CPU time)"). On a shared, loaded machine the wall clock also counts the
time the process waits for a core; the CPU-time rows are the steadier figure to compare with a target.

The bench lives with the baselines because the simulator row runs one of them.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ...envs.benchmarking import Timing, masked_random_episodes, replay_episodes
from ...envs.soc.env import SoCDAGEnv
from .heuristics import OnlineListScheduler, PlannerPolicy


def _sim_rows(rule: str, n_jobs: int, noise: float) -> list[dict[str, Any]]:
    env = SoCDAGEnv(mix="wifi", n_jobs=n_jobs, mean_interarrival_us=100.0, noise=noise)
    env.reset(seed=0)
    sim = env.sim
    jobs = list(zip(sim.job_arrival, sim.job_app))
    factors = sim.factor
    sim.log = None  # the simulator alone: no observer
    planner = OnlineListScheduler(rule)
    w0, c0 = time.perf_counter(), time.process_time()
    sim.reset(jobs, factors)
    planner.reset(sim)
    sim.run(planner.decide)
    timing = Timing(time.perf_counter() - w0, time.process_time() - c0)
    label = f"SoC simulator alone, WiFi mix on ds3_16pe_head, {n_jobs} jobs at 10 jobs/ms, noise {noise:g}"
    return _rate_rows(label, f"{rule}: tasks/s", sim.n_tasks, timing)


def _rate_rows(label: str, measure: str, count: float, timing: Timing) -> list[dict[str, Any]]:
    """``count`` per second of wall clock and per second of CPU time."""
    return [{"benchmark": label, "measure": measure, "value": count / timing.wall, "unit": "1/s"},
            {"benchmark": label, "measure": f"{measure} (CPU time)", "value": count / max(timing.cpu, 1e-9),
             "unit": "1/s"}]


def _env_rows(episodes: int) -> list[dict[str, Any]]:
    env = SoCDAGEnv()
    env.reset(seed=0)  # warm-up

    def reset(ep: int) -> tuple[Any, Any]:
        return env.reset(seed=ep)

    def legal(obs: Any, info: Any) -> Any:
        return np.flatnonzero(obs["action_mask"])

    trajectories, t_policy, steps = masked_random_episodes(reset, env.step, legal, episodes)
    t_env = replay_episodes(reset, env.step, trajectories)
    # decisions: one per assignment (two steps) or wait (one step)
    waits = sum(sum(1 for a in actions if a == 0) for actions in trajectories)
    decisions = waits + (steps - waits) // 2
    label = "SoCDAG-v0 default (DS3 mix, 10 jobs, ds3_16pe_head), observations included"
    rows = [
        *_rate_rows(label, "env + random policy: steps/s", steps, t_policy),
        *_rate_rows(label, "env + random policy: decisions/s", decisions, t_policy),
        {"benchmark": label, "measure": "env + random policy: episodes/s", "value": episodes / t_policy.wall, "unit": "1/s"},
        *_rate_rows(label, "env only (same actions): steps/s", steps, t_env),
    ]
    policy = PlannerPolicy("etf", OnlineListScheduler("etf"))
    n = 0
    w0, c0 = time.perf_counter(), time.process_time()
    for ep in range(episodes):
        obs, info = env.reset(seed=ep)
        policy.reset(env, ep)
        done = False
        while not done:
            obs, _, term, trunc, info = env.step(policy.act(obs, info))
            n += 1
            done = term or trunc
    rows += _rate_rows(label, "env + etf policy: steps/s", n, Timing(time.perf_counter() - w0, time.process_time() - c0))
    return rows


def bench_rows(quick: bool = False) -> list[dict[str, Any]]:
    """Every row of the module docstring (``quick``: 200 jobs and 5 episodes, for tests)."""
    n_jobs = 200 if quick else 2000
    rows = [*_sim_rows("etf", n_jobs, 0.0), *_sim_rows("heft-rt", n_jobs, 0.0), *_sim_rows("etf", n_jobs, 0.2)]
    return rows + _env_rows(5 if quick else 100)
