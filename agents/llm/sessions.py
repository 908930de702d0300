"""Baselines for multi-turn agent sessions with KV time-to-live (``workload="agent-sessions"``).

Each policy is an engine setting (``env_kwargs``: the ``kv_ttl`` rule of
:mod:`schedgym.envs.llm.sessions`, chunked prefill with a 2048-token budget as vLLM v1) plus a strict
FCFS admission of turns, picked by :func:`schedgym.envs.llm.sessions.choose_turn`:

* ``agent-nopin`` / ``agent-nopin-apc`` — vLLM-like: no pinning (a finished turn's KV is freed at once),
  request-level FCFS (the earliest-arrived turn first); ``-apc`` with automatic prefix caching (the
  freed KV stays cached until evicted by LRU);
* ``agent-ttl[:<seconds>]`` — every turn that ends in a tool call is pinned for a fixed TTL (default
  5 s), request-level FCFS;
* ``continuum[:<seconds>]`` / ``continuum-apc[:<seconds>]`` — Continuum-like: the TTL by the tool
  kind's observed durations (cap and cold-start TTL 10 s by default) and program-level FCFS (the turn
  of the earliest-started session first).

The admission order can be swapped to separate the two halves of Continuum: every option may add
``program-fcfs`` or ``request-fcfs`` after a ``+`` (or alone): ``continuum:request-fcfs`` is the
tool-aware TTL with vLLM's request-level FCFS, ``agent-nopin:program-fcfs`` program-level FCFS without
pinning, ``agent-ttl:10+program-fcfs`` a fixed 10 s TTL with program-level FCFS. A policy named with
its default order keeps its plain name.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from schedgym.agents.base import BasePolicy
from schedgym.envs.llm.sessions import choose_turn
from schedgym.envs.llm.types import ServeView

#: the engine every session baseline runs on (vLLM v1-like chunked prefill)
_ENGINE: dict[str, Any] = {"chunked_prefill": True, "batching": "mixed", "token_budget": 2048, "preempt_order": "fcfs"}


class SessionPolicy(BasePolicy):
    """Strict FCFS admission of agent turns (request- or program-level, see the module docstring) on an
    engine with a KV TTL rule; launches when the head does not fit."""

    labels_any_state = True  # reads the simulator's current queue only

    def __init__(self, name: str, program_fcfs: bool, env_kwargs: dict[str, Any]) -> None:
        super().__init__(name, {**_ENGINE, **env_kwargs})
        self.program_fcfs = program_fcfs

    def reset(self, env: gym.Env, seed: int | None = None) -> None:
        super().reset(env, seed)
        if not isinstance(env, ServeView):
            raise TypeError(f"{self.name} needs schedgym/LLMServe-v0 (a ServeView: .sim and .node_rid), "
                            f"got {type(env).__name__}")
        self.view: ServeView = env

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        mask = obs["action_mask"]
        rid = choose_turn(self.view.sim, self.program_fcfs)
        if rid is not None:
            hit = np.flatnonzero(self.view.node_rid == rid)
            if hit.size and mask[hit[0]]:
                return int(hit[0])
        if mask[0]:
            return 0
        # launch is illegal only when the batch is empty and nothing will arrive: admit the first legal turn
        return int(np.flatnonzero(mask)[0])


#: admission-order words a session policy's option may carry -> program-level FCFS?
ORDER_OPTIONS: dict[str, bool] = {"program-fcfs": True, "request-fcfs": False}


def _ttl_seconds(name: str, variant: str | None, default: float) -> float:
    if not variant:
        return default
    try:
        value = float(variant)
    except ValueError:
        raise ValueError(f"policy {name!r} takes a TTL in seconds as variant (e.g. {name}:5), got {variant!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"policy {name!r}: the TTL must be finite and > 0 s, got {variant!r}")
    return value


def _session_option(name: str, variant: str | None, default_ttl: float | None,
                    program_fcfs: bool) -> tuple[float | None, bool, str]:
    """Parse a session policy's option ``[<seconds>][+program-fcfs|+request-fcfs]`` (no seconds where
    ``default_ttl`` is None: the policy pins nothing). Returns the TTL, whether admission is
    program-level FCFS, and the name suffix (``""`` for the defaults, else ``"+<order>"``)."""
    ttl, order, ttl_given = default_ttl, None, False
    for part in variant.split("+") if variant else ():
        word = part.strip()
        if word in ORDER_OPTIONS:
            if order is not None:
                raise ValueError(f"policy {name!r}: two admission orders in {variant!r}")
            order = ORDER_OPTIONS[word]
        elif default_ttl is None:
            raise ValueError(f"policy {name!r} takes only an admission order ({' or '.join(ORDER_OPTIONS)}), "
                             f"got {variant!r}")
        elif ttl_given or not word:
            raise ValueError(f"policy {name!r} takes one TTL in seconds and an optional admission order "
                             f"(e.g. {name}:5+program-fcfs), got {variant!r}")
        else:
            ttl, ttl_given = _ttl_seconds(name, word, default_ttl), True
    if order is None or order == program_fcfs:
        return ttl, program_fcfs, ""
    return ttl, order, "+" + next(w for w, v in ORDER_OPTIONS.items() if v == order)


def agent_nopin(variant: str | None = None, caching: bool = False) -> SessionPolicy:
    base = "agent-nopin-apc" if caching else "agent-nopin"
    _, program_fcfs, suffix = _session_option(base, variant, None, False)
    name = f"{base}:{suffix[1:]}" if suffix else base
    return SessionPolicy(name, program_fcfs, {"kv_ttl": "none", "prefix_caching": caching})


def agent_ttl(variant: str | None = None) -> SessionPolicy:
    ttl, program_fcfs, suffix = _session_option("agent-ttl", variant, 5.0, False)
    return SessionPolicy(f"agent-ttl:{ttl:g}{suffix}", program_fcfs, {"kv_ttl": "fixed", "kv_ttl_s": ttl})


def continuum(variant: str | None = None, caching: bool = False) -> SessionPolicy:
    base = "continuum-apc" if caching else "continuum"
    ttl, program_fcfs, suffix = _session_option(base, variant, 10.0, True)
    return SessionPolicy(f"{base}:{ttl:g}{suffix}", program_fcfs,
                         {"kv_ttl": "tool-aware", "kv_ttl_s": ttl, "prefix_caching": caching})
