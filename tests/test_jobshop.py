"""Job-shop domain: instances and formats, the simulator's builders, env details, validator, rules, CP-SAT."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import schedgym.envs  # noqa: F401
from schedgym.agents import make_policy, run_episode
from schedgym.agents.jobshop import solve_jobshop
from schedgym.envs import IllegalActionError
from schedgym.envs.jobshop import (
    TAILLARD_SEEDS,
    InstanceFormatError,
    JobShopInstance,
    UnknownInstanceError,
    best_known,
    format_standard,
    format_taillard,
    generate_random,
    load_instance,
    parse_instance,
    read_instance,
    taillard_instance,
    write_instance,
)
from schedgym.envs.jobshop.env import NODE_FEATURES, JobShopEnv
from schedgym.envs.jobshop.state import JobShopState
from schedgym.envs.jobshop.validate import InfeasibleScheduleError, validate_schedule


# ----------------------------------------------------------------------------- instances
def test_taillard_generator_reproduces_all_80(jsplib_dir: Path) -> None:
    assert len(TAILLARD_SEEDS) == 80
    for name in TAILLARD_SEEDS:
        assert taillard_instance(name) == read_instance(jsplib_dir / "instances" / name), name


def test_catalog_bounds_agree_with_shared_data(jsplib_dir: Path) -> None:
    data = {d["name"]: d for d in json.loads((jsplib_dir / "instances.json").read_text())}
    for name, d in data.items():
        b = best_known(name)
        assert b["source"] and b["date"]
        if d["optimum"] is not None:
            assert b["optimal"] and b["upper"] == b["lower"] == d["optimum"]
        elif d.get("bounds"):
            assert (b["lower"], b["upper"]) == (d["bounds"]["lower"], d["bounds"]["upper"])
        else:  # ta71-ta80: machine-load bound computed from the instance
            assert b["lower"] == taillard_instance(name).lower_bound()


def test_load_by_name_from_mirror_with_checksum(jsplib_dir: Path, tmp_path: Path, monkeypatch) -> None:
    ft06 = load_instance("ft06", mirror=jsplib_dir)
    assert ft06.shape == (6, 6) and ft06.durations[0, 1] == 3
    # a tampered mirror file fails the pinned sha256
    (tmp_path / "instances").mkdir()
    text = (jsplib_dir / "instances" / "ft06").read_text().replace("2  1  0  3", "2  1  0  4")
    (tmp_path / "instances" / "ft06").write_text(text)
    monkeypatch.setenv("SCHEDGYM_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ValueError, match="sha256"):
        load_instance("ft06", mirror=tmp_path)
    with pytest.raises(FileNotFoundError, match="download=False"):
        load_instance("la01", mirror=tmp_path, download=False)


def test_unknown_instance_lists_close_names() -> None:
    with pytest.raises(UnknownInstanceError, match="ft06"):
        load_instance("ft07")
    assert load_instance("ft6").name == "ft06"
    assert load_instance("TA1") == taillard_instance("ta01")
    assert load_instance("la1").name == "la01" and best_known("la1")["upper"] == 666


def test_formats_roundtrip(tmp_path: Path) -> None:
    inst = generate_random(5, 4, rng=3, name="r")
    for fmt in ("standard", "taillard"):
        path = tmp_path / f"r.{fmt}"
        write_instance(inst, path, fmt=fmt)
        assert read_instance(path) == inst
    assert parse_instance(format_taillard(taillard_instance("ta01"))) == taillard_instance("ta01")
    assert parse_instance(format_standard(inst)) == inst


@pytest.mark.parametrize(
    "text, match",
    [
        ("2 2\n0 1 1 2\n0 3\n", r"line 3: job 1 has 2 numbers, expected 4"),
        ("2 2\n0 1 1 2\n", r"header says 2 jobs but the file has 1"),
        ("2 2\n0 1 1 x\n0 3 1 4\n", r"line 2: 'x' is not an integer"),
        ("2 2\n0 1 2 2\n0 3 1 4\n", r"line 2: job 0 operation 1: machine 2 out of range"),
        ("# c\n2 2\n0 1 0 2\n0 3 1 4\n", r"line 3: job 0 does not visit machine\(s\) \[1\]"),
        ("2\n", r"line 1: header must be"),
        ("# only comments\n", r"no data"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(InstanceFormatError, match=match) as info:
        read_instance(path)
    assert str(path) in str(info.value)


TA_OK = "Nb of jobs, Nb of Machines\n2 2\nTimes\n1 2\n3 4\nMachines\n1 2\n2 1\n"


@pytest.mark.parametrize(
    "text, match",
    [
        (TA_OK.replace("2 2\nTimes", "2\nTimes"), r"line 2: header needs at least"),
        (TA_OK.replace("2 2\nTimes", "0 2\nTimes"), r"line 2: n_jobs and n_machines must be >= 1"),
        (TA_OK.replace("1 2\n3 4", "1 -2\n3 4"), r"line 4: job 0 operation 1: negative time -2"),
        (TA_OK.replace("1 2\n3 4\n", "1 2\n"), r"the Times block \(from line 3\) has 1 rows"),
        (TA_OK.replace("1 2\n3 4\n", "1 2\n3 4\n5 6\n"), r"line 6: the Times block .* has 3 rows"),
        (TA_OK.replace("1 2\n2 1\n", "1 2\n"), r"the Machines block .* has 1 rows"),
        (TA_OK.replace("1 2\n2 1\n", "1 2\n2 3\n"), r"line 8: job 1 operation 1: machine 3 out of range"),
    ],
)
def test_malformed_taillard_layout_names_file_and_line(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad_ta.txt"
    path.write_text(text)
    with pytest.raises(InstanceFormatError, match=match) as info:
        read_instance(path)
    assert str(path) in str(info.value)
    path.write_text(TA_OK)
    assert read_instance(path).shape == (2, 2)


def test_generate_random_is_seeded_and_valid() -> None:
    a, b = generate_random(8, 6, rng=7), generate_random(8, 6, rng=7)
    assert a == b and a != generate_random(8, 6, rng=8)
    assert a.durations.min() >= 1 and a.durations.max() <= 99
    with pytest.raises(ValueError):
        generate_random(0, 3)


# ----------------------------------------------------------------------------- independent rule check
def _independent_pdr(inst: JobShopInstance, rule: str, builder: str) -> int:
    """A from-scratch rule + builder simulation (plain Python lists) to cross-check the env's rules."""
    n, m = inst.shape
    d = inst.durations.tolist()
    mach = inst.machines.tolist()
    nxt = [0] * n
    jready = [0] * n
    mready = [0] * m
    total = [sum(r) for r in d]
    done_work = [0] * n
    makespan = 0
    for _ in range(n * m):
        live = [j for j in range(n) if nxt[j] < m]
        # a zero-duration operation takes no machine time: it only waits for its job
        est = {j: jready[j] if d[j][nxt[j]] == 0 else max(jready[j], mready[mach[j][nxt[j]]]) for j in live}
        if builder == "nondelay":
            t = min(est.values())
            cands = [j for j in live if est[j] == t]
        else:  # Giffler-Thompson
            ect = {j: est[j] + d[j][nxt[j]] for j in live}
            jstar = min(live, key=lambda j: (ect[j], j))
            mstar = mach[jstar][nxt[jstar]]
            # textbook conflict set: operations on m* that start before c*, always including the one achieving c*
            cands = [j for j in live if mach[j][nxt[j]] == mstar and (est[j] < ect[jstar] or j == jstar)]

        def key(j: int) -> float:
            p = d[j][nxt[j]]
            rem = total[j] - done_work[j]
            if rule == "spt":
                return p
            if rule == "lpt":
                return -p
            if rule == "mwkr":
                return -rem
            if rule == "lwkr":
                return rem
            if rule == "mopnr":
                return -(m - nxt[j])
            if rule == "fifo":
                return jready[j]
            return (done_work[j] + p) / max(rem, 1e-12)  # fdd-mwkr

        j = min(cands, key=lambda j: (key(j), j))
        k = nxt[j]
        s = est[j]
        e = s + d[j][k]
        jready[j] = e
        if d[j][k] > 0:
            mready[mach[j][k]] = e
        done_work[j] += d[j][k]
        nxt[j] += 1
        makespan = max(makespan, e)
    return makespan


