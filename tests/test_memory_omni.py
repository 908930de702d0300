"""omnimalloc's allocators behind the Policy protocol (``mem-omni``, agents/memory/omni.py).

The tests that run an allocator skip, naming the extra, when omnimalloc is not installed; the ones that
check the error without it and the option parsing run everywhere.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from schedgym.agents import make_policy, run_episode
from schedgym.agents.spec import PolicyError
from schedgym.envs.memory.catalog import load_instance, minimalloc_dir
from schedgym.envs.memory.env import MemoryEnv
from schedgym.envs.memory.generator import TiledAllocation
from schedgym.envs.memory.validate import validate_solution

ALLOC_ID = "schedgym/MemoryAlloc-v0"
HAS_OMNI = importlib.util.find_spec("omnimalloc") is not None
needs_omni = pytest.mark.skipif(not HAS_OMNI, reason="omnimalloc not installed: pip install 'schedgym[peers]'")

#: deterministic specs: greedy allocators, and TelaMalloc bounded by its backtrack count, not the clock
DETERMINISTIC = ("mem-omni:omni", "mem-omni:greedy_by_size", "mem-omni:greedy_by_conflict",
                 "mem-omni:telamalloc:timeout=none,max_backtracks=2000")


def _episode(spec: str, instance):
    env = MemoryEnv(instance=instance, mode="allocation")
    policy = make_policy(spec, env_id=ALLOC_ID)
    return env, policy, run_episode(env, policy, seed=0)


def test_missing_omnimalloc_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "omnimalloc", None)  # import omnimalloc -> ImportError
    with pytest.raises(PolicyError, match=r"omnimalloc.*schedgym\[peers\]"):
        make_policy("mem-omni:omni", env_id=ALLOC_ID)


@pytest.mark.parametrize("option, match", [
    (":10", "no allocator name"),
    ("omni:fast", "neither a time limit"),
    ("supermalloc:-1", "neither a time limit"),
    ("telamalloc:max_backtracks", "neither a time limit"),
    ("telamalloc:seed=1,max_backtracks", "not <key>=<value>"),
])
def test_bad_options_are_named(option: str | None, match: str) -> None:
    from schedgym.agents.memory.omni import parse_option

    with pytest.raises(PolicyError, match=match):
        parse_option(option)


def test_option_grammar() -> None:
    from schedgym.agents.memory.omni import parse_option

    assert parse_option(None) == ("omni", {})  # omnimalloc's default allocator
    assert parse_option("supermalloc") == ("supermalloc", {})
    assert parse_option("supermalloc:10") == ("supermalloc", {"timeout": 10.0})
    assert parse_option("telamalloc:timeout=none,max_backtracks=500,seed=3") == (
        "telamalloc", {"timeout": None, "max_backtracks": 500, "seed": 3})


@needs_omni
def test_unknown_allocator_and_parameter_are_named() -> None:
    with pytest.raises(PolicyError, match=r"unknown omnimalloc allocator 'nope'.*supermalloc"):
        make_policy("mem-omni:nope", env_id=ALLOC_ID)
    with pytest.raises(PolicyError, match=r"unknown parameter\(s\) \['speed'\].*max_backtracks"):
        make_policy("mem-omni:telamalloc:speed=3", env_id=ALLOC_ID)
    with pytest.raises(PolicyError, match="greedy_by_size takes none"):
        make_policy("mem-omni:greedy_by_size:5", env_id=ALLOC_ID)


@needs_omni
def test_mapping_mode_is_refused() -> None:
    with pytest.raises(PolicyError):
        make_policy("mem-omni:omni", env_id="schedgym/MemoryMap-v0")


@needs_omni
def test_minimalloc_wrapper_without_minimalloc_says_what_is_missing() -> None:
    if importlib.util.find_spec("minimalloc") is not None:
        pytest.skip("Google's minimalloc module is installed here")
    with pytest.raises(PolicyError, match="minimalloc"):
        make_policy("mem-omni:minimalloc", env_id=ALLOC_ID)


@needs_omni
@pytest.mark.parametrize("spec", DETERMINISTIC + ("mem-omni:supermalloc:1",))
def test_solves_the_minimalloc_example(spec: str) -> None:
    env, policy, res = _episode(spec, "minimalloc-example")
    assert res.objective == 1.0 and res.validated_objective == 1.0
    assert res.extra["omni_fits"] == 1 and res.extra["omni_peak_bytes"] == 12  # the example has no slack
    assert res.extra["planned"] == 5


@needs_omni
@pytest.mark.parametrize("spec", DETERMINISTIC)
def test_tiled_instances_validate_and_report_a_consistent_peak(spec: str) -> None:
    for seed in range(3):
        inst = TiledAllocation(n_buffers=40)(np.random.default_rng(seed))
        env, policy, res = _episode(spec, inst)
        assert validate_solution(env.instance, res.solution) == res.objective
        peak = res.extra["omni_peak_bytes"]
        assert peak >= inst.max_load()  # no allocation peaks below the largest live total
        if res.extra["omni_fits"]:
            assert res.objective == 1.0 and res.extra["planned"] == inst.n_buffers
        else:  # the plan keeps only the buffers under the capacity; the greedy completion adds more
            assert peak > inst.capacity and res.extra["planned"] < inst.n_buffers
            assert res.metrics["n_placed"] >= res.extra["planned"]


@needs_omni
def test_deterministic_allocators_repeat_exactly() -> None:
    inst = TiledAllocation(n_buffers=40)(np.random.default_rng(7))
    for spec in DETERMINISTIC:
        first = _episode(spec, inst)[2].solution["offsets"]
        again = _episode(spec, inst)[2].solution["offsets"]
        assert np.array_equal(first, again), spec


@needs_omni
@pytest.mark.skipif(minimalloc_dir() is None, reason="MiniMalloc's challenging CSVs not found (SCHEDGYM_DATA_MIRROR)")
def test_challenging_instance_replays_every_buffer_under_the_capacity() -> None:
    inst = load_instance("minimalloc/B")
    env, policy, res = _episode("mem-omni:omni", inst)
    assert res.validated_objective == res.objective
    offsets = policy.allocate(inst)  # the raw plan again (deterministic)
    under = int(((offsets + inst.size) <= inst.capacity).sum())
    assert res.extra["planned"] == under
    assert res.metrics["n_placed"] >= under
