"""The imitation warm start (``imitation.expert=<spec>``): cloning, the handover to PPO, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from schedgym.agents import make_policy
from schedgym.agents.gnn import load_checkpoint
from schedgym.agents.gnn.model import GNNConfig, GraphActorCritic
from schedgym.agents.gnn.policy import GNNPolicy
from schedgym.envs.core import graph_spec_of
from schedgym.train.cli import main, train
from schedgym.train.common import env_kwargs, make_env
from schedgym.train.config import ConfigError, resolve_config
from schedgym.train.imitation import collect, make_expert, warm_start

#: the jobshop-small preset (random 6x6, non-delay) cloning MWKR
CLONE = ["imitation.expert=mwkr:nondelay", "imitation.episodes=30", "imitation.epochs=30", "imitation.holdout=0.2",
         "imitation.seed=0", "trainer.seed=0"]


def _module(cfg) -> GraphActorCritic:
    env = make_env(cfg.env.id, env_kwargs(cfg))
    space = env.observation_space
    env.close()
    torch.manual_seed(0)
    return GraphActorCritic(graph_spec_of(space), GNNConfig.from_dict(OmegaConf.to_container(cfg.agent.model)))


def test_the_clone_acts_like_the_expert_on_held_out_states() -> None:
    torch.set_num_threads(1)
    cfg = resolve_config("jobshop-small", CLONE)
    module = _module(cfg)
    report = warm_start(module, cfg)
    assert report.episodes == 30 and report.holdout_states > 0
    assert report.holdout_accuracy is not None and report.holdout_accuracy >= 0.9, report
    # independently of the warm start's own count: the greedy GNN policy on the expert's own trajectories of
    # episodes never seen in training (seeds past the 30 demonstrations), state by state
    policy = GNNPolicy(module=module.eval(), meta={"module": module.extra_state()}, threads=None)
    expert = make_expert(cfg)
    env = make_env(cfg.env.id, env_kwargs(cfg))
    agree = with_choice = agree_with_choice = total = 0
    for seed in range(1000, 1005):
        obs, info = env.reset(seed=seed)
        expert.reset(env.unwrapped, seed)
        policy.reset(env.unwrapped, seed)
        done = False
        while not done:
            a_expert, a_clone = int(expert.act(obs, info)), int(policy.act(obs, info))
            total += 1
            agree += a_expert == a_clone
            if np.count_nonzero(obs["action_mask"]) > 1:
                with_choice += 1
                agree_with_choice += a_expert == a_clone
            obs, _, term, trunc, info = env.step(a_expert)
            done = term or trunc
    env.close()
    assert agree / total >= 0.9, (agree, total)
    assert with_choice > 0 and agree_with_choice / with_choice >= 0.8, (agree_with_choice, with_choice)


def test_demonstrations_carry_returns_and_unpadded_states() -> None:
    cfg = resolve_config("jobshop-small", ["imitation.expert=spt:nondelay", "agent.ppo.gamma=1.0"])
    demos = collect(cfg, make_expert(cfg), episodes=2, seed=5)
    assert len(demos) == len(demos.returns) == len(demos.episode) and len(demos.objectives) == 2
    for state, action in zip(demos.states, demos.actions):
        assert state["nodes"].shape[0] == int(state["n_nodes"].reshape(-1)[0]) and state["action_mask"][action]
    # gamma = 1: the return at an episode's first state is the episode's whole reward
    first = [demos.episode.index(i) for i in range(2)]
    env = make_env(cfg.env.id, env_kwargs(cfg))
    for i, start in enumerate(first):
        policy = make_policy("spt:nondelay", env_id=cfg.env.id)
        obs, info = env.reset(seed=5 + i)
        policy.reset(env.unwrapped, 5 + i)
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, info = env.step(policy.act(obs, info))
            total += r
            done = term or trunc
        assert demos.returns[start] == pytest.approx(total)
    env.close()


def _tiny(run_dir: Path, extra: list[str]) -> list[str]:
    return ["preset=jobshop-small", f"run_dir={run_dir}", "trainer.total_steps=512", "trainer.n_envs=2",
            "trainer.checkpoint_every=256", "trainer.eval_every=256", "trainer.progress_bar=false",
            "agent.ppo.n_steps=128", "agent.ppo.n_epochs=2", "val.seeds=[0,1]", *extra]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    module, _ = load_checkpoint(path)
    return module.state_dict()


def test_training_continues_into_ppo_from_the_clone(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    argv = _tiny(run, ["imitation.expert=mwkr:nondelay", "imitation.episodes=4", "imitation.epochs=3"])
    assert main(argv) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if "imitation/epoch" in r]
    assert [r["imitation/epoch"] for r in epochs] == [0, 1, 2, 3] and all(r["step"] == 0 for r in epochs)
    clone_val = [r for r in records if r["step"] == 0 and "val/objective" in r]
    assert len(clone_val) == 1 and "imitation/final_accuracy" in clone_val[0]
    assert any(r["step"] > 0 and "train/policy_gradient_loss" in r for r in records)  # PPO updated after it
    # PPO started from the clone's weights (step_0.pt) and moved away from them
    clone, start, last = (_weights(p) for p in (run / "checkpoints" / "imitation.pt",
                                                 run / "checkpoints" / "step_0.pt", run / "last.pt"))
    assert all(torch.equal(clone[k], start[k]) for k in clone)
    assert any(not torch.equal(clone[k], last[k]) for k in clone)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["timesteps"] >= 512
    assert summary["imitation"]["expert"] == "mwkr:nondelay" and summary["imitation"]["train_states"] > 0
    assert summary["best_step"] is not None  # the clone was validated like any checkpoint
    # the training-curve figure reads the same log (the clone's validation at step 0, PPO's after it)
    from schedgym.train.curves import main as curves_main, series

    assert series(records, "val/objective")[0][0] == 0
    assert curves_main([str(run), str(tmp_path / "curve.png")]) == 0
    assert (tmp_path / "curve.png").stat().st_size > 1000
    assert curves_main([str(tmp_path / "no-run"), str(tmp_path / "x.png")]) == 2
    assert "no metrics.jsonl" in capsys.readouterr().err


def test_resume_does_not_imitate_again(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(_tiny(run, ["imitation.expert=mwkr:nondelay", "imitation.episodes=2", "imitation.epochs=1"])) == 0
    n_epoch_records = sum("imitation/epoch" in line for line in (run / "metrics.jsonl").read_text().splitlines())
    assert main([f"resume={run}", "trainer.total_steps=768"]) == 0
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert sum("imitation/epoch" in line for line in lines) == n_epoch_records
    assert json.loads((run / "summary.json").read_text())["timesteps"] >= 768


@pytest.mark.parametrize(
    "expert, words",
    [
        ("mwkrr:nondelay", ["imitation.expert", "unknown policy 'mwkrr'"]),
        ("etf", ["imitation.expert", "does not serve"]),  # a SoC rule on the job shop
        ("mwkr:active", ["imitation.expert", "schedule_builder"]),  # needs another env than env.kwargs builds
        ("gnn:/nonexistent/ckpt.pt", ["imitation.expert"]),
    ],
)
def test_a_bad_expert_fails_before_anything_is_written(tmp_path: Path, capsys, expert: str, words: list[str]) -> None:
    run = tmp_path / "run"
    assert main(_tiny(run, [f"imitation.expert={expert}"])) == 2
    err = capsys.readouterr().err
    for w in words:
        assert w in err, err
    assert not run.exists()


def test_imitation_values_are_checked_and_listed(capsys) -> None:
    with pytest.raises(ConfigError, match="imitation.episodes"):
        resolve_config("jobshop-small", ["imitation.expert=mwkr:nondelay", "imitation.episodes=0"])
    with pytest.raises(ConfigError, match="imitation.holdout"):
        resolve_config("jobshop-small", ["imitation.expert=mwkr:nondelay", "imitation.holdout=1.0"])
    with pytest.raises(ConfigError, match="imitation.expret"):
        resolve_config("jobshop-small", ["imitation.expret=mwkr:nondelay"])
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for key in ("imitation.expert", "imitation.episodes", "imitation.epochs", "imitation.holdout"):
        assert key in out


def test_rllib_starts_from_the_clone(tmp_path: Path, monkeypatch) -> None:
    """On RLlib the clone is set on the learner and synced to the env runners: ``step_0.pt`` (read back from
    the learner) is the clone, and PPO moves on from it."""
    pytest.importorskip("ray")
    from schedgym.train import rllib_backend

    synced: list[bool] = []
    warm_start_on_rllib = rllib_backend._imitation_warm_start

    def checked(algo, module, *args, **kwargs):
        report = warm_start_on_rllib(algo, module, *args, **kwargs)
        sampler = algo.env_runner_group.local_env_runner.module  # samples when there are 0 env runners
        synced.append(all(torch.allclose(v, sampler.gnn.state_dict()[k].cpu()) for k, v in module.state_dict().items()))
        return report

    monkeypatch.setattr(rllib_backend, "_imitation_warm_start", checked)
    run = tmp_path / "run"
    argv = ["preset=jobshop-small", f"run_dir={run}", "backend=rllib", "rllib.num_cpus=1", "rllib.num_env_runners=0",
            "trainer.total_steps=120", "trainer.checkpoint_every=60", "trainer.eval_every=60",
            "trainer.progress_bar=false", "agent.ppo.n_steps=60", "agent.ppo.batch_size=30", "agent.ppo.n_epochs=2",
            "val.seeds=[0,1]", "val.baselines=[]", "imitation.expert=mwkr:nondelay", "imitation.episodes=3",
            "imitation.epochs=2", "imitation.dagger_rounds=1", "imitation.dagger_episodes=2"]  # DAgger on RLlib too
    assert main(argv) == 0
    clone, start, last = (_weights(p) for p in (run / "checkpoints" / "imitation.pt",
                                                 run / "checkpoints" / "step_0.pt", run / "last.pt"))
    assert all(torch.allclose(clone[k], start[k]) for k in clone)
    assert any(not torch.equal(clone[k], last[k]) for k in clone)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["imitation"]["expert"] == "mwkr:nondelay" and summary["timesteps"] >= 120
    assert [r["round"] for r in summary["imitation"]["dagger"]] == [1]
    assert synced == [True]  # the env runner that samples the first iteration acts with the clone


def test_validation_of_the_sampling_policy_is_seeded() -> None:
    """``val.sample=true`` validates ``#sample`` (the mode a policy whose greedy argmax can loop is deployed
    in): deterministic for the validation seeds, and not the greedy policy's result."""
    from schedgym.train.common import Validator

    over = ["val.seeds=[0,1,2,3,4,5]", "val.baselines=[]"]
    greedy_cfg = resolve_config("jobshop-small", over)
    sample_cfg = resolve_config("jobshop-small", [*over, "val.sample=true"])
    module = _module(greedy_cfg)  # random weights: a spread-out policy
    greedy = Validator(greedy_cfg).run(module)["val/objective"]
    sampled = [Validator(sample_cfg).run(module)["val/objective"] for _ in range(2)]
    assert sampled[0] == sampled[1] and sampled[0] != greedy


