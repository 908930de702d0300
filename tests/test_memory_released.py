"""The released memory GNN policies (agents/gnn/released/memory-map.pt, memory-map-dagger.pt, memory-alloc.pt),
a tiny run of the DAgger recipe, and the held-out suite."""

from __future__ import annotations

import pytest
import yaml

pytest.importorskip("torch", reason="the released GNN policy needs the [train] extra (torch, torch-geometric)")

from schedgym.agents import make_policy, run_episode  # noqa: E402
from schedgym.envs.memory.env import MemoryEnv  # noqa: E402
from schedgym.envs.memory.suite import model_cases  # noqa: E402
from schedgym.eval.suites import load_suite  # noqa: E402
from schedgym.train.config import preset_path  # noqa: E402

MAP_ID = "schedgym/MemoryMap-v0"
ALLOC_ID = "schedgym/MemoryAlloc-v0"


def test_released_memory_map_runs_a_validated_episode() -> None:
    env = MemoryEnv(mode="mapping", instance="gpt2-block-b1-s128")  # 28 buffers: a short episode
    greedy = run_episode(env, make_policy("gnn:memory-map", env_id=MAP_ID), seed=0)
    assert greedy.validated_objective == pytest.approx(greedy.objective)
    assert greedy.metrics["n_placed"] > 0 and greedy.metrics["speedup"] > 1.0
    best = run_episode(env, make_policy("gnn:memory-map#k=2", env_id=MAP_ID), seed=0)
    assert best.validated_objective == pytest.approx(best.objective)
    assert best.objective <= greedy.objective + 1e-9  # rollout 0 of best-of-k is the greedy one


def test_released_memory_map_dagger_loads_by_name_and_runs_a_validated_episode() -> None:
    """``gnn:memory-map-dagger``: the memory-map recipe with three DAgger rounds (preset memory-map-dagger)."""
    from schedgym.agents.gnn.checkpoint import load_checkpoint

    _, meta = load_checkpoint("memory-map-dagger")
    assert meta["env_id"] == MAP_ID and meta["config"]["imitation"]["dagger_rounds"] == 3
    assert meta["config"]["imitation"]["expert"] == "mem-lowest-offset"
    env = MemoryEnv(mode="mapping", instance="gpt2-block-b1-s128")
    greedy = run_episode(env, make_policy("gnn:memory-map-dagger", env_id=MAP_ID), seed=0)
    assert greedy.validated_objective == pytest.approx(greedy.objective)
    assert greedy.metrics["n_placed"] > 0 and greedy.metrics["speedup"] > 1.0


def test_released_memory_alloc_solves_the_example_and_validates_on_tiled_instances() -> None:
    policy = make_policy("gnn:memory-alloc", env_id=ALLOC_ID)
    example = run_episode(MemoryEnv(mode="allocation", instance="minimalloc-example"), policy, seed=0)
    assert example.objective == 1.0 and example.validated_objective == 1.0
    tiled = MemoryEnv(mode="allocation", generator="tiled", n_buffers=20)
    for seed in range(2):
        res = run_episode(tiled, policy, seed=seed)
        assert res.validated_objective == pytest.approx(res.objective)
        assert res.metrics["n_placed"] > 0


def test_heldout_suite_is_not_trained_on_and_its_tight_group_follows_memory_models() -> None:
    suite = load_suite("memory-heldout")
    held = {c.env_kwargs["instance"] for c in suite.cases}
    assert len(held) == 5
    for preset in ("memory-map", "memory-map-dagger", "memory-alloc", "memory-models", "memory-small"):
        raw = yaml.safe_load(preset_path("train", preset).read_text())
        env = raw["env"]
        kwargs = env.get("kwargs", {}) if isinstance(env, dict) else yaml.safe_load(
            preset_path("env", env).read_text()).get("kwargs", {})
        trained = kwargs.get("instance") or []
        assert not held & set([trained] if isinstance(trained, str) else trained), preset
    tight_rule = {c["env_kwargs"]["instance"]: c["env_kwargs"]["capacity"] for c in model_cases() if c["group"] == "tight"}
    tight = [c for c in suite.cases if c.group == "tight"]
    assert len(tight) == 5
    for case in tight:
        assert case.env_kwargs["capacity"] == tight_rule[case.env_kwargs["instance"]]


def test_a_tiny_run_of_the_dagger_recipe_writes_a_checkpoint_that_plays(tmp_path) -> None:
    """``preset=memory-map-dagger`` end to end at toy size: cloning, one DAgger round, PPO, a checkpoint that
    plays a validated traced program."""
    import json

    from schedgym.train.cli import main

    run = tmp_path / "run"
    argv = ["preset=memory-map-dagger", f"run_dir={run}", "env.kwargs.n_buffers=12", "imitation.episodes=3",
            "imitation.epochs=1", "imitation.dagger_rounds=1", "imitation.dagger_episodes=2",
            "trainer.total_steps=128", "agent.ppo.n_steps=32", "agent.ppo.batch_size=32", "agent.ppo.n_epochs=1",
            "trainer.checkpoint_every=128", "trainer.eval_every=128", "trainer.progress_bar=false",
            "val.seeds=[10000]", "val.baselines=[]", "agent.model.hidden=16", "agent.model.n_layers=1",
            "agent.model.head_hidden=16"]
    assert main(argv) == 0
    summary = json.loads((run / "summary.json").read_text())
    (round_1,) = summary["imitation"]["dagger"]
    assert round_1["episodes"] == 2 and round_1["states"] > 0 and 0.0 <= round_1["agreement"] <= 1.0
    env = MemoryEnv(mode="mapping", instance="gpt2-block-b1-s128")
    result = run_episode(env, make_policy(f"gnn:{run / 'best.pt'}", env_id=MAP_ID), seed=0)
    assert result.validated_objective == pytest.approx(result.objective)
