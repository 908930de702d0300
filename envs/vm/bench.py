"""Speed of ``schedgym/VMReschedule-v0`` for ``schedgym-bench`` (one process, one core).

Rows (``benchmark``, ``measure``, ``value``, ``unit``), on a generated medium snapshot (280 PMs, ~2,100
VMs; ``quick=True``: the 20-PM small preset):

* env + random masked policy: steps/s, observations included (every step hands out a copy);
* simulator only: migrations/s on :class:`~schedgym.envs.vm.state.VMState` (legality + move), the same
  random decisions without observations;
The policy rows (greedy on a large snapshot) are added by :mod:`schedgym.agents.vm.bench`, which is
what the domain manifest names (envs import nothing from agents).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def bench_rows(quick: bool = False) -> list[dict[str, Any]]:
    from .env import VMRescheduleEnv
    from .generator import generate
    from .state import VMState

    preset = "small" if quick else "medium"
    mnl = 10 if quick else 50
    episodes = 3 if quick else 5
    env = VMRescheduleEnv(preset=preset, mnl=mnl)
    rng = np.random.default_rng(0)
    steps = 0
    decisions: list[list[tuple[int, int, int]]] = []
    t_env = 0.0
    for ep in range(episodes):
        obs, _ = env.reset(seed=ep)
        st0 = env.state
        moves: list[tuple[int, int, int]] = []
        t0 = time.perf_counter()
        while True:
            legal = np.flatnonzero(obs["action_mask"])
            if legal.size > 1:
                legal = legal[legal != env.stop_node]  # random migrations, not an early stop
            a = int(legal[rng.integers(legal.size)])
            stage = env.stage
            obs, _, term, trunc, _ = env.step(a)
            steps += 1
            if stage == 1:
                m = st0.migrations[-1]
                moves.append((m.vm, m.to_pm, 0 if m.to_numa == 2 else m.to_numa))
            if term or trunc:
                break
        t_env += time.perf_counter() - t0
        decisions.append(moves)
    n_pms = env.state.n_pms
    n_vms = env.state.n_vms
    # simulator only: the same migrations, with the legality check each step does (mask of stage 0 and 1)
    snaps = [generate(preset, seed=ep, max_vms=env.max_vms) for ep in range(episodes)]
    t0 = time.perf_counter()
    n_moves = 0
    for snap, moves in zip(snaps, decisions):
        st = VMState(snap)
        for v, p, k in moves:
            st.has_destination()
            st.dest_mask(v)
            st.move(v, p, k)
            n_moves += 1
    t_sim = time.perf_counter() - t0
    label = f"VMReschedule-v0 {preset} ({n_pms} PMs, ~{n_vms} VMs, MNL {mnl})"
    rows = [
        {"benchmark": label, "measure": "env + random masked policy", "value": steps / t_env, "unit": "steps/s"},
        {"benchmark": label, "measure": "simulator only (legality + move)", "value": n_moves / max(t_sim, 1e-9),
         "unit": "migrations/s"},
    ]
    return rows


if __name__ == "__main__":  # pragma: no cover
    for row in bench_rows():
        print(f"{row['benchmark']:<70} {row['measure']:<40} {row['value']:12.2f} {row['unit']}")
