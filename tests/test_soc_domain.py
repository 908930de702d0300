"""The SoC domain: data and format, bad input, simulator, validator, env semantics, baselines, suites."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import schedgym.envs  # noqa: F401  (registers the ids)
from schedgym.envs.core import IllegalActionError
from schedgym.agents import make_policy, run_episode
from schedgym.agents.soc.heuristics import OnlineListScheduler, StaticPlanner, heft_plan, peft_plan
from schedgym.envs.soc import (
    APP_NAMES,
    SOC_NAMES,
    InfeasibleSoCScheduleError,
    SoCFormatError,
    SoCSimulator,
    TopcuogluGenerator,
    WorkloadError,
    load_app,
    load_soc,
    read_app,
    read_soc,
    validate_soc_schedule,
)
from schedgym.envs.soc.env import WAIT, SoCDAGEnv
from schedgym.envs.soc.instance import app_from_dict, soc_from_dict
from schedgym.envs.soc.suite import SINGLE_JOB_REFERENCE, reference

SHARED_SOC = Path(__file__).resolve().parents[2] / "shared" / "data" / "soc"
ID = "schedgym/SoCDAG-v0"


def _sim(soc: str, app: str) -> SoCSimulator:
    sim = SoCSimulator(load_soc(soc), [load_app(app)])
    sim.reset([(0.0, 0)])
    return sim


# ----------------------------------------------------------------------------- data and format
def test_shipped_data_parses_and_round_trips() -> None:
    assert {"wifi_tx", "wifi_rx", "range_detection", "sc_tx", "sc_rx", "temporal_mitigation", "pulse_doppler",
            "topcuoglu"} <= set(APP_NAMES)
    assert {"ds3_16pe_head", "ds3_16pe_paper", "topcuoglu_3p"} <= set(SOC_NAMES)
    for name in APP_NAMES:
        app = load_app(name)
        again = app_from_dict(json.loads(json.dumps(app.to_dict())))
        assert again.task_types == app.task_types and np.array_equal(again.edges, app.edges)
        assert "DS3" in app.source["paper"] or "Topcuoglu" in app.source["paper"]
    for name in SOC_NAMES:
        soc = load_soc(name)
        again = soc_from_dict(json.loads(json.dumps(soc.to_dict())))
        assert again.pe_clusters == soc.pe_clusters and again.exec_time == soc.exec_time
    head = load_soc("ds3_16pe_head")
    assert head.n_pes == 16 and sorted(set(head.pe_clusters)) == ["A15", "A7", "FFT", "MM", "VIT"]


@pytest.mark.skipif(not SHARED_SOC.is_dir(), reason="shared DS3 data not found")
def test_package_data_equals_the_shared_reference_files() -> None:
    for sub, read, load in (("apps", read_app, load_app), ("socs", read_soc, load_soc)):
        for path in sorted((SHARED_SOC / sub).glob("*.json")):
            assert load(path.stem).to_dict() == read(path).to_dict(), path.name


def _app_doc() -> dict:
    return {"name": "a", "tasks": [{"id": 0, "type": "x"}, {"id": 1, "type": "y"}],
            "edges": [{"src": 0, "dst": 1, "volume": 10}]}


def _soc_doc() -> dict:
    return {"name": "s", "pes": [{"id": 0, "kind": "cpu", "cluster": "C"}],
            "exec_time_us": {"x": {"C": 3}, "y": {"C": 4}},
            "bandwidth": {"clusters": ["C"], "matrix": [[1]]}}


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["edges"].append({"src": 1, "dst": 0, "volume": 1}), "edges"),  # a cycle
    (lambda d: d["edges"][0].update(volume=-1), "edges[0].volume"),
    (lambda d: d["tasks"][1].pop("type"), "tasks[1].type"),
    (lambda d: d.pop("edges"), "edges"),
    (lambda d: d["edges"][0].update(dst=7), "edges[0].dst"),
    (lambda d: d["tasks"][1].update(id=0), "tasks[1].id"),
])
def test_malformed_application_names_file_and_field(tmp_path: Path, mutate, field: str) -> None:
    doc = _app_doc()
    mutate(doc)
    path = tmp_path / "bad_app.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(SoCFormatError) as err:
        read_app(path)
    assert str(path) in str(err.value) and field in str(err.value)


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["exec_time_us"]["x"].update(C=-2), "exec_time_us.x.C"),
    (lambda d: d["exec_time_us"]["x"].update(Z=2), "exec_time_us.x.Z"),
    (lambda d: d["pes"][0].update(kind="gpu"), "pes[0].kind"),
    (lambda d: d["bandwidth"].update(matrix=[[0]]), "bandwidth.matrix[0][0]"),
    (lambda d: d.pop("pes"), "pes"),
    (lambda d: d["pes"][0].pop("cluster"), "pes[0].cluster"),
])
def test_malformed_soc_names_file_and_field(tmp_path: Path, mutate, field: str) -> None:
    doc = _soc_doc()
    mutate(doc)
    path = tmp_path / "bad_soc.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(SoCFormatError) as err:
        read_soc(path)
    assert str(path) in str(err.value) and field in str(err.value)


def test_unknown_or_unsupported_task_type_is_refused_at_construction(tmp_path: Path) -> None:
    app_path, soc_path = tmp_path / "app.json", tmp_path / "soc.json"
    app_path.write_text(json.dumps(_app_doc()))
    doc = _soc_doc()
    doc["exec_time_us"].pop("y")  # unknown task type
    soc_path.write_text(json.dumps(doc))
    with pytest.raises(WorkloadError, match=r"app.json: tasks\[1\].type: unknown task type 'y'.*soc.json"):
        SoCDAGEnv(soc=str(soc_path), jobs=[str(app_path)])
    doc = _soc_doc()
    doc["bandwidth"] = {"clusters": ["C", "D"], "matrix": [[1, 1], [1, 1]]}
    doc["exec_time_us"]["y"] = {"D": 4}  # only a cluster with no PE
    soc_path.write_text(json.dumps(doc))
    with pytest.raises(WorkloadError, match=r"tasks\[1\].type: no PE of .*soc.json supports task type 'y'"):
        SoCDAGEnv(soc=str(soc_path), jobs=[str(app_path)])


def test_a_workload_that_can_never_finish_fails_at_construction_not_by_a_hang() -> None:
    with pytest.raises(WorkloadError, match="pulse_doppler.*could never finish"):
        SoCDAGEnv(soc="ds3_16pe_head", mix="fig12c")  # no pulse-Doppler types on HEAD's SoC
    with pytest.raises(KeyError, match="unknown application"):
        SoCDAGEnv(mix={"wifi_txx": 1.0})


# ----------------------------------------------------------------------------- simulator and validator
def test_transfer_times_follow_the_bandwidth_rule() -> None:
    soc = load_soc("ds3_16pe_head")
    a7, fft = soc.pe_clusters.index("A7"), soc.pe_clusters.index("FFT")
    assert soc.comm_time(3000, a7, fft) == 300.0  # A7 <-> FFT: bandwidth 10
    assert soc.comm_time(3000, a7, a7 + 1) == 3.0  # two A7 PEs: 1000
    assert soc.comm_time(3000, a7, a7) == 0.0


def test_heft_reproduces_topcuoglu_2002() -> None:
    """Topcuoglu et al. 2002, Fig. 2/3: upward ranks and the HEFT schedule of makespan 80."""
    sim = _sim("topcuoglu_3p", "topcuoglu")
    ranks = sim.tables[0].rank_up
    np.testing.assert_allclose(ranks, [108, 77, 80, 80, 69, 63.333, 42.667, 35.667, 44.333, 14.667], atol=1e-3)
    plan = heft_plan(sim)
    assert plan.makespan == 80
    # the published schedule: n1,n3,n5,n7 on P3; n4,n6,n9,n10 on P2; n2,n8 on P1
    assert [plan.pe[k] for k in range(10)] == [2, 0, 2, 1, 2, 1, 2, 0, 1, 1]
    assert plan.start[9] == 73
    planner = StaticPlanner("heft")
    planner.reset(sim)
    sim.run(planner.decide)
    assert sim.metrics()["makespan"] == 80  # the replay reproduces it
    app = load_app("topcuoglu")
    assert validate_soc_schedule(sim.soc, {"topcuoglu": app}, sim.solution(), "makespan") == 80


def test_heft_is_80_through_the_env_and_cpsat_proves_73() -> None:
    pytest.importorskip("ortools")
    from schedgym.agents.soc.exact import CPSatPolicy

    env = gym.make(ID, soc="topcuoglu_3p", jobs=["topcuoglu"], reward="makespan")
    res = run_episode(env, make_policy("heft", env_id=ID), seed=0)
    assert res.objective == res.validated_objective == 80
    # one worker and a deterministic budget: the proof does not depend on the machine's speed
    res = run_episode(env, CPSatPolicy(time_limit_s=600, workers=1, deterministic_time=30), seed=0)
    assert res.objective == res.validated_objective == 73 and res.extra["optimal"] is True


@pytest.mark.parametrize("soc, app", [k for k, (_, proven) in SINGLE_JOB_REFERENCE.items() if proven])
def test_cpsat_proves_the_single_job_optima(soc: str, app: str) -> None:
    pytest.importorskip("ortools")
    from schedgym.agents.soc.exact import solve_batch

    sim = _sim(soc, app)
    res = solve_batch(sim, "makespan", time_limit_s=600, workers=1, deterministic_time=30)
    assert res.optimal and res.objective == SINGLE_JOB_REFERENCE[(soc, app)][0]
    # no heuristic beats the optimum, and the replayed plan keeps its makespan
    assert heft_plan(sim).makespan >= res.objective and peft_plan(sim).makespan >= res.objective
    planner = StaticPlanner("given")
    planner.reset(sim, res.plan)
    sim.run(planner.decide)
    assert sim.metrics()["makespan"] == res.objective


def _run_etf(noise: float = 0.0, seed: int = 0, n_jobs: int = 30) -> SoCDAGEnv:
    env = SoCDAGEnv(mix="wifi", n_jobs=n_jobs, mean_interarrival_us=100.0, noise=noise)
    env.reset(seed=seed)
    planner = OnlineListScheduler("etf")
    planner.reset(env.sim)
    env.sim.run(planner.decide)
    return env


def test_noise_factors_come_from_the_seed_and_durations_are_realized() -> None:
    env = _run_etf(noise=0.3)
    sim = env.sim
    f = np.asarray(sim.factor)
    assert f.min() >= 0.1 and f.std() > 0.1
    sol = sim.solution()
    dur = np.asarray(sol["tasks"]["end"]) - np.asarray(sol["tasks"]["start"])
    expected = np.array([sim.expected_time(g, p) for g, p in enumerate(sol["tasks"]["pe"])])
    np.testing.assert_allclose(dur, expected * f)
    again = _run_etf(noise=0.3)
    assert again.sim.factor == sim.factor and again.sim.t_end == sim.t_end
    assert env.validate_solution(sol) == pytest.approx(sim.metrics()["avg_latency"])


@pytest.mark.parametrize("tamper, message", [
    (lambda t, s: t["start"].__setitem__(5, t["start"][5] - 1) or t["end"].__setitem__(5, t["end"][5] - 1),
     "before its input|two tasks at once|before its job arrives"),
    (lambda t, s: t["end"].__setitem__(3, t["end"][3] + 1), "not its realized"),
    (lambda t, s: t["factor"].__setitem__(3, t["factor"][3] * 0.5), "noise factors differ"),
    (lambda t, s: t["pe"].__setitem__(0, 10), "cannot run it"),  # scrambler_encoder on an FFT PE
    (lambda t, s: [t[k].pop() for k in t], "never scheduled|record"),
    (lambda t, s: s["jobs"][1].__setitem__("arrival", s["jobs"][1]["arrival"] + 5), "differ from the episode"),
])
def test_validator_catches_tampering(tamper, message: str) -> None:
    env = _run_etf(noise=0.2)
    sol = copy.deepcopy(env.sim.solution())
    env.validate_solution(sol)
    tamper(sol["tasks"], sol)
    with pytest.raises(InfeasibleSoCScheduleError, match=message):
        env.validate_solution(sol)


def test_validator_checks_arrival_and_overlap_without_the_episode_record() -> None:
    env = _run_etf()
    sim = env.sim
    apps = {a.name: a for a in sim.apps}
    sol = copy.deepcopy(sim.solution())
    j = 3
    g = sim.job_base[j]
    shift = sol["tasks"]["start"][g] - sol["jobs"][j]["arrival"] + 1
    sol["tasks"]["start"][g] -= shift
    sol["tasks"]["end"][g] -= shift
    with pytest.raises(InfeasibleSoCScheduleError, match="before its job arrives|two tasks at once"):
        validate_soc_schedule(sim.soc, apps, sol)


# ----------------------------------------------------------------------------- env semantics
def _legal(obs) -> np.ndarray:
    return np.flatnonzero(obs["action_mask"])


def test_two_steps_either_order_and_the_wait_node() -> None:
    env = SoCDAGEnv(mix="wifi", n_jobs=5)
    obs, _ = env.reset(seed=1)
    P = env.n_pes
    legal = _legal(obs)
    assert WAIT in legal  # future arrivals: waiting is allowed
    tasks = [a for a in legal if a > P]
    pes = [a for a in legal if 1 <= a <= P]
    assert tasks and pes
    # task first: the mask becomes the free PEs that run it
    obs2, r, *_ = env.step(tasks[0])
    assert r == 0.0 and env.phase == 1 and obs2["globals"][0] == 1.0
    assert set(_legal(obs2)) <= set(range(1, P + 1))
    g = env.chosen_task
    obs3, *_ = env.step(int(_legal(obs2)[0]))
    assert env.phase == 0 and env.sim.t_state[g] >= 2
    # PE first: the mask becomes the ready tasks it runs
    env2 = SoCDAGEnv(mix="wifi", n_jobs=5)
    obs, _ = env2.reset(seed=1)
    pe_node = [a for a in _legal(obs) if 1 <= a <= P][0]
    obs2, *_ = env2.step(pe_node)
    assert all(a > P for a in _legal(obs2))
    with pytest.raises(IllegalActionError, match="second step"):
        env2.step(pe_node)


def test_wait_is_masked_when_nothing_would_happen() -> None:
    env = SoCDAGEnv(soc="topcuoglu_3p", jobs=["topcuoglu"], reward="makespan")
    obs, _ = env.reset(seed=0)
    assert not obs["action_mask"][WAIT]  # nothing runs, no job will arrive
    with pytest.raises(ValueError, match="stop time forever"):
        env.step(WAIT)


@pytest.mark.parametrize("reward", ["latency", "makespan"])
def test_return_is_the_objective_over_T(reward: str) -> None:
    env = SoCDAGEnv(mix="ds3", n_jobs=8, reward=reward, noise=0.1)
    obs, info = env.reset(seed=4)
    pol = make_policy("etf", env_id=ID)
    pol.reset(env, 4)
    total, done = 0.0, False
    while not done:
        obs, r, term, trunc, info = env.step(pol.act(obs, info))
        total += r
        done = term or trunc
    m = info["metrics"]
    target = m["avg_latency"] if reward == "latency" else m["makespan"]
    assert -total * env.T == pytest.approx(target)
    assert env.objective.name == ("avg_latency" if reward == "latency" else "makespan")


def test_realized_durations_stay_hidden_until_a_task_ends() -> None:
    env = SoCDAGEnv(mix="wifi", n_jobs=10, noise=0.5)
    obs, info = env.reset(seed=2)
    pol = make_policy("etf", env_id=ID)
    pol.reset(env, 2)
    checked = 0
    for _ in range(200):
        sim = env.sim
        for p in range(env.n_pes):
            g = sim.pe_task[p]
            if g >= 0 and env.phase == 0:
                col = env.graph_spec.node_feature_names.index("pe_busy_until")
                expected_end = sim.t_start[g] + sim.expected_time(g, p)
                assert obs["nodes"][1 + p, col] == pytest.approx(max(expected_end - sim.now, 0) / env.T, abs=1e-5)
                checked += 1
        obs, _, term, _, info = env.step(pol.act(obs, info))
        if term:
            break
    assert checked > 10


def test_batch_and_admission_limits() -> None:
    env = SoCDAGEnv(mix="wifi", n_jobs=30, mean_interarrival_us=10.0, max_jobs_in_system=3)
    env.reset(seed=0)
    planner = OnlineListScheduler("etf")
    planner.reset(env.sim)
    peak = 0
    sim = env.sim

    def decide(s):
        nonlocal peak
        peak = max(peak, len(s.open_jobs))
        return planner.decide(s)

    sim.run(decide)
    assert peak <= 3 and sim.n_finished_jobs == 30
    # latency counts from the arrival, admission wait included
    assert env.validate_solution(sim.solution()) == pytest.approx(sim.metrics()["avg_latency"])


def test_max_nodes_smaller_than_the_system_keeps_ready_tasks() -> None:
    env = SoCDAGEnv(mix="wifi", n_jobs=20, mean_interarrival_us=20.0, max_nodes=40)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(300):
        assert int(obs["n_nodes"][0]) <= 40
        legal = _legal(obs)
        obs, _, term, _, _ = env.step(int(legal[rng.integers(legal.size)]))
        if term:
            break


def test_a_small_edge_budget_drops_edges_instead_of_failing() -> None:
    env = SoCDAGEnv(mix="wifi", n_jobs=20, mean_interarrival_us=20.0, max_edges=30)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    full = 0
    for _ in range(500):
        assert int(obs["n_edges"][0]) <= 30
        full += int(obs["n_edges"][0]) == 30
        legal = _legal(obs)
        obs, _, term, _, _ = env.step(int(legal[rng.integers(legal.size)]))
        if term:
            break
    assert full > 0  # the budget was hit and the episode went on


# ----------------------------------------------------------------------------- baselines and generator
def test_online_rules_and_static_plans_on_a_batch() -> None:
    env = gym.make(ID, soc="ds3_16pe_head", jobs=["wifi_tx", "wifi_rx", "range_detection"], reward="makespan")
    results = {}
    for name in ("etf", "eft", "met", "stf", "heft-rt", "heft", "peft", "random"):
        res = run_episode(env, make_policy(name, env_id=ID), seed=0)
        assert res.validated_objective == pytest.approx(res.objective)
        results[name] = res.objective
    assert results["heft"] <= results["random"]
    # a static plan is replayed exactly without noise
    res = run_episode(env, make_policy("heft", env_id=ID), seed=0)
    assert res.objective == res.extra["planned_makespan"]


def test_met_sends_ffts_to_the_accelerators() -> None:
    env = SoCDAGEnv(soc="ds3_16pe_head", jobs=["wifi_tx"], reward="makespan")
    env.reset(seed=0)
    planner = OnlineListScheduler("met")
    planner.reset(env.sim)
    env.sim.run(planner.decide)
    sim = env.sim
    for g in range(sim.n_tasks):
        if sim.apps[0].task_types[sim.t_k[g]].startswith("ifft"):
            assert sim.soc.pe_clusters[sim.t_pe[g]] == "FFT"


def test_topcuoglu_generator_is_seeded_and_well_formed() -> None:
    gen = TopcuogluGenerator(n_tasks=40, alpha=0.5, out_degree=3, ccr=5.0, beta=1.0, n_pes=5)
    a1, s1 = gen(np.random.default_rng(7))
    a2, s2 = gen(np.random.default_rng(7))
    assert np.array_equal(a1.edges, a2.edges) and s1.exec_time == s2.exec_time
    assert a1.n_tasks == 40 and s1.n_pes == 5 and len(a1.topo_order) == 40
    w = np.array([[s1.exec_time[t][c] for c in s1.clusters] for t in a1.task_types])
    ccr = a1.volumes.mean() / w.mean()
    assert 2.0 < ccr < 10.0  # about 5
    env = gym.make(ID, random_dag={"n_tasks": 20, "n_pes": 3, "ccr": 1.0})
    for name in ("heft", "peft", "etf"):
        res = run_episode(env, make_policy(name, env_id=ID), seed=3)
        assert res.validated_objective == pytest.approx(res.objective)


# ----------------------------------------------------------------------------- suites, eval, render
def test_suite_references() -> None:
    case = {"name": "wifi_rx", "group": "ds3_16pe_head", "env_kwargs": {"soc": "ds3_16pe_head", "jobs": ["wifi_rx"]}}
    assert reference(case)["value"] == 288.0
    assert reference({"env_kwargs": {"soc": "ds3_16pe_head", "jobs": ["wifi_rx"], "noise": 0.2}}) is None
    assert "not proven" in reference({"env_kwargs": {"soc": "ds3_16pe_paper", "jobs": ["pulse_doppler"]}})["source"]


def test_eval_cli_on_the_topcuoglu_suite(tmp_path: Path) -> None:
    from schedgym.eval.cli import main

    out = tmp_path / "ev"
    rc = main(["suite=soc-topcuoglu", "policies=[heft,etf,met]", f"out={out}", "progress=false",
               "print_leaderboard=false"])
    assert rc == 0
    import csv

    rows = {r["policy"]: r for r in csv.DictReader((out / "results.csv").open())}
    assert float(rows["heft"]["objective"]) == 80 and rows["heft"]["validated"] == "True"
    assert float(rows["heft"]["gap"]) == pytest.approx((80 - 73) / 73)  # to CP-SAT's proven optimum
    assert float(rows["met"]["objective"]) == 89
    assert "soc-topcuoglu" in (out / "leaderboard.md").read_text()


def test_streaming_plot_and_gantt(tmp_path: Path) -> None:
    import pandas as pd

    from schedgym.agents.soc.plots import streaming_plots

    rows = []
    for noise in (0.0, 0.2):
        for ia in (400.0, 200.0):
            for policy in ("etf", "met"):
                rows.append({"suite": "soc-streaming", "group": f"noise={noise:g}", "case": f"{1000 / ia:.1f} jobs/ms",
                             "policy": policy, "error": "", "objective": 1.0, "m.avg_latency": ia,
                             "m.p95_latency": 2 * ia})
    paths = streaming_plots(pd.DataFrame(rows), tmp_path)
    assert any(p.name.endswith("latency-vs-rate.png") for p in paths)
    assert any("gantt" in p.name and p.stat().st_size > 1000 for p in paths)
    env = SoCDAGEnv(render_mode="rgb_array")
    env.reset(seed=0)
    assert env.render().shape[2] == 3


def test_bench_rows_quick() -> None:
    from schedgym.agents.soc.bench import bench_rows

    rows = bench_rows(quick=True)
    assert all(r["value"] > 0 for r in rows)
    assert any("tasks/s" in r["measure"] for r in rows) and any("decisions/s" in r["measure"] for r in rows)
