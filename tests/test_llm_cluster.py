"""schedgym/LLMCluster-v0: dispatch, live migration, the cluster validator, and the headline effect of
migration-based load balancing (real simulations, short)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from schedgym.agents.base import run_episode
from schedgym.agents.registry import make_policy
from schedgym.envs.llm.cluster import Cluster
from schedgym.envs.llm.cluster_env import NOOP, LLMClusterEnv
from schedgym.envs.llm.simulator import ServingConfig, ServingSimulator
from schedgym.envs.llm.validate import InvalidRunError, validate_cluster
from schedgym.envs.llm.workload import synthetic

#: memory-pressured 4-instance setting where balancing matters
PRESSURE = dict(n_requests=300, rate=20.0, max_kv_blocks=1500)


def test_cluster_policies_registered() -> None:
    for name in ("cluster-rr", "cluster-random", "cluster-lor", "cluster-kv-jsq", "llumnix"):
        p = make_policy(name)
        assert p.name == name
    assert make_policy("llumnix:0.25").env_kwargs == {"migration_interval": 0.25}


def test_one_instance_cluster_equals_single_instance() -> None:
    """With one instance the cluster is the single-instance simulator (same iteration-level results)."""
    cfg = ServingConfig(token_budget=512)
    w = synthetic(150, 6.0, np.random.default_rng(0))
    cl = Cluster(cfg, 1)
    cl.reset(w)
    while (ev := cl.advance_to_event()) is not None:
        assert ev == "dispatch"
        cl.dispatch(0)
    sim = ServingSimulator(cfg)
    sim.reset(w)
    sim.run("fcfs")
    arr = cl.request_arrays()
    np.testing.assert_allclose(arr["finish_t"], sim.finish_t, rtol=1e-9)
    np.testing.assert_allclose(arr["first_token_t"], sim.first_token_t, rtol=1e-9)
    assert validate_cluster(cl.solution()) == pytest.approx(cl.metrics()["slo_attainment"])


@pytest.mark.parametrize("name", ["cluster-rr", "cluster-random", "cluster-lor", "cluster-kv-jsq", "llumnix"])
def test_cluster_baselines_validate(name: str) -> None:
    p = make_policy(name)
    env = LLMClusterEnv(**{**PRESSURE, "n_requests": 120, **p.env_kwargs})
    res = run_episode(env, p, seed=0)
    assert res.validated_objective == pytest.approx(res.objective)
    assert res.metrics["n_finished"] + res.metrics["n_rejected"] == 120
    if name == "llumnix":
        assert res.metrics["migrations"] > 0


def test_migration_moves_state_and_costs_a_stall() -> None:
    env = LLMClusterEnv(**PRESSURE, migration_interval=0.5)
    obs, info = env.reset(seed=0)
    migrated = None
    while True:
        if info["event"] == "migrate" and env.candidates:
            src, r, dst = env.candidates[0]
            c = env.cluster
            gen_before = int(c.instances[src].generated[r])
            kv = int(c.instances[src].kv[r])
            obs, _, term, _, info = env.step(env.new_node + 1)
            migrated = (r, src, dst, gen_before, kv)
            d = c.instances[dst]
            assert r not in c.instances[src].running and r in d.migrating_in
            assert d.generated[r] == gen_before and d.kv[r] == kv
            # the copy takes KV bytes / bandwidth (+ overhead): ~0.5 MB per token for Llama-2-7B
            assert d.migrating_in[r] - c.instances[src].now >= kv * 524288 / 12.5e9
            break
        legal = np.flatnonzero(obs["action_mask"])
        obs, _, term, _, info = env.step(int(legal[0]))
        assert not term
    assert migrated is not None
    while not term:
        legal = np.flatnonzero(obs["action_mask"])
        obs, _, term, _, info = env.step(NOOP if obs["action_mask"][NOOP] else int(legal[0]))
    r, src, dst = migrated[:3]
    assert env.cluster.assigned[r] == dst
    assert env.cluster.instances[dst].generated[r] == env.workload.output[r]
    validate_cluster(info["solution"])


def test_cluster_validator_rejects_tampering() -> None:
    p = make_policy("llumnix")
    env = LLMClusterEnv(**{**PRESSURE, "n_requests": 100, **p.env_kwargs})
    res = run_episode(env, p, seed=1)
    sol = res.solution
    bad = copy.deepcopy(sol)
    bad["assigned"][0] = -1
    with pytest.raises(InvalidRunError, match="never dispatched"):
        validate_cluster(bad)
    bad = copy.deepcopy(sol)
    r = int(np.flatnonzero(bad["instances"][0]["expected"])[0])
    bad["instances"][1]["expected"][r] = True
    with pytest.raises(InvalidRunError):
        validate_cluster(bad)
    bad = copy.deepcopy(sol)
    bad["instances"][0]["kv_blocks"] = 10
    with pytest.raises(InvalidRunError, match="instance 0"):
        validate_cluster(bad)


def test_migration_lowers_tail_latency_against_round_robin() -> None:
    """Llumnix's claim: load-aware dispatch plus live migration cuts the TTFT tail (queueing and
    preemptions under memory pressure) against round-robin dispatch."""
    ttft = {"cluster-rr": [], "cluster-kv-jsq": [], "llumnix": []}
    for seed in range(3):
        for name in ttft:
            p = make_policy(name)
            env = LLMClusterEnv(**{**PRESSURE, **p.env_kwargs})
            ttft[name].append(run_episode(env, p, seed=seed, validate=False).metrics["ttft_p99"])
    rr, jsq, llumnix = (float(np.mean(ttft[k])) for k in ("cluster-rr", "cluster-kv-jsq", "llumnix"))
    assert llumnix < 0.8 * rr, f"p99 TTFT llumnix {llumnix:.2f}s vs round robin {rr:.2f}s"
    assert llumnix < jsq, f"migration should beat the same dispatch without it ({llumnix:.2f}s vs {jsq:.2f}s)"


@pytest.mark.parametrize("migration_interval", [None, 0.5])
def test_layered_prefill_runs_on_a_cluster(migration_interval: float | None) -> None:
    """An instance whose only work is a layered prefill pass runs it (it is not mistaken for 'nothing
    fits'), on one instance exactly as the single-instance simulator, and with migrations validated."""
    cfg = ServingConfig(model="mixtral-8x7b", hardware="a100-80gb", tp=2, token_budget=256,
                        prefill_mode="layered", layer_groups=4, max_kv_blocks=600)
    w = synthetic(60, 2.0, np.random.default_rng(1), lengths="azure-code")
    cl = Cluster(cfg, 2, migration_interval=migration_interval)
    cl.reset(w)
    i = 0
    while (ev := cl.advance_to_event()) is not None:
        if ev == "dispatch":
            cl.dispatch(i % 2)
            i += 1
        else:  # move the first movable request, then close the check
            cl.migrate(*cl.migration_options()[0])
            cl.end_migration_check()
    m = cl.metrics()
    assert m["n_finished"] + m["n_rejected"] == 60 and m["n_finished"] > 0
    assert validate_cluster(cl.solution()) == pytest.approx(m["slo_attainment"])
