"""ISBJSSP: semantics (blocking, swaps, shutdowns), no deadlock, validator, bad input, rules, rendering."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest

import schedgym.envs  # noqa: F401
from schedgym.envs.core import IllegalActionError
from schedgym.envs.isbjobshop.env import ISBJobShopEnv
from schedgym.envs.isbjobshop.state import ISBJobShopState, parse_repair
from schedgym.envs.isbjobshop.validate import InfeasibleISBScheduleError, validate_isb_schedule
from schedgym.envs.jobshop import JobShopInstance, generate_random

SWAP2 = JobShopInstance(np.array([[0, 1], [1, 0]]), np.array([[3, 2], [2, 4]]), name="swap2")


def _random_episode(env: gym.Env, seed: int, rng: np.random.Generator) -> dict:
    obs, info = env.reset(seed=seed)
    for _ in range(100_000):
        legal = np.flatnonzero(obs["action_mask"])
        assert legal.size > 0, f"seed {seed}: no legal action at t={env.unwrapped.state.t} (deadlock)"
        obs, _, term, trunc, info = env.step(int(legal[rng.integers(legal.size)]))
        if term or trunc:
            assert term, f"seed {seed}: truncated"
            return info
    raise AssertionError("episode did not end")


# ----------------------------------------------------------------------------- semantics
def test_worked_example_swap_cycle() -> None:
    env = gym.make("schedgym/BlockingJobShop-v0", instance=SWAP2)
    obs, _ = env.reset(seed=0)
    assert np.flatnonzero(obs["action_mask"]).tolist() == [0, 2]
    obs, *_ = env.step(0)
    obs, *_ = env.step(2)
    base = env.unwrapped
    assert base.state.t == 3  # job 1 blocked M1 since t=2, job 0 blocks M0 from t=3: a cycle
    assert np.flatnonzero(obs["action_mask"]).tolist() == [1, 3]
    assert base.state.swap_cycle[0] == [0, 1]
    obs, r, term, trunc, info = env.step(3)  # either member performs the whole swap
    assert term and not trunc
    assert info["metrics"]["makespan"] == 7.0 and info["metrics"]["n_swaps"] == 1.0
    assert info["metrics"]["blocking_time"] == 1.0
    sol = info["solution"]
    assert sol["start"] == [[0, 3], [0, 3]] and sol["leave"] == [[3, 5], [3, 7]]
    assert validate_isb_schedule(SWAP2, sol) == 7


def test_blocking_holds_machine_until_next_start() -> None:
    # job 0: M0 (1) then M1 (5); job 1: M1 (5) then M0 (1); job 2: M0 (2) then M1 (1)
    inst = JobShopInstance(np.array([[0, 1], [1, 0], [0, 1]]), np.array([[1, 5], [5, 1], [2, 1]]))
    st = ISBJobShopState(inst)
    st.start(0)
    st.start(1)
    st.advance()  # t=1: job 0 done on M0 but M1 is busy: it blocks M0
    assert st.t == 1 and st.holder[0] == 0 and st.phase[0] == 2
    st.compute_legal()
    assert 2 not in st.legal  # job 2 needs M0, blocked by job 0
    assert "occupied by job 0" in st.describe_job(2)


def test_resume_and_restart_on_a_fixed_downtime() -> None:
    inst = JobShopInstance(np.array([[0]]), np.array([[5]]))
    for mode, expected in (("resume", 8), ("restart", 10)):
        env = ISBJobShopEnv(instance=inst, interruption=mode, shutdown_prob=0.1)
        obs, _ = env.reset(seed=0, options={"downtime": [[(2, 5)]]})
        obs, r, term, _, info = env.step(0)
        assert term and info["metrics"]["makespan"] == expected, mode
        assert info["metrics"]["n_interruptions"] == 1.0 and info["metrics"]["downtime"] == 3.0
        assert validate_isb_schedule(inst, info["solution"]) == expected
        np.testing.assert_allclose(r, -expected / inst.lower_bound())


def test_no_start_on_a_down_machine_and_error_names_it() -> None:
    inst = JobShopInstance(np.array([[0, 1], [1, 0]]), np.array([[3, 2], [2, 4]]))
    env = ISBJobShopEnv(instance=inst, shutdown_prob=0.1, schedule_builder="serial")
    obs, _ = env.reset(seed=0, options={"downtime": [[], [(1, 6)]]})
    env.step(0)  # job 0 on M0 at t=0 (M1 still up: leave it idle)
    obs, *_ = env.step(env.unwrapped.wait_node)  # to job 0's completion at t=3; M1 failed at t=1
    st = env.unwrapped.state
    assert st.t == 3 and not st.up[1] and st.repair_end[1] == 6 and st.n_failures == 1
    assert not obs["action_mask"][:4].any() and obs["action_mask"][env.unwrapped.wait_node]
    with pytest.raises(IllegalActionError) as exc:
        env.step(2)  # job 1 op 0 needs M1
    assert "machine 1 is down" in str(exc.value) and "2" in str(exc.value)


def test_occupied_machine_error_names_job_and_machine() -> None:
    inst = JobShopInstance(np.array([[0, 1], [0, 1]]), np.array([[3, 2], [2, 4]]))
    env = ISBJobShopEnv(instance=inst)
    env.reset(seed=0)
    env.step(0)
    with pytest.raises(IllegalActionError) as exc:
        env.step(2)
    msg = str(exc.value)
    assert "machine 0" in msg and "occupied by job 0" in msg


def test_seed_fixes_the_disruption_realization() -> None:
    inst = generate_random(5, 4, np.random.default_rng(3), 1, 30)
    downs = []
    for policy_seed in (0, 1):
        env = ISBJobShopEnv(instance=inst, shutdown_prob=0.05)
        info = _random_episode(env, seed=7, rng=np.random.default_rng(policy_seed))
        ms = info["solution"]["makespan"]
        downs.append([[iv for iv in ivs if iv[0] < 150] for ivs in env.state.realized_downtime(max(ms, 150))])
    assert downs[0] == downs[1]  # the same seed, different actions: the same shutdowns
    env = ISBJobShopEnv(instance=inst, shutdown_prob=0.05)
    env.reset(seed=8)
    other = [[iv for iv in ivs if iv[0] < 150] for ivs in env.state.realized_downtime(150)]
    assert other != downs[0]


def test_shutdown_frequency_matches_probability() -> None:
    env = ISBJobShopEnv(n_jobs=2, n_machines=2, shutdown_prob=0.05, repair=("constant", 5))
    env.reset(seed=0)
    ivs = env.state.downtime.until(0, 200_000)
    ups = np.diff([0] + [b for _, b in ivs][:-1])  # cycle lengths
    mean_up = float(np.mean([a - prev for (a, _), prev in zip(ivs, [0] + [b for _, b in ivs[:-1]])]))
    assert abs(mean_up - 1 / 0.05) < 1.0 and ups.size > 1000
    assert all(b - a == 5 for a, b in ivs)


# ----------------------------------------------------------------------------- no deadlock, validator
@pytest.mark.parametrize(
    "kwargs",
    [
        {"shutdown_prob": 0.0},
        {"shutdown_prob": 0.05},
        {"shutdown_prob": 0.2, "repair": ("geometric", 4)},
        {"shutdown_prob": 0.02, "interruption": "restart", "duration_high": 20},
        {"shutdown_prob": 0.05, "schedule_builder": "serial"},
        {"shutdown_prob": 0.05, "blocking": False},
        {"shutdown_prob": 0.05, "duration_low": 0, "duration_high": 3},  # zero-length ops pass through
    ],
)
def test_many_random_blocking_episodes_never_deadlock(kwargs: dict) -> None:
    """Random masked play on many random blocking instances (many machines per job: many cycles)."""
    rng = np.random.default_rng(0)
    swaps = 0
    for n, m in ((3, 3), (8, 3), (6, 6)):
        env = ISBJobShopEnv(n_jobs=n, n_machines=m, **kwargs)
        for seed in range(25):
            info = _random_episode(env, seed, rng)
            assert validate_isb_schedule(env.instance, info["solution"]) == info["metrics"]["makespan"]
            swaps += info["metrics"]["n_swaps"]
            if not kwargs.get("blocking", True):
                assert info["metrics"]["blocking_time"] == 0 and info["metrics"]["n_swaps"] == 0
    if kwargs.get("blocking", True):
        assert swaps > 0, "no swap happened: the test does not exercise cycles"


def _finished_solution(seed: int = 0, p: float = 0.05) -> tuple[JobShopInstance, dict]:
    env = ISBJobShopEnv(n_jobs=5, n_machines=4, shutdown_prob=p)
    info = _random_episode(env, seed, np.random.default_rng(seed))
    return env.instance, copy.deepcopy(info["solution"])


def test_validator_rejects_broken_schedules() -> None:
    # find an episode with an interruption, a swap and blocking
    for seed in range(200):
        inst, sol = _finished_solution(seed)
        interrupted = any(
            any(a < c and b > s for a, b in sol["downtime"][inst.machines[j, k]])
            for j in range(inst.n_jobs) for k in range(inst.n_machines)
            for s, c in [(sol["start"][j][k], sol["completion"][j][k])]
        )
        blocked = any(sol["leave"][j][k] > sol["completion"][j][k] for j in range(5) for k in range(4))
        if sol["swaps"] and interrupted and blocked:
            break
    else:  # pragma: no cover
        pytest.fail("no episode with swaps, interruptions and blocking found")
    assert validate_isb_schedule(inst, sol) == sol["makespan"]

    def broken(mutate) -> None:
        bad = copy.deepcopy(sol)
        mutate(bad)
        with pytest.raises(InfeasibleISBScheduleError):
            validate_isb_schedule(inst, bad)

    def drop_downtime(s: dict) -> None:  # processing time no longer adds up
        s["downtime"] = [[] for _ in s["downtime"]]

    def drop_swap(s: dict) -> None:
        s["swaps"] = s["swaps"][1:]

    def fake_swap(s: dict) -> None:
        s["swaps"].append({"time": 0, "moves": [[0, 1], [1, 1]]})

    def overlap(s: dict) -> None:  # leave a machine later than the next job enters it
        j, k = next((j, k) for j in range(5) for k in range(3) if s["leave"][j][k] > s["completion"][j][k])
        s["leave"][j][k] += 1000
        s["start"][j][k + 1] += 1000

    def early_leave(s: dict) -> None:  # blocked job leaves before starting its next op
        j, k = next((j, k) for j in range(5) for k in range(3) if s["leave"][j][k] > s["completion"][j][k])
        s["leave"][j][k] = s["completion"][j][k]

    def makespan(s: dict) -> None:
        s["makespan"] += 1

    def missing(s: dict) -> None:
        s["start"][0][0] = -1

    def start_while_down(s: dict) -> None:
        # claim an op started inside a down interval of its machine
        for j in range(5):
            k = 0
            i = int(inst.machines[j, k])
            if s["downtime"][i]:
                a, b = s["downtime"][i][0]
                s["downtime"][i] = [[s["start"][j][k], s["start"][j][k] + 1]] + [
                    iv for iv in s["downtime"][i] if iv[0] > s["start"][j][k] + 1
                ]
                return
        s["downtime"][int(inst.machines[0, 0])] = [[s["start"][0][0], s["start"][0][0] + 1]]

    for mutate in (drop_downtime, drop_swap, fake_swap, overlap, early_leave, makespan, missing, start_while_down):
        broken(mutate)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan"), "often"])
def test_invalid_probability_raises(p) -> None:
    with pytest.raises(ValueError, match="shutdown_prob"):
        ISBJobShopEnv(shutdown_prob=p)


@pytest.mark.parametrize(
    "repair", [0, -3, ("uniform", 5, 1), ("uniform", 0, 3), ("geometric", 0.5), ("weibull", 1), {"dist": "x"}, "ten", ("constant", 2.5)]
)
def test_invalid_repair_distribution_raises(repair) -> None:
    with pytest.raises(ValueError, match="repair"):
        ISBJobShopEnv(repair=repair)


def test_parse_repair_forms() -> None:
    assert parse_repair(5) == ("constant", 5)
    assert parse_repair({"dist": "uniform", "low": 1, "high": 4}) == ("uniform", 1, 4)
    assert parse_repair(("geometric", 3)) == ("geometric", 3.0)
    assert parse_repair(parse_repair(("uniform", 2, 9))) == ("uniform", 2, 9)


def test_bad_builder_and_mode_raise() -> None:
    with pytest.raises(ValueError, match="active"):
        ISBJobShopEnv(schedule_builder="active")
    with pytest.raises(ValueError, match="interruption"):
        ISBJobShopEnv(interruption="pause")
    with pytest.raises(ValueError, match="downtime"):
        ISBJobShopEnv(n_jobs=2, n_machines=2).reset(seed=0, options={"downtime": [[(0, 3)], []]})


# ----------------------------------------------------------------------------- rules, candidates, render
def test_dispatch_candidates_match_the_mask() -> None:
    env = ISBJobShopEnv(n_jobs=6, n_machines=5, shutdown_prob=0.05)
    obs, _ = env.reset(seed=1)
    rng = np.random.default_rng(1)
    while True:
        cand = env.dispatch_candidates()
        legal = np.flatnonzero(obs["action_mask"])
        assert sorted(cand["action"].tolist()) == legal.tolist()
        assert (np.diff(cand["job"]) > 0).all()
        for key in ("processing_time", "job_remaining_work", "job_remaining_ops", "job_work_done", "ready_time"):
            assert cand[key].shape == cand["action"].shape
        assert (cand["job_remaining_work"] >= cand["processing_time"]).all()
        obs, _, term, trunc, _ = env.step(int(legal[rng.integers(legal.size)]))
        if term or trunc:
            break


@pytest.mark.parametrize("variant", [None, "nondelay", "serial"])
def test_every_jobshop_rule_runs_on_isb(variant: str | None) -> None:
    from schedgym.agents.base import run_episode
    from schedgym.agents.jobshop.rules import RULE_NAMES, DispatchingRule

    inst = generate_random(6, 4, np.random.default_rng(2), 1, 30)
    for rule in RULE_NAMES:
        pol = DispatchingRule(rule, variant)
        env = gym.make("schedgym/ISBJobShop-v0", instance=inst, **pol.env_kwargs)
        res = run_episode(env, pol, seed=0)
        assert res.validated_objective == res.objective >= inst.lower_bound()


def test_active_rule_variant_is_refused_clearly() -> None:
    from schedgym.agents.jobshop.rules import DispatchingRule

    pol = DispatchingRule("mwkr", "active")
    with pytest.raises(ValueError, match="schedule_builder"):
        gym.make("schedgym/ISBJobShop-v0", **pol.env_kwargs)


def test_observation_is_dynamic_and_flags_machine_state() -> None:
    env = ISBJobShopEnv(n_jobs=4, n_machines=3, shutdown_prob=0.2)
    obs, _ = env.reset(seed=0)
    from schedgym.envs.isbjobshop.env import NODE_FEATURES

    col = {name: i for i, name in enumerate(NODE_FEATURES)}
    n_ops, m = 12, 3
    edge_counts, saw_down, saw_blocked = set(), False, False
    rng = np.random.default_rng(0)
    while True:
        x = obs["nodes"]
        edge_counts.add(int(obs["n_edges"][0]))
        mrows = x[n_ops : n_ops + m]
        saw_down |= bool((mrows[:, col["machine_up"]] == 0).any())
        saw_blocked |= bool((x[:n_ops, col["blocked"]] == 1).any())
        assert (x[:n_ops, col["done"]] + x[:n_ops, col["pending"]] + x[:n_ops, col["processing"]]
                + x[:n_ops, col["blocked"]] == 1).all()
        legal = np.flatnonzero(obs["action_mask"])
        obs, _, term, trunc, _ = env.step(int(legal[rng.integers(legal.size)]))
        if term or trunc:
            break
    assert len(edge_counts) > 3 and saw_down and saw_blocked


def test_render_distinguishes_blocking_and_downtime() -> None:
    env = ISBJobShopEnv(n_jobs=4, n_machines=3, shutdown_prob=0.1, render_mode="rgb_array")
    _random_episode(env, 0, np.random.default_rng(0))
    img = env.render()
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 20
    assert ((img[..., 0] < 20) & (img[..., 1] < 20) & (img[..., 2] < 20)).any()  # black downtime bars


# ----------------------------------------------------------------------------- suites and bench hooks
def test_suite_cases_reference_and_plot(tmp_path) -> None:
    import pandas as pd

    from schedgym.envs.isbjobshop.suite import blocking_reference, lawrence_cases, plot_makespan_vs_probability

    cases = lawrence_cases()
    assert len(cases) == 160 and {c["group"] for c in cases} == {"p=0.00", "p=0.01", "p=0.05", "p=0.10"}
    assert blocking_reference(cases[0])["value"] == 793.0
    assert blocking_reference(next(c for c in cases if c["group"] == "p=0.05")) is None
    df = pd.DataFrame(
        [{"suite": "s", "group": g, "case": "la01", "policy": pol, "seed": 0, "objective": v, "error": ""}
         for g, base in (("p=0.00", 800), ("p=0.10", 1100)) for pol, v in (("a", base), ("b", base + 50))]
    )
    paths = plot_makespan_vs_probability(df, tmp_path)
    assert any(p.suffix == ".png" and p.stat().st_size > 1000 for p in paths)


def test_bench_rows_shape() -> None:
    from schedgym.envs.isbjobshop.bench import bench_rows

    rows = bench_rows(quick=True)
    assert rows and all({"benchmark", "measure", "value", "unit"} <= set(r) and r["value"] > 0 for r in rows)
