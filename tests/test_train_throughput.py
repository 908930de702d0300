"""What the training-throughput work (issue 13) relies on: the fast GIN path computes PyG's GINEConv,
the actor head on legal nodes gives the same logits as on every node, the flat batching matches the PyG
batch, SB3 training envs skip their per-step observation copy, RLlib sampling does not walk the module
tree, ``trainer.device=auto`` resolves to the GPU when torch sees one, and the bench rows have their
shape. No test here depends on wall-clock speed (the speed itself is in ``ppo_bench_rows``)."""

from __future__ import annotations

import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import schedgym.envs  # noqa: F401 - registers the ids
from schedgym.agents.gnn.graph import flatten_batch, stack_observations, to_pyg_batch
from schedgym.agents.gnn.model import MASKED_LOGIT, GNNConfig, GraphActorCritic, _gine
from schedgym.envs import ENV_IDS
from schedgym.envs.core import graph_spec_of
from schedgym.train.config import ConfigError, resolve_config, resolve_device

from random_play import random_masked_observations  # tests/random_play.py

SMALL_KWARGS: dict[str, dict] = {"schedgym/JobShop-v0": {"n_jobs": 4, "n_machines": 3}}


def _observations(env_id: str, n: int = 12, seed: int = 0) -> tuple[gym.Env, list[dict[str, np.ndarray]]]:
    env = gym.make(env_id, **SMALL_KWARGS.get(env_id, {}))
    return env, random_masked_observations(env, n, seed)


