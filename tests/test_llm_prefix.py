"""Prefix caching (vLLM automatic prefix caching): content-keyed shared KV blocks, hit rates, LRU
eviction of unreferenced cached blocks, the sessions generator, the validator's checks, the env's
view and the headline effect (real simulations, short)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from schedgym.agents.base import run_episode
from schedgym.agents.registry import make_policy
from schedgym.envs.llm.env import NODE_FEATURES, LLMServeEnv
from schedgym.envs.llm.metrics import summarize
from schedgym.envs.llm.simulator import ServingSimulator
from schedgym.envs.llm.validate import InvalidRunError, validate_run
from schedgym.envs.llm.workload import Workload, sessions

BS = 16


def _wl(arrival, prompt, output, sys_id=None, sys_len=None, conv_id=None) -> Workload:  # noqa: ANN001
    n = len(arrival)
    return Workload(np.asarray(arrival, float), np.asarray(prompt), np.asarray(output), np.zeros(n, np.int64),
                    sys_id=None if sys_id is None else np.asarray(sys_id),
                    sys_len=None if sys_len is None else np.asarray(sys_len),
                    conv_id=None if conv_id is None else np.asarray(conv_id))


def _check_pool(sim: ServingSimulator) -> None:
    """Physical accounting: blocks in use = private blocks + pool entries someone references; the
    cached (evictable) blocks fit the free ones."""
    live = sum(1 for v in sim._pool.values() if v > 0)
    private = int((sim.blocks - sim.pooled).sum())
    assert sim.total_blocks - sim.free_blocks == private + live
    assert len(sim._evictable) <= sim.free_blocks
    assert all(sim._pool[k] == 0 for k in sim._evictable)


def test_sessions_generator_structure() -> None:
    w = sessions(400, 4.0, np.random.default_rng(3), n_system_prompts=4, system_prompt_len=512)
    assert len(w) == 400 and np.all(np.diff(w.arrival) >= 0) and w.arrival[0] == 0.0
    assert np.all(w.sys_len == 512) and set(np.unique(w.sys_id)) <= {0, 1, 2, 3}
    assert np.all(w.prompt + w.output <= 4096)
    # Zipf popularity: system prompt 0 is the most used
    counts = np.bincount(w.sys_id, minlength=4)
    assert counts[0] == counts.max()
    # turns of one conversation: each prompt extends the previous turn's prompt + output
    multi = 0
    for c in np.unique(w.conv_id):
        idx = np.flatnonzero(w.conv_id == c)
        for a, b in zip(idx[:-1], idx[1:]):
            assert w.prompt[b] > w.prompt[a] + w.output[a] and w.arrival[b] > w.arrival[a]
            assert w.sys_id[a] == w.sys_id[b]
            multi += 1
    assert multi > 50
    # about ``rate`` requests per second
    assert 2.0 < (len(w) - 1) / w.duration < 8.0
    with pytest.raises(ValueError):
        sessions(10, 1.0, np.random.default_rng(0), turns_mean=0.5)
    with pytest.raises(ValueError, match="sys_len"):
        _wl([0.0], [10], [2], sys_id=[-1], sys_len=[5])


def test_shared_system_prompt_blocks_are_shared_and_hit() -> None:
    # two requests with the same 320-token system prompt; the second arrives while the first decodes
    w = _wl([0.0, 0.5], [400, 400], [200, 200], sys_id=[7, 7], sys_len=[320, 320])
    sim = ServingSimulator(prefix_caching=True, token_budget=512)
    sim.reset(w)
    while not sim.done and sim.phase[1] != 2:  # until request 1 is admitted
        pick = sim.choose("fcfs", True)
        sim.admit(pick) if pick is not None else sim.launch()
    assert sim.prefix_hit_tokens[1] == 320  # the whole system prompt (20 full blocks)
    assert sim.pooled[0] >= 20 and sim.pooled[1] == 20
    # physically shared: fewer blocks in use than the requests hold
    assert sim.total_blocks - sim.free_blocks < int(sim.blocks.sum())
    _check_pool(sim)
    sim.run("fcfs")
    m = summarize(sim)
    assert m["prefix_hit_rate"] == pytest.approx(320 / 800)
    validate_run(sim.solution())


def test_conversation_turn_hits_previous_turn_prompt_and_output() -> None:
    # turn 2 = turn 1's prompt (300) + its output (100) + 60 new tokens; arrives after turn 1 finished
    w = _wl([0.0, 30.0], [300, 460], [100, 20], conv_id=[5, 5])
    sim = ServingSimulator(prefix_caching=True)
    sim.reset(w)
    sim.run("fcfs")
    # turn 1's KV ends at 300 + 100 - 1 = 399 tokens: 24 full blocks are cached and hit
    assert sim.prefix_hit_tokens[1] == 24 * BS
    _check_pool(sim)
    validate_run(sim.solution())
    off = ServingSimulator(prefix_caching=False)
    off.reset(w)
    off.run("fcfs")
    assert off.prefix_hit_tokens.sum() == 0
    # less prefill work: the second turn's first token comes sooner
    assert sim.first_token_t[1] - 30.0 < off.first_token_t[1] - 30.0


def test_lru_eviction_of_unreferenced_cached_blocks() -> None:
    # a 64-block cache; system prompts A (t=0) then B (t=5) are cached after their requests finish;
    # a big request C (t=10) needs room: A's blocks (least recently used) are evicted first
    a, b = 0, 1
    w = _wl([0.0, 5.0, 10.0, 20.0, 21.0], [200, 200, 800, 200, 200], [2, 2, 2, 2, 2],
            sys_id=[a, b, -1, a, b], sys_len=[160, 160, 0, 160, 160])
    sim = ServingSimulator(prefix_caching=True, max_kv_blocks=64, watermark=0.0)
    sim.reset(w)
    sim.run("fcfs")
    assert sim.n_evicted_blocks > 0
    assert sim.prefix_hit_tokens[3] < 160  # A was evicted (at least partly)
    assert sim.prefix_hit_tokens[4] == 160  # B, used more recently, survived
    _check_pool(sim)
    validate_run(sim.solution())


def test_recompute_preemption_rehits_its_own_blocks() -> None:
    w = sessions(120, 30.0, np.random.default_rng(1))
    sim = ServingSimulator(prefix_caching=True, max_kv_blocks=700, token_budget=512)
    sim.reset(w)
    sim.run("fcfs")
    assert sim.n_preempt_recompute > 0
    re = np.flatnonzero((sim.n_preempt > 0) & (sim.prefix_hit_tokens > 0))
    assert re.size > 0
    _check_pool(sim)
    validate_run(sim.solution())


def test_validator_checks_prefix_hits() -> None:
    w = _wl([0.0, 30.0], [300, 460], [100, 20], conv_id=[5, 5])
    sim = ServingSimulator(prefix_caching=True)
    sim.reset(w)
    sim.run("fcfs")
    sol = sim.solution()
    validate_run(sol)
    # a hit on blocks nobody computed: move the hit before turn 1 ran
    bad = copy.deepcopy(sol)
    bad["log"]["hit_t"][0] = 0.0
    bad["arrival"][1] = 0.0
    with pytest.raises(InvalidRunError, match="no request computed|before"):
        validate_run(bad)
    # more hit tokens than the conversation had cached
    bad = copy.deepcopy(sol)
    bad["log"]["hit_tokens"][0] = 27 * BS
    with pytest.raises(InvalidRunError):
        validate_run(bad)
    # hits in a run that claims caching off
    bad = copy.deepcopy(sol)
    bad["prefix_caching"] = False
    with pytest.raises(InvalidRunError, match="caching is off"):
        validate_run(bad)


def test_prefix_caching_raises_throughput_and_cuts_ttft() -> None:
    """Headline (vLLM APC / BatchLLM): with shared system prompts and multi-turn conversations,
    caching on serves the same offered load with a far shorter TTFT tail and more tokens/s."""
    res = {}
    for pc in (False, True):
        ttft, tput = [], []
        for seed in range(2):
            w = sessions(300, 6.0, np.random.default_rng(seed))
            sim = ServingSimulator(prefix_caching=pc, token_budget=512, record=False)
            sim.reset(w)
            sim.run("fcfs")
            m = summarize(sim)
            ttft.append(m["ttft_p99"])
            tput.append(m["throughput_tok_s"])
        res[pc] = (np.mean(ttft), np.mean(tput))
    assert res[True][0] < 0.5 * res[False][0], res
    assert res[True][1] > res[False][1], res


def test_env_exposes_cached_prefix_and_lpm_prefers_cached_requests() -> None:
    col = NODE_FEATURES.index("cached_prefix")
    p = make_policy("lpm:512")
    assert p.env_kwargs["prefix_caching"] is True
    env = LLMServeEnv(workload="sessions", n_requests=150, rate=8.0, max_nodes=64, **p.env_kwargs)
    obs, _ = env.reset(seed=0)
    p.reset(env, 0)
    sim = env.sim
    compared = 0
    for _ in range(2000):
        legal = np.flatnonzero(obs["action_mask"][1:]) + 1
        a = p.act(obs, {})
        if legal.size > 1:
            hits = np.array([sim.cached_prefix_blocks(int(env.node_rid[i])) for i in legal])
            # the feature shows the cached share of each waiting request's prompt
            shown = obs["nodes"][legal, col]
            assert np.allclose(shown, hits * 16 / sim.target[env.node_rid[legal]], atol=1e-6)
            if np.ptp(hits) > 0:
                assert sim.cached_prefix_blocks(int(env.node_rid[a])) == hits.max()
                compared += 1
        obs, _, term, trunc, _ = env.step(a)
        if term or trunc:
            break
    assert compared > 0
    # a whole episode through the env, validated by the domain's validator
    r = run_episode(LLMServeEnv(workload="sessions", n_requests=80, rate=4.0, **p.env_kwargs), p, seed=1)
    assert r.metrics["prefix_hit_rate"] > 0.2