@pytest.mark.parametrize("builder", ["nondelay", "active"])
@pytest.mark.parametrize("rule", ["spt", "lpt", "mwkr", "lwkr", "mopnr", "fifo", "fdd-mwkr"])
def test_rules_agree_with_independent_implementation(rule: str, builder: str) -> None:
    instances = [taillard_instance("ta01"), taillard_instance("ta11"), generate_random(7, 5, rng=1),
                 generate_random(8, 6, rng=2, low=0, high=3), load_instance("orb07")]  # zero durations
    for inst in instances:
        policy = make_policy(f"{rule}:{builder}")
        env = gym.make("schedgym/JobShop-v0", instance=inst, **policy.env_kwargs)
        got = run_episode(env, policy, seed=0).objective
        assert got == _independent_pdr(inst, rule, builder), (rule, builder, inst.name)


# ----------------------------------------------------------------------------- simulator / env
def test_builders_candidate_sets() -> None:
    inst = JobShopInstance(np.array([[0, 1], [0, 1], [1, 0]]), np.array([[3, 2], [1, 4], [5, 1]]), name="t")
    nd = JobShopState(inst, "nondelay")
    assert nd.candidates().tolist() == [0, 1, 2]  # everything can start at 0
    act = JobShopState(inst, "active")
    # earliest completion: job 1 on machine 0 at 1; jobs on machine 0 starting before 1: jobs 0, 1
    assert act.candidates().tolist() == [0, 1]
    act.schedule(1)
    with pytest.raises(ValueError, match="not schedulable"):
        act.schedule(1) if 1 not in act.candidates() else act.schedule(5)


