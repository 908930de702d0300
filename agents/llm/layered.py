"""Layered-prefill baseline: FCFS admission on an engine that prefills by layer groups
(:mod:`schedgym.envs.llm.layered`), the counterpart of ``sarathi:<budget>`` (chunked prefill)."""

from __future__ import annotations

from typing import Any

from .serve import OrderPolicy

DEFAULT_BUDGET = 512
DEFAULT_GROUPS = 4


def parse_layered_option(variant: str | None) -> tuple[int, int]:
    """``None`` -> the defaults; ``"<budget>"`` or ``"<budget>x<groups>"`` (e.g. ``"256x4"``)."""
    if not variant:
        return DEFAULT_BUDGET, DEFAULT_GROUPS
    budget_text, _, groups_text = str(variant).partition("x")
    try:
        budget = int(budget_text)
        groups = int(groups_text) if groups_text else DEFAULT_GROUPS
    except ValueError:
        raise ValueError(f"policy 'layered' takes '<token budget>' or '<token budget>x<layer groups>' "
                         f"(e.g. layered:256x4), got {variant!r}") from None
    if budget < 1 or groups < 1:
        raise ValueError(f"layered: token budget and layer groups must be >= 1, got {variant!r}")
    return budget, groups


def make_layered(variant: str | None = None, **_: Any) -> OrderPolicy:
    """``layered[:<budget>[x<groups>]]``: strict FCFS (as Sarathi-Serve) with layered prefill, a token
    budget of ``budget`` per iteration (a pass charges its group's share of the layers) and ``groups``
    layer groups (default 512 x 4)."""
    budget, groups = parse_layered_option(variant)
    return OrderPolicy(f"layered:{budget}x{groups}", "fcfs", strict=True,
                       env_kwargs={"chunked_prefill": True, "batching": "mixed", "token_budget": budget,
                                   "preempt_order": "fcfs", "prefill_mode": "layered", "layer_groups": groups})
