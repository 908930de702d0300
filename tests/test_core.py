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
