"""The RLlib backend (new API stack): a tiny run in CI, every registered id in a slow test."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest
import torch

import schedgym.envs
from schedgym.agents import make_policy, run_episode
from schedgym.agents.gnn import load_checkpoint
from schedgym.envs import ENV_IDS
from schedgym.train.cli import build, train
from schedgym.train.config import resolve_config

ray = pytest.importorskip("ray")

SMALL_KWARGS: dict[str, dict] = {"schedgym/JobShop-v0": {"n_jobs": 3, "n_machines": 3}}

TINY = [
    "backend=rllib",
    "rllib.num_cpus=1",
    "rllib.num_env_runners=0",
    "trainer.total_steps=120",
    "trainer.checkpoint_every=60",
    "trainer.eval_every=60",
    "trainer.progress_bar=false",
    "agent.model.hidden=16",
    "agent.model.n_layers=1",
    "agent.model.head_hidden=16",
    "agent.ppo.n_steps=60",
    "agent.ppo.batch_size=30",
    "agent.ppo.n_epochs=2",
    "agent.ppo.lr=0.003",
    "val.seeds=[0,1]",
    "val.baselines=[]",
]


def tiny_config(env_id: str, run_dir: Path, extra: list[str] | None = None):
    cfg = resolve_config(None, [f"env.id={env_id}", f"run_dir={run_dir}", *TINY, *(extra or [])])
    cfg.env.kwargs = SMALL_KWARGS.get(env_id, {})
    return cfg


def _check_run(run_dir: Path, env_id: str) -> None:
    for name in ("config.yaml", "last.pt", "best.pt", "metrics.jsonl", "checkpoints/state/rllib",
                 "checkpoints/state/trainer_state.json", "checkpoints/state/manifest.json"):
        assert (run_dir / name).exists(), name
    w0 = load_checkpoint(run_dir / "checkpoints" / "step_0.pt")[0].state_dict()
    w1 = load_checkpoint(run_dir / "last.pt")[0].state_dict()
    assert any(not torch.equal(w0[k], w1[k]) for k in w0), "training did not change the policy"
    policy = make_policy(f"gnn:{run_dir / 'best.pt'}")
    env = gym.make(env_id, **{**SMALL_KWARGS.get(env_id, {}), **policy.env_kwargs})
    assert run_episode(env, policy, seed=0).validated_objective is not None


def test_tiny_rllib_run_and_resume(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    summary = train(tiny_config("schedgym/JobShop-v0", run_dir), run_dir, resume=False)
    assert summary["timesteps"] >= 120
    _check_run(run_dir, "schedgym/JobShop-v0")
    assert not ray.is_initialized()  # the backend shuts down the Ray it started
    cfg, rdir, resuming, _ = build([f"resume={run_dir}", "trainer.total_steps=180"])
    summary = train(cfg, rdir, resume=True)
    assert summary["timesteps"] >= 180
    assert load_checkpoint(run_dir / "last.pt")[1]["timesteps"] == summary["timesteps"]


def test_rllib_is_deterministic_for_a_seed_and_leaves_torch_deterministic_mode_off(tmp_path: Path) -> None:
    """Two tiny runs with one seed give the same weights, and RLlib's seeding no longer leaves
    ``torch.use_deterministic_algorithms`` on in the process (CUDA-less torch; see
    ``undo_rllib_deterministic_flag``: the flag slows the compiled GIN backward, and is not needed)."""
    weights = []
    for name in ("a", "b"):
        run_dir = tmp_path / name
        train(tiny_config("schedgym/JobShop-v0", run_dir, ["trainer.torch_threads=1", "trainer.eval_every=0"]),
              run_dir, resume=False)
        weights.append(load_checkpoint(run_dir / "last.pt")[0].state_dict())
        if torch.version.cuda is None:
            assert not torch.are_deterministic_algorithms_enabled()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.mark.skipif(torch.version.cuda is not None, reason="RLlib sets the flag only on CUDA-less torch")
def test_the_module_turns_off_the_flag_rllib_seeding_turns_on() -> None:
    from ray.rllib.utils.torch_utils import set_torch_seed

    from schedgym.agents.gnn.rllib import undo_rllib_deterministic_flag

    rng = torch.get_rng_state()
    set_torch_seed(0)
    try:
        assert torch.are_deterministic_algorithms_enabled()  # what RLlib does on CUDA-less torch
        undo_rllib_deterministic_flag()
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)
        torch.set_rng_state(rng)


@pytest.mark.slow
@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_rllib_every_id(tmp_path: Path, env_id: str) -> None:
    run_dir = tmp_path / "run"
    train(tiny_config(env_id, run_dir), run_dir, resume=False)
    _check_run(run_dir, env_id)


@pytest.mark.slow
def test_rllib_with_env_runners_on_a_running_cluster(tmp_path: Path) -> None:
    """Remote env runners, and a Ray started beforehand (as ``ray.init(address=...)`` would join)."""
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        run_dir = tmp_path / "run"
        train(tiny_config("schedgym/JobShop-v0", run_dir, ["rllib.num_env_runners=1"]), run_dir, resume=False)
        _check_run(run_dir, "schedgym/JobShop-v0")
        assert ray.is_initialized()  # not ours to shut down
    finally:
        ray.shutdown()
