"""Memory baselines and the CP-SAT exact model (deterministic limits, one worker)."""

from __future__ import annotations

import numpy as np
import pytest
from schedgym.agents import make_policy, run_episode
from schedgym.agents.memory.exact import solve_allocation, solve_mapping
from schedgym.agents.memory.heuristics import ORDERS, buffer_order, fit_plan, xla_plan
from schedgym.envs.memory.catalog import (
    load_instance,
    minimalloc_dir,
    minimalloc_example,
)
from schedgym.envs.memory.env import MemoryEnv
from schedgym.envs.memory.generator import SyntheticProgram
from schedgym.envs.memory.instance import MemoryInstance
from schedgym.envs.memory.simulator import program_time
from schedgym.envs.memory.validate import check_placement

MAP, ALLOC = "schedgym/MemoryMap-v0", "schedgym/MemoryAlloc-v0"


def test_first_and_best_fit_by_hand() -> None:
    """Capacity 10. b0 [0,2) size 4 -> [0,4); b1 [0,8) size 2 -> [4,6); b2 [0,2) size 2 -> [6,8);
    b3 [0,8) size 1 -> [8,9). b4 [2,8) size 2 sees b1 and b3 only: free gaps [0,4), [6,8), [9,10):
    first-fit takes 0, best-fit the exact gap at 6."""
    inst = MemoryInstance("fit", 10, lower=[0, 0, 0, 0, 2], upper=[2, 8, 2, 8, 8], size=[4, 2, 2, 1, 2])
    order = np.arange(5)
    assert fit_plan(inst, order, best=False).tolist() == [0, 4, 6, 8, 0]
    assert fit_plan(inst, order, best=True).tolist() == [0, 4, 6, 8, 6]
    small = inst.with_capacity(8)  # b3 no longer fits above b2; b4 still fits at 0 (first) / 6 (best: gap [6,8))
    assert fit_plan(small, order, best=False).tolist() == [0, 4, 6, -1, 0]
    assert fit_plan(small, order, best=True).tolist() == [0, 4, 6, -1, 6]


@pytest.mark.parametrize("order", ORDERS)
def test_orders_are_permutations(order: str) -> None:
    inst = SyntheticProgram(n_buffers=30)(np.random.default_rng(0))
    assert sorted(buffer_order(inst, order).tolist()) == list(range(30))


def test_cpsat_solves_minimallocs_example_with_proof() -> None:
    res = solve_allocation(minimalloc_example(), time_limit=None, deterministic_time=5.0)
    assert res.status == "OPTIMAL" and res.solved and res.proved
    check_placement(minimalloc_example(), res.offsets, allow_unplaced=False)
    tight = minimalloc_example().with_capacity(11)  # below the largest live total (12): proved infeasible
    res = solve_allocation(tight, time_limit=None, deterministic_time=5.0)
    assert res.status == "INFEASIBLE" and res.proved and not res.solved


@pytest.mark.parametrize("seed", range(4))
def test_cpsat_allocation_on_small_random_instances_is_proved_and_beats_heuristics(seed: int) -> None:
    inst = SyntheticProgram(n_buffers=14, capacity_ratio=1.05)(np.random.default_rng(seed))
    res = solve_allocation(inst, time_limit=None, deterministic_time=20.0)
    assert res.proved, res.status
    heuristic_ok = any((fit_plan(inst, buffer_order(inst, o), b) >= 0).all() for o in ORDERS for b in (False, True))
    if heuristic_ok:
        assert res.solved  # exactness: a heuristic's allocation is a witness
    if res.solved:
        check_placement(inst, res.offsets, allow_unplaced=False)


@pytest.mark.parametrize("seed", range(3))
def test_cpsat_mapping_is_optimal_and_a_lower_bound(seed: int) -> None:
    inst = SyntheticProgram(n_buffers=14, capacity_ratio=0.4)(np.random.default_rng(seed))
    res = solve_mapping(inst, time_limit=None, deterministic_time=20.0, hint=xla_plan(inst), copies="ignore")
    assert res.status == "OPTIMAL" and res.proved
    check_placement(inst, res.offsets, allow_unplaced=True)
    fast = res.offsets >= 0
    # the model's objective is the roofline program time of its mapping (up to rounding to 1e-7 of T_slow)
    t_slow = program_time(inst, np.zeros(inst.n_buffers, bool)).total
    assert res.objective == pytest.approx(program_time(inst, fast).roofline, abs=inst.n_buffers * 2e-7 * t_slow)
    for plan in (xla_plan(inst), fit_plan(inst, buffer_order(inst, "size"), True)):
        assert res.objective <= program_time(inst, plan >= 0).roofline + inst.n_buffers * 2e-7 * t_slow


@pytest.mark.parametrize("env_id", [MAP, ALLOC])
def test_every_policy_runs_validated(env_id: str) -> None:
    from schedgym.agents.memory import POLICIES

    for name, entry in POLICIES.items():
        if env_id not in entry.env_ids:
            continue
        spec = f"{name}:2" if name == "mem-cpsat" else name
        res = run_episode(MemoryEnv(mode="mapping" if env_id == MAP else "allocation"), make_policy(spec, env_id=env_id), seed=1)
        assert res.validated_objective == pytest.approx(res.objective), name


