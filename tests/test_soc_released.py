"""The released SoC policy (``gnn:soc-wifi``, ``agents/gnn/released/soc-wifi.pt``) loads by its released name
and runs a short validated episode, greedy and sampling, on the WiFi stream it was trained on."""

from __future__ import annotations

import gymnasium as gym
import pytest

torch = pytest.importorskip("torch", reason="the released GNN policy needs the [train] extra (torch, torch-geometric)")

import schedgym.envs  # noqa: F401 - registers the ids
from schedgym.agents import make_policy, run_episode
from schedgym.agents.gnn.checkpoint import RELEASED_DIR, load_checkpoint

SOC_ID = "schedgym/SoCDAG-v0"


def test_the_released_file_is_plain_tensors_and_names_its_env() -> None:
    payload = torch.load(RELEASED_DIR / "soc-wifi.pt", weights_only=True)  # no arbitrary unpickling
    assert payload
    module, meta = load_checkpoint("soc-wifi")
    assert meta["env_id"] == SOC_ID
    assert meta["config"]["imitation"]["expert"] == "etf"  # the recipe: imitate ETF, then PPO
    assert sum(p.numel() for p in module.parameters()) > 0


@pytest.mark.parametrize("spec", ["gnn:soc-wifi", "gnn:soc-wifi#sample"])
def test_the_released_policy_runs_a_short_stream(spec: str) -> None:
    policy = make_policy(spec, env_id=SOC_ID)
    env = gym.make(SOC_ID, soc="ds3_16pe_head", mix="wifi", n_jobs=6, mean_interarrival_us=125, noise=0.2,
                   **policy.env_kwargs)
    result = run_episode(env, policy, seed=0)  # validated by the domain's validator
    env.close()
    assert result.validated_objective == pytest.approx(result.objective)
    assert 0 < result.objective < 10_000  # mean job latency in µs: the jobs finished
