"""Shared by the GNN tests: observations met along uniformly random masked play, and passes over them."""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np
import torch


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


def job_shop_states(n: int, n_jobs: int = 10, n_machines: int = 10, seed: int = 0) -> dict[str, torch.Tensor]:
    """``n`` states of random masked play on random job shops, stacked as SB3 hands them over (float32)."""
    import schedgym.envs  # noqa: F401 - registers the ids
    from schedgym.agents.gnn.graph import stack_observations

    env = gym.make("schedgym/JobShop-v0", n_jobs=n_jobs, n_machines=n_machines)
    kept = random_masked_observations(env, n, seed)
    return {k: torch.as_tensor(v).float() for k, v in stack_observations(kept).items()}


def padded_to(small: torch.Tensor, large: torch.Tensor) -> list[int]:
    """``F.pad`` widths that pad ``small``'s trailing axes to ``large``'s shape."""
    widths: list[int] = []
    for s_dim, l_dim in zip(reversed(small.shape[1:]), reversed(large.shape[1:])):
        widths += [0, l_dim - s_dim]
    return widths


def with_options(module: Any, **options: Any) -> Any:
    """A copy of a ``GraphActorCritic`` with other ``GNNConfig`` fields (execution options) and the same weights."""
    other = type(module)(module.spec, dataclasses.replace(module.config, **options))
    other.load_state_dict(module.state_dict())
    return other


def gradient_pass(module: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """``(logits, log-probabilities, values, parameter gradients)`` of one pass with a loss that reaches every
    output: the legal log-probabilities plus the squared values."""
    module.zero_grad()
    logits, value = module(batch)
    log_probs = torch.log_softmax(logits, -1)
    (log_probs[batch["action_mask"].bool()].sum() + value.square().sum()).backward()
    return logits.detach(), log_probs.detach(), value.detach(), [p.grad.clone() for p in module.parameters()]
