"""Who owns an observation (schedgym.envs.core): by default every returned observation is the caller's
own and never changes; with ``copy_obs=False`` observations are read-only views of the live arrays
(valid until the next step / reset), the terminal one excepted. Both modes give the same values, for
every registered id."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest

import schedgym.envs  # noqa: F401
from schedgym.envs.core import OBS_KEYS, GraphObservation, GraphSpec
from schedgym.envs.jobshop.env import JobShopEnv

ENV_IDS = [env_id for env_id in gym.registry if env_id.startswith("schedgym/")]


def _copy(obs: dict) -> dict:
    return {k: np.array(v, copy=True) for k, v in obs.items()}


def _equal(a: dict, b: dict) -> bool:
    return all(np.array_equal(a[k], b[k]) for k in OBS_KEYS)


def _legal(obs: dict, rng: np.random.Generator) -> int:
    legal = np.flatnonzero(obs["action_mask"])
    return int(legal[rng.integers(legal.size)])


def test_default_observations_are_the_callers_and_never_change() -> None:
    env = JobShopEnv(instance="ft06")
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=0)
    kept = [(obs, _copy(obs), info["action_mask"].copy())]
    done = False
    while not done:
        obs, _, done, _, info = env.step(_legal(obs, rng))
        kept.append((obs, _copy(obs), info["action_mask"].copy()))
    env.reset(seed=1)  # a reset must not touch them either
    g = env.graph
    live = [g.nodes, g.node_type, g.edge_index, g.edge_type, g.action_mask, g.globals]
    for returned, at_the_time, mask in kept:
        assert _equal(returned, at_the_time)
        for k in OBS_KEYS:
            assert returned[k].flags.writeable  # the caller's to change ...
            assert not any(np.shares_memory(returned[k], a) for a in live)  # ... without touching the env
    # observations do not share arrays with each other either
    assert not np.shares_memory(kept[0][0]["node_type"], kept[1][0]["node_type"])


def test_copy_obs_false_hands_out_read_only_live_views() -> None:
    env = JobShopEnv(instance="ft06", copy_obs=False)
    obs, info = env.reset(seed=0)
    g = env.graph
    for k in OBS_KEYS:
        assert not obs[k].flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            obs[k][...] = 0
    assert np.shares_memory(obs["nodes"], g.nodes) and np.shares_memory(obs["action_mask"], g.action_mask)
    assert info["action_mask"] is obs["action_mask"]  # info's mask follows the observation: the live view
    first = obs
    obs2, _, _, _, _ = env.step(int(np.flatnonzero(obs["action_mask"])[0]))
    # live: the first observation now shows the second state (documented: copy what you keep)
    assert _equal(first, obs2) and first["nodes"] is obs2["nodes"]
    assert int(first["n_edges"][0]) == g.n_edges and int(first["n_nodes"][0]) == g.n_nodes


def test_copy_obs_false_terminal_observation_is_a_copy_that_survives_reset() -> None:
    env = JobShopEnv(instance="ft06", copy_obs=False)
    rng = np.random.default_rng(1)
    obs, _ = env.reset(seed=0)
    done = False
    while not done:
        obs, _, done, _, info = env.step(_legal(obs, rng))
    final = _copy(obs)
    assert info["action_mask"] is not obs["action_mask"]
    assert not np.shares_memory(info["action_mask"], env.graph.action_mask)
    assert all(obs[k].flags.writeable and not np.shares_memory(obs[k], env.graph.nodes) for k in OBS_KEYS)
    assert not obs["action_mask"].any() and int(obs["n_edges"][0]) == 30 + 30  # ft06: 30 job + 30 machine arcs
    env.reset(seed=1)
    assert _equal(obs, final)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_copy_obs_false_gives_the_same_observations_for_every_id(env_id: str) -> None:
    """The same seeded episodes in both modes: equal observations, rewards and metrics at every step."""
    ref, live = gym.make(env_id), gym.make(env_id)
    live.unwrapped.copy_obs = False
    rng = np.random.default_rng(7)
    for seed in (0, 1):
        oa, _ = ref.reset(seed=seed)
        ob, _ = live.reset(seed=seed)
        for _ in range(3000):
            assert _equal(oa, ob)
            assert not ob["nodes"].flags.writeable
            a = _legal(oa, rng)
            oa, ra, ta, tra, ia = ref.step(a)
            ob, rb, tb, trb, ib = live.step(a)
            assert (ra, ta, tra) == (rb, tb, trb)
            np.testing.assert_array_equal(ia["action_mask"], ib["action_mask"])
            if ta or tra:
                assert _equal(oa, ob) and ob["nodes"].flags.writeable  # the terminal one is a copy
                assert ia["metrics"] == ib["metrics"]
                break


def test_copy_obs_false_survives_pickling() -> None:
    """Unpickled, the read-only views point at the clone's own live arrays (not at stale copies)."""
    env = JobShopEnv(instance="ft06", copy_obs=False)
    obs, _ = env.reset(seed=3)
    rng = np.random.default_rng(3)
    for _ in range(4):
        obs, *_ = env.step(_legal(obs, rng))
    clone = pickle.loads(pickle.dumps(env))
    assert clone.copy_obs is False
    done = False
    while not done:
        a = _legal(obs, rng)
        o1, _, done, _, i1 = env.step(a)
        o2, _, _, _, i2 = clone.step(a)
        assert _equal(o1, o2) and _equal(o2, clone.graph.snapshot())
        assert done or np.shares_memory(o2["nodes"], clone.graph.nodes)
        obs = _copy(o1)
    # the simulator's own memoryview (start times) was rebuilt onto the clone's array too
    assert i1["solution"] == i2["solution"] and clone.validate_solution(i2["solution"]) == i2["metrics"]["makespan"]
    assert (clone.state.start >= 0).all() and not np.shares_memory(clone.state.start, env.state.start)


