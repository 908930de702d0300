"""Honest loads: suites scale trace windows to the whole trace's average rate; the validator is cheap
next to the simulation it checks (measured in a bench row, not asserted on time)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from schedgym.envs.llm.env import LLMServeEnv, make_workload, trace_average_rate
from schedgym.envs.llm.workload import Workload

ROOT = Path(__file__).resolve().parents[1]


def _trace() -> Workload:
    # a bursty toy trace: a dense first half (10 req/s) then a sparse second half (1 req/s)
    arr = np.concatenate([np.arange(50) * 0.1, 5.0 + np.arange(50) * 1.0])
    n = arr.size
    return Workload(arr, np.full(n, 64), np.full(n, 8), np.zeros(n, np.int64), name="toy")


def test_load_is_relative_to_the_whole_trace_average_rate(tmp_path: Path) -> None:
    tr = _trace()
    avg = trace_average_rate(tr)
    assert avg == pytest.approx(99 / 54.0)
    path = tmp_path / "toy.csv"
    path.write_text("arrived_at,num_prefill_tokens,num_decode_tokens\n"
                    + "".join(f"{a},{p},{o}\n" for a, p, o in zip(tr.arrival, tr.prompt, tr.output)))
    rng = np.random.default_rng(0)
    for load in (0.5, 1.0, 2.0):
        for _ in range(5):
            w = make_workload(str(path), rng, 20, 1.0, 1.0, "azure-conv", None, load=load)
            assert (len(w) - 1) / w.duration == pytest.approx(load * avg)
    # rate_scale keeps the window's local timing: a window from the dense half runs far above the average
    w = make_workload(str(path), np.random.default_rng(1), 20, 1.0, 1.0, "azure-conv", None, rate_scale=1.0)
    local = (len(w) - 1) / w.duration
    assert local != pytest.approx(avg, rel=0.05)


def test_load_needs_a_trace_and_is_validated() -> None:
    with pytest.raises(ValueError, match="trace workloads"):
        LLMServeEnv(n_requests=10, load=1.0)
    with pytest.raises(ValueError):
        LLMServeEnv(workload="azure-conv", n_requests=10, load=-1.0)


def test_trace_suites_define_load_by_the_whole_trace_rate() -> None:
    for name in ("llm-azure-conv", "llm-azure-code"):
        spec = yaml.safe_load((ROOT / "configs" / "suites" / f"{name}.yaml").read_text())
        text = (ROOT / "configs" / "suites" / f"{name}.yaml").read_text()
        assert "WHOLE trace's average rate" in text
        for case in spec["cases"]:
            assert "load" in case["env_kwargs"] and "rate_scale" not in case["env_kwargs"]


def test_bench_reports_validator_and_simulation_time() -> None:
    from schedgym.envs.llm.bench import bench_rows

    rows = bench_rows(quick=True, env_steps=20, trace_limit=200)
    measures = {(r["benchmark"], r["measure"]) for r in rows}
    sims = [b for b, m in measures if m == "wall time (s)"]
    if not sims:
        pytest.skip("the Azure trace is not available here")
    assert all((b, "validator wall time (s)") in measures for b in sims)
    for r in rows:
        if r["measure"] in ("wall time (s)", "validator wall time (s)"):
            assert np.isfinite(r["value"]) and r["value"] > 0
