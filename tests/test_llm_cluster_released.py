"""The released LLMCluster policy (``gnn:llm-cluster``, ``agents/gnn/released/llm-cluster.pt``) and its recipe:
the per-episode rate range and the tail-weighted TTFT reward of ``schedgym/LLMCluster-v0``, the released file
loading by name and playing a validated cluster episode with its env kwargs applied, and a tiny real run of
the ``llm-cluster`` train preset (imitation of Llumnix, then PPO) writing a loadable checkpoint."""

from __future__ import annotations

import json
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import schedgym.envs  # noqa: F401 - registers the ids
from agreement_checks import play_and_ask  # tests/agreement_checks.py
from cluster_runs import tiny_cluster_run  # tests/cluster_runs.py
from schedgym.agents import make_policy, run_episode
from schedgym.envs.llm.cluster_env import LLMClusterEnv

CLUSTER_ID = "schedgym/LLMCluster-v0"
#: the llm-cluster suite's cluster, small enough for CI
SMALL = {"n_instances": 4, "max_kv_blocks": 1500, "n_requests": 60}


def _play(env: LLMClusterEnv, policy_name: str, seed: int) -> tuple[float, dict]:
    """One episode of a registry policy, stepping the env directly; returns (undiscounted return, info)."""
    policy = make_policy(policy_name)
    obs, info = env.reset(seed=seed)
    policy.reset(env, seed)
    total = 0.0
    while True:
        obs, reward, terminated, truncated, info = env.step(policy.act(obs, info))
        total += reward
        if terminated or truncated:
            return total, info


# ---------------------------------------------------------------- the env options the recipe trains on
def test_rate_range_draws_each_episodes_rate_from_the_episode_seed() -> None:
    env = LLMClusterEnv(**SMALL, rate_range=(12.0, 28.0), migration_interval=0.5)
    rates = {}
    for seed in (0, 1, 2, 3):
        _, info = _play(env, "llumnix", seed)
        rates[seed] = info["metrics"]["rate_drawn"]
        assert 12.0 <= rates[seed] <= 28.0
        assert env.validate_solution(info["solution"]) == pytest.approx(info["metrics"]["slo_attainment"])
    assert len(set(rates.values())) == 4  # a new rate per episode
    _, again = _play(env, "llumnix", 2)
    assert again["metrics"]["rate_drawn"] == rates[2]  # ... fixed by the seed
    # a degenerate range is a fixed rate; without a range the metrics are the env's usual ones
    _, a = _play(LLMClusterEnv(**SMALL, rate_range=(20.0, 20.0)), "cluster-kv-jsq", 5)
    assert a["metrics"]["rate_drawn"] == 20.0
    assert "rate_drawn" not in _play(LLMClusterEnv(**SMALL, rate=20.0), "cluster-kv-jsq", 5)[1]["metrics"]


@pytest.mark.parametrize("bad, words", [
    ((28.0, 12.0), ["low <= high"]),
    ((0.0, 12.0), ["rate_range[0]"]),
    ((12.0, float("nan")), ["rate_range[1]"]),
    ((12.0,), ["(low, high)"]),
    ("12-28", ["(low, high)"]),
])
def test_a_bad_rate_range_is_refused_naming_it(bad, words: list[str]) -> None:
    with pytest.raises(ValueError) as err:
        LLMClusterEnv(**SMALL, rate_range=bad)
    assert all(w in str(err.value) for w in words)


def test_rate_range_is_refused_on_trace_workloads() -> None:
    with pytest.raises(ValueError, match="synthetic workloads"):
        LLMClusterEnv(workload="azure-conv", rate_range=(12.0, 28.0))


@pytest.mark.parametrize("power", [2.0, 1.0])
def test_the_ttft_reward_returns_minus_the_mean_powered_scaled_ttft(power: float) -> None:
    """Paid as it accrues (each step: the growth of the powered waits), the return is exactly
    -mean((TTFT / latency_scale)^ttft_power) over the requests, rejected ones counting 0."""
    scale = 2.0
    env = LLMClusterEnv(**{**SMALL, "n_requests": 240}, rate=26.0, reward="ttft", latency_scale=scale,
                        ttft_power=power, migration_interval=0.5)
    total, info = _play(env, "llumnix", 0)
    arr = env.cluster.request_arrays()
    ttft = arr["first_token_t"] - env.workload.arrival
    assert not np.isnan(ttft[~arr["rejected"]]).any()
    expected = -float(np.nansum((ttft / scale) ** power)) / len(ttft)
    assert expected < -0.01  # a loaded cluster: the test is not 0 == 0
    assert total == pytest.approx(expected, rel=1e-9)
    assert info["metrics"]["ttft_p99"] > 0
    # the reward changes nothing else: the goodput env's episode has the same metrics
    goodput_env = LLMClusterEnv(**{**SMALL, "n_requests": 240}, rate=26.0, migration_interval=0.5)
    g_total, g_info = _play(goodput_env, "llumnix", 0)
    assert g_total == pytest.approx(g_info["metrics"]["slo_attainment"])
    assert g_info["metrics"]["ttft_p99"] == info["metrics"]["ttft_p99"]


