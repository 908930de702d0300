"""The contract module itself: spaces, action checks, legal sampling, to_pyg_batch on SB3-style input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import schedgym.envs  # noqa: F401
from schedgym.envs.core import (
    EpisodeOverError,
    GraphSpec,
    IllegalActionError,
    Objective,
    graph_observation_space,
    graph_spec_of,
)
from schedgym.agents.gnn.graph import stack_observations, to_pyg_batch


def test_graph_spec_roundtrip_and_validation() -> None:
    spec = GraphSpec(max_nodes=7, max_edges=9, node_features=3, n_node_types=3, n_edge_types=4, global_features=2)
    assert graph_spec_of(graph_observation_space(spec)) == spec
    with pytest.raises(ValueError, match="max_nodes"):
        GraphSpec(0, 1, 1, 1, 1, 1)
    with pytest.raises(ValueError, match="missing keys"):
        graph_spec_of(gym.spaces.Dict({"nodes": gym.spaces.Box(0, 1, (2, 2))}))


def test_objective_gap_and_direction() -> None:
    assert Objective("makespan", "min").gap(110, 100) == pytest.approx(0.10)
    assert Objective("goodput", "max").gap(90, 100) == pytest.approx(0.10)
    assert Objective("makespan", "min").better(1, 2) and Objective("x", "max").better(2, 1)


def test_sample_draws_only_legal_actions() -> None:
    env = gym.make("schedgym/JobShop-v0", instance="ft06")
    obs, _ = env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(50):
        assert obs["action_mask"][env.action_space.sample()]
    # an explicit mask behaves like Discrete
    mask = np.zeros(env.action_space.n, np.int8)
    mask[5] = 1
    assert env.action_space.sample(mask=mask) == 5


def test_step_after_end_and_non_integer_actions() -> None:
    env = gym.make("schedgym/JobShop-v0", instance="ft06").unwrapped
    obs, _ = env.reset(seed=0)
    with pytest.raises(IllegalActionError, match="not an integer"):
        env.step("zero")
    with pytest.raises(IllegalActionError, match="not an integer"):
        env.step(0.5)
    done = False
    while not done:
        obs, _, done, _, _ = env.step(np.int64(env.legal_actions()[0]))
    with pytest.raises(EpisodeOverError, match="reset"):
        env.step(0)


def test_mask_three_ways_agree_every_step() -> None:
    env = gym.make("schedgym/JobShop-v0", instance="ft06")
    obs, info = env.reset(seed=1)
    done = False
    while not done:
        np.testing.assert_array_equal(obs["action_mask"], info["action_mask"])
        np.testing.assert_array_equal(obs["action_mask"].astype(bool), env.unwrapped.action_masks())
        obs, _, done, _, info = env.step(env.action_space.sample())


def test_to_pyg_batch_accepts_float_tensors_like_sb3() -> None:
    env = gym.make("schedgym/JobShop-v0", n_jobs=4, n_machines=3)
    obs_list = []
    obs, _ = env.reset(seed=0)
    for _ in range(3):
        obs_list.append(obs)
        obs, *_ = env.step(env.action_space.sample())
    stacked = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in stack_observations(obs_list).items()}
    batch = to_pyg_batch(stacked)
    ref = to_pyg_batch(stack_observations(obs_list))
    assert torch.equal(batch.edge_index, ref.edge_index) and torch.equal(batch.batch, ref.batch)
    assert batch.edge_index.dtype == torch.long and batch.action_mask.dtype == torch.bool


def test_actions_that_are_not_integers_are_refused_by_name() -> None:
    """bool is not a node, and inf / nan / floats are not node indices (issue 9, item 16)."""
    env = gym.make("schedgym/JobShop-v0", instance="ft06").unwrapped
    obs, _ = env.reset(seed=0)
    legal = int(env.legal_actions()[0])
    for bad in (float("inf"), float("-inf"), float("nan"), True, False, np.bool_(False), float(legal),
                np.float64(legal), np.array([float(legal)]), np.array([legal, legal]), None, b"0"):
        with pytest.raises(IllegalActionError, match="not an integer node index") as exc:
            env.step(bad)
        assert repr(bad) in str(exc.value)
    np.testing.assert_array_equal(env.action_masks(), obs["action_mask"].astype(bool))
    # integer forms are still nodes
    env.step(np.array([legal], np.int32))
    env.step(np.int16(env.legal_actions()[0]))
    env.step(torch.tensor(int(env.legal_actions()[0])))
    with pytest.raises(IllegalActionError, match=f"illegal action {2**70}"):
        env.step(2**70)


def test_every_env_class_has_its_own_metadata_and_make_vec_leaves_it_alone() -> None:
    from schedgym.envs.core import GraphSchedulingEnv
    from schedgym.envs.isbjobshop.env import ISBJobShopEnv
    from schedgym.envs.jobshop.env import JobShopEnv
    from schedgym.envs.llm.cluster_env import LLMClusterEnv
    from schedgym.envs.llm.env import LLMServeEnv

    classes = [GraphSchedulingEnv, JobShopEnv, ISBJobShopEnv, LLMServeEnv, LLMClusterEnv]
    assert len({id(c.metadata) for c in classes}) == len(classes)
    for c in classes:
        assert "metadata" in c.__dict__ and c.metadata["render_modes"] == ["rgb_array"]
    envs = gym.make_vec("schedgym/JobShop-v0", num_envs=2, instance="ft06")
    assert "autoreset_mode" in envs.metadata
    assert "autoreset_mode" not in JobShopEnv.metadata and "autoreset_mode" not in GraphSchedulingEnv.metadata
    assert "autoreset_mode" not in gym.make("schedgym/JobShop-v0", instance="ft06").metadata
    envs.close()


def test_action_masks_through_wrappers_as_documented() -> None:
    """``gym.make(id).action_masks()`` is an AttributeError (Gymnasium wrappers do not forward); the
    documented ways work (issue 9, item 3)."""
    env = gym.make("schedgym/JobShop-v0", instance="ft06")
    obs, _ = env.reset(seed=0)
    with pytest.raises(AttributeError):
        env.action_masks()
    expected = obs["action_mask"].astype(bool)
    np.testing.assert_array_equal(env.unwrapped.action_masks(), expected)
    np.testing.assert_array_equal(env.get_wrapper_attr("action_masks")(), expected)
    import schedgym.envs.core as core

    assert 'get_wrapper_attr("action_masks")' in core.__doc__ and "env.unwrapped.action_masks()" in core.__doc__


def test_vector_env_sampling_as_documented() -> None:
    """Under make_vec an unmasked sample is mostly illegal; the documented masked sample never is."""
    import schedgym.envs.core as core

    assert 'envs.action_space.sample(mask=tuple(obs["action_mask"]))' in core.__doc__
    envs = gym.make_vec("schedgym/JobShop-v0", num_envs=4, instance="ft06")
    obs, _ = envs.reset(seed=0)
    envs.action_space.seed(1)
    unmasked = [envs.action_space.sample() for _ in range(30)]
    assert sum(bool(obs["action_mask"][i][a[i]]) for a in unmasked for i in range(4)) < 4 * 30
    for _ in range(40):
        actions = envs.action_space.sample(mask=tuple(obs["action_mask"]))
        # a terminal observation's mask may be empty: its action is ignored (NEXT_STEP autoreset)
        assert all(obs["action_mask"][i][actions[i]] for i in range(4) if obs["action_mask"][i].any())
        obs, *_ = envs.step(actions)
    envs.close()


def test_to_pyg_batch_from_sb3_float_tensors_splits_back() -> None:
    """A batch built from SB3-style float32 tensors splits like one from NumPy arrays (issue 9, item 5)."""
    from torch_geometric.data import Batch

    env = gym.make("schedgym/JobShop-v0", n_jobs=4, n_machines=3)
    obs_list = []
    obs, _ = env.reset(seed=0)
    for _ in range(4):
        obs_list.append(obs)
        obs, *_ = env.step(env.action_space.sample())
    stacked = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in stack_observations(obs_list).items()}
    batch = to_pyg_batch(stacked)
    parts = batch.to_data_list()
    assert len(parts) == 4 and batch.num_graphs == 4
    again = Batch.from_data_list(parts)
    assert torch.equal(again.x, batch.x) and torch.equal(again.edge_index, batch.edge_index)
    assert torch.equal(again.batch, batch.batch) and torch.equal(again.globals, batch.globals)
    assert parts[2].edge_index.max() < parts[2].num_nodes


def test_gymnasium_check_draws_the_step_action_after_the_seeded_reset() -> None:
    """Gymnasium draws check_step_determinism's action before its reset; the contract draws it after, so a
    state-dependent mask passes, while a step that is not deterministic is still caught."""
    import random

    from schedgym.envs.jobshop import JobShopEnv
    from schedgym.envs.testing import check_gymnasium_api

    class NoisyReward(JobShopEnv):
        metadata = dict(JobShopEnv.metadata)

        def _apply(self, action: int):  # type: ignore[override]
            reward, terminated, truncated = super()._apply(action)
            return reward + random.random(), terminated, truncated  # noqa: S311 - global RNG on purpose

    check_gymnasium_api(lambda: JobShopEnv(n_jobs=3, n_machines=3))
    with pytest.raises(AssertionError, match="reward"):
        check_gymnasium_api(lambda: NoisyReward(n_jobs=3, n_machines=3))
