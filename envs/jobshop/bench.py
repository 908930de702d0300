"""Speed of the job-shop env for ``schedgym-bench`` (one env, one process, full graph observation).

On ta01 (ft06 with ``quick=True``) under each schedule builder:

* ``env + random policy``: episodes/s and steps/s of ``env.step`` driven by a random masked policy
  (the policy's own cost included, as a user would run it);
* ``env only``: the same actions replayed without the policy;
* ``simulator only``: the same schedule built on :class:`~.state.JobShopState` alone;
* ``observation share``: (env only - simulator only) / env only, the share of env time spent building
  observations, masks and ``info`` rather than simulating.
"""

from __future__ import annotations

import time
from typing import Any

from ..benchmarking import time_random_rollouts
from .env import JobShopEnv
from .state import JobShopState


def jobshop_rows(instance: str, episodes: int, builder: str) -> list[dict[str, Any]]:
    """The rows of one instance and schedule builder."""
    env = JobShopEnv(instance=instance, schedule_builder=builder)
    trajectories, t_policy, t_env = time_random_rollouts(env, episodes)
    inst = env.fixed_instance
    m = inst.n_machines
    t0 = time.perf_counter()
    for actions in trajectories:
        st = JobShopState(inst, builder)
        for a in actions:
            st.schedule(a // m, check=False)
    t_sim = time.perf_counter() - t0
    steps = episodes * inst.n_operations
    label = f"JobShop-v0 {inst.name} ({inst.n_jobs}x{m}, {builder})"
    share = (t_env - t_sim) / t_env if t_env > 0 else float("nan")
    return [
        {"benchmark": label, "measure": "env + random policy: episodes/s", "value": episodes / t_policy, "unit": "1/s"},
        {"benchmark": label, "measure": "env + random policy: steps/s", "value": steps / t_policy, "unit": "1/s"},
        {"benchmark": label, "measure": "env only: episodes/s", "value": episodes / t_env, "unit": "1/s"},
        {"benchmark": label, "measure": "simulator only: episodes/s", "value": episodes / t_sim, "unit": "1/s"},
        {"benchmark": label, "measure": "observation share of env time", "value": share, "unit": "%"},
    ]


def bench_rows(quick: bool = False, instance: str | None = None, episodes: int | None = None,
               builders: tuple[str, ...] = ("nondelay", "active")) -> list[dict[str, Any]]:
    """Every row of the module docstring (``quick``: ft06, 3 episodes, for tests)."""
    instance = instance or ("ft06" if quick else "ta01")
    episodes = episodes or (3 if quick else 200)
    return [row for builder in builders for row in jobshop_rows(instance, episodes, builder)]
