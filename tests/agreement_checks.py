"""Shared by the released-policy tests: how often a cloned policy picks what its expert rule would, asked
along the policy's own trajectory (the expert only answers; the policy's actions are played)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


def play_and_ask(env: gym.Env, policy: Any, expert: Any, seed: int) -> tuple[list[int], int, int]:
    """One episode of ``policy`` on ``env`` from ``reset(seed=seed)``; at every state with more than one legal
    node ``expert`` is asked too. Returns the policy's actions, the states where the expert's choice was the
    same, and the states with a choice."""
    obs, info = env.reset(seed=seed)
    policy.reset(env.unwrapped, seed)
    expert.reset(env.unwrapped, seed)
    taken: list[int] = []
    agree = with_choice = 0
    done = False
    while not done:
        action = int(policy.act(obs, info))
        if np.count_nonzero(obs["action_mask"]) > 1:
            with_choice += 1
            agree += action == int(expert.act(obs, info))
        taken.append(action)
        obs, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    return taken, agree, with_choice
