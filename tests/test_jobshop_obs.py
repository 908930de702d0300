"""JobShop-v0's observation plumbing: recycled snapshot buffers (RecyclingGraphObservation), the per-instance
episode start that resets copy back, JobShopState.fresh, and info's mask being the observation's own.

Every check compares values; none depends on speed."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from schedgym.envs.core import OBS_KEYS, EpisodeOverError, GraphObservation, GraphSchedulingEnv, IllegalActionError
from schedgym.envs.jobshop.env import JobShopEnv, RecyclingGraphObservation
from schedgym.envs.jobshop.state import JobShopState
from schedgym.envs.jobshop.taillard import taillard_instance


class PlainJobShopEnv(JobShopEnv):
    """The same env on the base class's observation (a fresh copy of each array per snapshot)."""

    graph_class = GraphObservation


def _copy(obs: dict) -> dict:
    return {k: np.array(v, copy=True) for k, v in obs.items()}


def _equal(a: dict, b: dict) -> bool:
    return all(a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and np.array_equal(a[k], b[k]) for k in OBS_KEYS)


def _first_legal(obs: dict) -> int:
    return int(np.flatnonzero(obs["action_mask"])[0])


def _random_legal(obs: dict, rng: np.random.Generator) -> int:
    legal = np.flatnonzero(obs["action_mask"])
    return int(legal[rng.integers(legal.size)])


def test_recycled_observations_equal_the_base_class_copies_at_every_step() -> None:
    fast, plain = JobShopEnv(instance="ft06"), PlainJobShopEnv(instance="ft06")
    assert isinstance(fast.graph, RecyclingGraphObservation) and type(plain.graph) is GraphObservation
    rng = np.random.default_rng(0)
    for seed in (0, 1, 2):  # several episodes: resets go through the episode start copied back
        oa, ia = fast.reset(seed=seed)
        ob, ib = plain.reset(seed=seed)
        done = False
        while True:
            assert _equal(oa, ob) and np.array_equal(ia["action_mask"], ib["action_mask"])
            assert fast.observation_space.contains(oa)
            if done:
                assert ia["metrics"] == ib["metrics"] and ia["solution"] == ib["solution"]
                break
            a = _random_legal(oa, rng)
            oa, ra, done, _, ia = fast.step(a)
            ob, rb, _, _, ib = plain.step(a)
            assert ra == rb


def test_a_kept_observation_never_changes_and_a_dropped_one_is_reused() -> None:
    env = JobShopEnv(instance="ft06")
    obs, _ = env.reset(seed=0)
    kept = []
    buffers = set()
    step = 0
    while True:
        buffers.add(obs["nodes"].base.ctypes.data)
        if step % 7 == 0:
            kept.append((obs, _copy(obs)))  # the caller keeps these
        obs, _, done, _, _ = env.step(_first_legal(obs))
        step += 1
        if done:
            break
    env.reset(seed=1)
    for returned, at_the_time in kept:
        assert _equal(returned, at_the_time)
    g = env.graph
    live = [g.nodes, g.node_type, g.edge_index, g.edge_type, g.action_mask, g.globals]
    assert not any(np.shares_memory(obs[k], a) for k in OBS_KEYS for a in live)
    # the dropped observations went back to a few pooled buffers; the kept ones each had their own
    assert len(buffers) <= len(kept) + RecyclingGraphObservation.POOL + 1 < step


def test_any_reference_into_a_dropped_observation_keeps_its_buffer() -> None:
    """A slice, a memoryview or one array taken out of the dict is enough to keep a buffer from reuse."""
    env = JobShopEnv(instance="ft06")
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(_first_legal(obs))
    row = obs["nodes"][3]  # a view of a view: NumPy points it at the buffer itself
    row_then = row.copy()
    mv = memoryview(obs["edge_index"])
    edges_then = np.array(mv, copy=True)
    mask = obs["action_mask"]
    mask_then = mask.copy()
    counts = obs["n_edges"]
    n_edges_then = int(counts[0])
    a = _first_legal(obs)
    del obs
    for _ in range(10):
        o, *_ = env.step(a)
        a = _first_legal(o)
    np.testing.assert_array_equal(row, row_then)
    np.testing.assert_array_equal(np.asarray(mv), edges_then)
    np.testing.assert_array_equal(mask, mask_then)
    assert int(counts[0]) == n_edges_then


def test_a_tensor_or_ctypes_object_sharing_the_memory_keeps_its_buffer() -> None:
    torch = pytest.importorskip("torch")
    env = JobShopEnv(instance="ft06")
    obs, _ = env.reset(seed=0)
    tensor = torch.from_numpy(obs["nodes"])
    raw = np.ctypeslib.as_ctypes(obs["globals"])
    nodes_then, globals_then = obs["nodes"].copy(), obs["globals"].copy()
    a = _first_legal(obs)
    del obs
    for _ in range(10):
        o, *_ = env.step(a)
        a = _first_legal(o)
    np.testing.assert_array_equal(tensor.numpy(), nodes_then)
    np.testing.assert_array_equal(np.ctypeslib.as_array(raw), globals_then)


