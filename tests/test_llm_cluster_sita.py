"""The ``llm-cluster-sita`` train preset (a GNN clone of ``llumnix-sita`` on the ``llm-cluster-indexed`` env, whose
instance nodes carry their index): a tiny real run writes a checkpoint that carries ``instance_index_feature`` and
Llumnix's migration interval, so ``gnn:<checkpoint>`` builds its env with them and refuses an env without them;
the released clone ``gnn:llm-cluster-sita`` loads by name, plays a validated episode with them, and mostly picks
what ``llumnix-sita`` picks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import schedgym.envs  # noqa: F401 - registers the ids
from agreement_checks import play_and_ask  # tests/agreement_checks.py
from cluster_runs import tiny_cluster_run  # tests/cluster_runs.py
from schedgym.agents import make_policy, run_episode

torch = pytest.importorskip("torch", reason="the GNN needs the [train] extra (torch, torch-geometric)")

CLUSTER_ID = "schedgym/LLMCluster-v0"
SMALL = {"n_instances": 4, "max_kv_blocks": 1500, "n_requests": 30, "rate": 20.0}


def test_a_tiny_run_of_the_sita_preset_writes_a_checkpoint_that_carries_the_feature(tmp_path: Path) -> None:
    run = tmp_path / "run"
    summary = tiny_cluster_run("llm-cluster-sita", run, 256)
    assert summary["imitation"]["expert"] == "llumnix-sita" and summary["imitation"]["train_states"] > 0
    policy = make_policy(f"gnn:{run / 'checkpoints' / 'imitation.pt'}", env_id=CLUSTER_ID)
    _plays_a_validated_episode(policy, seed=3)
    # an env without the feature is refused, naming what differs
    plain = gym.make(CLUSTER_ID, **SMALL, migration_interval=0.5)
    with pytest.raises(ValueError, match="node_features 13 != trained 14.*instance_index"):
        run_episode(plain, policy, seed=3)
    plain.close()


def test_the_released_clone_loads_by_name_and_plays_a_validated_episode_with_its_env_kwargs() -> None:
    from schedgym.agents.gnn.checkpoint import RELEASED_DIR, load_checkpoint

    assert torch.load(RELEASED_DIR / "llm-cluster-sita.pt", weights_only=True)  # no arbitrary unpickling
    _, meta = load_checkpoint("llm-cluster-sita")
    assert meta["env_id"] == CLUSTER_ID and meta["config"]["imitation"]["expert"] == "llumnix-sita"
    _plays_a_validated_episode(make_policy("gnn:llm-cluster-sita", env_id=CLUSTER_ID), seed=0)


def test_the_released_clone_mostly_decides_what_llumnix_sita_decides() -> None:
    """It is ``llumnix-sita``'s clone: along its own trajectory, where there is a choice (dispatch or migrate), it
    mostly picks what the rule picks in the same state (92.5% on the held-out demonstration states)."""
    policy = make_policy("gnn:llm-cluster-sita", env_id=CLUSTER_ID)
    rule = make_policy("llumnix-sita", env_id=CLUSTER_ID)
    env = gym.make(CLUSTER_ID, n_instances=4, max_kv_blocks=1500, n_requests=60, rate=20.0, **policy.env_kwargs)
    _, agree, with_choice = play_and_ask(env, policy, rule, seed=4)
    env.close()
    assert with_choice >= 30 and agree / with_choice >= 0.75, (agree, with_choice)


def _plays_a_validated_episode(policy: Any, seed: int) -> None:
    """``policy`` carries the sita env kwargs and plays a validated episode of the small cluster with them."""
    assert policy.env_kwargs == {"migration_interval": 0.5, "instance_index_feature": True}
    env = gym.make(CLUSTER_ID, **SMALL, **policy.env_kwargs)
    result = run_episode(env, policy, seed=seed)  # validated by the cluster validator
    env.close()
    assert result.validated_objective == pytest.approx(result.objective)
    assert result.metrics["n_finished"] + result.metrics["n_rejected"] == SMALL["n_requests"]
