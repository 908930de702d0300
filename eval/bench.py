"""``schedgym-bench``: speed benchmarks of the environments, printed as a table.

Speed targets live here, never in timed tests. Every figure of one table is measured in the same
run, so ratios between rows are meaningful even on a noisy shared machine.

Job shop (ta01 unless ``--instance``), one env, one process, full graph observation:

* ``env + random policy``: episodes/s and steps/s of ``env.step`` driven by a random masked policy
  (the policy's own cost included, as a user would run it).
* ``env only``: the same actions replayed without the policy.
* ``simulator only``: the same schedule built on :class:`~schedgym.envs.jobshop.state.JobShopState`
  alone (no observation, no Gym wrapper).
* ``observation share``: (env only − simulator only) / env only — the share of env time spent
  building observations, masks and ``info`` rather than simulating.

Other domains contribute rows through ``schedgym.envs.<domain>.bench:bench_rows()`` when present.

Usage: ``schedgym-bench [--episodes N] [--instance ta01] [--domains jobshop,llm,isbjobshop]``.
"""

from __future__ import annotations

import argparse
import importlib
import time
from typing import Any

import numpy as np


def time_random_rollouts(env: Any, episodes: int, seed: int = 0) -> tuple[list[list[int]], float, float]:
    """Run ``episodes`` seeded episodes of a random masked policy on ``env`` (the unwrapped env), then
    replay the same actions without the policy. Returns the actions of each episode, the time with the
    policy and the time of the replay alone (episode ``ep`` is reset with ``seed=ep`` both times)."""
    rng = np.random.default_rng(seed)
    env.reset(seed=0)  # warm-up
    trajectories: list[list[int]] = []
    t0 = time.perf_counter()
    for ep in range(episodes):
        obs, _ = env.reset(seed=ep)
        actions: list[int] = []
        done = False
        while not done:
            legal = np.flatnonzero(obs["action_mask"])
            a = int(legal[rng.integers(legal.size)])
            actions.append(a)
            obs, _, term, trunc, _ = env.step(a)
            done = term or trunc
        trajectories.append(actions)
    t_policy = time.perf_counter() - t0
    t0 = time.perf_counter()
    for ep, actions in enumerate(trajectories):
        env.reset(seed=ep)
        for a in actions:
            env.step(a)
    t_env = time.perf_counter() - t0
    return trajectories, t_policy, t_env


def _jobshop_rows(instance: str, episodes: int, builder: str) -> list[dict[str, Any]]:
    import gymnasium as gym

    import schedgym.envs  # noqa: F401
    from schedgym.envs.jobshop.state import JobShopState

    env = gym.make("schedgym/JobShop-v0", instance=instance, schedule_builder=builder).unwrapped
    n_ops = env.n_jobs * env.n_machines
    # 1) env + random masked policy, recording the actions; 2) env only: the same actions replayed
    trajectories, t_policy, t_env = time_random_rollouts(env, episodes)
    # 3) simulator only: the same schedules on the bare state
    inst = env.instance
    m = inst.n_machines
    jobs_seq = [[a // m for a in actions] for actions in trajectories]
    t0 = time.perf_counter()
    for seq in jobs_seq:
        st = JobShopState(inst, builder)
        for j in seq:
            st.schedule(j, check=False)
    t_sim = time.perf_counter() - t0
    steps = episodes * n_ops
    label = f"JobShop-v0 {instance} ({inst.n_jobs}x{m}, {builder})"
    share = (t_env - t_sim) / t_env if t_env > 0 else float("nan")
    return [
        {"benchmark": label, "measure": "env + random policy: episodes/s", "value": episodes / t_policy},
        {"benchmark": label, "measure": "env + random policy: steps/s", "value": steps / t_policy},
        {"benchmark": label, "measure": "env only: episodes/s", "value": episodes / t_env},
        {"benchmark": label, "measure": "simulator only: episodes/s", "value": episodes / t_sim},
        {"benchmark": label, "measure": "observation share of env time", "value": share, "unit": "%"},
    ]


def _domain_rows(domain: str) -> list[dict[str, Any]]:
    try:
        mod = importlib.import_module(f"schedgym.envs.{domain}.bench")
    except ModuleNotFoundError as exc:
        if exc.name and f"schedgym.envs.{domain}".startswith(exc.name.rsplit(".bench", 1)[0]):
            return [{"benchmark": domain, "measure": "not available (no bench module)", "value": float("nan")}]
        raise
    rows = mod.bench_rows()
    return [
        {"benchmark": r.get("benchmark", r.get("name", domain)), "measure": r.get("measure", r.get("metric", "")),
         "value": float(r["value"]), "unit": r.get("unit", "")}
        for r in rows
    ]


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="schedgym-bench (one process, this machine, this run)")
    table.add_column("benchmark")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for r in rows:
        v = r["value"]
        text = "n/a" if v != v else (f"{100 * v:.1f}%" if r.get("unit") == "%" else f"{v:,.1f}")
        if r.get("unit") and r.get("unit") != "%":
            text += f" {r['unit']}"
        table.add_row(r["benchmark"], r["measure"], text)
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="schedgym-bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=200, help="job-shop episodes per measurement")
    parser.add_argument("--instance", default="ta01", help="job-shop instance name")
    parser.add_argument("--builders", default="nondelay,active", help="job-shop schedule builders to time")
    parser.add_argument("--domains", default="jobshop,isbjobshop,llm", help="comma-separated domains")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for domain in [d.strip() for d in args.domains.split(",") if d.strip()]:
        if domain == "jobshop":
            for builder in args.builders.split(","):
                rows += _jobshop_rows(args.instance, args.episodes, builder.strip())
        else:
            rows += _domain_rows(domain)
    print_table(rows)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
