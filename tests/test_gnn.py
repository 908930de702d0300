"""The GNN actor-critic, its SB3 policy and the checkpoint-as-Policy, on every registered env id."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import schedgym.envs
from schedgym.agents import make_policy, run_episode
from schedgym.agents.gnn import GNNConfig, GraphActorCritic, load_checkpoint, save_checkpoint
from schedgym.agents.registry import policy_entries
from schedgym.agents.spec import PolicyError
from schedgym.agents.gnn.model import MASKED_LOGIT, compatible
from schedgym.envs import ENV_IDS
from schedgym.envs.core import GraphSpec, graph_spec_of
from schedgym.agents.gnn.graph import stack_observations

#: test-size hints (small instances keep CI short); ids not listed use their registered defaults
SMALL_KWARGS: dict[str, dict] = {"schedgym/JobShop-v0": {"n_jobs": 3, "n_machines": 3}}
ALL_IDS = sorted(ENV_IDS)


def small_env(env_id: str) -> gym.Env:
    return gym.make(env_id, **SMALL_KWARGS.get(env_id, {}))


def random_observations(env: gym.Env, n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """``n`` observations from random legal play (episodes restart as needed)."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    out = [obs]
    while len(out) < n:
        legal = np.flatnonzero(obs["action_mask"])
        obs, _, term, trunc, _ = env.step(int(rng.choice(legal)))
        if term or trunc:
            obs, _ = env.reset(seed=int(rng.integers(1 << 30)))
        out.append(obs)
    return out


@pytest.mark.parametrize("env_id", ALL_IDS)
@pytest.mark.parametrize("conv", ["gin", "gatv2"])
def test_logits_masked_and_batched_like_single(env_id: str, conv: str) -> None:
    env = small_env(env_id)
    torch.manual_seed(0)
    model = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=16, n_layers=2, conv=conv)).eval()
    obs = random_observations(env, 6)
    batch = stack_observations(obs)
    with torch.no_grad():
        logits, value = model(batch)
        # SB3 hands every key over as float32: same result
        logits_f, value_f = model({k: torch.as_tensor(v, dtype=torch.float32) for k, v in batch.items()})
    n_max = env.observation_space["nodes"].shape[0]
    assert logits.shape == (6, n_max) and value.shape == (6,)
    torch.testing.assert_close(logits, logits_f)
    torch.testing.assert_close(value, value_f)
    for i, o in enumerate(obs):
        mask = o["action_mask"].astype(bool)
        assert torch.all(logits[i, ~torch.as_tensor(mask)] == MASKED_LOGIT)
        assert torch.all(logits[i, torch.as_tensor(mask)] > MASKED_LOGIT / 2)
        with torch.no_grad():
            single, v1 = model(stack_observations([o]))
        torch.testing.assert_close(single[0], logits[i], rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(v1[0], value[i], rtol=1e-4, atol=1e-4)
    # gradients reach every parameter through a PPO-like loss on legal actions
    model.train()
    logits, value = model(batch)
    dist = torch.distributions.Categorical(logits=logits)
    acts = torch.as_tensor([int(np.flatnonzero(o["action_mask"])[0]) for o in obs])
    (-(dist.log_prob(acts)).mean() + value.pow(2).mean() - 0.01 * dist.entropy().mean()).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert model.node_in.weight.grad.abs().sum() > 0


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match="conv"):
        GNNConfig(conv="mlp")
    with pytest.raises(ValueError, match="widht"):
        GNNConfig.from_dict({"widht": 3})


def test_compatible_explains_mismatch() -> None:
    a = GraphSpec(10, 10, 8, 2, 2, 3)
    assert compatible(a, GraphSpec(500, 900, 8, 1, 2, 3)) is None  # sizes may differ
    why = compatible(a, GraphSpec(10, 10, 5, 2, 4, 3))
    assert "node_features" in why and "n_edge_types" in why