@pytest.mark.parametrize("env_id", sorted(__import__("schedgym.envs", fromlist=["ENV_IDS"]).ENV_IDS))
def test_cloning_runs_on_every_registered_id(env_id: str) -> None:
    """The warm start knows no domain: on every id (registered defaults: small instances) the domain-free
    ``random`` expert's episodes are collected, batched and trained on, and the weights move."""
    cfg = resolve_config(None, [f"env.id={env_id}", "imitation.expert=random", "imitation.episodes=2",
                                "imitation.epochs=1", "imitation.holdout=0.5", "agent.model.hidden=8",
                                "agent.model.n_layers=1", "agent.model.head_hidden=8"])
    module = _module(cfg)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    report = warm_start(module, cfg)
    assert report.train_states > 0 and report.holdout_states > 0
    assert 0.0 <= report.accuracy <= 1.0 and report.holdout_accuracy is not None
    assert any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


class _IllegalExpert:
    """An expert that picks a masked-out node on its third decision."""

    name = "illegal"
    env_kwargs: dict = {}

    def reset(self, env, seed=None) -> None:
        self.steps = 0

    def act(self, obs, info) -> int:
        self.steps += 1
        mask = np.asarray(obs["action_mask"], dtype=bool)
        return int(np.flatnonzero(~mask)[0] if self.steps == 3 else np.flatnonzero(mask)[0])


def test_an_expert_failing_mid_episode_is_named_with_where() -> None:
    cfg = resolve_config("jobshop-small", ["imitation.expert=illegal", "imitation.episodes=2"])
    with pytest.raises(RuntimeError, match=r"imitation.expert 'illegal' .* episode 0 \(seed 0\) at step 2"):
        collect(cfg, _IllegalExpert(), episodes=2, seed=0)
