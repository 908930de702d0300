"""Job-shop baselines: priority dispatching rules and the CP-SAT exact model."""

from __future__ import annotations

from typing import Any

from .cpsat import CPSatPolicy, CPSatResult, solve_jobshop
from .rules import RULE_NAMES, DispatchingRule


def _rule_factory(rule: str):
    def make(variant: str | None = None, **_: Any) -> DispatchingRule:
        return DispatchingRule(rule, variant)

    return make


#: registry names: every rule (``"mwkr"``, ``"mwkr:active"``, ...) and ``"cpsat"`` / ``"cpsat:<seconds>"``
POLICIES = {name: _rule_factory(name) for name in RULE_NAMES if name != "random"}
POLICIES["rule-random"] = _rule_factory("random")
POLICIES["cpsat"] = lambda variant=None, **kw: CPSatPolicy(variant=variant, **kw)

__all__ = ["CPSatPolicy", "CPSatResult", "DispatchingRule", "POLICIES", "RULE_NAMES", "solve_jobshop"]
