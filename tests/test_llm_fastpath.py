"""The closed-form pure-decode fast path gives the same run as stepping one iteration at a time,
for every scheduler configuration the baselines use (including MLFQ with proactive preemption, where
levels change inside a decode stretch)."""

from __future__ import annotations

import numpy as np
import pytest

from schedgym.envs.llm.metrics import summarize
from schedgym.envs.llm.simulator import ServingSimulator
from schedgym.envs.llm.workload import synthetic

VLLM = dict(chunked_prefill=False, batching="prefill-first", token_budget=None)
CONFIGS = [
    ("sarathi512", dict(token_budget=512), "fcfs", True),
    ("vllm-kv-pressure", dict(VLLM, max_kv_blocks=700), "fcfs", True),
    ("spf-swap", dict(token_budget=512, max_kv_blocks=600, preemption="swap"), "spf", False),
    ("mlfq-proactive", dict(token_budget=512, max_kv_blocks=1500, preempt_order="mlfq", proactive_preemption=True),
     "mlfq", False),
    ("edf", dict(token_budget=2048, max_kv_blocks=900), "edf", False),
]


class StepwiseSimulator(ServingSimulator):
    """Never fast-forwards: every decode iteration is simulated on its own."""

    def _run_decode_block(self, horizon: float = float("inf"), stop_at_arrival: bool = True) -> None:
        self._run_iteration()


@pytest.mark.parametrize("name, kwargs, order, strict", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_fast_path_equals_stepwise(name: str, kwargs: dict, order: str, strict: bool) -> None:
    runs = []
    for cls in (ServingSimulator, StepwiseSimulator):
        sim = cls(record=False, **kwargs)
        sim.reset(synthetic(200, 8.0, np.random.default_rng(0)))
        sim.run(order, strict)
        runs.append((summarize(sim), sim.finish_t.copy()))
    (fast, fast_finish), (step, step_finish) = runs
    np.testing.assert_allclose(fast_finish, step_finish, rtol=0, atol=1e-9, err_msg=name)
    for key in ("slo_attainment", "ttft_p99", "tbt_p99", "preemptions"):
        assert fast[key] == pytest.approx(step[key], abs=1e-9), (name, key)
