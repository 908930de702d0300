"""The PPO-update fast paths of :mod:`schedgym.agents.gnn.model` (issue 13, item 1) compute the model's
function: the mean+max pooling (:func:`mean_max_pool`) against PyG's; the functional GIN layer that
``agent.model.compile`` compiles against the module path, its fallback when compiling fails, and (slow) the
compiled pass against the eager one; the released job-shop policy against a reference forward built from
PyG's own layers (``GINEConv``, ``global_mean_pool``, ``global_max_pool``): logits to 1e-5 and the same
greedy actions along a whole Taillard episode. No test here depends on wall-clock speed (the speed is in
``schedgym.train.bench``)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch_geometric.nn import global_max_pool, global_mean_pool

import schedgym.envs  # noqa: F401 - registers the ids
from schedgym.agents.gnn.graph import flatten_batch, stack_observations, to_pyg_batch
from schedgym.agents.gnn.model import MASKED_LOGIT, GNNConfig, GraphActorCritic, mean_max_pool
from schedgym.envs.core import graph_spec_of


def _padded_batch(n_nodes: list[int], n_max: int, hidden: int = 5, seed: int = 0) -> dict[str, torch.Tensor]:
    """A contract-shaped batch of graphs with the given node counts (no edges) and random features."""
    g = torch.Generator().manual_seed(seed)
    b = len(n_nodes)
    return {
        "nodes": torch.randn(b, n_max, hidden, generator=g),
        "n_nodes": torch.tensor(n_nodes),
        "n_edges": torch.zeros(b, dtype=torch.long),
        "edge_index": torch.zeros(b, 2, 1, dtype=torch.long),
        "edge_type": torch.zeros(b, 1, dtype=torch.long),
        "node_type": torch.zeros(b, n_max, dtype=torch.long),
        "action_mask": torch.ones(b, n_max, dtype=torch.bool),
        "globals": torch.zeros(b, 1),
    }


@pytest.mark.parametrize("n_nodes", [[4, 4, 4], [4, 1, 3, 2], [3, 0, 4]], ids=["full", "padded", "empty-graph"])
def test_mean_max_pool_is_pyg_bit_for_bit(n_nodes: list[int]) -> None:
    graphs = flatten_batch(_padded_batch(n_nodes, n_max=4))
    x = graphs.x.clone().requires_grad_(True)
    x_ref = graphs.x.clone().requires_grad_(True)
    b = graphs.num_graphs
    ours = mean_max_pool(x, graphs)
    ref = torch.cat([global_mean_pool(x_ref, graphs.batch, size=b), global_max_pool(x_ref, graphs.batch, size=b)], 1)
    assert torch.equal(ours, ref)
    upstream = torch.randn_like(ref)
    ours.backward(upstream)
    ref.backward(upstream)
    assert torch.equal(x.grad, x_ref.grad)


def test_mean_max_pool_shares_ties_of_the_max_like_pyg() -> None:
    """Equal maxima in a graph share the gradient (as ``scatter_reduce`` and ``amax`` both do)."""
    graphs = flatten_batch(_padded_batch([3, 2], n_max=3, hidden=2))
    x = torch.tensor([[1.0, 2.0], [1.0, 0.0], [0.5, 2.0], [3.0, 3.0], [3.0, 1.0]], requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    mean_max_pool(x, graphs)[:, 2:].sum().backward()
    global_max_pool(x_ref, graphs.batch, size=2).sum().backward()
    assert torch.equal(x.grad, x_ref.grad)


def _pyg_reference(model: GraphActorCritic, obs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The GIN model computed with PyG's own layers: ``GINEConv`` on per-edge embeddings, PyG's pools and
    the actor on every node, masked afterwards."""
    data = to_pyg_batch(obs)
    b, n_max = int(obs["nodes"].shape[0]), int(obs["nodes"].shape[1])
    glob_h = model.glob_in(data.globals)
    x = model.act(model.node_in(data.x) + model.node_type_emb(data.node_type) + glob_h[data.batch])
    ei_all = torch.cat([data.edge_index, data.edge_index.flip(0)], dim=1)
    ea = model.edge_type_emb(torch.cat([data.edge_type, data.edge_type + model.spec.n_edge_types]))
    for conv, norm in zip(model.convs, model.norms):
        x = norm(x + model.act(conv(x, ei_all, ea)))
    pooled = torch.cat([global_mean_pool(x, data.batch, size=b), global_max_pool(x, data.batch, size=b)], dim=1)
    node_logits = model.actor(torch.cat([x, pooled[data.batch], glob_h[data.batch]], dim=1)).squeeze(-1)
    node_logits = torch.where(data.action_mask, node_logits, torch.full_like(node_logits, MASKED_LOGIT))
    logits = torch.full((b * n_max,), MASKED_LOGIT).scatter(0, data.pad_index, node_logits).view(b, n_max)
    return logits, model.critic(torch.cat([pooled, glob_h], dim=1)).squeeze(-1)


