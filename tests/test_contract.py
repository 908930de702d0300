"""The shared contract, run over every id registered by schedgym.envs (see schedgym.envs.testing)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import schedgym.envs
from schedgym.envs import testing

ENV_IDS = [env_id for env_id in gym.registry if env_id.startswith("schedgym/")]


def test_every_declared_id_is_registered() -> None:
    assert set(schedgym.envs.ENV_IDS) == set(ENV_IDS)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env(env_id: str) -> None:
    testing.check_gymnasium_api(env_id)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_vector_env_masked_sampling(env_id: str) -> None:
    testing.check_vector_sampling(env_id)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_same_trajectory(env_id: str) -> None:
    testing.check_determinism(env_id)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_pickling(env_id: str) -> None:
    testing.check_pickling(env_id)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_illegal_action_raises_clear_error(env_id: str) -> None:
    testing.check_illegal_action(env_id)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_10k_random_masked_steps_validated(env_id: str) -> None:
    finished = testing.check_random_masked_steps(env_id, n_steps=10_000, seeds=50, check_obs_every=7)
    assert finished >= 1, "10k random steps finished no episode"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_objective_declared(env_id: str) -> None:
    env = gym.make(env_id)
    objective = env.unwrapped.objective
    assert objective.sense in ("min", "max") and objective.name


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_to_pyg_roundtrip(env_id: str) -> None:
    # the learner's graph conversion needs the [train] extra; the light CI venv (no torch) skips this test
    torch = pytest.importorskip("torch")
    pytest.importorskip("torch_geometric")
    from schedgym.agents.gnn.graph import stack_observations, to_pyg, to_pyg_batch

    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    data = to_pyg(obs)
    n, e = int(obs["n_nodes"][0]), int(obs["n_edges"][0])
    assert data.num_nodes == n and data.edge_index.shape == (2, e)
    legal = np.flatnonzero(obs["action_mask"])
    obs2, *_ = env.step(int(legal[0]))
    batch = to_pyg_batch(stack_observations([obs, obs2]))
    assert batch.num_graphs == 2
    assert batch.x.shape[0] == n + int(obs2["n_nodes"][0])
    assert batch.edge_index.shape[1] == e + int(obs2["n_edges"][0])
    # edges of the second graph are shifted by the first graph's node count
    second = batch.edge_index[:, e:]
    assert second.numel() == 0 or int(second.min()) >= n
    # padded positions map back to the original mask
    flat_mask = np.concatenate([obs["action_mask"], obs2["action_mask"]]).astype(bool)
    assert flat_mask[batch.pad_index.numpy()].tolist() == batch.action_mask.tolist()
    # the batch splits back into the graphs to_pyg builds (issue 9, item 5)
    parts = batch.to_data_list()
    assert len(parts) == 2
    for i, (part, o) in enumerate(zip(parts, [obs, obs2])):
        ref = to_pyg(o)
        for key in ("x", "edge_index", "edge_type", "node_type", "action_mask", "globals"):
            assert torch.equal(part[key], ref[key]), (i, key)
            assert torch.equal(batch[i][key], ref[key]) and torch.equal(batch.get_example(i)[key], ref[key])
        assert part.num_nodes == ref.num_nodes
        assert torch.equal(part.pad_index, torch.arange(ref.num_nodes))
    assert [d.num_nodes for d in batch.index_select([1, 0])] == [parts[1].num_nodes, parts[0].num_nodes]
