"""schedgym/LLMServe-v0: observation semantics, rewards, baselines through the env (the shared contract
itself runs in tests/test_contract.py)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import schedgym.envs  # noqa: F401
from schedgym.agents.base import run_episode
from schedgym.agents.registry import make_policy, policy_factories
from schedgym.envs.core import IllegalActionError
from schedgym.envs.llm.env import LAUNCH, NODE_FEATURES
from schedgym.envs.llm.metrics import summarize
from schedgym.envs.llm.simulator import RUNNING, ServingSimulator

SINGLE = ["vllm-fcfs", "sarathi:512", "sarathi:2048", "spf", "srpt-oracle", "edf", "mlfq", "mlfq:nopreempt"]


def test_policies_registered_with_unique_names() -> None:
    names = policy_factories()
    for n in ("vllm-fcfs", "sarathi", "spf", "srpt-oracle", "edf", "mlfq"):
        assert n in names
    assert make_policy("srpt-oracle").oracle and not make_policy("spf").oracle
    assert make_policy("sarathi:2048").env_kwargs["token_budget"] == 2048
    spf512 = make_policy("spf:512")
    assert spf512.name == "spf:512" and spf512.env_kwargs["token_budget"] == 512
    with pytest.raises(ValueError, match="token budget"):
        make_policy("edf:soon")


@pytest.mark.parametrize("name", SINGLE)
def test_baseline_through_env_equals_builtin_scheduler(name: str) -> None:
    policy = make_policy(name)
    # a capped KV cache so that preemption (and MLFQ's proactive preemption) happens
    env = gym.make("schedgym/LLMServe-v0", max_nodes=512, max_kv_blocks=1200, **policy.env_kwargs)
    res = run_episode(env, policy, seed=3)
    assert res.validated_objective == pytest.approx(res.objective)
    base = env.unwrapped
    sim = ServingSimulator(base.config)
    sim.reset(base.workload)
    sim.run(policy.order, policy.strict)
    direct = summarize(sim)
    for key in ("slo_attainment", "ttft_p99", "tbt_p99", "latency_p50"):
        assert res.metrics[key] == pytest.approx(direct[key]), key


def test_observation_semantics_and_mask() -> None:
    env = gym.make("schedgym/LLMServe-v0", rate=30.0, max_nodes=16)
    obs, info = env.reset(seed=0)
    base = env.unwrapped
    n = int(obs["n_nodes"][0])
    x = obs["nodes"][:n]
    assert x[LAUNCH, NODE_FEATURES.index("is_launch")] == 1
    legal = np.flatnonzero(obs["action_mask"])
    assert legal.size >= 1
    legal_col = NODE_FEATURES.index("legal")
    np.testing.assert_array_equal(x[:, legal_col] > 0, obs["action_mask"][:n] > 0)
    # every legal request node maps to an admissible request
    cands = set(base.sim.candidates().tolist())
    for i in legal[legal != LAUNCH]:
        assert int(base.node_rid[i]) in cands
    # features are bounded ratios (size independent)
    assert np.isfinite(obs["nodes"]).all() and np.abs(obs["nodes"]).max() <= 10
    # running requests cannot be picked
    for _ in range(30):
        obs, r, term, trunc, info = env.step(int(np.flatnonzero(obs["action_mask"])[-1]))
        if term:
            break
        run_nodes = [i for i in range(int(obs["n_nodes"][0])) if base.node_rid[i] >= 0
                     and base.sim.phase[base.node_rid[i]] == RUNNING]
        if run_nodes:
            with pytest.raises(IllegalActionError, match="already running"):
                env.step(run_nodes[0])
            break


def test_goodput_return_is_attainment_and_latency_reward() -> None:
    for reward in ("goodput", "latency"):
        env = gym.make("schedgym/LLMServe-v0", reward=reward, n_requests=60)
        obs, _ = env.reset(seed=1)
        total = 0.0
        rng = np.random.default_rng(0)
        while True:
            legal = np.flatnonzero(obs["action_mask"])
            obs, r, term, trunc, info = env.step(int(rng.choice(legal)))
            total += r
            if term:
                break
        m = info["metrics"]
        if reward == "goodput":
            assert total == pytest.approx(m["slo_attainment"])
        else:
            assert total == pytest.approx(-m["latency_mean"] * m["n_finished"] / 60 / 10.0)


def test_trace_workload_and_realistic_kwargs(azure_dir) -> None:  # noqa: ANN001
    env = gym.make("schedgym/LLMServe-v0", workload="azure-code", n_requests=80, rate_scale=2.0, max_nodes=128)
    policy = make_policy("sarathi:512")
    res = run_episode(env, policy, seed=0)
    assert res.metrics["n_requests"] == 80
    assert res.validated_objective == pytest.approx(res.objective)


def test_bad_kwargs_raise_clearly() -> None:
    with pytest.raises(ValueError, match="reward"):
        gym.make("schedgym/LLMServe-v0", reward="joy")
    with pytest.raises(ValueError, match="does not fit"):
        gym.make("schedgym/LLMServe-v0", model="llama-2-70b")
    with pytest.raises(ValueError, match="chunked_prefill"):
        gym.make("schedgym/LLMServe-v0", batching="prefill-first")


def test_render_rgb() -> None:
    env = gym.make("schedgym/LLMServe-v0", n_requests=20, render_mode="rgb_array")
    policy = make_policy("sarathi:512")
    run_episode(env, policy, seed=0)
    img = env.render()
    assert img.ndim == 3 and img.shape[2] == 3 and img.std() > 0


def test_trace_file_workload_and_truncation(tmp_path) -> None:  # noqa: ANN001
    f = tmp_path / "mini.csv"
    rows = ["arrived_at,num_prefill_tokens,num_decode_tokens"] + [f"{0.05 * i:.3f},{200 + 10 * i},{20 + i}" for i in range(40)]
    f.write_text("\n".join(rows) + "\n")
    env = gym.make("schedgym/LLMServe-v0", workload=str(f), n_requests=0, class_mix="standard")
    obs, _ = env.reset(seed=0)
    base = env.unwrapped
    assert len(base.workload) == 40 and base.workload.prompt[0] == 200
    env = gym.make("schedgym/LLMServe-v0", max_steps=5)
    obs, _ = env.reset(seed=0)
    for i in range(5):
        obs, _, term, trunc, info = env.step(int(np.flatnonzero(obs["action_mask"])[0]))
    assert trunc and not term and "metrics" in info


def test_swap_preemption_pays_pcie_time() -> None:
    """Two requests outgrow a tiny KV cache: the newer one is swapped out and back in; with the A100's
    PCIe bandwidth it finishes later than with an (unphysical) instant link by about the two copies."""
    from dataclasses import replace

    from schedgym.envs.llm.profiles import get_hardware
    from schedgym.envs.llm.workload import Workload

    w = Workload(np.array([0.0, 0.001]), np.array([100, 100]), np.array([150, 150]), np.zeros(2, np.int64))
    finish, swaps = {}, {}
    for name, hw in (("pcie", get_hardware("a100-80gb")),
                     ("instant", replace(get_hardware("a100-80gb"), pcie_bandwidth=1e18))):
        sim = ServingSimulator(hardware=hw, max_kv_blocks=20, preemption="swap", token_budget=512)
        sim.reset(w)
        sim.run("fcfs")
        m = summarize(sim)
        swaps[name] = m["preemptions_swap"]
        finish[name] = sim.finish_t.copy()
        if name == "pcie":
            kv_final = int(sim.kv[1])  # after the run: the final KV of request 1 (bounds the copies)
            per_token = sim.cost.swap_time(1.0)  # ~21 us per Llama-2-7B token over PCIe Gen4
    assert swaps["pcie"] >= 1 and swaps["instant"] == swaps["pcie"]
    delay = finish["pcie"][1] - finish["instant"][1]
    # out and back in: at least two copies of the first block, at most two of the final KV
    assert 2 * 16 * per_token < delay <= 2 * swaps["pcie"] * kv_final * per_token * 1.01
