"""schedgym/VMReschedule-v0: the contract, the two stages, rewards, errors, the validator."""

from __future__ import annotations

import copy

import gymnasium as gym
import gymnasium.utils.env_checker as env_checker
import numpy as np
import pytest

import schedgym.envs  # noqa: F401  (registers the ids)
from schedgym.envs import testing
from schedgym.envs.core import IllegalActionError
from schedgym.envs.vm.env import NODE_FEATURES, VMRescheduleEnv
from schedgym.envs.vm.generator import generate
from schedgym.envs.vm.validate import SolutionError, validate_solution

ENV_ID = "schedgym/VMReschedule-v0"


def test_contract_checks() -> None:
    f = lambda: VMRescheduleEnv()  # noqa: E731
    testing.check_determinism(f)
    testing.check_pickling(f)
    testing.check_illegal_action(f)
    assert testing.check_random_masked_steps(f, n_steps=4000) > 50


def test_gymnasium_check_env_with_reset_before_sampling(monkeypatch) -> None:
    """Gymnasium's check_env, with its step-determinism check sampling after the reset it steps from.

    Gymnasium's own version samples the action *before* ``reset(seed=123)``; with two-stage masks the
    node it draws (a destination NUMA node, if the previous step chose a VM) is not legal at stage 0 of
    the new episode. Everything else in check_env runs unchanged."""
    original = env_checker.check_step_determinism

    def reset_then_check(env, seed=123):
        env.reset(seed=seed)
        return original(env, seed)

    monkeypatch.setattr(env_checker, "check_step_determinism", reset_then_check)
    testing.check_gymnasium_api(ENV_ID)


def test_registered_and_names() -> None:
    env = gym.make(ENV_ID)
    assert env.unwrapped.objective.name == "fragment_rate" and env.unwrapped.objective.sense == "min"
    assert env.unwrapped.graph_spec.node_feature_names == NODE_FEATURES


def test_two_stages_masks_and_return() -> None:
    env = VMRescheduleEnv(mnl=6, reward_scale=10.0)
    obs, info = env.reset(seed=4)
    fr0 = env.state.fr()
    total = 0.0
    rng = np.random.default_rng(0)
    while True:
        legal = np.flatnonzero(obs["action_mask"])
        if env.stage == 0:
            assert obs["action_mask"][0] == 1 and obs["globals"][0] == 0.0
            kinds = {env.decode(int(a))[0] for a in legal}
            assert kinds <= {"stop", "vm"}
            legal = legal[legal != 0]
        else:
            assert {env.decode(int(a))[0] for a in legal} == {"numa"} and obs["globals"][0] == 1.0
            assert obs["n_edges"][0] > 0
        a = int(legal[rng.integers(legal.size)])
        obs, r, term, trunc, info = env.step(a)
        total += r
        if term:
            break
    assert info["metrics"]["migrations"] == 6
    assert total == pytest.approx(10.0 * (fr0 - info["metrics"]["fragment_rate"]))
    assert env.validate_solution(info["solution"]) == pytest.approx(info["metrics"]["fragment_rate"])


def test_stop_ends_episode_and_mnl_zero() -> None:
    env = VMRescheduleEnv(mnl=0)
    obs, _ = env.reset(seed=0)
    assert np.flatnonzero(obs["action_mask"]).tolist() == [0]
    _, _, term, _, info = env.step(0)
    assert term and info["solution"]["migrations"] == [] and info["metrics"]["fragment_rate"] == info["metrics"]["fragment_rate_initial"]


def test_illegal_migration_error_names_vm_destination_and_why() -> None:
    env = VMRescheduleEnv()
    obs, _ = env.reset(seed=1)
    st = env.state
    v = int(np.flatnonzero(st.has_destination())[0])
    env.step(env.vm_node(v))
    # its own node (no-op) and a node without room
    p0 = int(st.vm_pm[v])
    own = env.numa_node(p0, 0 if st.double[v] else int(st.vm_numa[v]))
    with pytest.raises(IllegalActionError, match=rf"illegal action {own}: VM '{st.snapshot.vm_ids[v]}'.*no-op"):
        env.step(own)
    room = (st.free_cpu < st.dem_cpu[v]) & st.numa_active
    room[p0] = False  # not its own PM (that is a no-op or a flip)
    full = np.argwhere(room)
    if full.size:
        p, k = map(int, full[0])
        with pytest.raises(IllegalActionError, match=rf"needs {int(st.dem_cpu[v])} cores.*PM '{st.snapshot.pm_ids[p]}'"):
            env.step(env.numa_node(p, k))
    with pytest.raises(IllegalActionError, match="stage 1 picks a destination"):
        env.step(0)


def test_anti_affinity_masked_and_validated() -> None:
    env = VMRescheduleEnv(generator_kwargs={"anti_affinity_groups": 6, "group_size": (2, 3)}, mnl=10)
    obs, _ = env.reset(seed=2)
    st = env.state
    for gran, members in st.groups:
        for v in members.tolist():
            others = members[members != v]
            mask = st.dest_mask(v)
            assert not mask[st.vm_pm[others]].any()
    # the validator rejects a move onto a member's host
    gran, members = st.groups[0]
    a, b = int(members[0]), int(members[1])
    s = st.snapshot
    sol = {"snapshot": s.name, "mnl": 10, "migrations": [{
        "vm": s.vm_ids[a], "from_pm": s.pm_ids[st.vm_pm[a]],
        "from_numa": [0, 1] if st.double[a] else [int(st.vm_numa[a])],
        "to_pm": s.pm_ids[st.vm_pm[b]], "to_numa": [0, 1] if st.double[a] else [0]}]}
    with pytest.raises(SolutionError, match="anti-affinity|cores"):
        validate_solution(s, sol)
    assert testing.check_random_masked_steps(
        lambda: VMRescheduleEnv(generator_kwargs={"anti_affinity_groups": 6}), n_steps=1500) > 5


