"""Single-instance LLM scheduling baselines: a priority order applied at each decision point."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from schedgym.agents.base import BasePolicy
from schedgym.envs.llm.simulator import ORDERS
from schedgym.envs.llm.types import ServeView


class OrderPolicy(BasePolicy):
    """Admit waiting requests in a priority ``order`` (:data:`schedgym.envs.llm.simulator.ORDERS`); launch
    when none fits. ``strict`` stops at the first request in order that does not fit (vLLM's FCFS
    head-of-line behaviour). ``oracle`` marks policies that read information a real scheduler lacks.

    It reads ``schedgym/LLMServe-v0`` through :class:`~schedgym.envs.llm.types.ServeView` (``env.sim``) and picks the same request the
    simulator's built-in scheduler would (:meth:`ServingSimulator.choose`), restricted to the nodes the
    observation shows.
    """

    labels_any_state = True  # reads the simulator's current queue only

    def __init__(self, name: str, order: str, strict: bool = False, oracle: bool = False,
                 env_kwargs: dict[str, Any] | None = None) -> None:
        if order not in ORDERS:
            raise KeyError(f"unknown order {order!r}; known: {sorted(ORDERS)}")
        super().__init__(name, env_kwargs)
        self.order, self.strict, self.oracle = order, strict, oracle

    def reset(self, env: gym.Env, seed: int | None = None) -> None:
        super().reset(env, seed)
        if not isinstance(env, ServeView):
            raise TypeError(f"{self.name} needs schedgym/LLMServe-v0 (a ServeView: .sim and .node_rid), got {type(env).__name__}")
        self.env: ServeView = env

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        env = self.env
        sim = env.sim
        mask = obs["action_mask"]
        rid = sim.choose(self.order, self.strict)
        if rid is not None:
            hit = np.flatnonzero(env.node_rid == rid)
            if hit.size and mask[hit[0]]:
                return int(hit[0])
            # chosen request outside the observation window: best visible legal request by the same order
            legal = np.flatnonzero(mask[1:]) + 1
            if legal.size:
                keys = ORDERS[self.order](sim, env.node_rid[legal])
                return int(legal[int(np.argmin(keys))])
        if mask[0]:
            return 0
        legal = np.flatnonzero(mask)
        keys = ORDERS[self.order](sim, env.node_rid[legal])
        return int(legal[int(np.argmin(keys))])