def _checkpoint(tmp_path: Path, env_id: str, policy_env_kwargs: dict | None = None) -> Path:
    env = small_env(env_id)
    torch.manual_seed(0)
    model = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=16, n_layers=1))
    return save_checkpoint(
        tmp_path / "last.pt", model, env_id=env_id, env_kwargs=SMALL_KWARGS.get(env_id, {}),
        policy_env_kwargs=policy_env_kwargs or {}, backend="sb3", timesteps=0,
    )


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_checkpoint_is_a_policy(tmp_path: Path, env_id: str) -> None:
    path = _checkpoint(tmp_path, env_id)
    assert "gnn" in policy_entries()
    env = small_env(env_id)
    greedy = make_policy(f"gnn:{path}")
    r1 = run_episode(env, greedy, seed=3)
    r2 = run_episode(env, make_policy(f"gnn:{tmp_path}"), seed=3)  # a run folder -> last/best .pt
    assert r1.validated_objective is not None and r1.objective == r2.objective  # greedy: deterministic
    best = make_policy(f"gnn:{path}#k=4")
    rk = run_episode(env, best, seed=3)
    assert rk.validated_objective is not None and rk.extra["k"] == 4
    assert rk.objective == pytest.approx(rk.extra["best_of_k"])
    # rollout 0 is the greedy episode, so best-of-k is never worse than greedy
    assert rk.extra["greedy"] == pytest.approx(r1.objective)
    assert not env.unwrapped.objective.better(r1.objective, rk.objective)
    sampled = make_policy(f"gnn:{path}#sample")
    assert run_episode(env, sampled, seed=1).validated_objective is not None


