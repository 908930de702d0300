"""Speed of the SoC simulator and of ``schedgym/SoCDAG-v0`` (rows for ``schedgym-bench``).

* **simulator alone, ETF**: the WiFi TX/RX mix streaming into ``ds3_16pe_head`` (2,000 jobs, about 30k
  tasks, 10 jobs/ms: near saturation) run by :meth:`SoCSimulator.run` with DS3's ETF rule
  (:class:`~.heuristics.OnlineListScheduler`): tasks/s, the rule's own cost included; also without noise
  and with HEFT-RT;
* **env + random policy**: ``SoCDAG-v0`` with its default kwargs (the DS3 mix, 10 jobs) under a random
  masked policy, observations included: steps/s and decisions/s (an assignment is two steps, a wait one);
  the same actions replayed without the policy (env only);
* **env + ETF policy**: the same env driven by the ``etf`` baseline through the two-step action.

The bench lives with the baselines because the simulator row runs one of them.
"""

from __future__ import annotations

import time
from typing import Any

from ...envs.benchmarking import time_random_rollouts
from ...envs.soc.env import SoCDAGEnv
from .heuristics import OnlineListScheduler, PlannerPolicy


def _sim_row(rule: str, n_jobs: int, noise: float) -> dict[str, Any]:
    env = SoCDAGEnv(mix="wifi", n_jobs=n_jobs, mean_interarrival_us=100.0, noise=noise)
    env.reset(seed=0)
    sim = env.sim
    jobs = list(zip(sim.job_arrival, sim.job_app))
    factors = sim.factor
    sim.log = None  # the simulator alone: no observer
    planner = OnlineListScheduler(rule)
    t0 = time.perf_counter()
    sim.reset(jobs, factors)
    planner.reset(sim)
    sim.run(planner.decide)
    wall = time.perf_counter() - t0
    label = f"SoC simulator alone, WiFi mix on ds3_16pe_head, {n_jobs} jobs at 10 jobs/ms, noise {noise:g}"
    return {"benchmark": label, "measure": f"{rule}: tasks/s", "value": sim.n_tasks / wall, "unit": "1/s"}


def _env_rows(episodes: int) -> list[dict[str, Any]]:
    env = SoCDAGEnv()
    trajectories, t_policy, t_env = time_random_rollouts(env, episodes)
    steps = sum(len(a) for a in trajectories)
    # decisions: one per assignment (two steps) or wait (one step)
    decisions = sum(sum(1 for a in actions if a == 0) for actions in trajectories)
    decisions += (steps - decisions) // 2
    label = "SoCDAG-v0 default (DS3 mix, 10 jobs, ds3_16pe_head), observations included"
    rows = [
        {"benchmark": label, "measure": "env + random policy: steps/s", "value": steps / t_policy, "unit": "1/s"},
        {"benchmark": label, "measure": "env + random policy: decisions/s", "value": decisions / t_policy, "unit": "1/s"},
        {"benchmark": label, "measure": "env + random policy: episodes/s", "value": episodes / t_policy, "unit": "1/s"},
        {"benchmark": label, "measure": "env only (same actions): steps/s", "value": steps / t_env, "unit": "1/s"},
    ]
    policy = PlannerPolicy("etf", OnlineListScheduler("etf"))
    n = 0
    t0 = time.perf_counter()
    for ep in range(episodes):
        obs, info = env.reset(seed=ep)
        policy.reset(env, ep)
        done = False
        while not done:
            obs, _, term, trunc, info = env.step(policy.act(obs, info))
            n += 1
            done = term or trunc
    wall = time.perf_counter() - t0
    rows.append({"benchmark": label, "measure": "env + etf policy: steps/s", "value": n / wall, "unit": "1/s"})
    return rows


def bench_rows(quick: bool = False) -> list[dict[str, Any]]:
    """Every row of the module docstring (``quick``: 200 jobs and 5 episodes, for tests)."""
    n_jobs = 200 if quick else 2000
    rows = [_sim_row("etf", n_jobs, 0.0), _sim_row("heft-rt", n_jobs, 0.0), _sim_row("etf", n_jobs, 0.2)]
    return rows + _env_rows(5 if quick else 100)