def test_writing_into_an_observation_touches_neither_the_env_nor_later_observations() -> None:
    env, plain = JobShopEnv(instance="ft06"), PlainJobShopEnv(instance="ft06")
    oa, _ = env.reset(seed=0)
    ob, _ = plain.reset(seed=0)
    for _ in range(12):
        a = _first_legal(oa)
        for k in OBS_KEYS:
            assert oa[k].flags.writeable
            oa[k][...] = 1  # the caller's to change
        oa, *_ = env.step(a)
        ob, *_ = plain.step(a)
        assert _equal(oa, ob)


def test_info_mask_is_the_observations_own_copy() -> None:
    env = JobShopEnv(instance="ft06")
    obs, info = env.reset(seed=0)
    assert info["action_mask"] is obs["action_mask"]
    done = False
    while not done:
        assert not np.shares_memory(info["action_mask"], env.graph.action_mask)
        obs, _, done, _, info = env.step(_first_legal(obs))
        if not done:
            assert info["action_mask"] is obs["action_mask"]
    # the terminal step: a copy of its own, equal to the observation's
    assert info["action_mask"] is not obs["action_mask"]
    np.testing.assert_array_equal(info["action_mask"], obs["action_mask"])


@pytest.mark.parametrize("make", [copy.deepcopy, lambda e: pickle.loads(pickle.dumps(e))])
def test_a_copied_env_has_its_own_buffers(make) -> None:
    env = JobShopEnv(instance="ft06")
    obs, _ = env.reset(seed=4)
    for _ in range(5):
        obs, *_ = env.step(_first_legal(obs))
    clone = make(env)
    assert isinstance(clone.graph, RecyclingGraphObservation)
    g, h = env.graph, clone.graph
    assert not np.shares_memory(g.nodes, h.nodes) and np.shares_memory(h.nodes, h._raw)
    done = False
    while not done:
        a = _first_legal(obs)
        obs, _, done, _, info = env.step(a)
        o2, _, _, _, i2 = clone.step(a)
        assert _equal(obs, o2) and not np.shares_memory(obs["nodes"], o2["nodes"])
    assert info["solution"] == i2["solution"]


@pytest.mark.parametrize("env_class", [JobShopEnv, PlainJobShopEnv])
def test_reset_copies_back_the_start_of_each_instance(env_class: type) -> None:
    """Resets that switch instances (options) give what a fresh env gives, in both directions, with the
    recycled record (restored in one copy) and with the base class's observation (array by array)."""
    six, fifteen = "ft06", taillard_instance("ta01")  # 6x6 and 15x15 (the padding)
    env = env_class(n_jobs=15, n_machines=15)
    for inst in (six, fifteen, six, six, fifteen):
        fresh = env_class(n_jobs=15, n_machines=15)
        oa, _ = env.reset(seed=0, options={"instance": inst})
        ob, _ = fresh.reset(seed=0, options={"instance": inst})
        rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
        for _ in range(20):
            assert _equal(oa, ob)
            oa, *_ = env.step(_random_legal(oa, rng_a))
            ob, *_ = fresh.step(_random_legal(ob, rng_b))
        assert env.state is not fresh.state


def test_a_changed_builder_or_reward_scale_takes_effect_at_the_next_reset() -> None:
    env = JobShopEnv(instance="ft06")
    env.reset(seed=0)
    env.schedule_builder, env.reward_scale = "serial", 1.0
    obs, _ = env.reset(seed=0)
    ref = JobShopEnv(instance="ft06", schedule_builder="serial", reward_scale=1.0)
    ob, _ = ref.reset(seed=0)
    assert env.state.builder == "serial" and _equal(obs, ob)
    a = _first_legal(obs)
    assert env.step(a)[1] == ref.step(a)[1]


def test_state_fresh_is_an_independent_empty_schedule() -> None:
    inst = taillard_instance("ta01")
    for builder in ("nondelay", "active", "serial"):
        st = JobShopState(inst, builder)
        st.schedule(int(st.candidates()[0]))
        new = st.fresh()
        ref = JobShopState(inst, builder)
        assert new.n_scheduled == 0 and (new.start == -1).all()
        np.testing.assert_array_equal(new.candidates(), ref.candidates())
        while not new.done:  # the same schedule as a state built from scratch, without touching `st`
            j = int(new.candidates()[-1])
            assert new.schedule(j) == ref.schedule(j)
        np.testing.assert_array_equal(new.start, ref.start)
        assert st.n_scheduled == 1 and (st.start >= 0).sum() == 1
        assert not np.shares_memory(new.start, st.start)


def _run(env: JobShopEnv, obs: dict, seed: int) -> list[dict]:
    rng, seen = np.random.default_rng(seed), [_copy(obs)]
    done = False
    while not done:
        obs, _, term, trunc, _ = env.step(_random_legal(obs, rng))
        seen.append(_copy(obs))
        done = term or trunc
    return seen


