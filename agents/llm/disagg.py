"""Baselines for ``schedgym/LLMDisagg-v0``: where each request is prefilled and where its KV is decoded
(disaggregated, DistServe-style), and the co-located comparison on the same number of GPUs.

* ``disagg-rr`` / ``disagg-ll`` — disaggregated; dispatch to the prefill instances and route to the
  decode instances (among those with room) round robin, or to the least loaded instance (Llumnix's
  virtual usage: KV blocks held or reserved plus those its queue needs, over the capacity). Engine:
  vLLM-like whole-prompt prefills (no chunking; the prefill instances batch prompts up to the context
  limit, the decode instances only decode).
* ``semi-pd[:<fraction>]`` — semi-PD: each of the ``n_prefill + n_decode`` GPUs runs a prefill worker on
  ``fraction`` of its compute (default 0.5) and a decode worker on the rest, the KV staying on the GPU;
  least-loaded dispatch (the handoff to the GPU's own decode worker is automatic); vLLM-like prefills.
* ``colocated-vllm[:rr]`` / ``colocated-sarathi[:rr]`` — the same GPUs as ``n_prefill + n_decode``
  co-located instances (each prefills and decodes), least loaded dispatch (``:rr`` round robin), with
  vLLM v0's prefill-first engine or Sarathi-Serve's chunked prefill (512-token budget).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from schedgym.agents.base import BasePolicy
from schedgym.envs.llm.disagg import DisaggView

#: vLLM v0's engine (prefill-first iterations, no chunking) and Sarathi-Serve's (chunked, 512 tokens)
VLLM_ENGINE = {"chunked_prefill": False, "batching": "prefill-first", "token_budget": None}
SARATHI_ENGINE = {"chunked_prefill": True, "batching": "mixed", "token_budget": 512}
RULES = ("rr", "ll")


class DisaggPolicy(BasePolicy):
    """Dispatch (and, disaggregated, routing) by ``rule``: ``"rr"`` round robin over the legal instances
    of the stage, ``"ll"`` the legal instance with the lowest virtual usage (ties: lowest index)."""

    def __init__(self, name: str, rule: str, env_kwargs: dict[str, Any]) -> None:
        if rule not in RULES:
            raise ValueError(f"unknown rule {rule!r}; known: {RULES}")
        super().__init__(name, env_kwargs)
        self.rule = rule
        self._next = {"dispatch": 0, "route": 0}
        self.labels_any_state = rule == "ll"  # round robin counts its own choices

    def reset(self, env: gym.Env, seed: int | None = None) -> None:
        super().reset(env, seed)
        if not isinstance(env, DisaggView):
            raise TypeError(f"{self.name} needs schedgym/LLMDisagg-v0 (a DisaggView), got {type(env).__name__}")
        self.env: DisaggView = env
        self._next = {"dispatch": 0, "route": 0}

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        env = self.env
        legal = np.flatnonzero(obs["action_mask"][: env.n_instances])
        if not legal.size:  # the terminal observation
            return int(np.flatnonzero(obs["action_mask"])[0])
        if self.rule == "ll":
            loads = np.array([env.cluster.instances[k].load() for k in legal])
            return int(legal[int(np.argmin(loads))])
        stage = env.event if env.event in self._next else "dispatch"
        first = env.n_prefill if stage == "route" else 0
        size = env.n_decode if stage == "route" else (env.n_prefill if env.disaggregated else env.n_instances)
        turn = self._next[stage]
        # the next instance of the stage in cyclic order that is legal now
        k = min(legal.tolist(), key=lambda node: (node - first - turn) % size)
        self._next[stage] = (k - first + 1) % size
        return int(k)


def _disagg(rule: str):
    def make(variant: str | None = None, **_: Any) -> DisaggPolicy:
        if variant:
            raise ValueError(f"policy disagg-{rule} takes no variant, got {variant!r}")
        return DisaggPolicy(f"disagg-{rule}", rule, {"disaggregated": True, **VLLM_ENGINE})

    return make


def _semi_pd(variant: str | None = None, **_: Any) -> DisaggPolicy:
    try:
        fraction = float(variant) if variant else 0.5
    except ValueError:
        raise ValueError(f"policy semi-pd takes the prefill compute fraction as variant (e.g. semi-pd:0.6), "
                         f"got {variant!r}") from None
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"semi-pd compute fraction must be in (0, 1), got {variant!r}")
    name = "semi-pd" if not variant else f"semi-pd:{fraction:g}"
    return DisaggPolicy(name, "ll", {"disaggregated": True, "semi_pd": fraction, **VLLM_ENGINE})


def _colocated(engine_name: str, engine: dict[str, Any]):
    def make(variant: str | None = None, **_: Any) -> DisaggPolicy:
        if variant not in (None, "", "rr", "ll"):
            raise ValueError(f"policy colocated-{engine_name} takes 'rr' or 'll' (default) as variant, got {variant!r}")
        rule = variant or "ll"
        name = f"colocated-{engine_name}" + (":rr" if rule == "rr" else "")
        return DisaggPolicy(name, rule, {"disaggregated": False, **engine})

    return make


#: policy name -> factory(variant)
DISAGG_POLICIES = {
    "disagg-rr": _disagg("rr"),
    "disagg-ll": _disagg("ll"),
    "semi-pd": _semi_pd,
    "colocated-vllm": _colocated("vllm", VLLM_ENGINE),
    "colocated-sarathi": _colocated("sarathi", SARATHI_ENGINE),
}
#: name -> (summary, options)
DISAGG_SUMMARY = {
    "disagg-rr": ("disaggregated prefill/decode (DistServe-like): round-robin dispatch and KV routing", ""),
    "disagg-ll": ("disaggregated prefill/decode (DistServe-like): least-loaded dispatch and KV routing", ""),
    "semi-pd": ("semi-PD: every GPU split into a prefill and a decode worker (compute fraction), KV kept in place",
                "prefill compute fraction in (0, 1) (default 0.5)"),
    "colocated-vllm": ("the same GPUs co-located, vLLM v0 engine (prefill-first), least-loaded dispatch",
                       "'rr' for round-robin dispatch"),
    "colocated-sarathi": ("the same GPUs co-located, Sarathi-Serve chunked prefill (512), least-loaded dispatch",
                          "'rr' for round-robin dispatch"),
}
