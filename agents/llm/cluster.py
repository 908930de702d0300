"""Cluster baselines for ``schedgym/LLMCluster-v0``: where each arriving request goes, and (Llumnix)
which running request migrates at a migration check. All of them answer no-op at migration checks
except ``llumnix``."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from schedgym.agents.base import BasePolicy
from schedgym.envs.llm.types import ClusterView


class ClusterPolicy(BasePolicy):
    """Dispatch rule ``rule``: ``"rr"`` (round robin), ``"random"``, ``"lor"`` (least outstanding requests:
    running + queued + swapped + migrating in), ``"kv-jsq"`` (join the instance with the lowest
    Llumnix virtual KV usage: blocks held plus those its queue needs) or ``"llumnix"`` (``kv-jsq``
    dispatch plus migration from the most to the least loaded instance whenever their load gap
    exceeds ``gap``; the env must run migration checks, see ``env_kwargs``)."""

    RULES = ("rr", "random", "lor", "kv-jsq", "llumnix")

    def __init__(self, rule: str, gap: float = 0.1, env_kwargs: dict[str, Any] | None = None) -> None:
        if rule not in self.RULES:
            raise ValueError(f"unknown cluster rule {rule!r}; known: {self.RULES}")
        super().__init__(f"cluster-{rule}" if rule != "llumnix" else "llumnix", env_kwargs)
        self.rule, self.gap = rule, float(gap)
        self._next = 0

    def reset(self, env: gym.Env, seed: int | None = None) -> None:
        super().reset(env, seed)
        if not isinstance(env, ClusterView):
            raise TypeError(f"{self.name} needs schedgym/LLMCluster-v0 (a ClusterView), got {type(env).__name__}")
        self.env: ClusterView = env
        self._next = 0

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        env = self.env
        c = env.cluster
        if env.event == "dispatch":
            n = env.n_instances
            if self.rule == "rr":
                k = self._next % n
                self._next += 1
            elif self.rule == "random":
                k = int(self.rng.integers(n))
            elif self.rule == "lor":
                k = int(np.argmin([i.outstanding() for i in c.instances]))
            else:
                k = int(np.argmin([i.load() for i in c.instances]))
            return 1 + k
        # migration check
        if self.rule == "llumnix" and env.candidates:
            loads = [i.load() for i in c.instances]
            src, r, dst = env.candidates[0]  # most loaded source, smallest KV first (see the env)
            if loads[src] - loads[dst] > self.gap:
                return env.new_node + 1
        return 0


def _factory(rule: str, **defaults: Any):
    def make(variant: str | None = None, **kw: Any) -> ClusterPolicy:
        env_kwargs = {}
        gap = 0.1
        if rule == "llumnix":
            interval = float(variant) if variant else 0.5
            if interval <= 0:
                raise ValueError(f"llumnix migration interval must be > 0 s, got {variant!r}")
            env_kwargs = {"migration_interval": interval}
        elif variant:
            raise ValueError(f"policy cluster-{rule} takes no variant, got {variant!r}")
        return ClusterPolicy(rule, gap=kw.get("gap", gap), env_kwargs=env_kwargs)

    return make


#: cluster policy names (``"llumnix:<migration interval s>"``, default 0.5 s)
CLUSTER_POLICIES = {
    "cluster-rr": _factory("rr"),
    "cluster-random": _factory("random"),
    "cluster-lor": _factory("lor"),
    "cluster-kv-jsq": _factory("kv-jsq"),
    "llumnix": _factory("llumnix"),
}
