"""Memory domain: the environment in both modes (contract, worked example, episode ends, errors)."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
import schedgym.envs  # noqa: F401  (registers the ids)
from schedgym.envs import testing
from schedgym.envs.core import IllegalActionError
from schedgym.envs.memory.env import NODE_FEATURES, MemoryEnv


@pytest.mark.parametrize("mode", ["mapping", "allocation"])
def test_contract(mode: str) -> None:
    testing.check_contract(lambda: MemoryEnv(mode=mode))


@pytest.mark.parametrize("env_id", ["schedgym/MemoryMap-v0", "schedgym/MemoryAlloc-v0"])
def test_registered_ids(env_id: str) -> None:
    env = gym.make(env_id)
    obs, info = env.reset(seed=0)
    assert env.unwrapped.mode == ("mapping" if "Map" in env_id else "allocation")
    assert env.unwrapped.objective.name == ("program_time" if "Map" in env_id else "solved")
    assert env.unwrapped.graph_spec.node_feature_names == NODE_FEATURES


def test_worked_example_allocation() -> None:
    env = MemoryEnv(mode="allocation", instance="minimalloc-example")
    obs, info = env.reset(seed=0)
    assert obs["action_mask"][:5].all() and not obs["action_mask"][5]  # every buffer legal; no stop node
    total = 0.0
    for b in (4, 2, 0, 1, 3):
        obs, r, term, trunc, info = env.step(b)
        total += r
    assert term and not trunc
    assert info["solution"]["offsets"] == [8, 8, 4, 4, 0] and info["metrics"]["solved"] == 1.0
    assert total == pytest.approx(2.0)  # area shaping sums to 1, success adds 1
    assert env.validate_solution(info["solution"]) == 1.0


def test_dead_end_is_a_counted_failure() -> None:
    env = MemoryEnv(mode="allocation", instance="minimalloc-example")
    env.reset(seed=0)
    for b in (0, 2):  # b1 at 0, b3 at 4
        _, _, term, _, _ = env.step(b)
        assert not term
    _, r, term, _, info = env.step(4)  # b5 at 8; b2 (-> 12) and b4 (-> 12) no longer fit
    assert term and info["metrics"]["solved"] == 0.0 and info["metrics"]["dead_end"] == 1.0
    assert info["metrics"]["n_placed"] == 3 and env.validate_solution(info["solution"]) == 0.0
    assert r < 1.0


def test_illegal_actions_explain_why() -> None:
    env = MemoryEnv(mode="allocation", instance="minimalloc-example")
    env.reset(seed=0)
    env.step(0)
    with pytest.raises(IllegalActionError, match="buffer 0 is already placed at offset 0"):
        env.step(0)
    with pytest.raises(IllegalActionError, match="stop node is legal in mapping mode only"):
        env.step(5)
    env.step(2)  # b3 at 4
    env.step(4)  # b5 at 8: the episode ends at a dead end; b2 would need offset 12
    from schedgym.envs.memory.instance import MemoryInstance

    inst = MemoryInstance("three", 10, lower=[0, 0, 0], upper=[4, 2, 4], size=[4, 6, 7])
    env = MemoryEnv(mode="allocation", instance=inst)
    env.reset(seed=0)
    env.step(0)  # buffer 0 at 0; buffer 1 would go at 4 (fits), buffer 2 at 4 (4 + 7 > 10)
    with pytest.raises(IllegalActionError, match=r"buffer 2 does not fit: its canonical offset 4 \+ size 7 > capacity 10"):
        env.step(2)
    env.step(1)


def test_mapping_return_is_the_relative_time_saving() -> None:
    env = MemoryEnv(mode="mapping", instance="gpt2-block-b4-s512")
    obs, info = env.reset(seed=0)
    rng = np.random.default_rng(0)
    ret, done = 0.0, False
    while not done:
        legal = np.flatnonzero(obs["action_mask"])
        legal = legal[legal != env.stop_node] if legal.size > 1 else legal
        obs, r, done, _, info = env.step(int(legal[rng.integers(legal.size)]))
        ret += r
    m = info["metrics"]
    assert ret == pytest.approx(1.0 - m["program_time"] / m["all_slow_time"], rel=1e-9, abs=1e-12)
    assert m["speedup"] == pytest.approx(m["all_slow_time"] / m["program_time"])
    assert env.validate_solution(info["solution"]) == pytest.approx(m["program_time"], rel=1e-9)


def test_stop_node_keeps_everything_slow() -> None:
    env = MemoryEnv(mode="mapping", instance="mlp-b64")
    obs, _ = env.reset(seed=0)
    _, r, term, _, info = env.step(env.stop_node)
    assert term and r == 0.0 and info["metrics"]["speedup"] == 1.0 and info["metrics"]["n_placed"] == 0


def test_reset_options_instance_and_padding() -> None:
    env = MemoryEnv(mode="allocation", n_buffers=20, max_buffers=40)
    obs, _ = env.reset(seed=0)
    assert obs["n_nodes"][0] == 21 and obs["nodes"].shape[0] == 41
    obs, _ = env.reset(seed=0, options={"instance": "minimalloc-example"})
    assert obs["n_nodes"][0] == 6 and env.instance.name == "minimalloc-example"
    with pytest.raises(ValueError, match="max_buffers=40"):
        env.reset(options={"instance": "resnet18-b1"})


def test_bad_arguments_name_the_argument() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        MemoryEnv(mode="map")
    with pytest.raises(ValueError, match="has no program.*allocation"):
        MemoryEnv(mode="mapping", instance="minimalloc-example")
    with pytest.raises(KeyError, match="unknown hardware profile 'tpu9'"):
        MemoryEnv(hardware="tpu9")
    with pytest.raises(KeyError, match="unknown memory instance"):
        MemoryEnv(instance="no-such-model")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        MemoryEnv(mode="allocation", instance="/tmp/nope.csv")
    with pytest.raises(ValueError, match="render_mode"):
        MemoryEnv(render_mode="human")


def test_hardware_and_capacity_overrides() -> None:
    env = MemoryEnv(instance="resnet18-b8", hardware="tpuv4-cmem")
    env.reset(seed=0)
    assert env.instance.capacity == 128 * 2**20 and env.instance.program.hardware.name == "tpuv4-cmem"
    env = MemoryEnv(instance="resnet18-b8", capacity=2**20)
    env.reset(seed=0)
    assert env.instance.capacity == 2**20


def test_traced_instance_contract_short() -> None:
    testing.check_determinism(lambda: MemoryEnv(instance="resnet18-b1"), seeds=(0,))
    testing.check_random_masked_steps(lambda: MemoryEnv(instance="resnet18-b1", capacity=2**21), n_steps=600)
    testing.check_random_masked_steps(lambda: MemoryEnv(mode="allocation", instance="minimalloc/A"), n_steps=600)


def test_render_and_pickle() -> None:
    env = MemoryEnv(mode="allocation", instance="minimalloc-example", render_mode="rgb_array")
    env.reset(seed=0)
    env.step(4)
    img = env.render()
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
    clone = pickle.loads(pickle.dumps(env))
    assert clone.step(2)[0]["nodes"].tolist() == env.step(2)[0]["nodes"].tolist()


def test_step_cost_does_not_copy_static_edges() -> None:
    env = MemoryEnv(mode="allocation", n_buffers=40, max_degree=4)
    obs, _ = env.reset(seed=0)
    e = int(obs["n_edges"][0])
    assert 0 < e <= 4 * 40
    src, dst = obs["edge_index"][:, :e]
    ov = env.instance.overlap_matrix()
    assert ov[src, dst].all()  # every edge joins two buffers that are live together
    obs2, *_ = env.step(int(np.flatnonzero(obs["action_mask"])[0]))
    np.testing.assert_array_equal(obs2["edge_index"], obs["edge_index"])


def test_bench_rows_quick() -> None:
    from schedgym.envs.memory.bench import bench_rows

    rows = bench_rows(quick=True)
    assert len(rows) == 6
    for row in rows:
        assert set(row) == {"benchmark", "measure", "value", "unit"} and row["value"] > 0


def test_instance_list_draws_one_per_reset() -> None:
    env = MemoryEnv(instance=["mlp-b64", "gpt2-block-b1-s128"])
    assert env.max_buffers == 28
    seen = set()
    for seed in range(12):
        obs, _ = env.reset(seed=seed)
        seen.add(env.instance.name)
        assert obs["n_nodes"][0] == env.instance.n_buffers + 1
    assert seen == {"mlp-b64", "gpt2-block-b1-s128"}
    testing.check_determinism(lambda: MemoryEnv(instance=["mlp-b64", "gpt2-block-b1-s128"]), seeds=(0, 1))


def test_tiled_generator_is_feasible_without_slack() -> None:
    from schedgym.envs.memory.generator import TiledAllocation
    from schedgym.envs.memory.validate import check_placement

    for seed in range(5):
        inst = TiledAllocation(n_buffers=30)(np.random.default_rng(seed))
        assert inst.n_buffers == 30 and inst.max_load() == inst.capacity
        check_placement(inst, np.array(inst.meta["witness_offsets"]), allow_unplaced=False)
    env = MemoryEnv(mode="allocation", generator="tiled", n_buffers=12)
    testing.check_random_masked_steps(lambda: MemoryEnv(mode="allocation", generator="tiled", n_buffers=12), n_steps=500)
    env.reset(seed=0)
    assert env.instance.capacity == 1 << 20
    with pytest.raises(ValueError, match="generator='tiled'.*allocation"):
        MemoryEnv(mode="mapping", generator="tiled")