def _training_batch(n: int, seed: int) -> dict[str, torch.Tensor]:
    """``n`` observations of a random masked walk on seeded 10x10 job shops, stacked as float tensors
    (as SB3's rollout buffer stores them)."""
    env = gym.make("schedgym/JobShop-v0", n_jobs=10, n_machines=10, schedule_builder="nondelay")
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    observations = []
    for _ in range(n):
        observations.append({k: np.array(v) for k, v in obs.items()})
        obs, _, terminated, truncated, _ = env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
        if terminated or truncated:
            obs, _ = env.reset()
    return {k: torch.as_tensor(v).float() for k, v in stack_observations(observations).items()}


def test_released_policy_logits_and_gradients_agree_with_pyg_on_a_training_batch() -> None:
    from schedgym.agents.gnn.checkpoint import load_checkpoint

    module, _ = load_checkpoint("jobshop-10x10")
    batch = _training_batch(64, seed=1)  # as SB3 stores
    legal = batch["action_mask"].bool()

    def loss_and_grads(forward) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        module.zero_grad()
        logits, value = forward(batch)
        (torch.log_softmax(logits, -1)[legal].sum() + value.square().sum()).backward()
        return logits.detach(), value.detach(), [p.grad.clone() for p in module.parameters()]

    logits, value, grads = loss_and_grads(module)
    ref_logits, ref_value, ref_grads = loss_and_grads(lambda o: _pyg_reference(module, o))
    torch.testing.assert_close(logits, ref_logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(value, ref_value, rtol=1e-5, atol=1e-5)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-5)


def test_released_policy_greedy_episode_on_ta01_matches_pyg() -> None:
    """Along the whole greedy episode of Taillard ta01 (15x15): logits to 1e-5 and the same action at every
    step, hence the same schedule."""
    from schedgym.agents.gnn.checkpoint import load_checkpoint

    module, _ = load_checkpoint("jobshop-10x10")
    env = gym.make("schedgym/JobShop-v0", instance="ta01", schedule_builder="nondelay")
    obs, _ = env.reset(seed=0)
    done, steps = False, 0
    with torch.no_grad():
        while not done:
            batch = {k: torch.as_tensor(v)[None] for k, v in obs.items()}
            logits, _ = module(batch)
            ref_logits, _ = _pyg_reference(module, batch)
            torch.testing.assert_close(logits, ref_logits, rtol=1e-5, atol=1e-5)
            action = int(logits[0].argmax())
            assert action == int(ref_logits[0].argmax()), f"step {steps}"
            obs, _, terminated, truncated, _ = env.step(action)
            done, steps = terminated or truncated, steps + 1
    assert steps == 15 * 15


# ---------------------------------------------------------------------- agent.model.compile
def _small_batch(n: int = 16, seed: int = 2) -> tuple[gym.Env, dict[str, torch.Tensor]]:
    env = gym.make("schedgym/JobShop-v0", n_jobs=4, n_machines=3)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    observations = []
    for _ in range(n):
        observations.append({k: np.array(v) for k, v in obs.items()})
        obs, _, terminated, truncated, _ = env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
        if terminated or truncated:
            obs, _ = env.reset()
    return env, {k: torch.as_tensor(v).float() for k, v in stack_observations(observations).items()}


def _logits_value_grads(module: GraphActorCritic, batch: dict[str, torch.Tensor]):
    module.zero_grad()
    logits, value = module(batch)
    (torch.log_softmax(logits, -1)[batch["action_mask"].bool()].sum() + value.square().sum()).backward()
    return logits.detach(), value.detach(), [p.grad.clone() for p in module.parameters()]


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_functional_gin_layer_is_the_module_layer_bit_for_bit(activation: str) -> None:
    """:func:`gin_layer` (what ``agent.model.compile`` compiles) is the module path, uncompiled."""
    from schedgym.agents.gnn.graph import flatten_batch as flatten
    from schedgym.agents.gnn.model import _gine, gin_layer

    env, batch = _small_batch()
    torch.manual_seed(3)
    config = GNNConfig(hidden=16, n_layers=2, activation=activation)
    module = GraphActorCritic(graph_spec_of(env.observation_space), config)
    graphs = flatten(batch)
    x = torch.randn(graphs.x.shape[0], 16)
    ei = torch.cat([graphs.edge_index, graphs.edge_index.flip(0)], 1)
    et = torch.cat([graphs.edge_type, graphs.edge_type + module.spec.n_edge_types])
    emb = module.edge_type_emb.weight
    for conv, norm in zip(module.convs, module.norms):
        ref = norm(x + module.act(_gine(conv, x, ei[0], ei[1], et, emb)))
        ours = gin_layer(x, ei[0], ei[1], et, emb, conv.lin.weight, conv.lin.bias, conv.eps, conv.nn[0].weight,
                         conv.nn[0].bias, conv.nn[2].weight, conv.nn[2].bias, norm.weight, norm.bias, activation,
                         norm.eps)
        assert torch.equal(ours, ref)
        x = ref


