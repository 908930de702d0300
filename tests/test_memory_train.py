"""schedgym-train trains the GNN on both memory ids, on both backends (tiny runs)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest
import schedgym.envs  # noqa: F401
import torch
from schedgym.agents import make_policy, run_episode
from schedgym.agents.gnn import load_checkpoint
from schedgym.train.cli import main, train
from schedgym.train.config import resolve_config

SB3 = [
    "backend=sb3", "trainer.total_steps=256", "trainer.n_envs=2", "trainer.vec_env=dummy",
    "trainer.checkpoint_every=128", "trainer.eval_every=128", "trainer.progress_bar=false",
    "agent.model.hidden=16", "agent.model.n_layers=1", "agent.model.head_hidden=16",
    "agent.ppo.n_steps=64", "agent.ppo.batch_size=32", "agent.ppo.n_epochs=2", "val.seeds=[0,1]",
]
RLLIB = [
    "backend=rllib", "rllib.num_cpus=1", "rllib.num_env_runners=0", "trainer.total_steps=200",
    "trainer.checkpoint_every=100", "trainer.eval_every=100", "trainer.progress_bar=false",
    "agent.model.hidden=16", "agent.model.n_layers=1", "agent.model.head_hidden=16",
    "agent.ppo.n_steps=100", "agent.ppo.batch_size=50", "agent.ppo.n_epochs=2", "val.seeds=[0,1]",
    "val.baselines=[]",
]


def _changed(run_dir: Path) -> bool:
    w0 = load_checkpoint(run_dir / "checkpoints" / "step_0.pt")[0].state_dict()
    w1 = load_checkpoint(run_dir / "last.pt")[0].state_dict()
    return any(not torch.equal(w0[k], w1[k]) for k in w0)


@pytest.mark.parametrize("env_preset, baselines", [("memory-map-small", "[mem-xla]"),
                                                   ("memory-alloc-small", "[mem-best-fit:size]")])
def test_sb3_cli_run_on_the_memory_preset(tmp_path: Path, env_preset: str, baselines: str) -> None:
    run_dir = tmp_path / "run"
    rc = main(["preset=memory-small", f"run_dir={run_dir}", f"env={env_preset}", "env.kwargs.n_buffers=12",
               f"val.baselines={baselines}", *SB3])
    assert rc == 0 and (run_dir / "best.pt").is_file() and _changed(run_dir)
    policy = make_policy(f"gnn:{run_dir / 'best.pt'}")
    env_id = "schedgym/MemoryMap-v0" if "map" in env_preset else "schedgym/MemoryAlloc-v0"
    res = run_episode(gym.make(env_id, n_buffers=12), policy, seed=0)
    assert res.validated_objective == pytest.approx(res.objective)


def test_rllib_run_on_memory_allocation(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    run_dir = tmp_path / "run"
    cfg = resolve_config("memory-small", [f"run_dir={run_dir}", "env=memory-alloc-small", "env.kwargs.n_buffers=12", *RLLIB])
    summary = train(cfg, run_dir, resume=False)
    assert summary["timesteps"] >= 200 and _changed(run_dir)
    policy = make_policy(f"gnn:{run_dir / 'best.pt'}")
    res = run_episode(gym.make("schedgym/MemoryAlloc-v0", n_buffers=12), policy, seed=0)
    assert res.validated_objective == pytest.approx(res.objective)
