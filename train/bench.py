"""Speed measurements for docs/training.md: policy forward time and PPO env-steps/s per backend.

Usage::

    python -m schedgym.train.bench forward --preset jobshop-10x10 --env-kwargs '{"instance": "ta71"}' --threads 1
    python -m schedgym.train.bench ppo --backend sb3 --steps 8192 --n-envs 2 --vec-env subproc
    python -m schedgym.train.bench ppo --backend rllib --steps 8192 --runners 1

    python -m schedgym.train.bench rows [--quick]     # the rows schedgym-bench prints (ppo_bench_rows)

``forward``: one greedy forward pass (batch of 1, no grad) of a checkpoint (default: a fresh
``gnn-base`` module) on observations of the preset's env taken along an episode; median over repeats.
``ppo``: a short training run of the ``jobshop-10x10`` preset in a temporary folder; reports the
env steps/s the backend reached (sampling + PPO updates; periodic validation off, the final one in) and
the env steps per CPU-second of the training process (all its threads), which a loaded machine
disturbs much less than wall time.

:func:`ppo_bench_rows` is the ``schedgym-bench`` entry: PPO env steps/s per backend on the fixed
preset ``jobshop-10x10`` (GIN 3x64, 10x10 random job shops), 8 environments sampled in the training
process (SB3: the preset's 8 ``DummyVecEnv`` envs; RLlib: ``num_env_runners=0``,
``num_envs_per_env_runner=8``), so both backends update on 1,024 samples per PPO iteration, one torch
thread; SB3 again with ``agent.model.compile=true`` (the GIN layers of the PPO update through
``torch.compile``), then with ``micro_batch=128`` as well (the update's forward in chunks of 128 graphs: the
same function), then with ``precision=bfloat16`` as well (the encoder of the update in bfloat16 autocast: a
slightly different function, see docs/training.md), and RLlib with all three; then, on each backend, the
exact options (``compile=true micro_batch=128``) and all three with ``threads=2`` (the chunks of each minibatch
forward and backward in two threads, one core each; the per-CPU-second row then counts both threads' CPU
time); each compiled setup measured
after a 1,024-step warm-up run in the same process that compiles it (its wall time is a row of its own:
seconds with a warm inductor cache, about a minute without).
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
    return {"env_kwargs": dict(env_kwargs or {}), "nodes": n_ops, "threads": threads, **times}


def ppo_throughput(backend: str, steps: int, n_envs: int, vec_env: str, runners: int, preset: str,
                   envs_per_runner: int = 1, threads: int | None = None, extra: list[str] | None = None) -> dict[str, Any]:
    """A short training run of ``preset`` in a temporary folder (validation only at the end, on one
    seed; no baselines); ``steps_per_s`` (wall) and ``steps_per_cpu_s`` (CPU time of the training
    process)."""
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
            f"rllib.num_envs_per_env_runner={envs_per_runner}",
            *([f"trainer.torch_threads={threads}"] if threads else []),
            *(extra or []),
        ]
        if backend == "rllib":
            over.append("rllib.num_cpus=2")
        cfg = resolve_config(preset, over)
        summary = train(cfg, Path(tmp) / "run", resume=False)
    cpu = summary.get("process_cpu_s")
    return {"backend": backend, "n_envs": n_envs, "vec_env": vec_env, "env_runners": runners,
            "envs_per_runner": envs_per_runner, "torch_threads": int(cfg.trainer.torch_threads), "preset": preset,
            "timesteps": summary["timesteps"], "steps_per_s": summary["steps_per_s"],
            "steps_per_cpu_s": summary["timesteps"] / cpu if cpu else float("nan")}


#: where each backend samples in :func:`ppo_bench_rows`: (label, ppo_throughput keywords)
_SAMPLING: dict[str, tuple[str, dict[str, Any]]] = {
    "sb3": ("sb3, 8 envs in process", {"n_envs": 8, "vec_env": "dummy", "runners": 0, "envs_per_runner": 1}),
    "rllib": ("rllib, 8 envs in the driver", {"n_envs": 1, "vec_env": "dummy", "runners": 0, "envs_per_runner": 8}),
}


def _setup(backend: str, *model_options: str) -> tuple[str, str, dict[str, Any]]:
    """A bench setup: ``backend`` sampling as in :data:`_SAMPLING`, with ``agent.model.<option>`` overrides; a
    setup with options compiles, so it is measured after a 1,024-step warm-up run in the same process."""
    label, kw = _SAMPLING[backend]
    if not model_options:
        return label, backend, dict(kw)
    return (f"{label}, agent.model.{' '.join(model_options)}", backend,
            {**kw, "extra": [f"agent.model.{o}" for o in model_options], "warmup_steps": 1024})


#: the fixed setups of :func:`ppo_bench_rows`: (label, backend, ppo_throughput keywords); ``extra``: further
#: training overrides of the setup
PPO_BENCH_SETUPS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    _setup("sb3"),
    _setup("rllib"),
    _setup("sb3", "compile=true"),
    _setup("sb3", "compile=true", "micro_batch=128"),
    _setup("sb3", "compile=true", "micro_batch=128", "precision=bfloat16"),
    _setup("rllib", "compile=true", "micro_batch=128", "precision=bfloat16"),
    _setup("sb3", "compile=true", "micro_batch=128", "threads=2"),
    _setup("sb3", "compile=true", "micro_batch=128", "precision=bfloat16", "threads=2"),
    _setup("rllib", "compile=true", "micro_batch=128", "threads=2"),
    _setup("rllib", "compile=true", "micro_batch=128", "precision=bfloat16", "threads=2"),
)


def ppo_bench_rows(quick: bool = False) -> list[dict[str, Any]]:
    """``schedgym-bench`` rows: PPO env steps/s per backend on the ``jobshop-10x10`` preset (see the module
    docstring for the setup), wall time and per CPU-second of the training process.

    ``quick``: 512 env steps with 64-step rollouts and a 2x16 GIN on 6x6 job shops, a smoke test of the
    rows (not for quoting; without the compiled setup); else 4,096 env steps of the preset as it is (four
    PPO iterations of 1,024 samples, 4 epochs of 256-sample minibatches). A backend whose extra is not
    installed gives a NaN row saying so.
    """
    if quick:
        preset, steps = "jobshop-10x10", 512
        extra = ["env=jobshop-6x6", "agent.ppo.n_steps=64", "agent.ppo.batch_size=128", "agent.ppo.n_epochs=2",
                 "agent.model.hidden=16", "agent.model.n_layers=2", "agent.model.head_hidden=16"]
        name = "PPO jobshop-10x10 preset, quick (6x6, small GIN; smoke only)"
    else:
        preset, steps, extra = "jobshop-10x10", 4096, []
        name = "PPO jobshop-10x10 preset (GIN 3x64, 10x10, 1 torch thread)"
    rows: list[dict[str, Any]] = []
    for label, backend, kw in PPO_BENCH_SETUPS:
        setup_extra = list(kw.get("extra", []))
        compiles = any(o.startswith("agent.model.compile") for o in setup_extra)
        if compiles and quick:  # a smoke test of the rows: no compiler run
            continue
        try:
            if kw.get("warmup_steps"):  # compiles in this process; the measured run below is steady state
                t0 = time.perf_counter()
                ppo_throughput(backend, kw["warmup_steps"], kw["n_envs"], kw["vec_env"], kw["runners"], preset,
                               envs_per_runner=kw["envs_per_runner"], threads=1, extra=[*extra, *setup_extra])
                rows.append({"benchmark": name, "unit": "s", "value": time.perf_counter() - t0,
                             "measure": f"{label}: warm-up run of {kw['warmup_steps']} env steps (compiling), wall"})
            r = ppo_throughput(backend, steps, kw["n_envs"], kw["vec_env"], kw["runners"], preset,
                               envs_per_runner=kw["envs_per_runner"], threads=1, extra=[*extra, *setup_extra])
        except ImportError as exc:
            rows.append({"benchmark": name, "measure": f"{label}: skipped ({exc.name or exc} not installed)",
                         "value": float("nan"), "unit": ""})
            continue
        rows.append({"benchmark": name, "measure": f"{label}: env steps/s", "value": r["steps_per_s"], "unit": "1/s"})
        rows.append({"benchmark": name, "measure": f"{label}: env steps per CPU-second of the training process",
                     "value": r["steps_per_cpu_s"], "unit": "1/s"})
    return rows


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
    t.add_argument("--envs-per-runner", type=int, default=1)
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("overrides", nargs="*", help="further key=value training overrides")
    r = sub.add_parser("rows")
    r.add_argument("--quick", action="store_true")
    a = p.parse_args(argv)
    if a.cmd == "forward":
        out: Any = forward_time(a.preset, json.loads(a.env_kwargs), a.checkpoint, a.threads)
    elif a.cmd == "rows":
        out = ppo_bench_rows(quick=a.quick)
    else:
        out = ppo_throughput(a.backend, a.steps, a.n_envs, a.vec_env, a.runners, a.preset,
                             envs_per_runner=a.envs_per_runner, threads=a.threads, extra=a.overrides)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
