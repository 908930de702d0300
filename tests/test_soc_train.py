"""GNN-PPO trains on schedgym/SoCDAG-v0 with both backends (tiny runs) and the checkpoint acts as a policy;
the soc-small preset resolves to the SoC env."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest

torch = pytest.importorskip("torch")  # the light install has no torch: these tests need the [train] extra

import schedgym.envs  # noqa: E402,F401
from schedgym.agents import make_policy, run_episode  # noqa: E402
from schedgym.agents.gnn import load_checkpoint  # noqa: E402
from schedgym.train.cli import train  # noqa: E402
from schedgym.train.config import resolve_config  # noqa: E402

ID = "schedgym/SoCDAG-v0"
#: a small streaming episode: 4 WiFi jobs
KWARGS = {"mix": "wifi", "n_jobs": 4, "mean_interarrival_us": 100.0, "noise": 0.2}
MODEL = ["agent.model.hidden=16", "agent.model.n_layers=1", "agent.model.head_hidden=16", "agent.ppo.n_epochs=2",
         "agent.ppo.lr=0.003", "trainer.progress_bar=false", "val.seeds=[0,1]", "val.baselines=[etf]"]


def _config(run_dir: Path, backend: list[str]):
    cfg = resolve_config(None, [f"env.id={ID}", f"run_dir={run_dir}", *backend, *MODEL])
    cfg.env.kwargs = dict(KWARGS)
    return cfg


def _check(run_dir: Path) -> None:
    w0 = load_checkpoint(run_dir / "checkpoints" / "step_0.pt")[0].state_dict()
    w1 = load_checkpoint(run_dir / "last.pt")[0].state_dict()
    assert any(not torch.equal(w0[k], w1[k]) for k in w0), "training did not change the policy"
    policy = make_policy(f"gnn:{run_dir / 'best.pt'}")
    env = gym.make(ID, **KWARGS)
    res = run_episode(env, policy, seed=5)
    assert res.validated_objective == pytest.approx(res.objective)


def test_soc_small_preset_resolves() -> None:
    cfg = resolve_config("soc-small", [])
    assert cfg.env.id == ID and cfg.env.kwargs.mix == "wifi" and list(cfg.val.baselines) == ["heft-rt", "etf"]


def test_tiny_sb3_run_on_soc(tmp_path: Path) -> None:
    run_dir = tmp_path / "sb3"
    cfg = _config(run_dir, ["backend=sb3", "trainer.total_steps=256", "trainer.n_envs=2", "trainer.vec_env=dummy",
                            "trainer.checkpoint_every=128", "trainer.eval_every=128", "agent.ppo.n_steps=64",
                            "agent.ppo.batch_size=64"])
    summary = train(cfg, run_dir, resume=False)
    assert summary["timesteps"] >= 256 and summary["n_updates"] > 0
    _check(run_dir)


def test_tiny_rllib_run_on_soc(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    run_dir = tmp_path / "rllib"
    cfg = _config(run_dir, ["backend=rllib", "rllib.num_cpus=1", "rllib.num_env_runners=0",
                            "trainer.total_steps=240", "trainer.checkpoint_every=120", "trainer.eval_every=120",
                            "agent.ppo.n_steps=120", "agent.ppo.batch_size=60"])
    summary = train(cfg, run_dir, resume=False)
    assert summary["timesteps"] >= 240
    _check(run_dir)
