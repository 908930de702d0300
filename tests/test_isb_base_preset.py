"""The preset ``isb-lawrence-base`` (docs/isbjobshop.md, "A larger model: gnn-base"): the released ISB recipe
(``isb-lawrence``) with the agent preset ``gnn-base`` (GIN 3x64), compiled GIN layers and micro-batches of 128
graphs. It must stay that recipe (same env mix, PPO, imitation, seeds, validation set) so that its comparison
with ``gnn:isb-lawrence`` is about the model only; and a tiny real run of it writes a gnn-base checkpoint that
plays an ISB Lawrence instance."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import gymnasium as gym
import pytest
from omegaconf import OmegaConf

torch = pytest.importorskip("torch", reason="the GNN preset needs the [train] extra (torch, torch-geometric)")

import schedgym.envs  # noqa: F401 - registers the ids
from schedgym.agents import make_policy, run_episode
from schedgym.agents.gnn.checkpoint import load_checkpoint
from schedgym.train.config import resolve_config

ISB_ID = "schedgym/ISBJobShop-v0"

#: keys where the larger model's preset may differ from the released recipe's
MODEL_ONLY = ("name", "run_dir")


def _plain(name: str) -> dict:
    cfg = OmegaConf.to_container(resolve_config(name, []), resolve=True)
    for key in MODEL_ONLY:
        cfg.pop(key, None)
    return cfg


def test_the_preset_is_the_released_recipe_with_a_larger_compiled_model() -> None:
    base, small = _plain("isb-lawrence-base"), _plain("isb-lawrence")
    model = base["agent"]["model"]
    assert (model["hidden"], model["n_layers"], model["conv"]) == (64, 3, "gin")
    assert model["compile"] is True and model["micro_batch"] == 128 and model["precision"] == "float32"
    assert (small["agent"]["model"]["hidden"], small["agent"]["model"]["n_layers"]) == (32, 2)
    assert base["trainer"]["total_steps"] >= small["trainer"]["total_steps"]
    for cfg in (base, small):
        cfg["agent"].pop("model")
        cfg["trainer"].pop("total_steps")
    assert base == small  # env mix, PPO, imitation, seeds and the validation set are the released run's


def test_a_tiny_run_of_the_preset_writes_a_gnn_base_checkpoint_that_plays(tmp_path: Path, jsplib_dir: Path) -> None:
    """A real run of the preset, shrunk, with its GIN layers really compiled (2026-12-07, shared 2-core machine:
    about 12 s with a cold inductor cache at load average 2, 6 s with a warm one)."""
    from schedgym.train.cli import main

    run = tmp_path / "run"
    argv = ["preset=isb-lawrence-base", f"run_dir={run}", "trainer.total_steps=256", "agent.ppo.n_steps=64",
            "agent.ppo.batch_size=64", "imitation.episodes=2", "imitation.epochs=1", "val.seeds=[30000]",
            "trainer.checkpoint_every=256", "trainer.eval_every=256", "trainer.progress_bar=false",
            "env.kwargs.sizes=[[6,3],[8,4]]"]
    threads = torch.get_num_threads()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert main(argv) == 0
    finally:
        torch.set_num_threads(threads)
    assert not [w for w in caught if "torch.compile failed" in str(w.message)]  # the layers really compiled
    summary = json.loads((run / "summary.json").read_text())
    assert summary["timesteps"] >= 256 and summary["imitation"]["train_states"] > 0
    module, meta = load_checkpoint(run / "best.pt")
    assert (module.config.hidden, module.config.n_layers, module.config.conv) == (64, 3, "gin")
    trained_with = meta["config"]["agent"]["model"]  # the run's options; the file itself loads eagerly
    assert trained_with["compile"] is True and trained_with["micro_batch"] == 128
    policy = make_policy(f"gnn:{run / 'best.pt'}", env_id=ISB_ID)
    env = gym.make(ISB_ID, instance="la01", shutdown_prob=0.05, **policy.env_kwargs)
    result = run_episode(env, policy, seed=1)
    assert result.validated_objective == result.objective > 0