@pytest.mark.parametrize("n_types, n_rows", [(1, 1200), (2, 12800), (5, 3333), (8, 37)])
def test_type_embedding_rows_by_index_select_are_nn_embedding_bit_for_bit(n_types: int, n_rows: int) -> None:
    """The encoder reads the node / edge type embeddings with ``weight.index_select`` (a cheaper backward than
    ``nn.Embedding``'s on the CPU): the same rows and the same weight gradients, bit for bit."""
    gen = torch.Generator().manual_seed(n_types * 1000 + n_rows)
    emb = torch.nn.Embedding(n_types, 64)
    index = torch.randint(0, n_types, (n_rows,), generator=gen)
    upstream = torch.randn(n_rows, 64, generator=gen)
    emb(index).backward(upstream)
    reference = emb.weight.grad.clone()
    emb.weight.grad = None
    rows = emb.weight.index_select(0, index)
    rows.backward(upstream)
    assert torch.equal(rows, emb(index))
    assert torch.equal(emb.weight.grad, reference)


def test_compile_option_is_checked_and_not_saved() -> None:
    assert GNNConfig.from_dict({"compile": True}).compile is True
    with pytest.raises(ValueError, match="agent.model.compile"):
        GNNConfig(compile="yes")  # type: ignore[arg-type]
    env, _ = _small_batch(n=1)
    module = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=8, n_layers=1, compile=True))
    extra = module.extra_state()
    assert extra["model"]["compile"] is False  # an execution option: a loaded checkpoint evaluates eagerly
    assert GraphActorCritic.rebuild(extra).config.compile is False


def test_compile_failure_warns_and_runs_eagerly(monkeypatch, one_torch_thread) -> None:
    """Where torch.compile cannot compile (no C++ compiler, ...), training goes on eagerly, same numbers."""
    import schedgym.agents.gnn.model as model_module

    env, batch = _small_batch()
    torch.manual_seed(5)
    eager = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=16, n_layers=2))
    compiled = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=16, n_layers=2, compile=True))
    compiled.load_state_dict(eager.state_dict())

    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(model_module, "compiled_gin_layer", lambda: broken)
    with pytest.warns(RuntimeWarning, match="torch.compile failed"):
        got = _logits_value_grads(compiled, batch)
    ref = _logits_value_grads(eager, batch)
    assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])
    assert all(torch.equal(a, b) for a, b in zip(got[2], ref[2]))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        _logits_value_grads(compiled, batch)  # no second try, no second warning
    fresh = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=16, n_layers=2, compile=True))
    assert fresh._compiled_layer() is broken
    with torch.no_grad():  # sampling and evaluation passes run eagerly
        assert fresh._compiled_layer() is None
    torch.set_num_threads(2)  # compiled scatters would add in no fixed order: eager, a seed fixes the run
    assert fresh._compiled_layer() is None
    torch.set_num_threads(1)
    assert fresh._compiled_layer("cuda") is None


@pytest.mark.slow
def test_compiled_training_pass_agrees_with_eager(one_torch_thread) -> None:
    """A real ``torch.compile`` (tens of seconds the first time): logits to 1e-5, gradients to rounding."""
    from schedgym.agents.gnn.checkpoint import load_checkpoint

    module, _ = load_checkpoint("jobshop-10x10")
    batch = _training_batch(32, seed=3)
    ref = _logits_value_grads(module, batch)
    import dataclasses

    module.config = dataclasses.replace(module.config, compile=True)
    got = _logits_value_grads(module, batch)
    assert not getattr(module, "_compile_failed", False)
    again = _logits_value_grads(module, batch)  # repeatable bit for bit (one thread)
    assert all(torch.equal(a, b) for a, b in zip(got[2], again[2])) and torch.equal(got[0], again[0])
    torch.testing.assert_close(got[0], ref[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got[1], ref[1], rtol=1e-5, atol=1e-5)
    scale = max(float(g.abs().max()) for g in ref[2])
    for a, b in zip(got[2], ref[2]):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5 * scale)
