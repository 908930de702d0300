"""``SoCDAG-v0``'s observation against a straightforward reference computation.

The env builds its observation incrementally and vectorized (``envs/soc/env.py``); this test recomputes
every node feature, the mask, the globals and the edge set from the simulator's public state with plain
Python loops written from the documented semantics (``docs/soc.md``, "The environment"), at every step
of seeded random episodes (both steps of an assignment, waits, the terminal observation), and checks
that the padding beyond ``n_nodes`` / ``n_edges`` is all zeros (no stale rows from earlier steps).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from schedgym.envs.soc.env import GLOBAL_FEATURES, NODE_FEATURES, SoCDAGEnv
from schedgym.envs.soc.instance import PE_KINDS
from schedgym.envs.soc.simulator import ASSIGNED, DONE, READY, SoCSimulator

F = {name: i for i, name in enumerate(NODE_FEATURES)}
STATE_COLUMN = {0: "task_waiting", READY: "task_ready", ASSIGNED: "task_assigned"}


def _task_order(env: SoCDAGEnv) -> list[int]:
    """Unfinished tasks of the admitted jobs (admission order, then task order); when ``max_nodes`` is
    smaller, the ready tasks first, then the others in that order, cut to fit, back in that order."""
    sim = env.sim
    tasks = [g for j in sim.open_jobs for g in range(sim.job_base[j], sim.job_base[j + 1])
             if sim.t_state[g] != DONE]
    if len(tasks) > env.max_task_nodes:
        pos = {g: i for i, g in enumerate(tasks)}
        ranked = [g for g in tasks if sim.t_state[g] == READY] + [g for g in tasks if sim.t_state[g] != READY]
        tasks = sorted(ranked[:env.max_task_nodes], key=pos.__getitem__)
    return tasks


def _reference(env: SoCDAGEnv) -> dict[str, Any]:
    """The phase-0 observation recomputed from the simulator: (nodes, mask, types, globals, edge set)."""
    sim: SoCSimulator = env.sim
    P, T, now = env.n_pes, env.T, sim.now
    N = env.max_nodes
    x = np.zeros((N, len(NODE_FEATURES)), np.float64)
    mask = np.zeros(N, np.int8)
    ntype = np.zeros(N, np.int64)
    edges: list[tuple[int, int, int]] = []
    glob = np.zeros(len(GLOBAL_FEATURES), np.float64)
    free = [bool(sim.free_mask >> p & 1) for p in range(P)]
    x[0, F["is_wait"]] = 1.0
    for p, kind in enumerate(sim.soc.pe_kinds):
        ntype[1 + p] = 1
        x[1 + p, F["is_pe"]] = 1.0
        x[1 + p, F[f"pe_{kind}"]] = 1.0
    if sim.done:
        mask[0] = 1
        return {"x": x, "mask": mask, "type": ntype, "globals": glob, "edges": edges, "n_nodes": 1 + P}
    tasks = _task_order(env)
    node = {g: 1 + P + i for i, g in enumerate(tasks)}
    ready = [g for g in tasks if sim.t_state[g] == READY]
    supports = {g: [p for p in range(P) if math.isfinite(sim.expected_time(g, p))] for g in tasks}
    for g in tasks:
        n = node[g]
        ntype[n] = 2
        j, k = sim.t_job[g], sim.t_k[g]
        tbl = sim.tables[sim.job_app[j]]
        row = x[n]
        row[F["is_task"]] = 1.0
        row[F[STATE_COLUMN[sim.t_state[g]]]] = 1.0
        times = [sim.expected_time(g, p) for p in supports[g]]
        row[F["time_min"]] = min(times) / T
        row[F["time_mean"]] = sum(times) / len(times) / T
        for kind in PE_KINDS:
            of_kind = [sim.expected_time(g, p) for p in supports[g] if sim.soc.pe_kinds[p] == kind]
            row[F[f"time_{kind}"]] = min(of_kind) / T if of_kind else 0.0
        row[F["supported_share"]] = len(supports[g]) / P
        row[F["rank_up"]] = tbl.rank_up[k] / T
        row[F["job_age"]] = (now - sim.job_arrival[j]) / T
        size = sim.job_base[j + 1] - sim.job_base[j]
        done = sum(sim.t_state[h] == DONE for h in range(sim.job_base[j], sim.job_base[j + 1]))
        row[F["job_progress"]] = done / size
        if sim.t_state[g] == READY:
            dr = {p: sim.data_ready(g, p) for p in supports[g]}
            legal = any(free[p] for p in supports[g])
            row[F["legal"]] = float(legal)
            mask[n] = int(legal)
            row[F["data_wait"]] = max(min(dr.values()) - now, 0.0) / T
            avail = {p: now if free[p] else max(sim.pe_expected_end[p], now) for p in supports[g]}
            eft = {p: max(dr[p], avail[p]) + sim.expected_time(g, p) for p in supports[g]}
            eft_free = [eft[p] for p in supports[g] if free[p]]
            row[F["eft_free"]] = min((min(eft_free) - now) / T, 20.0) if eft_free else 20.0
            row[F["eft_any"]] = min((min(eft.values()) - now) / T, 20.0)
            fastest = min(sim.expected_time(g, p) for p in supports[g])
            for p in supports[g]:
                edges.append((n, 1 + p, 2 if sim.expected_time(g, p) <= fastest + 1e-9 else 3))
            base = sim.job_base[j]
            for p in {sim.t_pe[base + ku] for ku, _ in tbl.preds[k]}:
                edges.append((1 + p, n, 5))
        elif sim.t_state[g] == ASSIGNED:
            edges.append((n, 1 + sim.t_pe[g], 4))
    for j in sim.open_jobs:
        tbl, base = sim.tables[sim.job_app[j]], sim.job_base[j]
        for (u, v), vol in zip(tbl.app.edges.tolist(), tbl.app.volumes.tolist()):
            if base + u in node and base + v in node:
                edges.append((node[base + u], node[base + v], 0 if vol > 0 else 1))
    for p in range(P):
        runs = [g for g in ready if p in supports[g]]
        legal = free[p] and bool(runs)
        x[1 + p, F["legal"]] = float(legal)
        mask[1 + p] = int(legal)
        x[1 + p, F["pe_busy"]] = float(not free[p])
        x[1 + p, F["pe_busy_until"]] = 0.0 if free[p] else max(sim.pe_expected_end[p] - now, 0.0) / T
        x[1 + p, F["pe_ready_share"]] = len(runs) / len(ready) if ready else 0.0
    can_wait = bool(sim._heap) or sim.next_job < sim.n_jobs
    mask[0] = int(can_wait)
    x[0, F["legal"]] = float(can_wait)
    cap = env.max_jobs_in_system or sim.n_jobs
    glob[1] = len(sim.open_jobs) / cap
    glob[2] = len(sim.admission) / cap
    glob[3] = len(sim.ready) / P
    glob[4] = sum(free) / P
    glob[5] = (sim.n_jobs - sim.next_job) / sim.n_jobs
    glob[6] = env._offered_load
    glob[7] = env.noise
    return {"x": x, "mask": mask, "type": ntype, "globals": glob, "edges": edges, "n_nodes": 1 + P + len(tasks)}


def _second_step(env: SoCDAGEnv, ref: dict[str, Any]) -> dict[str, Any]:
    """The reference of the second step: the same graph, the chosen node marked, only the other halves of
    its pairs legal (with their pair's expected finish)."""
    sim, P, T, now = env.sim, env.n_pes, env.T, env.sim.now
    x, mask, glob = ref["x"].copy(), np.zeros_like(ref["mask"]), ref["globals"].copy()
    x[:, F["legal"]] = 0.0
    glob[0] = 1.0
    free = [bool(sim.free_mask >> p & 1) for p in range(P)]
    if env.chosen_task >= 0:
        g = env.chosen_task
        x[env.task_node(g), F["selected"]] = 1.0
        pairs = [(1 + p, g, p) for p in range(P) if free[p] and math.isfinite(sim.expected_time(g, p))]
    else:
        p = env.chosen_pe
        x[1 + p, F["selected"]] = 1.0
        pairs = [(env.task_node(g), g, p) for g in sim.ready
                 if env.task_node(g) >= 0 and math.isfinite(sim.expected_time(g, p))]
    for n, g, p in pairs:
        mask[n] = 1
        x[n, F["legal"]] = 1.0
        x[n, F["pair_eft"]] = (max(sim.data_ready(g, p), now) + sim.expected_time(g, p) - now) / T
    return {**ref, "x": x, "mask": mask, "globals": glob}


def _check(obs: dict[str, np.ndarray], ref: dict[str, Any], where: str) -> None:
    n, e = int(obs["n_nodes"][0]), int(obs["n_edges"][0])
    assert n == ref["n_nodes"], where
    np.testing.assert_allclose(obs["nodes"], ref["x"].astype(np.float32), rtol=1e-6, atol=1e-6, err_msg=where)
    np.testing.assert_array_equal(obs["action_mask"], ref["mask"], err_msg=where)
    np.testing.assert_array_equal(obs["node_type"], ref["type"], err_msg=where)
    np.testing.assert_allclose(obs["globals"], ref["globals"].astype(np.float32), rtol=1e-6, err_msg=where)
    got = sorted(zip(obs["edge_index"][0, :e].tolist(), obs["edge_index"][1, :e].tolist(), obs["edge_type"][:e].tolist()))
    assert got == sorted(ref["edges"]), where
    assert not obs["edge_index"][:, e:].any() and not obs["edge_type"][e:].any(), f"{where}: stale edge padding"


CASES = {
    "ds3 default": {},
    "wifi stream, noise, admission queue": {"mix": "wifi", "n_jobs": 14, "mean_interarrival_us": 30.0, "noise": 0.3,
                                            "max_jobs_in_system": 4},
    "batch": {"jobs": ["wifi_tx", "wifi_rx", "range_detection"], "reward": "makespan"},
    "few nodes (ready tasks first)": {"mix": "wifi", "n_jobs": 8, "mean_interarrival_us": 20.0, "max_nodes": 40},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_observation_equals_the_reference_at_every_step(case: str) -> None:
    env = SoCDAGEnv(**CASES[case])
    rng = np.random.default_rng(7)
    steps = 0
    for seed in range(2):
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            ref = _reference(env) if env.phase == 0 else _second_step(env, _reference(env))
            _check(obs, ref, f"{case}, seed {seed}, step {steps} (phase {env.phase})")
            legal = np.flatnonzero(obs["action_mask"])
            obs, _, term, trunc, _ = env.step(int(legal[rng.integers(legal.size)]))
            done = term or trunc
            steps += 1
        _check(obs, _reference(env), f"{case}, seed {seed}, terminal observation")
    assert steps > 50
