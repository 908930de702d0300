"""The jobshop domain's picture in the README's gallery (``python -m schedgym.eval.gallery``): the most-work-
remaining rule (non-delay) on a seeded 6 x 6 Taillard-style instance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gymnasium as gym

from ...envs.jobshop.render import env_figure
from ..base import run_episode
from ..registry import make_policy

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ENV_ID = "schedgym/JobShop-v0"
POLICY = "mwkr:nondelay"
ENV_KWARGS: dict[str, Any] = {"n_jobs": 6, "n_machines": 6}
SEED = 0


def gallery_figure(size: str | tuple[float, float] = "column") -> "Figure":
    """One validated episode of :data:`POLICY` on :data:`ENV_ID` (:data:`ENV_KWARGS`, seed :data:`SEED`),
    drawn by the env's paper figure at ``size`` (``"column"``, ``"page"`` or (width, height) in inches)."""
    env = gym.make(ENV_ID, **ENV_KWARGS)
    try:
        run_episode(env, make_policy(POLICY, env_id=ENV_ID), seed=SEED)
        return env_figure(env, size)
    finally:
        env.close()
