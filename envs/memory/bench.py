"""Speed of the memory environment for ``schedgym-bench`` (one process, one core).

Rows on a 300-buffer synthetic program (and a 60-buffer one with ``quick=True``), both modes:

* env + random masked policy: decisions/s (the policy's cost included) and episodes/s;
* simulator only: the same decisions on :class:`~schedgym.envs.memory.simulator.MemoryState` without
  observations (placements/s);
* tracing: not here (it needs torch); ``docs/memory.md`` gives the measured tracing times.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def bench_rows(quick: bool = False) -> list[dict[str, Any]]:
    from .env import MemoryEnv
    from .simulator import MemoryState

    n = 60 if quick else 300
    episodes = 3 if quick else 20
    rows: list[dict[str, Any]] = []
    for mode in ("mapping", "allocation"):
        env = MemoryEnv(mode=mode, n_buffers=n)
        rng = np.random.default_rng(0)
        trajectories = []
        t_env = 0.0
        steps = 0
        for ep in range(episodes):
            obs, _ = env.reset(seed=ep)
            actions = []
            t0 = time.perf_counter()
            while True:
                legal = np.flatnonzero(obs["action_mask"])
                a = int(legal[rng.integers(legal.size)])
                obs, _, term, trunc, _ = env.step(a)
                actions.append(a)
                if term or trunc:
                    break
            t_env += time.perf_counter() - t0
            steps += len(actions)
            trajectories.append((env.instance, actions))
        t_sim = 0.0
        sim_steps = 0
        for inst, actions in trajectories:
            st = MemoryState(inst, mode)
            t0 = time.perf_counter()
            for a in actions:
                if a < inst.n_buffers:
                    st.place(a)
                    sim_steps += 1
            t_sim += time.perf_counter() - t0
        label = f"MemoryEnv {mode} ({n}-buffer synthetic program)"
        rows += [
            {"benchmark": label, "measure": "env + random policy: decisions/s", "value": steps / t_env, "unit": "1/s"},
            {"benchmark": label, "measure": "env + random policy: episodes/s", "value": episodes / t_env, "unit": "1/s"},
            {"benchmark": label, "measure": "simulator only: placements/s", "value": sim_steps / max(t_sim, 1e-9), "unit": "1/s"},
        ]
    return rows


if __name__ == "__main__":  # pragma: no cover
    for row in bench_rows():
        print(f"{row['benchmark']:<50} {row['measure']:<40} {row['value']:12.1f} {row['unit']}")