def _reference_forward(model: GraphActorCritic, obs) -> tuple[torch.Tensor, torch.Tensor]:
    """The model as it was computed before issue 13: PyG's GINEConv on per-edge embeddings, the actor on
    every node, masked afterwards."""
    data = to_pyg_batch(obs)
    b, n_max = int(obs["nodes"].shape[0]), int(obs["nodes"].shape[1])
    glob_h = model.glob_in(data.globals)
    x = model.act(model.node_in(data.x) + model.node_type_emb(data.node_type) + glob_h[data.batch])
    ei, et = data.edge_index, data.edge_type
    ei_all = torch.cat([ei, ei.flip(0)], dim=1)
    ea = model.edge_type_emb(torch.cat([et, et + model.spec.n_edge_types]))
    for conv, norm in zip(model.convs, model.norms):
        x = norm(x + model.act(conv(x, ei_all, ea)))
    from torch_geometric.nn import global_max_pool, global_mean_pool

    pooled = torch.cat([global_mean_pool(x, data.batch, size=b), global_max_pool(x, data.batch, size=b)], dim=1)
    node_logits = model.actor(torch.cat([x, pooled[data.batch], glob_h[data.batch]], dim=1)).squeeze(-1)
    node_logits = torch.where(data.action_mask, node_logits, torch.full_like(node_logits, MASKED_LOGIT))
    logits = torch.full((b * n_max,), MASKED_LOGIT).scatter(0, data.pad_index, node_logits).view(b, n_max)
    value = model.critic(torch.cat([pooled, glob_h], dim=1)).squeeze(-1)
    return logits, value


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
@pytest.mark.parametrize("conv", ["gin", "gatv2"])
def test_fast_forward_matches_the_reference(env_id: str, conv: str) -> None:
    env, observations = _observations(env_id)
    torch.manual_seed(0)
    model = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=16, n_layers=2, conv=conv, heads=2))
    batch = {k: torch.as_tensor(v).float() for k, v in stack_observations(observations).items()}  # as SB3 stores them
    logits, value = model(batch)
    ref_logits, ref_value = _reference_forward(model, batch)
    legal = batch["action_mask"].bool()
    assert torch.equal(logits[~legal], ref_logits[~legal])  # exactly MASKED_LOGIT off the mask
    torch.testing.assert_close(logits[legal], ref_logits[legal], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(value, ref_value, rtol=1e-5, atol=1e-5)
    # gradients flow to the same parameters
    (logits[legal].sum() + value.sum()).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_gine_fast_path_is_pyg_gineconv() -> None:
    from torch_geometric.nn import GINEConv

    torch.manual_seed(1)
    h, n, e, types = 8, 30, 70, 4
    conv = GINEConv(torch.nn.Sequential(torch.nn.Linear(h, h), torch.nn.ReLU(), torch.nn.Linear(h, h)),
                    train_eps=True, edge_dim=h)
    with torch.no_grad():
        conv.eps.fill_(0.3)
    emb = torch.randn(types, h)
    x = torch.randn(n, h)
    ei = torch.randint(0, n, (2, e))
    et = torch.randint(0, types, (e,))
    torch.testing.assert_close(_gine(conv, x, ei[0], ei[1], et, emb), conv(x, ei, emb[et]), rtol=1e-5, atol=1e-5)


def test_flat_batch_matches_the_pyg_batch() -> None:
    _, observations = _observations("schedgym/JobShop-v0", n=9)
    obs = stack_observations(observations)
    flat, pyg = flatten_batch(obs), to_pyg_batch(obs)
    for key in ("x", "node_type", "action_mask", "batch", "pad_index", "edge_index", "edge_type", "globals"):
        assert torch.equal(getattr(flat, key), getattr(pyg, key)), key
    assert flat.num_graphs == pyg.num_graphs == 9
    # SB3's float32 integer keys give the same graphs
    as_float = flatten_batch({k: torch.as_tensor(v).float() for k, v in obs.items()})
    assert torch.equal(as_float.edge_index, flat.edge_index) and as_float.edge_index.dtype == torch.long


def test_released_policy_logits_unchanged_up_to_float_rounding() -> None:
    """The released checkpoint computes what it did (its greedy actions are those of the README)."""
    from schedgym.agents.gnn.checkpoint import load_checkpoint

    module, _ = load_checkpoint("jobshop-10x10")
    env = gym.make("schedgym/JobShop-v0", n_jobs=10, n_machines=10, schedule_builder="nondelay")
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    batch = []
    for _ in range(40):
        batch.append({k: np.array(v) for k, v in obs.items()})
        obs, *_ = env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
    b = {k: torch.as_tensor(v) for k, v in stack_observations(batch).items()}
    with torch.no_grad():
        logits, value = module(b)
        ref_logits, ref_value = _reference_forward(module, b)
    assert torch.equal(value, ref_value)  # the encoder is bit-for-bit the same
    torch.testing.assert_close(logits, ref_logits, rtol=1e-6, atol=1e-5)
    assert torch.equal(logits.argmax(-1), ref_logits.argmax(-1))


# ---------------------------------------------------------------------- device
def test_device_auto_resolves_to_cuda_when_available(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu" and resolve_device("cuda:1") == "cuda:1"
    cfg = resolve_config("jobshop-small", ["trainer.device=auto"])  # accepted on a machine without a GPU
    assert cfg.trainer.device == "auto"
    with pytest.raises(ConfigError, match="CUDA"):
        resolve_config("jobshop-small", ["trainer.device=cuda"])


def test_device_auto_reaches_both_backends(monkeypatch, tmp_path: Path) -> None:
    """The backends hand the resolved device to SB3 / RLlib (cuda when torch sees a GPU)."""
    from schedgym.train import rllib_backend, sb3_backend

    cfg = resolve_config("jobshop-small", ["trainer.device=auto", "env=jobshop-3x3", "trainer.n_envs=1",
                                           f"run_dir={tmp_path}"])
    venv = sb3_backend.build_vec_env(cfg)
    try:
        model = sb3_backend._new_model(cfg, venv)
        assert model.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    finally:
        venv.close()
    pytest.importorskip("ray")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    env = gym.make("schedgym/JobShop-v0", n_jobs=3, n_machines=3)
    algo_cfg = rllib_backend.build_algo_config(cfg, env.observation_space)
    assert algo_cfg.num_gpus_per_learner == 1
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert rllib_backend.build_algo_config(cfg, env.observation_space).num_gpus_per_learner == 0


def test_gnn_policy_feeds_the_module_its_own_device() -> None:
    from schedgym.agents.gnn.policy import GNNPolicy

    env, observations = _observations("schedgym/JobShop-v0", n=1)
    module = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=8, n_layers=1, head_hidden=8))
    seen = []
    original = module.forward

    def spy(obs):
        seen.append({v.device for v in obs.values()})
        return original(obs)

    module.forward = spy  # type: ignore[method-assign]
    pol = GNNPolicy(module=module)
    a = pol.act(observations[0], {})
    assert observations[0]["action_mask"][a] and seen == [{torch.device("cpu")}]