def test_copy_obs_false_under_a_vector_env_matches_the_default() -> None:
    """Vector envs copy each sub-env's observation into their own buffers, so live views are safe there,
    across autoresets too."""
    kw = {"instance": "ft06", "num_envs": 2, "vectorization_mode": "sync"}
    ref = gym.make_vec("schedgym/JobShop-v0", **kw)
    live = gym.make_vec("schedgym/JobShop-v0", copy_obs=False, **kw)
    try:
        oa, _ = ref.reset(seed=0)
        ob, _ = live.reset(seed=0)
        rng = np.random.default_rng(0)
        for _ in range(100):  # ft06 episodes are 36 steps: several autoresets
            assert _equal(oa, ob)
            # a terminal observation has no legal action: the action after it is ignored (NEXT_STEP autoreset)
            actions = np.array([_legal({"action_mask": m}, rng) if m.any() else 0 for m in oa["action_mask"]])
            oa, ra, ta, _, _ = ref.step(actions)
            ob, rb, tb, _, _ = live.step(actions)
            np.testing.assert_array_equal(ra, rb)
            np.testing.assert_array_equal(ta, tb)
    finally:
        ref.close()
        live.close()


def test_copy_obs_must_be_a_bool() -> None:
    with pytest.raises(ValueError, match="copy_obs"):
        JobShopEnv(instance="ft06", copy_obs="no")


def test_graph_observation_view_and_snapshot() -> None:
    g = GraphObservation(GraphSpec(max_nodes=4, max_edges=3, node_features=2, n_node_types=1, n_edge_types=1,
                                   global_features=1))
    g.nodes[1, 0] = 2.0
    g.n_nodes = 2
    g.add_edges(0, 1, 0)
    v, s = g.view(), g.snapshot()
    assert _equal(v, s) and v is not g.view() and v["nodes"] is g.view()["nodes"]
    assert v["n_nodes"].tolist() == [2] and v["n_edges"].tolist() == [1]
    g.nodes[1, 0] = 3.0
    g.n_edges = 0
    assert v["nodes"][1, 0] == 3.0 and v["n_edges"].tolist() == [1]  # counts are written when handed out
    assert g.view()["n_edges"].tolist() == [0] and v["n_edges"].tolist() == [0]
    assert s["nodes"][1, 0] == 2.0 and s["n_edges"].tolist() == [1]  # the snapshot is its own
