"""Speed measurements for docs/training.md: policy forward time and PPO env-steps/s per backend.

Usage::

    python -m schedgym.train.bench forward --preset jobshop-10x10 --env-kwargs '{"instance": "ta71"}' --threads 1
    python -m schedgym.train.bench ppo --backend sb3 --steps 8192 --n-envs 2 --vec-env subproc
    python -m schedgym.train.bench ppo --backend rllib --steps 8192 --runners 1

``forward``: one greedy forward pass (batch of 1, no grad) of a checkpoint (default: a fresh
``gnn-base`` module) on observations of the preset's env taken along an episode; median over repeats.
``ppo``: a short training run of the ``jobshop-10x10`` preset in a temporary folder; reports the
env steps/s the backend reached (sampling + PPO updates, validation excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch


def forward_time(preset: str = "jobshop-10x10", env_kwargs: dict[str, Any] | None = None, checkpoint: str | None = None,
                 threads: int = 1, repeats: int = 20) -> dict[str, Any]:
    import gymnasium as gym

    import schedgym.envs  # noqa: F401
    from schedgym.agents.gnn.checkpoint import load_checkpoint
    from schedgym.agents.gnn.model import GNNConfig, GraphActorCritic
    from schedgym.envs.core import graph_spec_of

    from .config import resolve_config

    torch.set_num_threads(threads)
    env_cfg = resolve_config(preset).env
    env = gym.make(env_cfg.id, **{**dict(env_cfg.kwargs), **(env_kwargs or {})})
    obs, _ = env.reset(seed=0)
    if checkpoint:
        model, _ = load_checkpoint(checkpoint)
    else:
        model = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig()).eval()
    n_ops = int(obs["n_nodes"][0])
    # observations at 0%, 50% and 90% of the schedule (the graph grows machine edges as it goes)
    snaps: dict[int, dict[str, np.ndarray]] = {}
    targets = {0, n_ops // 2, (9 * n_ops) // 10}
    for step in range(n_ops):
        if step in targets:
            snaps[step] = obs
        obs, _, terminated, truncated, _ = env.step(int(np.flatnonzero(obs["action_mask"])[0]))
        if terminated or truncated:
            break
    times: dict[str, float] = {}
    with torch.no_grad():
        for step, o in sorted(snaps.items()):
            batch = {k: torch.as_tensor(v)[None] for k, v in o.items()}
            for _ in range(3):
                model(batch)
            ts = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                model(batch)
                ts.append(time.perf_counter() - t0)
            times[f"step_{step}_edges_{int(o['n_edges'][0])}_ms"] = 1000 * statistics.median(ts)
    return {"instance": instance, "nodes": n_ops, "threads": threads, **times}


def ppo_throughput(backend: str, steps: int, n_envs: int, vec_env: str, runners: int, preset: str) -> dict[str, Any]:
    from schedgym.train.cli import train
    from schedgym.train.config import resolve_config

    os.environ.setdefault("WANDB_MODE", "disabled")
    with tempfile.TemporaryDirectory() as tmp:
        over = [
            f"backend={backend}",
            f"run_dir={tmp}/run",
            f"trainer.total_steps={steps}",
            f"trainer.n_envs={n_envs}",
            f"trainer.vec_env={vec_env}",
            "trainer.eval_every=0",
            f"trainer.checkpoint_every={steps}",
            "trainer.progress_bar=false",
            "val.seeds=[0]",
            "val.baselines=[]",
            f"rllib.num_env_runners={runners}",
        ]
        cfg = resolve_config(preset, over)
        summary = train(cfg, Path(tmp) / "run", resume=False)
    return {"backend": backend, "n_envs": n_envs, "vec_env": vec_env, "env_runners": runners, "preset": preset,
            "timesteps": summary["timesteps"], "steps_per_s": summary["steps_per_s"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m schedgym.train.bench")
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("forward")
    f.add_argument("--preset", default="jobshop-10x10", help="train preset whose env is measured")
    f.add_argument("--env-kwargs", default="{}", help='JSON env kwargs over the preset\'s, e.g. \'{"instance": "ta71"}\'')
    f.add_argument("--checkpoint", default=None)
    f.add_argument("--threads", type=int, default=1)
    t = sub.add_parser("ppo")
    t.add_argument("--backend", choices=("sb3", "rllib"), default="sb3")
    t.add_argument("--steps", type=int, default=8192)
    t.add_argument("--n-envs", type=int, default=2)
    t.add_argument("--vec-env", default="subproc")
    t.add_argument("--runners", type=int, default=0)
    t.add_argument("--preset", default="jobshop-10x10")
    a = p.parse_args(argv)
    if a.cmd == "forward":
        out = forward_time(a.preset, json.loads(a.env_kwargs), a.checkpoint, a.threads)
    else:
        out = ppo_throughput(a.backend, a.steps, a.n_envs, a.vec_env, a.runners, a.preset)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
