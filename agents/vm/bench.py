"""``schedgym-bench`` rows of the VM domain: the env and simulator rows of
:mod:`schedgym.envs.vm.bench`, plus the heuristics' decision time on a large snapshot (1,176 PMs, MNL
50; ``quick=True``: the small preset, MNL 10): ``vm-greedy:zero`` (which always uses its MNL) and
``vm-slot``."""

from __future__ import annotations

import time
from typing import Any

from ...envs.vm.bench import bench_rows as env_rows
from ...envs.vm.env import VMRescheduleEnv
from ..base import run_episode
from .heuristics import GreedyFRPolicy, SlotCompletionPolicy


def bench_rows(quick: bool = False) -> list[dict[str, Any]]:
    rows = env_rows(quick=quick)
    preset = "small" if quick else "large"
    mnl = 10 if quick else 50
    env = VMRescheduleEnv(preset=preset, mnl=mnl)
    for policy in (GreedyFRPolicy(allow_zero=True), SlotCompletionPolicy()):
        t0 = time.perf_counter()
        res = run_episode(env, policy, seed=0)
        t_all = time.perf_counter() - t0
        label = (f"{policy.name} on {preset} ({env.state.n_pms} PMs, {env.state.n_vms} VMs, MNL {mnl}, "
                 f"{int(res.metrics['migrations'])} migrations)")
        rows.append({"benchmark": label, "measure": "episode incl. generation, env steps and validation",
                     "value": t_all, "unit": "s"})
        rows.append({"benchmark": label, "measure": "policy time", "value": res.policy_time_s, "unit": "s"})
    return rows


if __name__ == "__main__":  # pragma: no cover
    for row in bench_rows():
        print(f"{row['benchmark']:<75} {row['measure']:<50} {row['value']:12.2f} {row['unit']}")