def test_mapping_baselines_on_a_traced_model() -> None:
    env = MemoryEnv(instance="gpt2-block-b4-s512")
    out = {}
    for spec in ("mem-all-slow", "mem-xla", "mem-best-fit:size", "mem-lowest-offset", "mem-cpsat:5"):
        res = run_episode(env, make_policy(spec, env_id=MAP), seed=0)
        out[spec] = res
    assert out["mem-all-slow"].metrics["speedup"] == 1.0
    for spec in ("mem-xla", "mem-best-fit:size", "mem-lowest-offset", "mem-cpsat:5"):
        assert out[spec].metrics["speedup"] > 1.2, spec
    assert out["mem-cpsat:5"].extra["status"] == "OPTIMAL"
    bound = solve_mapping(env.instance, time_limit=None, deterministic_time=20.0, copies="ignore")
    assert bound.proved
    for spec, res in out.items():  # the copy-free roofline optimum bounds every mapping's program time
        assert bound.objective * 1e6 <= res.objective * (1 + 1e-6), spec


def test_allocation_heuristics_fail_where_cpsat_succeeds() -> None:
    """MiniMalloc's challenging instance B (170 buffers, zero slack): the first/best-fit heuristics place
    at most ~150 buffers; CP-SAT (one worker, deterministic limit) is checked in the slow test."""
    if minimalloc_dir() is None:
        pytest.skip("shared MiniMalloc data not found")
    inst = load_instance("minimalloc/B")
    assert inst.max_load() == inst.capacity  # no slack at the busiest instant
    for order in ORDERS:
        for best in (False, True):
            assert (fit_plan(inst, buffer_order(inst, order), best) < 0).any()


@pytest.mark.slow
def test_cpsat_solves_challenging_b_within_a_deterministic_limit() -> None:
    if minimalloc_dir() is None:
        pytest.skip("shared MiniMalloc data not found")
    inst = load_instance("minimalloc/B")
    hint = fit_plan(inst, buffer_order(inst, "size"), True)
    res = solve_allocation(inst, time_limit=None, deterministic_time=3.0, hint=hint)
    assert res.solved and res.status == "OPTIMAL"
    check_placement(inst, res.offsets, allow_unplaced=False)
    env = MemoryEnv(mode="allocation", instance=inst)
    from schedgym.agents.memory.exact import CPSatMemoryPolicy

    result = run_episode(env, CPSatMemoryPolicy(time_limit=600, deterministic_time=3.0), seed=0)
    assert result.objective == 1.0 and result.validated_objective == 1.0


def test_canonical_search_solves_and_proves() -> None:
    from schedgym.agents.memory.search import canonical_search
    from schedgym.envs.memory.generator import TiledAllocation

    res = canonical_search(minimalloc_example())
    assert res.status == "FEASIBLE" and res.offsets.tolist() == [8, 8, 4, 4, 0]
    assert canonical_search(minimalloc_example().with_capacity(11)).status == "INFEASIBLE"
    rng = np.random.default_rng(2)
    outcomes = set()
    for _ in range(40):  # exhaustive on tiny random instances near their largest live total: agrees with CP-SAT
        n = int(rng.integers(5, 9))
        lo = rng.integers(0, 8, n)
        inst = MemoryInstance("tiny", 1, lo, lo + rng.integers(1, 6, n), rng.integers(1, 6, n))
        inst = inst.with_capacity(max(int(inst.size.max()), inst.max_load() + int(rng.integers(-1, 2))))
        s = canonical_search(inst, node_limit=None)
        c = solve_allocation(inst, time_limit=None, deterministic_time=5.0)
        assert s.proved and c.proved and s.solved == c.solved
        outcomes.add(s.status)
        if s.solved:
            check_placement(inst, s.offsets, allow_unplaced=False)
    assert outcomes == {"FEASIBLE", "INFEASIBLE"}
    solved = 0
    for seed in range(4):
        inst = TiledAllocation(n_buffers=30)(np.random.default_rng(seed))
        s = canonical_search(inst, node_limit=20_000)
        assert s.status in ("FEASIBLE", "UNKNOWN")  # feasible by construction: never "INFEASIBLE"
        solved += s.solved
    assert solved >= 2


def test_search_policy_replays_through_the_env() -> None:
    env = MemoryEnv(mode="allocation", instance="minimalloc-example")
    res = run_episode(env, make_policy("mem-search:5", env_id=ALLOC), seed=0)
    assert res.objective == 1.0 and res.extra["status"] == "FEASIBLE"


def test_solve_cli_writes_a_validated_solution_csv(tmp_path, capsys) -> None:
    from schedgym.agents.memory.solve import main
    from schedgym.envs.memory.instance import read_minimalloc_csv, write_minimalloc_csv

    src = tmp_path / "example.12.csv"
    write_minimalloc_csv(src, minimalloc_example())
    for method in ("cpsat", "search", "best-fit:size"):
        out = tmp_path / f"sol-{method.replace(':', '-')}.csv"
        assert main([str(src), str(out), "--method", method, "--seconds", "5"]) == 0
        inst, off = read_minimalloc_csv(out, capacity=12)
        check_placement(inst, off, allow_unplaced=False)
    assert "placed 5/5" in capsys.readouterr().out
    assert main([str(src), str(tmp_path / "x.csv"), "--capacity", "11", "--method", "search"]) == 1
    bad = tmp_path / "bad.12.csv"
    bad.write_text("id,lower,upper,size\nb1,3,1,4\n")
    assert main([str(bad), str(tmp_path / "y.csv")]) == 2
    assert "line 2" in capsys.readouterr().err
