"""Shared timing helpers for the domains' ``bench_rows`` (``schedgym-bench``); no domain is named here.

Speed targets live in benchmark rows, never in tests: the numbers depend on the machine and its load.
Rows are ``{"benchmark", "measure", "value", "unit"}``; every row of one table is measured in the same
run, so ratios between rows are meaningful even on a noisy shared machine.
"""

from __future__ import annotations

import random
import time
from typing import Any, NamedTuple

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


def uniform_pick(rng: random.Random, legal: Any) -> Any:
    """One uniform draw from the sequence ``legal`` (an array of legal actions, or a list of them).

    ``legal[int(rng.random() * n)]`` with Python's :class:`random.Random` rather than NumPy's
    ``Generator.integers(n)``: the same distribution at a tenth of the cost, so that a peer comparison
    times the environments rather than the policy."""
    return legal[int(rng.random() * len(legal))]


class Timing(NamedTuple):
    """Seconds of one timed run: wall clock, and CPU time of this process (``time.process_time``).

    On a shared machine the wall clock also counts the time the process waits for a core; CPU time
    counts only its own work, so ratios of CPU times are the steadier comparison of two envs."""

    wall: float
    cpu: float


def masked_random_episodes(
    reset: Any, step: Any, legal: Any, episodes: int, seed: int = 0, first_episode: int = 0
) -> tuple[list[list[Any]], Timing, int]:
    """Run ``episodes`` episodes of the uniform random masked policy through plain callables, so that
    environments with different APIs are driven by the same loop (peer benchmarks):

    ``reset(episode) -> (obs, info)``, ``step(action) -> (obs, reward, terminated, truncated, info)``,
    ``legal(obs, info) -> sequence of legal actions``. Episode ``i`` is reset with ``first_episode + i``.

    Returns the actions of each episode, the :class:`Timing` and the number of steps."""
    rand = random.Random(seed).random
    trajectories: list[list[Any]] = []
    steps = 0
    w0, c0 = time.perf_counter(), time.process_time()
    for ep in range(first_episode, first_episode + episodes):
        obs, info = reset(ep)
        actions: list[Any] = []
        done = False
        while not done:
            choices = legal(obs, info)
            a = choices[int(rand() * len(choices))]  # uniform_pick, inlined
            actions.append(a)
            obs, _, term, trunc, info = step(a)
            done = term or trunc
        steps += len(actions)
        trajectories.append(actions)
    return trajectories, Timing(time.perf_counter() - w0, time.process_time() - c0), steps


def replay_episodes(reset: Any, step: Any, trajectories: list[list[Any]], first_episode: int = 0) -> Timing:
    """:class:`Timing` of replaying recorded actions (episode ``i`` reset with ``first_episode + i``),
    without a policy: the environment's own cost."""
    w0, c0 = time.perf_counter(), time.process_time()
    for i, actions in enumerate(trajectories):
        reset(first_episode + i)
        for a in actions:
            step(a)
    return Timing(time.perf_counter() - w0, time.process_time() - c0)
