"""Fuzz and fault tests of the envs' inputs (issue 9, items 9, 10, 14, 16 and 17), bounded in time.

* every numeric parameter of the LLM envs refuses NaN / inf (which slipped through ``x <= 0`` checks
  and hung the clock), naming the parameter;
* ``LLMServe-v0`` ends an episode in which every request is rejected, with metrics and a valid solution;
* time magnitudes in job-shop / ISB instances are bounded where they are read or built;
* actions that are not integers are refused by every id;
* instance and trace files that are not UTF-8 text raise an error naming the file;
* seeded random instance texts give only typed errors.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import schedgym.envs  # noqa: F401
from schedgym.envs.core import IllegalActionError, check_number
from schedgym.envs.isbjobshop.state import (
    MAX_EXPECTED_FAILURES,
    ISBJobShopState,
    parse_repair,
)
from schedgym.envs.jobshop.formats import parse_instance, read_instance
from schedgym.envs.jobshop.instance import (
    MAX_DURATION,
    InstanceFormatError,
    JobShopInstance,
)
from schedgym.envs.llm.workload import TraceFormatError, Workload, load_trace, synthetic

BAD_NUMBERS = [float("nan"), float("inf"), float("-inf")]

LLM_SERVE_PARAMS = ["rate", "cv", "rate_scale", "latency_scale", "n_requests", "max_steps", "max_nodes", "tp",
                    "token_budget", "max_kv_blocks", "max_num_seqs"]
LLM_CLUSTER_PARAMS = ["rate", "cv", "rate_scale", "latency_scale", "n_requests", "max_steps", "migration_interval",
                      "network_bandwidth", "max_candidates", "n_instances", "tp", "token_budget", "max_kv_blocks",
                      "max_num_seqs"]


# ------------------------------------------------------------------------------------------ item 9
@pytest.mark.parametrize("env_id,param", [("schedgym/LLMServe-v0", p) for p in LLM_SERVE_PARAMS]
                         + [("schedgym/LLMCluster-v0", p) for p in LLM_CLUSTER_PARAMS])
@pytest.mark.parametrize("value", BAD_NUMBERS, ids=["nan", "inf", "-inf"])
def test_llm_env_refuses_non_finite_parameters_by_name(env_id: str, param: str, value: float) -> None:
    with pytest.raises(ValueError, match=param):
        gym.make(env_id, **{param: value})


@pytest.mark.parametrize("workload", [None, "azure-conv"])
def test_llm_nan_rate_scale_and_class_mix_fail_at_construction(workload) -> None:
    with pytest.raises(ValueError, match="rate_scale"):
        gym.make("schedgym/LLMServe-v0", workload=workload, rate_scale=float("nan"))
    with pytest.raises(ValueError, match="class_mix"):
        gym.make("schedgym/LLMServe-v0", workload=workload, class_mix={"interactive": float("nan"), "batch": 1.0})


def test_llm_workload_building_blocks_refuse_nan() -> None:
    rng = np.random.default_rng(0)
    for kwargs in ({"rate": float("nan")}, {"rate": 5.0, "cv": float("nan")}, {"rate": float("inf")}):
        with pytest.raises(ValueError, match="rate|cv"):
            synthetic(10, rng=rng, **kwargs)
    w = synthetic(10, 5.0, rng)
    with pytest.raises(ValueError, match="rate_scale"):
        w.scaled_rate(float("nan"))
    with pytest.raises(ValueError, match="arrival must be finite"):
        Workload(np.array([0.0, float("nan")]), np.array([5, 5]), np.array([5, 5]), np.array([0, 0]))
    with pytest.raises(ValueError, match="ttft_slo"):
        Workload(np.array([0.0]), np.array([5]), np.array([5]), np.array([0]), ttft_slo=np.array([float("nan")]))


def test_llm_episodes_with_extreme_but_finite_parameters_end() -> None:
    """Finite extremes keep the clock moving: every episode ends within a bounded number of steps."""
    for env_id, kwargs in [("schedgym/LLMServe-v0", {"rate": 1e-3, "n_requests": 5}),
                           ("schedgym/LLMServe-v0", {"rate": 1e6, "cv": 20.0, "n_requests": 30}),
                           ("schedgym/LLMCluster-v0", {"rate": 1e-3, "n_requests": 5, "migration_interval": 1e-2}),
                           ("schedgym/LLMCluster-v0", {"rate": 1e5, "n_requests": 30, "network_bandwidth": 1.0})]:
        env = gym.make(env_id, **kwargs)
        obs, _ = env.reset(seed=0)
        for _ in range(20_000):
            obs, _, term, trunc, info = env.step(int(np.flatnonzero(obs["action_mask"])[0]))
            if term or trunc:
                break
        else:  # pragma: no cover - failure path
            pytest.fail(f"{env_id} {kwargs}: no end after 20,000 steps")
        assert term and math.isfinite(info["time"])
        env.unwrapped.validate_solution(info["solution"])


def test_check_number() -> None:
    assert check_number("x", 3.0, minimum=0, integer=True) == 3
    assert check_number("x", None, allow_none=True) is None
    for bad, match in ((float("nan"), "finite"), (True, "number"), ("1", "number"), (2.5, "integer"), (-1, ">= 0")):
        with pytest.raises(ValueError, match=f"my_param must be .*{match}|{match}"):
            check_number("my_param", bad, minimum=0, integer=isinstance(bad, float) and bad == 2.5)


# ------------------------------------------------------------------------------------------ item 10
@pytest.mark.parametrize("kwargs", [
    {"max_kv_blocks": 1},
    {"workload": Workload(np.zeros(1), np.array([5000]), np.array([10]), np.zeros(1, np.int64))},
    {"workload": Workload(np.arange(3.0), np.array([5000, 6000, 4096]), np.array([10, 10, 10]), np.zeros(3, np.int64))},
], ids=["one-kv-block", "one-5000-token-prompt", "all-over-context"])
def test_llm_serve_all_rejected_ends_with_metrics_and_a_valid_solution(kwargs) -> None:
    env = gym.make("schedgym/LLMServe-v0", **kwargs)
    obs, info = env.reset(seed=0)
    legal = np.flatnonzero(obs["action_mask"])
    assert legal.tolist() == [0]  # only launch
    obs, reward, term, trunc, info = env.step(0)
    assert term and not trunc and reward == 0.0
    m = info["metrics"]
    assert m["n_rejected"] == m["n_requests"] > 0 and m["slo_attainment"] == 0.0
    assert env.unwrapped.validate_solution(info["solution"]) == 0.0
    # the same input on the cluster, for comparison
    cenv = gym.make("schedgym/LLMCluster-v0", n_instances=2, **kwargs)
    obs, _ = cenv.reset(seed=0)
    done = False
    while not done:
        obs, _, done, _, info = cenv.step(int(np.flatnonzero(obs["action_mask"])[0]))
    assert info["metrics"]["n_rejected"] == info["metrics"]["n_requests"] > 0


# ------------------------------------------------------------------------------------------ item 14
def test_jobshop_instance_times_are_bounded_when_built() -> None:
    for d, match in (([[2**62, 1], [1, 1]], "MAX_DURATION"), ([[2**70, 1], [1, 1]], "integers"),
                     ([[MAX_DURATION + 1, 1], [1, 1]], "MAX_DURATION"), (np.array([[1.5, 1.0], [1.0, 1.0]]), "integer"),
                     (np.array([[np.inf, 1.0], [1.0, 1.0]]), "integer")):
        with pytest.raises(ValueError, match=match):
            JobShopInstance([[0, 1], [1, 0]], d, name="big")
    inst = JobShopInstance([[0, 1], [1, 0]], [[MAX_DURATION, 1], [1, MAX_DURATION]], name="at-the-limit")
    assert inst.lower_bound() == 2 * MAX_DURATION  # machine 0 carries both long operations; no overflow


@pytest.mark.parametrize("text,line", [
    ("2 2\n0 10000000000 1 1\n1 1 0 1\n", 2),
    ("2 2\n0 1 1 1\n1 4611686018427387904 0 1\n", 3),
    ("Nb of jobs, Nb of Machines\n2 2\nTimes\n1 99999999999999999999\n1 1\nMachines\n1 2\n2 1\n", 4),
])
def test_huge_times_in_instance_files_name_the_file_and_line(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "huge.txt"
    path.write_text(text)
    with pytest.raises(InstanceFormatError, match=rf"huge.txt, line {line}: .*exceeds the limit"):
        read_instance(path)


def test_huge_times_never_reach_the_envs(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    path.write_text("3 3\n" + "\n".join("0 4611686018427387904 1 1 2 1" for _ in range(3)) + "\n")
    for env_id in ("schedgym/JobShop-v0", "schedgym/ISBJobShop-v0", "schedgym/BlockingJobShop-v0"):
        with pytest.raises(InstanceFormatError, match="huge.txt, line 2"):
            gym.make(env_id, instance=str(path))
    with pytest.raises(ValueError, match="duration_high"):
        gym.make("schedgym/JobShop-v0", duration_high=2**62)


def test_isb_time_scale_is_bounded_before_any_memory_is_spent() -> None:
    """Failures are drawn per time unit: 3x3 durations of 10**7 at p=0.05 would need ~10**6 down
    intervals per machine (1.1 GB measured); refused at construction, naming the limit."""
    inst = JobShopInstance([[0, 1, 2]] * 3, [[10**7] * 3] * 3, name="slow")
    with pytest.raises(ValueError, match="MAX_EXPECTED_FAILURES"):
        ISBJobShopState(inst, shutdown_prob=0.05, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="MAX_EXPECTED_FAILURES"):
        gym.make("schedgym/ISBJobShop-v0", instance=inst)
    with pytest.raises(ValueError, match="MAX_EXPECTED_FAILURES"):
        gym.make("schedgym/ISBJobShop-v0", n_jobs=50, n_machines=20, duration_high=10**6)
    env = gym.make("schedgym/ISBJobShop-v0", n_jobs=6, n_machines=4)
    with pytest.raises(ValueError, match="MAX_EXPECTED_FAILURES"):
        env.reset(seed=0, options={"instance": JobShopInstance([[0, 1, 2, 3]] * 6, [[10**6] * 4] * 6, name="x")})
    # without shutdowns the magnitude costs nothing: memory does not grow with it
    ok = gym.make("schedgym/BlockingJobShop-v0", instance=inst)
    obs, _ = ok.reset(seed=0)
    done = False
    while not done:
        obs, _, done, _, info = ok.step(int(np.flatnonzero(obs["action_mask"])[0]))
    assert info["metrics"]["makespan"] >= 3 * 10**7
    # just under the limit still runs
    under = JobShopInstance([[0, 1]] * 2, [[MAX_EXPECTED_FAILURES * 5, 1]] * 2, name="under")  # p * total < limit
    ISBJobShopState(under, shutdown_prob=0.05, rng=np.random.default_rng(0))


def test_isb_repair_and_max_time_parameters_are_checked() -> None:
    for spec in (("constant", float("inf")), ("constant", float("nan")), ("uniform", 1, float("inf")),
                 ("geometric", float("nan")), ("constant", 2 * MAX_DURATION)):
        with pytest.raises(ValueError, match="repair"):
            parse_repair(spec)
    with pytest.raises(ValueError, match="max_time"):
        gym.make("schedgym/ISBJobShop-v0", max_time=float("nan"))
    with pytest.raises(ValueError, match="duration_high"):
        gym.make("schedgym/BlockingJobShop-v0", duration_high=float("inf"))


# ------------------------------------------------------------------------------------------ item 16
@pytest.mark.parametrize("env_id", [e for e in gym.registry if e.startswith("schedgym/")])
def test_every_id_refuses_inf_nan_bool_and_float_actions(env_id: str) -> None:
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    for bad in (float("inf"), float("nan"), True, False, 1.0, np.float32(0.0)):
        with pytest.raises(IllegalActionError, match="not an integer node index"):
            env.step(bad)
    np.testing.assert_array_equal(env.unwrapped.action_masks(), obs["action_mask"].astype(bool))
    env.step(int(np.flatnonzero(obs["action_mask"])[0]))


# ------------------------------------------------------------------------------------------ item 17
ENCODINGS = {
    "binary": b"\x00\x01\x02\xff\xfe\x00garbage\x00",
    "latin-1": "# instance café\n2 2\n0 1 1 1\n1 1 0 1\n".encode("latin-1"),
    "utf-16": "2 2\n0 1 1 1\n1 1 0 1\n".encode("utf-16"),
    "utf-16-no-bom": "2 2\n0 1 1 1\n1 1 0 1\n".encode("utf-16-le"),
}


@pytest.mark.parametrize("kind", sorted(ENCODINGS))
def test_instance_files_that_are_not_utf8_name_the_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"inst-{kind}.txt"
    path.write_bytes(ENCODINGS[kind])
    with pytest.raises(InstanceFormatError, match=f"inst-{kind}.txt"):
        read_instance(path)
    with pytest.raises(InstanceFormatError, match=f"inst-{kind}.txt"):
        gym.make("schedgym/JobShop-v0", instance=str(path))


def test_instance_file_with_utf8_bom_and_comment_reads(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeff# instance déjà vu\n2 2\n0 1 1 2\n1 3 0 4\n".encode("utf-8"))
    assert read_instance(path).durations.tolist() == [[1, 2], [3, 4]]
    assert parse_instance(path.read_bytes(), str(path)).shape == (2, 2)


TRACE = "arrived_at,num_prefill_tokens,num_decode_tokens\n0.0,10,5\n1.0,12,6\n"
TRACE_BAD = {
    "binary": b"\x00\x01\x02\xff\xfe\x00garbage\x00\n",
    "latin-1": ("arrived_at,num_prefill_tokens,num_decode_tokens\n0.0,10,5\n# caf\xe9\n").encode("latin-1"),
    "utf-16": TRACE.encode("utf-16"),
    "nul": TRACE.encode() + b"\x00\x00\n",
}


@pytest.mark.parametrize("kind", sorted(TRACE_BAD))
@pytest.mark.parametrize("gz", [False, True], ids=["csv", "gz"])
def test_trace_files_that_are_not_utf8_name_the_file(tmp_path: Path, kind: str, gz: bool) -> None:
    path = tmp_path / (f"trace-{kind}.csv" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(TRACE_BAD[kind]) if gz else TRACE_BAD[kind])
    with pytest.raises(TraceFormatError, match=f"trace-{kind}.csv"):
        load_trace(path)
    with pytest.raises(TraceFormatError, match=f"trace-{kind}.csv"):
        gym.make("schedgym/LLMServe-v0", workload=str(path)).reset(seed=0)


def test_broken_gzip_trace_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv.gz"
    path.write_bytes(gzip.compress(TRACE.encode())[:-12])
    with pytest.raises(TraceFormatError, match="broken.csv.gz"):
        load_trace(path)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(TraceFormatError, match="broken.csv.gz"):
        load_trace(path)


def test_fuzzed_instance_texts_give_only_typed_errors() -> None:
    """1,500 seeded mutations of valid instance texts (both formats; bytes flipped, numbers blown up,
    lines dropped or repeated): each parses or raises InstanceFormatError / ValueError."""
    rng = np.random.default_rng(2024)
    seeds = ["3 2\n0 5 1 3\n1 2 0 7\n0 1 1 1\n",
             "Nb of jobs, Nb of Machines\n2 2\nTimes\n5 3\n2 7\nMachines\n1 2\n2 1\n"]
    tokens = ["0", "-1", "1e9", "99999999999999999999", "nan", "inf", "1.5", "\x00", "é", "\ufeff", "#", ",", ""]
    parsed = errors = 0
    for _ in range(1500):
        text = seeds[rng.integers(2)]
        kind = rng.integers(4)
        if kind == 0:  # replace a token
            parts = text.split(" ")
            parts[rng.integers(len(parts))] = str(tokens[rng.integers(len(tokens))])
            text = " ".join(parts)
        elif kind == 1:  # drop or repeat a line
            lines = text.splitlines()
            i = int(rng.integers(len(lines)))
            lines = lines[:i] + lines[i + 1:] if rng.random() < 0.5 else lines[:i] + [lines[i]] + lines[i:]
            text = "\n".join(lines)
        elif kind == 2:  # a number blown up
            text = text.replace("5", str(10 ** int(rng.integers(8, 40))), 1)
        data = text.encode("utf-8", "surrogatepass")
        if kind == 3:  # flip a byte
            b = bytearray(data)
            b[rng.integers(len(b))] = int(rng.integers(256))
            data = bytes(b)
        try:
            inst = parse_instance(data, "<fuzz>")
        except (InstanceFormatError, ValueError) as exc:
            assert "<fuzz>" in str(exc) or "instance" in str(exc)
            errors += 1
        else:
            assert inst.durations.max() <= MAX_DURATION
            parsed += 1
    assert parsed > 100 and errors > 100
