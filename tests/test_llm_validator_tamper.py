"""The LLM validators recompute what they check: tampered solutions are caught; bad trace rows name the line."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from schedgym.agents.base import run_episode
from schedgym.agents.registry import make_policy
from schedgym.envs.llm.cluster_env import LLMClusterEnv
from schedgym.envs.llm.simulator import ServingSimulator
from schedgym.envs.llm.validate import InvalidRunError, validate_cluster, validate_run
from schedgym.envs.llm.workload import TraceFormatError, load_trace, synthetic


def _run() -> dict:
    sim = ServingSimulator(token_budget=512)
    sim.reset(synthetic(60, 6.0, np.random.default_rng(0)))
    sim.run("fcfs", True)
    return sim.solution()


def test_unjustified_rejection_is_caught() -> None:
    sol = _run()
    validate_run(sol)
    bad = copy.deepcopy(sol)
    r = int(np.flatnonzero(bad["expected"])[0])
    bad["rejected"][r] = True
    bad["expected"][r] = False
    with pytest.raises(InvalidRunError, match="rejected without cause|runs"):
        validate_run(bad)
    bad = copy.deepcopy(sol)
    fits = np.flatnonzero(np.asarray(sol["prompt_requested"]) + np.asarray(sol["output_requested"]) <= sol["max_context"])
    bad["truncated"][int(fits[0])] = True
    with pytest.raises(InvalidRunError, match="truncated although"):
        validate_run(bad)


def test_cluster_arrival_and_ttft_tampering_is_caught() -> None:
    policy = make_policy("llumnix")
    env = LLMClusterEnv(n_requests=80, rate=20.0, max_kv_blocks=1500, **policy.env_kwargs)
    sol = run_episode(env, policy, seed=1).solution
    validate_cluster(sol)
    bad = copy.deepcopy(sol)
    bad["arrival"] = np.asarray(bad["arrival"]) + 5.0
    with pytest.raises(InvalidRunError, match="arrival"):
        validate_cluster(bad)


def test_trace_rows_out_of_range_and_bom(tmp_path: Path) -> None:
    huge = tmp_path / "huge.csv"
    huge.write_text("arrived_at,num_prefill_tokens,num_decode_tokens\n0.0,10,5\n1.0,1e300,5\n")
    with pytest.raises(TraceFormatError, match=r"huge.csv:3: .*larger than"):
        load_trace(huge)
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffarrived_at,num_prefill_tokens,num_decode_tokens\n0.0,10,5\n1.0,12,6\n".encode("utf-8"))
    assert len(load_trace(bom)) == 2
    with pytest.raises(ValueError, match="limit must be >= 1"):
        load_trace(bom, limit=0)
