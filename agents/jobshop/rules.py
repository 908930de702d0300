"""Priority dispatching rules (PDRs) for job shops, acting through the environment.

A rule ranks the legal operations the environment offers (:class:`~schedgym.envs.jobshop.DispatchView`'s ``dispatch_candidates()``, whose set
is the schedule builder's candidate set) and picks the best; **ties go to the lowest job index**.
The schedule builder is an option of the rule (``variant``): ``"nondelay"`` or ``"active"``
(Giffler-Thompson), set on the environment through :attr:`env_kwargs`; without a variant the rule
uses the environment's own builder. Any :class:`DispatchView` works (the job shop and the blocking /
interruption job shops).

Rules (priority of an operation ``o`` of job ``j``; "remaining" includes ``o``):

=========  ====================================================================
spt        shortest processing time of ``o``
lpt        longest processing time of ``o``
mwkr       most work remaining of ``j``
lwkr       least work remaining of ``j``
mopnr      most operations remaining of ``j`` (MOR)
fifo       earliest ready time of ``o`` (completion of ``j``'s previous operation)
fdd-mwkr   smallest (work of ``j`` done up to and including ``o``) / (work remaining of ``j``)
random     uniformly random legal operation (seeded)
=========  ====================================================================
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ...envs.jobshop.state import SCHEDULE_BUILDERS
from ...envs.jobshop.types import DispatchView
from ..base import BasePolicy

# key(candidates) -> scores; the rule picks the argmin (first on ties)
_RULES: dict[str, Callable[[dict[str, np.ndarray]], np.ndarray]] = {
    "spt": lambda c: c["processing_time"],
    "lpt": lambda c: -c["processing_time"],
    "mwkr": lambda c: -c["job_remaining_work"],
    "lwkr": lambda c: c["job_remaining_work"],
    "mopnr": lambda c: -c["job_remaining_ops"],
    "fifo": lambda c: c["ready_time"],
    "fdd-mwkr": lambda c: c["job_work_done"] / np.maximum(c["job_remaining_work"], 1e-12),
}
RULE_NAMES: tuple[str, ...] = (*_RULES, "random")


class DispatchingRule(BasePolicy):
    """One priority dispatching rule; ``variant`` is the schedule builder (or None: the env's)."""

    labels_any_state = True  # ranks the env's current dispatch candidates

    def __init__(self, rule: str, variant: str | None = None) -> None:
        if rule not in RULE_NAMES:
            raise ValueError(f"unknown dispatching rule {rule!r}; choose one of {RULE_NAMES}")
        if variant is not None and variant not in SCHEDULE_BUILDERS:
            raise ValueError(f"rule {rule!r}: unknown schedule builder {variant!r}; choose one of {SCHEDULE_BUILDERS}")
        name = rule if variant is None else f"{rule}:{variant}"
        super().__init__(name=name, env_kwargs={"schedule_builder": variant} if variant else {})
        self.rule = rule
        self._key = _RULES.get(rule)

    def reset(self, env: Any, seed: int | None = None) -> None:
        super().reset(env, seed)
        if not isinstance(env, DispatchView):
            raise TypeError(f"rule {self.name!r} needs a job-shop-family env (DispatchView: instance, schedule_builder, "
                            f"dispatch_candidates()); {type(env).__name__} is not one")
        self.env: DispatchView = env

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        cand = self.env.dispatch_candidates()
        actions = cand["action"]
        if actions.size == 0:  # e.g. only a wait node is legal
            return int(np.flatnonzero(obs["action_mask"])[0])
        if self._key is None:
            return int(actions[self.rng.integers(actions.size)])
        return int(actions[int(np.argmin(self._key(cand)))])