def test_dense_return_is_minus_makespan_up_to_constant() -> None:
    inst = taillard_instance("ta02")
    env = gym.make("schedgym/JobShop-v0", instance=inst, reward_scale=1.0)
    obs, _ = env.reset(seed=0)
    lb0 = inst.durations.sum(axis=1).max()
    total, done = 0.0, False
    while not done:
        obs, r, done, _, info = env.step(int(np.flatnonzero(obs["action_mask"])[-1]))
        total += r
    assert total == pytest.approx(-(info["metrics"]["makespan"] - lb0))
    sparse = gym.make("schedgym/JobShop-v0", instance=inst, reward="sparse", reward_scale=1.0)
    obs, _ = sparse.reset(seed=0)
    rewards = []
    done = False
    while not done:
        obs, r, done, _, info = sparse.step(int(np.flatnonzero(obs["action_mask"])[-1]))
        rewards.append(r)
    assert rewards[-1] == -info["metrics"]["makespan"] and not any(rewards[:-1])


def test_illegal_action_names_action_and_legal_set() -> None:
    env = gym.make("schedgym/JobShop-v0", instance="ta01")
    obs, _ = env.reset(seed=0)
    with pytest.raises(IllegalActionError, match=r"illegal action 1: .*waits for op 0.*Legal actions: \[0, 15"):
        env.step(1)
    with pytest.raises(IllegalActionError, match="outside the action space"):
        env.step(10_000)


def test_observation_graph_grows_with_machine_arcs() -> None:
    env = gym.make("schedgym/JobShop-v0", instance="ft06")
    obs, _ = env.reset(seed=0)
    n_job_arcs = 6 * 5
    assert obs["n_edges"][0] == n_job_arcs and obs["n_nodes"][0] == 36
    edges = n_job_arcs
    done = False
    while not done:
        obs, _, done, _, info = env.step(int(np.flatnonzero(obs["action_mask"])[0]))
        assert obs["n_edges"][0] >= edges
        edges = obs["n_edges"][0]
    assert edges == n_job_arcs + 6 * 5  # every machine sequence is a chain of 6 operations
    assert obs["nodes"][:36, 2].all()  # all scheduled
    assert validate_schedule(env.unwrapped.instance, info["solution"]) == info["metrics"]["makespan"]


def test_reset_with_instance_option_and_padding() -> None:
    env = gym.make("schedgym/JobShop-v0", n_jobs=6, n_machines=6)
    small = generate_random(4, 3, rng=0)
    obs, _ = env.reset(seed=0, options={"instance": small})
    assert obs["n_nodes"][0] == 12 and not obs["action_mask"][12:].any()
    with pytest.raises(ValueError, match="needs at most that size"):
        env.reset(options={"instance": generate_random(7, 3, rng=0)})