def test_policy_env_kwargs_and_errors(tmp_path: Path) -> None:
    path = _checkpoint(tmp_path, "schedgym/JobShop-v0", {"schedule_builder": "active"})
    pol = make_policy(f"gnn:{path}")
    assert pol.env_kwargs == {"schedule_builder": "active"}
    with pytest.raises(ValueError, match="known options"):
        make_policy(f"gnn:{path}#beam=3")
    with pytest.raises(PolicyError, match="checkpoint not found"):
        make_policy(f"gnn:{tmp_path / 'nope.pt'}")
    with pytest.raises(ValueError, match="checkpoint"):
        make_policy("gnn")
    (tmp_path / "bad.pt").write_bytes(b"")
    torch.save({"x": 1}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not a schedgym GNN checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")


def test_trained_on_small_acts_on_large(tmp_path: Path) -> None:
    """The policy is size-agnostic: a 3x3-trained checkpoint schedules a 100x20 Taillard-sized instance."""
    path = _checkpoint(tmp_path, "schedgym/JobShop-v0")
    env = gym.make("schedgym/JobShop-v0", n_jobs=30, n_machines=20)
    res = run_episode(env, make_policy(f"gnn:{path}"), seed=0)
    assert res.steps == 600 and res.validated_objective == res.objective


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_sb3_policy_per_node_logits(env_id: str) -> None:
    """The SB3 policy's distribution is over nodes (N_max logits), masked, with finite entropy."""
    from sb3_contrib.common.maskable.utils import get_action_masks
    from stable_baselines3.common.vec_env import DummyVecEnv

    from schedgym.agents.gnn.sb3 import GNNMaskablePolicy

    venv = DummyVecEnv([lambda: small_env(env_id)])
    policy = GNNMaskablePolicy(venv.observation_space, venv.action_space, lambda _: 1e-3, model={"hidden": 16, "n_layers": 1})
    obs = venv.reset()
    masks = get_action_masks(venv)
    obs_t, _ = policy.obs_to_tensor(obs)
    dist = policy.get_distribution(obs_t, masks)
    probs = dist.distribution.probs.detach().numpy()
    assert probs.shape == (1, venv.action_space.n)
    assert probs[~masks].sum() == 0 and probs.sum() == pytest.approx(1.0, abs=1e-5)
    actions, values, logp = policy(obs_t, action_masks=masks)
    assert masks[0, int(actions[0])] and values.shape == (1, 1) and torch.isfinite(logp).all()
    v, lp, ent = policy.evaluate_actions(obs_t, actions, torch.as_tensor(masks))
    assert torch.isfinite(ent).all() and torch.allclose(lp, logp)
    # no flattening MLP / action_net: the logits come from the per-node head
    assert not hasattr(policy, "action_net") and not hasattr(policy, "mlp_extractor")


def test_checkpoint_refused_when_features_mean_something_else() -> None:
    """Same feature count, different meaning: the released job-shop policy refuses such an env."""
    import dataclasses

    pol = make_policy("gnn:jobshop-10x10")
    assert pol.spec.node_feature_names[0] == "processing_time"
    env = gym.make("schedgym/JobShop-v0", n_jobs=3, n_machines=3)
    env.reset(seed=0)
    base = env.unwrapped
    run_episode(env, pol, seed=0)  # the matching env is fine
    names = list(base.graph_spec.node_feature_names)
    names[0], names[1] = names[1], names[0]
    base.graph_spec = dataclasses.replace(base.graph_spec, node_feature_names=tuple(names))
    with pytest.raises(ValueError, match="node feature 0 means 'completion_lower_bound' in the env but 'processing_time'"):
        pol.reset(base, seed=0)


class _RunsCode:
    """What a crafted checkpoint carries: unpickling it calls ``_mark`` (here: writes a file)."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):  # noqa: D105
        return (Path.write_text, (self.target, "ran"))


def test_checkpoints_load_weights_only_and_a_crafted_file_is_refused(tmp_path: Path) -> None:
    """``torch.load(weights_only=True)``: a file whose unpickling would run code is refused with a clear
    message, and the code does not run (before the fix, ``weights_only=False`` ran it)."""
    marker = tmp_path / "ran.txt"
    evil = tmp_path / "evil.pt"
    good = _checkpoint(tmp_path, "schedgym/JobShop-v0")
    payload = torch.load(good, weights_only=True)  # what we write is weights-only readable
    payload["validation"] = {"val/objective": _RunsCode(marker)}
    torch.save(payload, evil)
    with pytest.raises(PolicyError, match="refused.*arbitrary unpickling"):
        make_policy(f"gnn:{evil}")
    with pytest.raises(ValueError, match="refused.*arbitrary unpickling"):
        load_checkpoint(evil)
    assert not marker.exists()
    # not a checkpoint at all: one clear error naming the file, no traceback from torch
    (tmp_path / "notes.pt").write_text("not a checkpoint\n")
    (tmp_path / "empty.pt").write_bytes(b"")
    for name in ("notes.pt", "empty.pt"):
        with pytest.raises(PolicyError, match=f"{name}.*not a readable GNN checkpoint"):
            make_policy(f"gnn:{tmp_path / name}")


def test_released_checkpoint_is_weights_only_and_numpy_values_are_saved_plain(tmp_path: Path) -> None:
    from schedgym.agents.gnn.checkpoint import RELEASED_DIR

    payload = torch.load(RELEASED_DIR / "jobshop-10x10.pt", weights_only=True)
    assert payload["format"] == "schedgym-gnn/1"
    module, meta = load_checkpoint("jobshop-10x10")
    assert meta["env_id"] == "schedgym/JobShop-v0"
    env = small_env("schedgym/JobShop-v0")
    model = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=8, n_layers=1))
    path = save_checkpoint(tmp_path / "np.pt", model, env_id="schedgym/JobShop-v0", env_kwargs={"n_jobs": np.int64(3)},
                           policy_env_kwargs={}, backend="sb3", timesteps=np.int64(5),
                           validation={"val/objective": np.float64(1.5)})
    _, meta = load_checkpoint(path)
    assert meta["validation"] == {"val/objective": 1.5} and meta["env_kwargs"] == {"n_jobs": 3}
