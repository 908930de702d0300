"""The one Policy protocol that every baseline, solver and trained agent implements.

A policy acts *through the environment*: the evaluation loop calls ``policy.reset(env, seed)`` after
``env.reset`` and then ``policy.act(obs, info)`` for each step, so dispatching rules, exact solvers
(which solve at reset and replay their decisions) and trained GNN policies are evaluated, timed and
validated alike. ``env_kwargs`` lets a policy say how the environment must be built for it (e.g. the
schedule builder of a dispatching rule); the evaluation loop merges them into the env's kwargs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np


@runtime_checkable
class Policy(Protocol):
    """Anything that picks a legal node of the current graph.

    Optional attribute: ``labels_any_state`` (default False when absent), True when ``act`` reads only the
    env's current state (and the seed), never what the policy itself did earlier in the episode; such a
    policy can label states another policy reached (DAgger, ``imitation.dagger_rounds``).
    """

    name: str
    env_kwargs: dict[str, Any]

    def reset(self, env: gym.Env, seed: int | None = None) -> None:
        """Called after ``env.reset()``; ``env`` is the unwrapped environment."""

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        """The index of the node to pick; must be legal under ``obs["action_mask"]``."""


class BasePolicy:
    """Convenience base: stores the env at reset, no env requirements, deterministic by default."""

    name: str = "policy"
    env_kwargs: dict[str, Any]
    #: ``act`` reads only the env's current state (and the seed), not the policy's own earlier choices in the
    #: episode, so it can label any state another policy reached (DAgger, ``imitation.dagger_rounds``).
    #: False for policies that keep per-episode commitments or replay a plan made at reset.
    labels_any_state: bool = False

    def __init__(self, name: str | None = None, env_kwargs: dict[str, Any] | None = None) -> None:
        if name is not None:
            self.name = name
        self.env_kwargs = dict(env_kwargs or {})
        self.env: gym.Env | None = None
        self.rng = np.random.default_rng(0)

    def reset(self, env: gym.Env, seed: int | None = None) -> None:
        self.env = env
        self.rng = np.random.default_rng(seed)

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class RandomPolicy(BasePolicy):
    """Uniformly random legal node (seeded by ``reset``); a domain-independent baseline."""

    name = "random"
    labels_any_state = True

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        legal = np.flatnonzero(obs["action_mask"])
        return int(legal[self.rng.integers(legal.size)])


@dataclass
class EpisodeResult:
    """What one evaluation episode produced."""

    objective: float
    metrics: dict[str, float]
    solution: dict[str, Any]
    steps: int
    wall_time_s: float
    policy_time_s: float
    validated_objective: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def run_episode(
    env: gym.Env,
    policy: Policy,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    validate: bool = True,
) -> EpisodeResult:
    """Run one episode of ``policy`` on ``env``; validate the solution with the domain's validator.

    Raises if the policy picks an illegal action (the env's :class:`IllegalActionError`) or the
    validator rejects the solution.
    """
    base = env.unwrapped
    t0 = time.perf_counter()
    obs, info = env.reset(seed=seed, options=options)
    tp = time.perf_counter()
    policy.reset(base, seed)
    policy_time = time.perf_counter() - tp
    steps = 0
    while True:
        tp = time.perf_counter()
        action = policy.act(obs, info)
        policy_time += time.perf_counter() - tp
        obs, _, terminated, truncated, info = env.step(action)
        steps += 1
        if terminated or truncated:
            break
    wall = time.perf_counter() - t0
    metrics = dict(info["metrics"])
    objective_name = base.objective.name
    validated = base.validate_solution(info["solution"]) if validate else None
    return EpisodeResult(
        objective=float(metrics[objective_name]),
        metrics=metrics,
        solution=info["solution"],
        steps=steps,
        wall_time_s=wall,
        policy_time_s=policy_time,
        validated_objective=validated,
        extra=dict(getattr(policy, "episode_extra", None) or {}),
    )