# ---------------------------------------------------------------------- backends
def test_sb3_training_envs_skip_the_observation_copy(tmp_path: Path) -> None:
    from schedgym.train.sb3_backend import build_vec_env

    cfg = resolve_config("jobshop-small", ["env=jobshop-3x3", "trainer.n_envs=2", "trainer.vec_env=dummy"])
    venv = build_vec_env(cfg)
    try:
        assert venv.get_attr("copy_obs") == [False, False]
        obs = venv.reset()
        first = {k: v.copy() for k, v in obs.items()}
        venv.step(np.array([int(np.flatnonzero(m)[0]) for m in obs["action_mask"]]))
        # what the vector env hands out is its own copy, not a live view that the next step changes
        assert all(np.array_equal(first[k], obs[k]) for k in first)
    finally:
        venv.close()


def test_rllib_sampling_keeps_the_module_mode() -> None:
    """RLlib's sampling forward does not switch the module to eval() and back every env step."""
    pytest.importorskip("ray")
    from ray.rllib.core.columns import Columns

    from schedgym.agents.gnn.rllib import GNNTorchRLModule

    env, observations = _observations("schedgym/JobShop-v0", n=3)
    module = GNNTorchRLModule(observation_space=env.observation_space, action_space=env.action_space,
                              model_config={"hidden": 8, "n_layers": 1, "head_hidden": 8})
    calls = []
    module.eval = lambda: calls.append("eval")  # type: ignore[method-assign]
    batch = {Columns.OBS: {k: torch.as_tensor(v) for k, v in stack_observations(observations).items()}}
    for fwd in (module.forward_exploration, module.forward_inference):
        out = fwd(batch)
        assert out[Columns.ACTION_DIST_INPUTS].shape == (3, env.observation_space["action_mask"].shape[0])
        assert not out[Columns.ACTION_DIST_INPUTS].requires_grad
    assert calls == []
    values = module.compute_values(batch)  # the GAE path: no autograd graph
    assert values.shape == (3,) and not values.requires_grad


def test_ppo_bench_rows_quick() -> None:
    from schedgym.train.bench import ppo_bench_rows

    rows = ppo_bench_rows(quick=True)
    assert rows and all(set(r) == {"benchmark", "measure", "value", "unit"} for r in rows)
    measured = [r for r in rows if not math.isnan(r["value"])]
    assert any(r["measure"].startswith("sb3") for r in measured)
    assert all(r["value"] > 0 and r["unit"] == "1/s" for r in measured)


def test_validation_keeps_the_trainer_torch_threads(tmp_path: Path) -> None:
    """A validation run does not reset ``trainer.torch_threads`` (the GNN policy's own default is 1)."""
    from schedgym.train.common import Validator

    cfg = resolve_config("jobshop-small", ["env=jobshop-3x3", "val.seeds=[0]", "val.baselines=[]"])
    env = gym.make("schedgym/JobShop-v0", n_jobs=3, n_machines=3)
    module = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=8, n_layers=1, head_hidden=8))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        Validator(cfg).run(module)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_batch_without_legal_nodes_gives_masked_logits_and_values() -> None:
    """Terminal observations (all-zero mask) reach the module in value bootstraps: no legal row is fine."""
    env, observations = _observations("schedgym/JobShop-v0", n=3)
    model = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=8, n_layers=1, head_hidden=8))
    batch = {k: torch.as_tensor(v) for k, v in stack_observations(observations).items()}
    batch["action_mask"] = torch.zeros_like(batch["action_mask"])
    logits, value = model(batch)
    assert torch.all(logits == MASKED_LOGIT) and value.shape == (3,) and torch.isfinite(value).all()