def test_fixed_instance_is_cached_from_its_second_reset_and_random_instances_never() -> None:
    """A fixed instance: the 1st reset builds in place, the 2nd keeps a copy, the 3rd copies it back; every
    episode equals a fresh env's. A new random instance per reset is built in place and never copied."""
    env = JobShopEnv(instance="ft06")
    cached = []
    for episode in range(3):
        obs, _ = env.reset(seed=episode)
        cached.append(env._start is not None)
        fresh = JobShopEnv(instance="ft06")
        ref, _ = fresh.reset(seed=episode)
        assert all(_equal(a, b) for a, b in zip(_run(env, obs, episode), _run(fresh, ref, episode), strict=True))
    assert cached == [False, True, True]

    env = JobShopEnv(n_jobs=6, n_machines=5)
    for seed in range(4):
        obs, _ = env.reset(seed=seed)
        assert env._start is None
        fresh = JobShopEnv(n_jobs=6, n_machines=5)
        ref, _ = fresh.reset(seed=seed)
        assert all(_equal(a, b) for a, b in zip(_run(env, obs, seed), _run(fresh, ref, seed), strict=True))


class GeneralStepJobShopEnv(JobShopEnv):
    """The same env stepped through the base class's general step (no fast path)."""

    step = GraphSchedulingEnv.step


class StepInfoJobShopEnv(JobShopEnv):
    """A subclass that adds a per-step info entry (which the fast path does not know about)."""

    def _step_info(self) -> dict:
        return {"scheduled": self.state.n_scheduled}


def test_fast_step_equals_the_general_step_for_every_action_type_and_builder() -> None:
    assert JobShopEnv._fast_step and not GeneralStepJobShopEnv._fast_step and not StepInfoJobShopEnv._fast_step
    for builder in ("nondelay", "active", "serial"):
        for copy_obs in (True, False):
            fast = JobShopEnv(instance="ft06", schedule_builder=builder, copy_obs=copy_obs)
            general = GeneralStepJobShopEnv(instance="ft06", schedule_builder=builder, copy_obs=copy_obs)
            rng = np.random.default_rng(3)
            for seed in (0, 1):
                oa, _ = fast.reset(seed=seed)
                ob, _ = general.reset(seed=seed)
                done, t = False, 0
                while not done:
                    a = _random_legal(oa, rng)
                    action = (a, np.int64(a), np.int32(a), np.uint16(a))[t % 4]
                    oa, ra, done, trunc, ia = fast.step(action)
                    ob, rb, done_b, trunc_b, ib = general.step(action)
                    assert _equal(oa, ob) and (ra, done, trunc) == (rb, done_b, trunc_b) and type(ra) is float
                    assert sorted(ia) == sorted(ib) and np.array_equal(ia["action_mask"], ib["action_mask"])
                    assert oa["nodes"].flags.writeable == copy_obs or done
                    t += 1
                assert ia["metrics"] == ib["metrics"] and ia["solution"] == ib["solution"]
                assert fast._elapsed_steps == general._elapsed_steps == t


def test_fast_step_hands_illegal_actions_and_a_finished_episode_to_the_base_class() -> None:
    env = JobShopEnv(instance="ft06")
    obs, _ = env.reset(seed=0)
    illegal = int(np.flatnonzero(obs["action_mask"] == 0)[0])
    for bad in (illegal, np.int64(illegal), -1, 36, True, 1.0, "0"):
        with pytest.raises(IllegalActionError):
            env.step(bad)
    obs, *_ = env.step(np.array([_first_legal(obs)]))  # a one-element array: the general path
    done = False
    while not done:
        obs, _, done, _, _ = env.step(_first_legal(obs))
    with pytest.raises(EpisodeOverError):
        env.step(0)


def test_a_subclass_with_step_info_keeps_its_entries() -> None:
    env = StepInfoJobShopEnv(instance="ft06")
    obs, info = env.reset(seed=0)
    assert info["scheduled"] == 0
    obs, _, _, _, info = env.step(_first_legal(obs))
    assert info["scheduled"] == 1 and info["action_mask"] is obs["action_mask"]


def test_an_unpickled_env_steps_through_its_own_graph() -> None:
    env = JobShopEnv(instance="ft06")
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(_first_legal(obs))
    clone = pickle.loads(pickle.dumps(env))
    for view in ("_xv", "_ev", "_etv", "_gv", "_maskv"):
        assert getattr(clone, view).obj is not getattr(env, view).obj  # bound to the clone's own buffer
    a = _first_legal(obs)
    o1, r1, *_ = env.step(a)
    o2, r2, *_ = clone.step(a)
    assert _equal(o1, o2) and r1 == r2 and _equal(clone.graph.view(), env.graph.view())


@pytest.mark.parametrize("reward", ["dense", "sparse"])
def test_fast_step_rewards_are_python_floats_whatever_the_scale_type(reward: str) -> None:
    env = JobShopEnv(instance="ft06", reward=reward, reward_scale=np.float32(0.5))
    obs, _ = env.reset(seed=0)
    done = False
    while not done:
        obs, r, done, _, _ = env.step(_first_legal(obs))
        assert type(r) is float
