"""The even-load ``"ttft"`` reward of ``schedgym/LLMCluster-v0`` (``ttft_normalize="kv-jsq"``) and the
``llm-cluster-sita-even`` train preset that fine-tunes the released ``gnn:llm-cluster-sita`` with it: every reward is
the plain one divided by the penalty ``kv-jsq`` dispatch gets on the episode's own workload, so ``kv-jsq`` itself
scores exactly -1 at every rate; bad values are refused naming them; a tiny real run of the preset writes a
checkpoint that plays a validated episode with the sita env kwargs (and not the reward option)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import schedgym.envs  # noqa: F401 - registers the ids
from schedgym.agents import make_policy, run_episode
from schedgym.envs.llm.cluster_env import LLMClusterEnv

CLUSTER_ID = "schedgym/LLMCluster-v0"
#: the llm-cluster suite's cluster with the recipe's reward, small enough for CI
SMALL = {"n_instances": 4, "max_kv_blocks": 1500, "n_requests": 60, "rate_range": (12.0, 28.0),
         "reward": "ttft", "ttft_power": 1.0, "latency_scale": 2.0}


def _rewards(env: LLMClusterEnv, policy_name: str, seed: int) -> tuple[np.ndarray, dict]:
    """Every step's reward of one episode of a registry policy, and the last info."""
    policy = make_policy(policy_name)
    obs, info = env.reset(seed=seed)
    policy.reset(env, seed)
    out = []
    while True:
        obs, reward, terminated, truncated, info = env.step(policy.act(obs, info))
        out.append(reward)
        if terminated or truncated:
            return np.array(out), info


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_reward_is_the_plain_one_over_kv_jsqs_penalty_on_the_same_workload(seed: int) -> None:
    plain, p_info = _rewards(LLMClusterEnv(**SMALL, migration_interval=0.5), "llumnix", seed)
    even, e_info = _rewards(LLMClusterEnv(**SMALL, migration_interval=0.5, ttft_normalize="kv-jsq"), "llumnix", seed)
    scale = e_info["metrics"]["ttft_reference"]
    assert e_info["metrics"]["rate_drawn"] == p_info["metrics"]["rate_drawn"]  # the same episode
    assert scale > 0 and np.allclose(even, plain / scale, rtol=1e-12, atol=0.0)
    # the divisor is kv-jsq's own plain return on that workload (dispatch only), so kv-jsq scores exactly -1
    ref, _ = _rewards(LLMClusterEnv(**SMALL, migration_interval=None), "cluster-kv-jsq", seed)
    assert -ref.sum() == pytest.approx(scale, rel=1e-9)
    kv, _ = _rewards(LLMClusterEnv(**SMALL, migration_interval=None, ttft_normalize="kv-jsq"), "cluster-kv-jsq", seed)
    assert kv.sum() == pytest.approx(-1.0, rel=1e-9)
    assert "ttft_reference" not in p_info["metrics"]  # off by default: the env of the released checkpoints


def test_the_divisor_follows_the_drawn_rate() -> None:
    """At a higher rate the reference waits longer, so the divisor grows with the drawn rate (60 requests)."""
    env = LLMClusterEnv(**{**SMALL, "rate_range": None}, rate=12.0, ttft_normalize="kv-jsq")
    env.reset(seed=0)
    low = env._ttft_scale
    env = LLMClusterEnv(**{**SMALL, "rate_range": None}, rate=28.0, ttft_normalize="kv-jsq")
    env.reset(seed=0)
    assert env._ttft_scale > low > 0


@pytest.mark.parametrize("kwargs, words", [
    ({"ttft_normalize": "llumnix"}, "ttft_normalize must be None or one of"),
    ({"ttft_normalize": 1}, "ttft_normalize must be None or one of"),
    ({"ttft_normalize": "kv-jsq", "reward": "goodput"}, "scales the 'ttft' reward, but reward='goodput'"),
])
def test_bad_normalisations_are_refused_naming_them(kwargs: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        gym.make(CLUSTER_ID, **{**SMALL, **kwargs})


def test_a_tiny_run_of_the_even_preset_fine_tunes_the_released_clone(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the GNN needs the [train] extra (torch, torch-geometric)")
    from cluster_runs import tiny_fine_tune_of_the_released_clone  # tests/cluster_runs.py

    run = tmp_path / "run"
    tiny_fine_tune_of_the_released_clone("llm-cluster-sita-even", run)
    policy = make_policy(f"gnn:{run / 'last.pt'}", env_id=CLUSTER_ID)
    # the reward option trains only: the checkpoint carries the env kwargs an evaluation needs, not it
    assert policy.env_kwargs == {"migration_interval": 0.5, "instance_index_feature": True}
    env = gym.make(CLUSTER_ID, n_instances=4, max_kv_blocks=1500, n_requests=30, rate=20.0, **policy.env_kwargs)
    result = run_episode(env, policy, seed=3)  # validated by the cluster validator
    env.close()
    assert result.validated_objective == pytest.approx(result.objective)
    assert result.metrics["n_finished"] + result.metrics["n_rejected"] == 30
