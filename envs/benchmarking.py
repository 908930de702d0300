"""Shared timing helpers for the domains' ``bench_rows`` (``schedgym-bench``); no domain is named here.

Speed targets live in benchmark rows, never in tests: the numbers depend on the machine and its load.
Rows are ``{"benchmark", "measure", "value", "unit"}``; every row of one table is measured in the same
run, so ratios between rows are meaningful even on a noisy shared machine.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def time_random_rollouts(env: Any, episodes: int, seed: int = 0) -> tuple[list[list[int]], float, float]:
    """Run ``episodes`` seeded episodes of a random masked policy on ``env`` (the unwrapped env), then
    replay the same actions without the policy. Returns the actions of each episode, the time with the
    policy and the time of the replay alone (episode ``ep`` is reset with ``seed=ep`` both times)."""
    rng = np.random.default_rng(seed)
    env.reset(seed=0)  # warm-up
    trajectories: list[list[int]] = []
    t0 = time.perf_counter()
    for ep in range(episodes):
        obs, _ = env.reset(seed=ep)
        actions: list[int] = []
        done = False
        while not done:
            legal = np.flatnonzero(obs["action_mask"])
            a = int(legal[rng.integers(legal.size)])
            actions.append(a)
            obs, _, term, trunc, _ = env.step(a)
            done = term or trunc
        trajectories.append(actions)
    t_policy = time.perf_counter() - t0
    t0 = time.perf_counter()
    for ep, actions in enumerate(trajectories):
        env.reset(seed=ep)
        for a in actions:
            env.step(a)
    t_env = time.perf_counter() - t0
    return trajectories, t_policy, t_env


def random_steps_rows(env: Any, label: str, steps: int, seed: int = 0) -> list[dict[str, Any]]:
    """Steps/s and episodes/s of ``env`` under a random masked policy for ``steps`` steps."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    n, episodes = 0, 0
    t0 = time.perf_counter()
    while n < steps:
        legal = np.flatnonzero(obs["action_mask"])
        obs, _, term, trunc, _ = env.step(int(legal[rng.integers(legal.size)]))
        n += 1
        if term or trunc:
            episodes += 1
            obs, _ = env.reset(seed=seed + episodes)
    wall = time.perf_counter() - t0
    return [{"benchmark": label, "measure": "env + random policy: steps/s", "value": n / wall, "unit": "1/s"},
            {"benchmark": label, "measure": "env + random policy: episodes/s", "value": episodes / wall, "unit": "1/s"}]
