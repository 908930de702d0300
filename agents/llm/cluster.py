"""Cluster baselines for ``schedgym/LLMCluster-v0``: where each arriving request goes, and (Llumnix)
which running request migrates at a migration check. All of them answer no-op at migration checks
except ``llumnix``, ``llumnix-growth`` and ``llumnix-sita``."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from schedgym.agents.base import BasePolicy
from schedgym.envs.core import check_number
from schedgym.envs.llm.cluster import Instance
from schedgym.envs.llm.types import ClusterView


class ClusterPolicy(BasePolicy):
    """Dispatch rule ``rule``: ``"rr"`` (round robin), ``"random"``, ``"lor"`` (least outstanding requests:
    running + queued + swapped + migrating in), ``"kv-jsq"`` (join the instance with the lowest
    Llumnix virtual KV usage: blocks held plus those its queue needs) or ``"llumnix"`` (``kv-jsq``
    dispatch plus migration from the most to the least loaded instance whenever their load gap
    exceeds ``gap``; the env must run migration checks, see ``env_kwargs``) or ``"llumnix-growth"``
    (``llumnix`` whose dispatch also counts the KV each resident request is still expected to grow:
    :func:`growth_load` with ``growth_tokens`` tokens per running, migrating-in, queued or swapped
    request; migration as ``llumnix``, with its own ``gap``) or ``"llumnix-sita"`` (``llumnix-growth``
    plus a size split, as SITA: a request whose prompt has at least ``long_prompt`` tokens prefers the
    first ``n_long`` instances and a shorter one the others; the instances it does not prefer count
    ``affinity`` more load, so a split is kept only while the loads stay within ``affinity``)."""

    RULES = ("rr", "random", "lor", "kv-jsq", "llumnix", "llumnix-growth", "llumnix-sita")

    def __init__(self, rule: str, gap: float = 0.1, env_kwargs: dict[str, Any] | None = None,
                 growth_tokens: float = 0.0, long_prompt: int = 2500, n_long: int = 1,
                 affinity: float = 0.0) -> None:
        if rule not in self.RULES:
            raise ValueError(f"unknown cluster rule {rule!r}; known: {self.RULES}")
        check_number("gap", gap, minimum=0.0)
        check_number("growth_tokens", growth_tokens, minimum=0.0)
        check_number("long_prompt", long_prompt, minimum=1, integer=True)
        check_number("n_long", n_long, minimum=1, integer=True)
        check_number("affinity", affinity, minimum=0.0)
        super().__init__(rule if rule.startswith("llumnix") else f"cluster-{rule}", env_kwargs)
        self.rule, self.gap, self.growth_tokens = rule, float(gap), float(growth_tokens)
        self.long_prompt, self.n_long, self.affinity = int(long_prompt), int(n_long), float(affinity)
        self._next = 0
        # every rule but round robin (which counts its own dispatches) reads the cluster's current state only
        self.labels_any_state = rule != "rr"

    def reset(self, env: gym.Env, seed: int | None = None) -> None:
        super().reset(env, seed)
        if not isinstance(env, ClusterView):
            raise TypeError(f"{self.name} needs schedgym/LLMCluster-v0 (a ClusterView), got {type(env).__name__}")
        if self.rule == "llumnix-sita" and self.n_long >= env.n_instances:
            raise ValueError(f"{self.name}: n_long={self.n_long} leaves no instance for short prompts "
                             f"(the cluster has {env.n_instances})")
        self.env: ClusterView = env
        self._next = 0

    def dispatch_scores(self) -> np.ndarray:
        """``llumnix-growth``'s and ``llumnix-sita``'s dispatch score of each instance for the arriving request
        (lowest wins): :func:`growth_load`, plus ``affinity`` where the request's size does not belong (0 for
        ``llumnix-growth``, whose ``affinity`` is 0)."""
        c = self.env.cluster
        scores = np.array([growth_load(i, self.growth_tokens) for i in c.instances])
        if self.affinity:
            long = int(c.workload.prompt[c.next_req]) >= self.long_prompt
            preferred = np.arange(len(scores)) < self.n_long
            scores[preferred != long] += self.affinity
        return scores

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
            elif self.rule in ("llumnix-growth", "llumnix-sita"):
                k = int(np.argmin(self.dispatch_scores()))
            else:
                k = int(np.argmin([i.load() for i in c.instances]))
            return 1 + k
        # migration check
        if self.rule.startswith("llumnix") and env.candidates:
            loads = [i.load() for i in c.instances]
            src, r, dst = env.candidates[0]  # most loaded source, smallest KV first (see the env)
            if loads[src] - loads[dst] > self.gap:
                return env.new_node + 1
        return 0


def growth_load(instance: Instance, growth_tokens: float) -> float:
    """Llumnix's virtual usage of ``instance`` (:meth:`Instance.load`) plus ``growth_tokens`` KV tokens for
    each request resident there (running, migrating in, queued or swapped), over the KV capacity: the KV its
    requests are still expected to add by decoding. Output lengths are not read (they are unknown to a
    dispatcher); ``growth_tokens`` is one number for every request."""
    return instance.load() + growth_tokens * instance.outstanding() / (instance.block_size * instance.total_blocks)


#: ``llumnix-growth`` defaults, chosen on selection seeds 100-159 of the ``llm-cluster`` suite's cluster
#: (docs/llm.md, "Second attempt"): 240 tokens per resident request, migration gap 0.07
GROWTH_TOKENS, GROWTH_GAP = 240.0, 0.07


def llumnix_growth(variant: str | None = None, *, gap: float = GROWTH_GAP,
                   growth_tokens: float = GROWTH_TOKENS) -> ClusterPolicy:
    """``llumnix-growth[:<migration interval s>]`` (default 0.5 s, as ``llumnix``): growth-aware dispatch
    (:func:`growth_load`) plus Llumnix's migration with gap ``gap``; ``growth_tokens`` expected KV tokens per
    resident request."""
    interval = _interval(variant, "llumnix-growth")
    return ClusterPolicy("llumnix-growth", gap=gap, env_kwargs={"migration_interval": interval},
                         growth_tokens=growth_tokens)


#: ``llumnix-sita`` defaults, chosen on selection seeds 100-159 and checked on fresh seeds 400-459 (docs/llm.md,
#: "Second attempt"): prompts of 1,500 tokens or more prefer instances 0 and 1, shorter ones the others, with a
#: 0.2 load affinity
SITA_LONG_PROMPT, SITA_N_LONG, SITA_AFFINITY = 1500, 2, 0.2


def llumnix_sita(variant: str | None = None, *, long_prompt: int = SITA_LONG_PROMPT, n_long: int = SITA_N_LONG,
                 affinity: float = SITA_AFFINITY, growth_tokens: float = GROWTH_TOKENS,
                 gap: float = GROWTH_GAP) -> ClusterPolicy:
    """``llumnix-sita[:<migration interval s>]`` (default 0.5 s): ``llumnix-growth`` with a size split of the
    dispatch (see :class:`ClusterPolicy`): prompts of ``long_prompt`` tokens or more prefer the first
    ``n_long`` instances, shorter ones the others, with load affinity ``affinity``."""
    interval = _interval(variant, "llumnix-sita")
    return ClusterPolicy("llumnix-sita", gap=gap, env_kwargs={"migration_interval": interval},
                         growth_tokens=growth_tokens, long_prompt=long_prompt, n_long=n_long, affinity=affinity)


def _interval(variant: str | None, name: str) -> float:
    """The migration check interval a ``<name>:<seconds>`` variant asks for (default 0.5 s)."""
    try:
        interval = float(variant) if variant else 0.5
    except ValueError:
        raise ValueError(f"{name}: the variant is the migration interval in seconds, got {variant!r}") from None
    if not interval > 0 or interval == float("inf"):
        raise ValueError(f"{name} migration interval must be > 0 s, got {variant!r}")
    return interval


def _factory(rule: str, **defaults: Any):
    def make(variant: str | None = None, **kw: Any) -> ClusterPolicy:
        env_kwargs = {}
        gap = 0.1
        if rule == "llumnix":
            env_kwargs = {"migration_interval": _interval(variant, "llumnix")}
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
