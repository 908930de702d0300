"""Speed of the ISBJSSP environment for ``schedgym-bench`` (one process, one core).

Rows (``name``, ``metric``, ``value``): on a 10x10 instance (``la16``, or a seeded random 10x10 one when the
Lawrence files are not available) with blocking + swaps + shutdowns (p = 0.05 per machine per time unit,
repair uniform 1..10, resume), under the default non-delay builder:

* env + random masked policy: episodes/s and steps/s (the policy's cost included);
* env only: the same actions replayed (seeded, so the same disruption realization);
* simulator only: the same decisions on :class:`~schedgym.envs.isbjobshop.state.ISBJobShopState`
  without observations.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def _instance() -> Any:
    from ..jobshop import generate_random, load_instance

    try:
        return load_instance("la16", download=False)
    except Exception:  # noqa: BLE001 - no local copy: a seeded random instance of the same size
        return generate_random(10, 10, np.random.default_rng(16), name="random-10x10")


def bench_rows(quick: bool = False, episodes: int | None = None, shutdown_prob: float = 0.05) -> list[dict[str, Any]]:
    """Measure the env on a 10x10 blocking + interruption instance; returns rows for ``schedgym-bench``
    (``quick``: 2 episodes, for tests)."""
    from ..benchmarking import time_random_rollouts
    from .env import ISBJobShopEnv
    from .state import ISBJobShopState

    episodes = episodes or (2 if quick else 100)
    inst = _instance()
    env = ISBJobShopEnv(instance=inst, shutdown_prob=shutdown_prob)
    trajectories, t_policy, t_env = time_random_rollouts(env, episodes)
    steps = sum(len(actions) for actions in trajectories)
    # simulator only: same seeds -> same realizations; same decisions
    m = inst.n_machines
    t0 = time.perf_counter()
    for ep, actions in enumerate(trajectories):
        env.reset(seed=ep)  # only to draw the same realization generator state
        st = ISBJobShopState(inst, shutdown_prob=shutdown_prob, repair=env.repair, rng=np.random.default_rng(ep))
        st.advance_until_decision()
        for a in actions:
            st.start(a // m)
            if st.all_started:
                st.finish_all()
            else:
                st.advance_until_decision()
    t_sim_raw = time.perf_counter() - t0
    # the reset cost inside that loop is subtracted with a reset-only pass
    t0 = time.perf_counter()
    for ep in range(episodes):
        env.reset(seed=ep)
    t_reset = time.perf_counter() - t0
    t_sim = max(t_sim_raw - t_reset, 1e-9)
    label = f"ISBJobShop-v0 {inst.name} ({inst.n_jobs}x{m}, blocking+swaps, p={shutdown_prob}, nondelay)"
    return [
        {"benchmark": label, "measure": "env + random policy: episodes/s", "value": episodes / t_policy, "unit": "1/s"},
        {"benchmark": label, "measure": "env + random policy: steps/s", "value": steps / t_policy, "unit": "1/s"},
        {"benchmark": label, "measure": "env only: episodes/s", "value": episodes / t_env, "unit": "1/s"},
        {"benchmark": label, "measure": "simulator only (approx.): episodes/s", "value": episodes / t_sim, "unit": "1/s"},
    ]


if __name__ == "__main__":  # pragma: no cover
    for row in bench_rows():
        print(f"{row['benchmark']:<70} {row['measure']:<40} {row['value']:10.1f}")
