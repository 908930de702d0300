"""What the two LLM serving envs share: the workload of an episode, the SLO reward and truncation.

``schedgym/LLMServe-v0`` (one instance) and ``schedgym/LLMCluster-v0`` (dispatch + migration) differ in
their decisions and observations; the workload they draw at reset, the reward they pay as requests
finish and the step-count truncation are the same and live here.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..core import check_number
from .workload import Workload

REWARDS: tuple[str, ...] = ("goodput", "latency")


class ServingEpisode:
    """Mixin of the LLM envs: workload settings, the reward and truncation (see the module docstring)."""

    np_random: np.random.Generator

    def _init_episode(self, workload: Workload | str | os.PathLike[str] | None, n_requests: int, rate: float,
                      cv: float, lengths: str, class_mix: dict[str, float] | str | None, rate_scale: float,
                      reward: str, latency_scale: float, max_steps: int | None) -> None:
        if reward not in REWARDS:
            raise ValueError(f"reward must be 'goodput' or 'latency', got {reward!r}")
        # every number finite (NaN passes range checks like ``x <= 0`` and then hangs the clock)
        n_requests = check_number("n_requests", n_requests, integer=True)
        for name, value in (("rate", rate), ("cv", cv), ("rate_scale", rate_scale), ("latency_scale", latency_scale)):
            check_number(name, value, minimum=0.0, exclusive=True)
        max_steps = check_number("max_steps", max_steps, minimum=1, integer=True, allow_none=True)
        if isinstance(class_mix, dict):
            for cls_name, weight in class_mix.items():
                check_number(f"class_mix[{cls_name!r}]", weight, minimum=0.0)
        self.workload_spec = workload
        self.n_requests, self.rate, self.cv, self.lengths = int(n_requests), float(rate), float(cv), lengths
        self.class_mix = class_mix if class_mix is not None else {"interactive": 0.5, "standard": 0.3, "batch": 0.2}
        self.rate_scale = float(rate_scale)
        self.reward_mode, self.latency_scale = reward, float(latency_scale)
        self.max_steps = max_steps

    def _set_load(self, load: float | None) -> None:
        """``load``: offered load relative to the whole trace's average rate (trace workloads only)."""
        if load is not None:
            check_number("load", load, minimum=0.0, exclusive=True)
            if self.workload_spec is None or isinstance(self.workload_spec, Workload):
                raise ValueError("load= applies to trace workloads (workload='azure-conv', 'azure-code' or a path); "
                                 "use rate= for synthetic ones")
        self.load = None if load is None else float(load)

    def _draw_workload(self, options: dict[str, Any] | None) -> Workload:
        """The episode's workload (``options["workload"]`` overrides the constructor's), from ``np_random``;
        also resets the reward bookkeeping."""
        from .env import make_workload

        spec = (options or {}).get("workload", self.workload_spec)
        self.workload = make_workload(spec, self.np_random, self.n_requests, self.rate, self.cv, self.lengths,
                                      self.class_mix, self.rate_scale, getattr(self, "load", None))
        self._last_good, self._last_latency, self._steps = 0, 0.0, 0
        return self.workload

    def _reward(self, n_requests: int, n_good: int, sum_latency: float, terminated: bool) -> tuple[float, bool]:
        """``(reward, truncated)`` after one more step: ``goodput`` pays +1/N per request finished within
        its SLOs, ``latency`` pays -latency / (N * latency_scale) per finished request; the episode is
        truncated after ``max_steps`` steps."""
        self._steps += 1
        n = max(n_requests, 1)
        if self.reward_mode == "goodput":
            reward = (n_good - self._last_good) / n
        else:
            reward = -(sum_latency - self._last_latency) / (n * self.latency_scale)
        self._last_good, self._last_latency = n_good, sum_latency
        truncated = bool(not terminated and self.max_steps is not None and self._steps >= self.max_steps)
        return float(reward), truncated