def test_an_unknown_reward_or_a_bad_power_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="ttft"):
        LLMClusterEnv(**SMALL, reward="p99")
    with pytest.raises(ValueError, match="ttft_power"):
        LLMClusterEnv(**SMALL, reward="ttft", ttft_power=0.5)


# ---------------------------------------------------------------- the released checkpoint
torch = pytest.importorskip("torch", reason="the released GNN policy needs the [train] extra (torch, torch-geometric)")


def test_the_released_file_is_plain_tensors_and_names_its_recipe() -> None:
    from schedgym.agents.gnn.checkpoint import RELEASED_DIR, load_checkpoint

    assert torch.load(RELEASED_DIR / "llm-cluster.pt", weights_only=True)  # no arbitrary unpickling
    module, meta = load_checkpoint("llm-cluster")
    assert meta["env_id"] == CLUSTER_ID
    assert meta["config"]["imitation"]["expert"] == "llumnix"
    assert meta["config"]["env"]["kwargs"]["reward"] == "ttft"
    assert sum(p.numel() for p in module.parameters()) > 0


def test_the_released_policy_plays_a_validated_cluster_episode_at_llumnix_interval() -> None:
    policy = make_policy("gnn:llm-cluster", env_id=CLUSTER_ID)
    # the checkpoint carries the migration interval it was trained with: Llumnix's default, 0.5 s
    assert policy.env_kwargs == {"migration_interval": 0.5}
    assert policy.env_kwargs == make_policy("llumnix").env_kwargs
    env = gym.make(CLUSTER_ID, **SMALL, rate=26.0, **policy.env_kwargs)
    assert env.unwrapped.cluster.migration_interval == 0.5
    result = run_episode(env, policy, seed=0)  # validated by the cluster validator
    env.close()
    assert result.validated_objective == pytest.approx(result.objective)
    m = result.metrics
    assert m["n_finished"] + m["n_rejected"] == SMALL["n_requests"]
    assert math.isfinite(m["ttft_p99"]) and m["steps"] >= SMALL["n_requests"]  # one dispatch per request at least


# ---------------------------------------------------------------- the recipe, tiny
def test_a_tiny_run_of_the_train_preset_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    summary = tiny_cluster_run("llm-cluster", run, 512)
    assert summary["timesteps"] >= 512
    assert summary["imitation"]["expert"] == "llumnix" and summary["imitation"]["train_states"] > 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any(r["step"] > 0 and "train/policy_gradient_loss" in r for r in records)  # PPO updated
    policy = make_policy(f"gnn:{run / 'last.pt'}", env_id=CLUSTER_ID)
    assert policy.env_kwargs == {"migration_interval": 0.5}
    env = gym.make(CLUSTER_ID, **{**SMALL, "n_requests": 30}, rate=20.0, **policy.env_kwargs)
    result = run_episode(env, policy, seed=3)
    env.close()
    assert result.validated_objective == pytest.approx(result.objective)


def test_the_released_policy_mostly_decides_what_llumnix_decides() -> None:
    """It is Llumnix's clone: along its own trajectory, where there is a choice (dispatch or migrate), it mostly
    picks what ``llumnix`` picks in the same state (93.3% on the held-out demonstration states)."""
    policy = make_policy("gnn:llm-cluster", env_id=CLUSTER_ID)
    llumnix = make_policy("llumnix", env_id=CLUSTER_ID)
    env = gym.make(CLUSTER_ID, **SMALL, rate=20.0, **policy.env_kwargs)
    _, agree, with_choice = play_and_ask(env, policy, llumnix, seed=4)
    env.close()
    assert with_choice >= 30 and agree / with_choice >= 0.85, (agree, with_choice)
