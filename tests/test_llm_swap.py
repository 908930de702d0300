"""Swap preemption that is exercised: realistic host swap space by default, block-granular copies,
FastSwitch-like copy/compute overlap, and the comparison with recompute (real simulations, short)."""

from __future__ import annotations

import numpy as np
import pytest

from schedgym.envs.llm.env import LLMServeEnv
from schedgym.envs.llm.metrics import summarize
from schedgym.envs.llm.profiles import GIB
from schedgym.envs.llm.simulator import ServingConfig, ServingSimulator
from schedgym.envs.llm.validate import validate_run
from schedgym.envs.llm.workload import synthetic


def test_default_swap_space_and_block_granular_copy_time() -> None:
    assert ServingConfig().swap_space_gib == 32.0
    sim = ServingSimulator()
    kv_block = sim.cost.kv_bytes_per_token * sim.block_size  # 8 MiB per block for Llama-2-7B
    assert sim.swap_blocks_total == int(32 * GIB // kv_block) == 4096
    # bytes over PCIe + one fixed cost per copy call; groups of 16 blocks make 16x fewer calls
    t1 = sim.swap_copy_time(1600)  # 100 blocks
    assert t1 == pytest.approx(sim.cost.swap_time(1600) + 100 * 10e-6)
    grouped = ServingSimulator(swap_block_group=16)
    assert grouped.swap_copy_time(1600) == pytest.approx(sim.cost.swap_time(1600) + 7 * 10e-6)
    with pytest.raises(ValueError):
        ServingSimulator(swap_block_group=0)
    env = LLMServeEnv(preemption="swap", swap_overlap=True, swap_block_group=8, swap_space_gib=16.0)
    assert env.sim.config.swap_overlap and env.sim.config.swap_block_group == 8
    assert env.sim.swap_blocks_total == 2048
    assert LLMServeEnv(engine="trt-llm").sim.cost.engine == "trt-llm"


def _run(seed: int, **kw: object) -> dict[str, float]:
    w = synthetic(300, 3.0, np.random.default_rng(seed), cv=2.0, lengths="long-output")
    sim = ServingSimulator(token_budget=512, record=True, **kw)
    sim.reset(w)
    sim.run("fcfs")
    validate_run(sim.solution())
    m = summarize(sim)
    m["busy"] = sim.busy_time
    return m


def test_overlap_hides_copies_behind_compute() -> None:
    """Two identical runs up to one iteration with a pending copy: serialized it takes compute + copy,
    overlapped max(compute, copy)."""
    from schedgym.envs.llm.workload import Workload

    w = Workload(np.array([0.0, 0.3]), np.array([100, 100]), np.array([60, 60]), np.zeros(2, np.int64))
    dts = {}
    for overlap in (False, True):
        s = ServingSimulator(preemption="swap", swap_overlap=overlap)
        s.reset(w)
        s.admit(0)
        s.launch()  # runs request 0 until request 1 arrives (a decision point)
        assert s.has_candidate()
        s._pending_overhead = 0.5  # a copy of 0.5 s pending (e.g. a swap-out at this boundary)
        s.admit(1)
        s._run_iteration()
        dts[overlap] = s.log.ends[-1] - s.log.start[-1]
    compute = dts[False] - 0.5
    assert 0.0 < compute < 0.5
    assert dts[True] == pytest.approx(max(compute, 0.5))


def test_swap_is_exercised_and_beats_recompute_under_kv_pressure() -> None:
    """Long answers fill the KV cache: with swap the preempted requests keep their KV on the host
    instead of re-prefilling it; more host space means more swaps; overlapping the copies with compute
    (FastSwitch) shortens iterations further."""
    res: dict[str, list[dict[str, float]]] = {k: [] for k in ("recompute", "swap4", "swap32", "overlap")}
    for seed in range(2):
        res["recompute"].append(_run(seed, preemption="recompute"))
        res["swap4"].append(_run(seed, preemption="swap", swap_space_gib=4.0))
        res["swap32"].append(_run(seed, preemption="swap"))
        res["overlap"].append(_run(seed, preemption="swap", swap_overlap=True, swap_block_group=16))
    mean = {k: {m: float(np.mean([r[m] for r in v])) for m in v[0]} for k, v in res.items()}
    assert mean["recompute"]["preemptions_recompute"] > 20 and mean["recompute"]["preemptions_swap"] == 0
    assert mean["swap4"]["preemptions_swap"] > 0
    assert mean["swap32"]["preemptions_swap"] > mean["swap4"]["preemptions_swap"]
    assert mean["swap32"]["preemptions_recompute"] < mean["recompute"]["preemptions_recompute"]
    assert mean["swap32"]["throughput_tok_s"] > mean["recompute"]["throughput_tok_s"]
    assert mean["overlap"]["throughput_tok_s"] > mean["swap32"]["throughput_tok_s"]
    assert mean["swap32"]["swap_blocks"] > 0
