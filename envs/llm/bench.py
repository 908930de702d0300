"""Speed benchmarks of the LLM serving simulator and its environments (rows for ``schedgym-bench``).

* the headline: one hour of the Azure LLM inference trace 2023 (conv, 19,366 requests) on one
  Llama-2-7B / A100-80GB instance with vLLM-style FCFS (prefill-first, no chunking), simulated by the
  built-in scheduler with the iteration log recorded (as the environments do); the same with
  Sarathi-Serve chunked prefill (budget 512);
* the validator's time on the same run (solution() + validate_run, as after every env episode),
  next to the simulation's;
* the same hour on 2 prefill + 2 decode instances (``schedgym/LLMDisagg-v0``'s cluster, least-loaded
  dispatch and routing) and its validator;
* one hour of the Azure code trace on Mixtral-8x7B (2 x A100-80GB, TP2) with Sarathi chunked prefill
  (budget 512) and with layered prefill (budget 512, 4 layer groups), simulation and validator;
* 5,000 turns of synthetic agent sessions (``workload="agent-sessions"``) without KV pinning and with
  the Continuum-like tool-aware TTL, simulation and validator;
* steps/s of ``schedgym/LLMServe-v0``, ``schedgym/LLMCluster-v0`` and ``schedgym/LLMDisagg-v0`` (default
  kwargs) under a random masked policy, observation building included.

Run: ``python -m schedgym.envs.llm.bench`` or ``schedgym-bench --domains llm``.
"""

from __future__ import annotations

import time
from typing import Any

from ..benchmarking import random_steps_rows
from .disagg import bench_rows as disagg_bench_rows
from .metrics import summarize
from .simulator import ServingSimulator
from .validate import validate_run
from .workload import azure_trace_path, load_trace


def _trace_row(name: str, trace, **kw: Any) -> list[dict[str, Any]]:  # noqa: ANN001
    sim = ServingSimulator(record=True, **kw)
    t0 = time.perf_counter()
    sim.reset(trace)
    sim.run("fcfs")
    wall = time.perf_counter() - t0
    m = summarize(sim)
    t1 = time.perf_counter()
    validate_run(sim.solution())  # what the envs' contract does after every episode
    v_wall = time.perf_counter() - t1
    return [
        {"benchmark": name, "measure": "wall time (s)", "value": wall, "unit": "s"},
        {"benchmark": name, "measure": "validator wall time (s)", "value": v_wall, "unit": "s"},
        {"benchmark": name, "measure": "simulated s per wall s", "value": sim.now / wall, "unit": "x"},
        {"benchmark": name, "measure": "iterations / s", "value": sim.n_iterations / wall, "unit": "1/s"},
        {"benchmark": name, "measure": "SLO attainment", "value": m["slo_attainment"], "unit": ""},
    ]


def _moe_rows(trace_limit: int | None) -> list[dict[str, Any]]:
    """Chunked against layered prefill on Mixtral-8x7B (2 x A100-80GB, TP2) over the Azure code hour."""
    try:
        code = load_trace(azure_trace_path("code"), limit=trace_limit)
    except FileNotFoundError as exc:
        return [{"benchmark": "azure-code 1h", "measure": f"skipped: {exc}", "value": float("nan")}]
    moe = dict(model="mixtral-8x7b", hardware="a100-80gb", tp=2, token_budget=512)
    return (_trace_row("azure-code 1h, mixtral-8x7b/2xa100 tp2, sarathi:512", code, **moe)
            + _trace_row("azure-code 1h, mixtral-8x7b/2xa100 tp2, layered:512x4", code, **moe,
                         prefill_mode="layered", layer_groups=4))


def _sessions_rows(n_turns: int) -> list[dict[str, Any]]:
    """Agent sessions without KV pinning and with the Continuum-like TTL (simulation wall time)."""
    import numpy as np

    from .sessions import agent_sessions, run_sessions

    workload = agent_sessions(n_turns, 3.0, np.random.default_rng(0))
    rows = []
    for label, kwargs, program_fcfs in (("no pinning", {"kv_ttl": "none"}, False),
                                        ("continuum", {"kv_ttl": "tool-aware", "kv_ttl_s": 10.0}, True)):
        sim = ServingSimulator(record=True, token_budget=2048, **kwargs)
        t0 = time.perf_counter()
        sim.reset(workload)
        run_sessions(sim, program_fcfs)
        wall = time.perf_counter() - t0
        t1 = time.perf_counter()
        validate_run(sim.solution())  # checks the sessions too (validate_sessions)
        name = f"agent sessions {n_turns} turns, {label}"
        rows += [{"benchmark": name, "measure": "wall time (s)", "value": wall, "unit": "s"},
                 {"benchmark": name, "measure": "validator wall time (s)", "value": time.perf_counter() - t1,
                  "unit": "s"}]
    return rows


def _env_rows(env_id: str, steps: int) -> list[dict[str, Any]]:
    import gymnasium as gym

    import schedgym.envs  # noqa: F401

    return random_steps_rows(gym.make(env_id).unwrapped, f"{env_id} random policy", steps)


def bench_rows(quick: bool = False, env_steps: int | None = None, trace_limit: int | None = None) -> list[dict[str, Any]]:
    """Every benchmark of the module docstring, measured now (``trace_limit``: only the first requests
    of the trace, for quick checks; the headline uses the whole hour; ``quick``: 300 requests and 100
    env steps, for tests)."""
    if quick:
        env_steps, trace_limit = env_steps or 100, trace_limit or 300
    env_steps = env_steps or 5000
    rows: list[dict[str, Any]] = []
    try:
        trace = load_trace(azure_trace_path("conv"), limit=trace_limit)
    except FileNotFoundError as exc:
        rows.append({"benchmark": "azure-conv 1h", "measure": f"skipped: {exc}", "value": float("nan")})
    else:
        rows += _trace_row("azure-conv 1h, llama-2-7b/a100, vllm-fcfs", trace,
                           chunked_prefill=False, batching="prefill-first", token_budget=None)
        rows += _trace_row("azure-conv 1h, llama-2-7b/a100, sarathi:512", trace, token_budget=512)
        rows += disagg_bench_rows(trace, "azure-conv 1h, 4x llama-2-7b/a100, disaggregated 2P+2D, disagg-ll")
    rows += _moe_rows(trace_limit)
    rows += _sessions_rows(300 if quick else 5000)
    rows += _env_rows("schedgym/LLMServe-v0", env_steps)
    rows += _env_rows("schedgym/LLMCluster-v0", env_steps)
    rows += _env_rows("schedgym/LLMDisagg-v0", env_steps)
    return rows


if __name__ == "__main__":  # pragma: no cover
    for r in bench_rows():
        print(f"{r['benchmark']:<55} {r['measure']:<26} {r['value']:>12.3f} {r.get('unit', '')}")
