"""Shared by the GNN tests: observations met along uniformly random masked play."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


def random_masked_observations(env: gym.Env, n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """``n`` observations (copies) of random masked play on ``env`` from ``reset(seed=seed)``; a finished episode
    is followed by ``reset(seed=seed + <observations so far>)``, so every call with the same arguments meets the
    same states."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    kept: list[dict[str, np.ndarray]] = []
    while len(kept) < n:
        kept.append({k: np.array(v) for k, v in obs.items()})
        obs, _, terminated, truncated, _ = env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
        if terminated or truncated:
            obs, _ = env.reset(seed=seed + len(kept))
    return kept