def test_validator_rejects_tampering() -> None:
    env = VMRescheduleEnv(mnl=5)
    obs, info = env.reset(seed=3)
    rng = np.random.default_rng(1)
    while True:
        legal = np.flatnonzero(obs["action_mask"])
        legal = legal[legal != 0] if legal.size > 1 else legal
        obs, _, term, _, info = env.step(int(legal[rng.integers(legal.size)]))
        if term:
            break
    sol = info["solution"]
    assert env.validate_solution(sol) == pytest.approx(sol["fragment_rate"])
    bad = copy.deepcopy(sol)
    bad["fragment_rate"] += 0.01
    with pytest.raises(SolutionError, match="reported FR"):
        env.validate_solution(bad)
    bad = copy.deepcopy(sol)
    bad["migrations"] = bad["migrations"] * 2
    with pytest.raises(SolutionError, match="exceed|reports source|no-op"):
        env.validate_solution(bad)
    bad = copy.deepcopy(sol)
    bad["migrations"][0]["to_pm"] = bad["migrations"][0]["from_pm"]
    bad["migrations"][0]["to_numa"] = bad["migrations"][0]["from_numa"]
    with pytest.raises(SolutionError, match="no-op"):
        env.validate_solution(bad)
    snap = env.snapshot
    frozen = snap.to_dict()
    frozen["vms"] = [dict(v, migratable=False) if v["id"] == sol["migrations"][0]["vm"] else v for v in frozen["vms"]]
    with pytest.raises(SolutionError, match="does not allow migration"):
        validate_solution(frozen, sol)


def test_snapshot_kwarg_and_reset_option(tmp_path) -> None:
    snap = generate("small", seed=11)
    env = VMRescheduleEnv(snapshot=snap, mnl=3)
    obs, _ = env.reset(seed=0)
    assert env.state.n_vms == snap.n_vms and obs["n_nodes"][0] == 1 + 2 * snap.n_pms + snap.n_vms
    env2 = VMRescheduleEnv(mnl=3)
    env2.reset(seed=0, options={"snapshot": generate("small", seed=11, max_vms=env2.max_vms)})
    assert env2.state.fr0 == pytest.approx(snap.fragment_rate())
    with pytest.raises(ValueError, match="max_pms"):
        env2.reset(options={"snapshot": generate("small", seed=1, n_pms=40)})
    with pytest.raises(ValueError, match="mnl"):
        VMRescheduleEnv(mnl=-1)
    with pytest.raises(ValueError, match="preset"):
        VMRescheduleEnv(preset="huge")


def test_mnl_fraction_and_render() -> None:
    env = VMRescheduleEnv(mnl=None, mnl_fraction=0.03, render_mode="rgb_array")
    env.reset(seed=0)
    assert env.mnl == round(0.03 * env.state.n_vms)
    img = env.render()
    assert img.ndim == 3 and img.shape[2] == 3 and img.std() > 0
    with pytest.raises(ValueError, match="render_mode"):
        VMRescheduleEnv(render_mode="human")


def test_observation_rows_update_in_place_consistently() -> None:
    """After moves, the NUMA rows written incrementally equal a from-scratch rebuild."""
    env = VMRescheduleEnv(mnl=8)
    obs, _ = env.reset(seed=6)
    rng = np.random.default_rng(2)
    for _ in range(12):
        legal = np.flatnonzero(obs["action_mask"])
        legal = legal[legal != 0] if legal.size > 1 else legal
        obs, _, term, _, _ = env.step(int(legal[rng.integers(legal.size)]))
        if term:
            break
    nodes = obs["nodes"].copy()
    env._build_static()
    env._refresh()
    fresh = env.graph.snapshot()
    cols = [NODE_FEATURES.index(c) for c in ("free_cpu", "free_mem", "frag", "slots16", "pm_free_cpu", "release_gain")]
    np.testing.assert_allclose(nodes[:, cols], fresh["nodes"][:, cols], atol=1e-6)
    np.testing.assert_array_equal(obs["edge_index"][:, :env._base_edges], fresh["edge_index"][:, :env._base_edges])


def test_rack_anti_affinity() -> None:
    kw = {"anti_affinity_groups": 4, "affinity_granularity": "rack", "pms_per_rack": 4, "group_size": (2, 3)}
    env = VMRescheduleEnv(generator_kwargs=kw, mnl=10)
    env.reset(seed=0)
    st = env.state
    assert st.groups and all(g == "rack" for g, _ in st.groups)
    for _, members in st.groups:
        for v in members.tolist():
            others = members[members != v]
            racks = st.pm_rack[st.vm_pm[others]]
            banned = np.isin(st.pm_rack, racks)
            assert not st.dest_mask(v)[banned].any()
            for p in np.flatnonzero(banned)[:3]:
                assert st.why_illegal(v, int(p), 0) is not None
    # a destination with room on a banned rack is refused for the anti-affinity reason
    found = False
    for _, members in st.groups:
        for v in members.tolist():
            if st.double[v]:
                continue
            others = members[members != v]
            room = (st.free_cpu >= st.dem_cpu[v]) & np.isin(st.pm_rack, st.pm_rack[st.vm_pm[others]])[:, None]
            room[st.vm_pm[v]] = False
            for p, k in np.argwhere(room)[:1]:
                assert "anti-affinity (rack)" in st.why_illegal(v, int(p), int(k))
                found = True
    assert found
    assert testing.check_random_masked_steps(lambda: VMRescheduleEnv(generator_kwargs=kw), n_steps=1500) > 5
