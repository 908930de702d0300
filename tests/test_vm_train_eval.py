"""VM rescheduling through the shared CLIs: GNN-PPO trains on the env (SB3 and RLlib), schedgym-eval
runs every baseline with validation and writes the FR plots, the bench rows."""

from __future__ import annotations

import csv
from pathlib import Path

import gymnasium as gym
import pytest
import torch

import schedgym.envs  # noqa: F401
from schedgym.agents import make_policy, run_episode
from schedgym.agents.gnn import load_checkpoint
from schedgym.agents.vm.bench import bench_rows
from schedgym.train.cli import train
from schedgym.train.config import resolve_config

ENV_ID = "schedgym/VMReschedule-v0"
SMALL = {"preset": "small", "n_pms": 8, "mnl": 4}

TINY_SB3 = [
    "backend=sb3", "trainer.total_steps=256", "trainer.n_envs=2", "trainer.vec_env=dummy",
    "trainer.checkpoint_every=128", "trainer.eval_every=128", "trainer.progress_bar=false",
    "agent.model.hidden=16", "agent.model.n_layers=1", "agent.model.head_hidden=16", "agent.ppo.n_steps=64",
    "agent.ppo.batch_size=64", "agent.ppo.n_epochs=2", "agent.ppo.lr=0.003", "val.seeds=[0,1]", "val.baselines=[]",
]
TINY_RLLIB = [
    "backend=rllib", "rllib.num_cpus=1", "rllib.num_env_runners=0", "trainer.total_steps=200",
    "trainer.checkpoint_every=100", "trainer.eval_every=100", "trainer.progress_bar=false",
    "agent.model.hidden=16", "agent.model.n_layers=1", "agent.model.head_hidden=16", "agent.ppo.n_steps=100",
    "agent.ppo.batch_size=50", "agent.ppo.n_epochs=2", "agent.ppo.lr=0.003", "val.seeds=[0,1]", "val.baselines=[]",
]


def _run(tmp_path: Path, over: list[str]) -> Path:
    run_dir = tmp_path / "run"
    cfg = resolve_config("vm-small", [f"run_dir={run_dir}", *over])
    cfg.env.kwargs = dict(SMALL)
    summary = train(cfg, run_dir, resume=False)
    assert summary["timesteps"] >= 200
    w0 = load_checkpoint(run_dir / "checkpoints" / "step_0.pt")[0].state_dict()
    w1 = load_checkpoint(run_dir / "last.pt")[0].state_dict()
    assert any(not torch.equal(w0[k], w1[k]) for k in w0), "training did not change the policy"
    policy = make_policy(f"gnn:{run_dir / 'best.pt'}")
    res = run_episode(gym.make(ENV_ID, **SMALL), policy, seed=0)
    assert res.validated_objective == pytest.approx(res.objective)
    return run_dir


def test_train_preset_resolves() -> None:
    cfg = resolve_config("vm-small", [])
    assert cfg.env.id == ENV_ID and cfg.env.kwargs.preset == "small"


def test_gnn_trains_on_vm_sb3(tmp_path: Path) -> None:
    _run(tmp_path, TINY_SB3)


def test_gnn_trains_on_vm_rllib(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    _run(tmp_path, TINY_RLLIB)


def test_eval_runs_every_vm_baseline_and_plots(tmp_path: Path) -> None:
    from schedgym.eval.cli import main

    out = tmp_path / "ev"
    rc = main(["suite=vm-small", "seeds=[0,1]", "policies=[random,vm-greedy,vm-greedy:zero,vm-filter-score,vm-cpsat:2]",
               f"out={out}", "progress=false", "print_leaderboard=false"])
    assert rc == 0
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 * 2
    assert all(r["validated"] == "True" and r["error"] == "" for r in rows), [r["error"] for r in rows]
    cp = [r for r in rows if r["policy"] == "vm-cpsat:2"]
    assert all(float(r["x.fr_bound"]) <= float(r["objective"]) + 1e-12 for r in cp)
    assert (out / "vm-small-fr-vs-mnl.png").is_file() or any(out.rglob("vm-small-fr-vs-mnl.png"))


def test_bench_quick() -> None:
    rows = bench_rows(quick=True)
    assert {r["unit"] for r in rows} >= {"steps/s", "migrations/s", "s"}
    assert all(r["value"] > 0 and r["benchmark"] and r["measure"] for r in rows)


def test_gnn_trains_on_medium_snapshots(tmp_path: Path) -> None:
    """The env preset ``vm-medium`` (280 PMs, ~2,100 VMs, MNL 50): a tiny SB3 run and a validated episode."""
    run_dir = tmp_path / "run"
    over = [o for o in TINY_SB3 if not o.startswith(("trainer.total_steps", "trainer.checkpoint_every",
                                                      "trainer.eval_every", "val.seeds"))]
    cfg = resolve_config("vm-small", [f"run_dir={run_dir}", "env=vm-medium", *over, "trainer.total_steps=128",
                                      "trainer.checkpoint_every=128", "trainer.eval_every=128", "val.seeds=[0]"])
    summary = train(cfg, run_dir, resume=False)
    assert summary["timesteps"] >= 128
    policy = make_policy(f"gnn:{run_dir / 'best.pt'}")
    res = run_episode(gym.make(ENV_ID, preset="medium", mnl=5), policy, seed=0)
    assert res.validated_objective == pytest.approx(res.objective)


def test_released_policy_runs_validated_episodes() -> None:
    policy = make_policy("gnn:vm-small")  # shipped in agents/gnn/released/
    env = gym.make(ENV_ID)
    total = 0.0
    for seed in range(3):
        res = run_episode(env, policy, seed=seed)
        assert res.validated_objective == pytest.approx(res.objective)
        total += res.metrics["fragment_rate_initial"] - res.objective
    assert total > 0  # it lowers FR on average