def test_render_rgb_array() -> None:
    env = gym.make("schedgym/JobShop-v0", instance="ft06", render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    for _ in range(10):
        obs, *_ = env.step(int(np.flatnonzero(obs["action_mask"])[0]))
    img = env.render()
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8 and img.std() > 0


# ----------------------------------------------------------------------------- validator
def test_validator_rejects_broken_schedules() -> None:
    inst = load_instance("ft06")
    res = solve_jobshop(inst, time_limit_s=5)
    assert validate_schedule(inst, res.start) == 55
    bad = res.start.copy()
    bad[0, 1] = bad[0, 0]  # starts before its job predecessor ends
    with pytest.raises(InfeasibleScheduleError, match="precedence"):
        validate_schedule(inst, bad)
    overlap = res.start.copy()
    j0, j1 = np.argwhere(inst.machines == 0)[:2]
    overlap[tuple(j1)] = overlap[tuple(j0)]
    with pytest.raises(InfeasibleScheduleError):
        validate_schedule(inst, overlap)
    missing = res.start.copy()
    missing[2, 3] = -1
    with pytest.raises(InfeasibleScheduleError, match="not scheduled"):
        validate_schedule(inst, missing)
    with pytest.raises(InfeasibleScheduleError, match="reported makespan"):
        validate_schedule(inst, {"start": res.start.tolist(), "makespan": 54})


# ----------------------------------------------------------------------------- CP-SAT
@pytest.mark.parametrize("name, optimum", [("ft06", 55), ("la01", 666), ("la02", 655), ("la03", 597), ("la04", 590), ("la05", 593)])
def test_cpsat_proves_small_optima_and_replays_exactly(name: str, optimum: int) -> None:
    # load-independent: one worker and a deterministic budget (the wall-clock limit is only a safety net)
    from schedgym.agents.jobshop import CPSatPolicy

    policy = CPSatPolicy(time_limit_s=600, workers=1, solver_params={"max_deterministic_time": 20.0})
    env = gym.make("schedgym/JobShop-v0", instance=name, **policy.env_kwargs)
    result = run_episode(env, policy, seed=0)
    assert result.extra["optimal"] is True
    assert result.objective == optimum == result.extra["solver_makespan"]


def test_zero_duration_operations() -> None:
    # the active set is never empty, even when the op achieving c* takes no time
    inst = JobShopInstance(np.array([[0, 1], [0, 1]]), np.array([[0, 5], [3, 4]]), name="z")
    st = JobShopState(inst, "active")
    while not st.done:
        assert st.candidates().size > 0
        st.schedule(int(st.candidates()[0]))
    # CP-SAT's replay never ends worse than the solver, zero-duration ops included
    inst = JobShopInstance(np.array([[0, 1], [0, 1]]), np.array([[4, 1], [0, 1]]), name="z2")
    policy = make_policy("cpsat:5")
    env = gym.make("schedgym/JobShop-v0", instance=inst, **policy.env_kwargs)
    result = run_episode(env, policy, seed=0)
    assert result.objective <= result.extra["solver_makespan"] == 5
    for spec in ("mwkr:active", "rule-random:active", "cpsat:5"):
        p = make_policy(spec)
        run_episode(gym.make("schedgym/JobShop-v0", instance="orb07", **p.env_kwargs), p, seed=0)


def test_validator_sees_overlap_around_zero_length_ops() -> None:
    inst = JobShopInstance(np.array([[0], [0], [0]]), np.array([[10], [0], [3]]), name="one-machine")
    with pytest.raises(InfeasibleScheduleError, match="overlaps"):
        validate_schedule(inst, [[0], [3], [5]])
    with pytest.raises(InfeasibleScheduleError, match="integers"):
        validate_schedule(inst, [[0.0], [2.5], [10.0]])
    assert validate_schedule(inst, [[0], [4], [10]]) == 13


def test_cpsat_needs_serial_builder() -> None:
    policy = make_policy("cpsat:1")
    env = gym.make("schedgym/JobShop-v0", instance="ft06")
    with pytest.raises(ValueError, match="serial"):
        run_episode(env, policy, seed=0)


# ----------------------------------------------------------------------------- incremental state and observation
def _instances_for_incremental_checks() -> list[JobShopInstance]:
    rng = np.random.default_rng(5)
    zero = [generate_random(6, 4, rng=s, low=0, high=3) for s in range(4)]  # many zero-duration ops
    return [load_instance("ft06"), taillard_instance("ta01"), generate_random(9, 5, rng=1),
            load_instance("orb07"), *zero,
            JobShopInstance(np.array([[0, 1], [0, 1]]), np.array([[0, 5], [3, 4]]), name="z"),
            JobShopInstance(rng.permuted(np.tile(np.arange(3), (5, 1)), axis=1), np.zeros((5, 3), np.int64),
                            name="all0")]


@pytest.mark.parametrize("builder", ["nondelay", "active", "serial"])
def test_incremental_candidates_match_the_definition(builder: str) -> None:
    """JobShopState keeps est / waiting lists incrementally; after every transition the candidate set and
    the public arrays equal what the definition recomputes from scratch."""
    rng = np.random.default_rng(0)
    for inst in _instances_for_incremental_checks():
        n, m = inst.shape
        for _ in range(3):
            st = JobShopState(inst, builder)
            while True:
                ref = st._candidates_reference()
                assert st.candidates().tolist() == ref.tolist() == st.candidate_list(), (inst.name, builder)
                if st.done:
                    break
                # public arrays, rebuilt from the schedule itself
                scheduled = st.start >= 0
                np.testing.assert_array_equal(st.next_op, scheduled.sum(axis=1))
                np.testing.assert_array_equal(st.next_op_id, np.arange(n) * m + st.next_op)
                np.testing.assert_array_equal(st.end, np.where(scheduled, st.start + inst.durations, -1))
                last = np.maximum(st.next_op - 1, 0)
                ready = np.where(st.next_op > 0, st.end[np.arange(n), last], 0)
                np.testing.assert_array_equal(st.job_ready, ready)
                for mach in range(m):
                    seq = st.machine_sequence[mach]
                    assert st.machine_last[mach] == (seq[-1] if seq else -1)
                    busy = [st.end.flat[op] for op in seq if inst.durations.flat[op] > 0]
                    assert st.machine_ready[mach] == (busy[-1] if busy else 0)
                alive = st.next_op < m
                est = st.earliest_starts()
                assert (est[~alive] > 10**15).all() and (est[alive] >= st.job_ready[alive]).all()
                if builder == "nondelay":  # the time the set was found at (kept while ties remain) is theirs
                    assert (est[ref] == st._cand_time).all() and st._cand_time == est.min()
                st.schedule(int(rng.choice(ref)))
            assert st.makespan == int(st.end.max())
            assert validate_schedule(inst, st.start) == st.makespan


def _reference_nodes(env: JobShopEnv) -> np.ndarray:
    """The job-shop node features recomputed from the state alone (the NODE_FEATURES definitions)."""
    inst, st = env.instance, env.state
    n, m = inst.shape
    d = inst.durations.astype(float)
    lb = float(max(1, inst.lower_bound()))
    x = np.zeros((n * m, len(NODE_FEATURES)))
    x[:, 0] = (d / max(1.0, d.max())).ravel()
    bound = np.zeros((n, m))
    for j in range(n):
        t = 0.0
        for k in range(m):
            t = float(st.end[j, k]) if st.start[j, k] >= 0 else t + d[j, k]
            bound[j, k] = t
    x[:, 1] = (bound / lb).ravel()
    x[:, 2] = (st.start >= 0).ravel()
    x[st.next_op_id[st.candidates()], 3] = 1.0
    rem = np.cumsum(d[:, ::-1], axis=1)[:, ::-1]
    x[:, 4] = (rem / max(1.0, rem[:, 0].max())).ravel()
    x[:, 5] = np.tile((m - np.arange(m)) / m, n)
    x[:, 6] = (inst.machines / m).ravel()
    x[:, 7] = (np.where(st.start >= 0, st.start, 0) / lb).ravel()
    return x


@pytest.mark.parametrize("builder", ["nondelay", "active", "serial"])
def test_observation_matches_its_definition_every_step(builder: str) -> None:
    """The env updates only what a step changes; every observation still equals the features, mask,
    edges and globals recomputed from scratch."""
    rng = np.random.default_rng(1)
    for inst in _instances_for_incremental_checks()[:6]:
        env = JobShopEnv(instance=inst, schedule_builder=builder)
        n_ops = inst.n_operations
        for seed in range(2):
            obs, _ = env.reset(seed=seed)
            done = False
            while True:
                st = env.state
                np.testing.assert_allclose(obs["nodes"][:n_ops], _reference_nodes(env), rtol=1e-6, atol=1e-7)
                assert not obs["nodes"][n_ops:].any()
                expected_mask = np.zeros(n_ops, np.int8)
                expected_mask[st.next_op_id[st.candidates()]] = 1
                np.testing.assert_array_equal(obs["action_mask"], expected_mask)
                e = int(obs["n_edges"][0])
                arcs = {(a, b) for a, b, t in zip(*obs["edge_index"][:, :e], obs["edge_type"][:e]) if t == 1}
                assert arcs == {(s[i], s[i + 1]) for s in st.machine_sequence for i in range(len(s) - 1)}
                assert obs["globals"][0] == pytest.approx(st.n_scheduled / n_ops)
                if done:
                    break
                obs, _, done, _, _ = env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
