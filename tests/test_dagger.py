"""DAgger rounds of the imitation warm start (``imitation.dagger_rounds``, :mod:`schedgym.train.imitation`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from schedgym.agents import make_policy
from schedgym.train.cli import main
from schedgym.train.common import env_kwargs, make_env
from schedgym.train.config import ConfigError, resolve_config
from schedgym.train.imitation import collect, make_expert, warm_start
from test_imitation import _module  # tests/test_imitation.py: a seeded module for the config's env

#: the jobshop-small preset (random 6x6, non-delay) cloning MWKR, then two DAgger rounds
DAGGER = ["imitation.expert=mwkr:nondelay", "imitation.episodes=12", "imitation.epochs=4", "imitation.holdout=0.25",
          "imitation.seed=0", "trainer.seed=0", "imitation.dagger_rounds=2", "imitation.dagger_episodes=5",
          "imitation.dagger_epochs=2"]


def _random_actor(seed: int):
    rng = np.random.default_rng(seed)

    def act(obs) -> int:
        legal = np.flatnonzero(obs["action_mask"])
        return int(legal[rng.integers(legal.size)])

    return act


def test_the_expert_labels_the_states_another_policy_reaches() -> None:
    """With an actor, the recorded states are the actor's trajectory and each label is what a fresh expert
    picks at that very state (replayed independently)."""
    cfg = resolve_config("jobshop-small", ["imitation.expert=mwkr:nondelay"])
    reached = collect(cfg, make_expert(cfg), episodes=2, seed=7, actor=_random_actor(0))
    assert len(reached) == len(reached.played) == len(reached.returns) and len(reached.objectives) == 2
    env = make_env(cfg.env.id, env_kwargs(cfg))
    i = 0
    for episode in range(2):
        expert = make_policy("mwkr:nondelay", env_id=cfg.env.id)
        obs, info = env.reset(seed=7 + episode)
        expert.reset(env.unwrapped, 7 + episode)
        done = False
        while not done:
            n = int(obs["n_nodes"].reshape(-1)[0])
            np.testing.assert_array_equal(reached.states[i]["nodes"], obs["nodes"][:n])
            assert int(expert.act(obs, info)) == reached.actions[i]
            obs, _, term, trunc, info = env.step(reached.played[i])
            done, i = term or trunc, i + 1
    env.close()
    assert i == len(reached)
    # a random actor often differs from MWKR where there is a choice
    assert 0 < np.mean(np.asarray(reached.actions) == np.asarray(reached.played)) < 1


def test_the_expert_as_the_actor_gives_the_demonstrations() -> None:
    """A stateless expert asked twice about a state answers the same: playing its own labels reproduces the
    demonstrations exactly."""
    cfg = resolve_config("jobshop-small", ["imitation.expert=mwkr:nondelay"])
    demos = collect(cfg, make_expert(cfg), episodes=2, seed=3)
    expert = make_expert(cfg)
    played = collect(cfg, expert, episodes=2, seed=3, actor=lambda obs: int(expert.act(obs, {})))
    assert demos.actions == played.actions == played.played == demos.played
    assert demos.returns == played.returns and demos.objectives == played.objectives


def test_dagger_rounds_add_the_clones_states_and_are_reported(one_torch_thread, monkeypatch) -> None:
    from schedgym.train import imitation

    calls: list[tuple[int, int, bool]] = []
    real_collect = imitation.collect

    def recorded(cfg, expert, episodes, seed, actor=None, what="demonstration"):
        calls.append((seed, episodes, actor is not None))
        return real_collect(cfg, expert, episodes, seed, actor=actor, what=what)

    monkeypatch.setattr(imitation, "collect", recorded)
    plain_cfg = resolve_config("jobshop-small", [*DAGGER, "imitation.dagger_rounds=0"])
    plain = warm_start(_module(plain_cfg), plain_cfg)
    cfg = resolve_config("jobshop-small", DAGGER)
    module = _module(cfg)
    records: list[dict] = []
    report = warm_start(module, cfg, log=records.append)
    # demonstrations on seeds 0-11, then the rounds on 12-16 and 17-21: no seed is played twice
    assert calls == [(0, 12, False), (0, 12, False), (12, 5, True), (17, 5, True)]
    assert [r["round"] for r in report.dagger] == [1, 2]
    added = sum(r["states"] for r in report.dagger)
    assert added > 0 and report.train_states == plain.train_states + added
    assert report.holdout_states == plain.holdout_states  # the expert's held-out episodes stay the yardstick
    assert report.episodes == 12 and report.expert_objective == plain.expert_objective
    rounds = [r for r in records if "imitation/dagger_agreement" in r]
    assert [r["imitation/dagger_round"] for r in rounds] == [1.0, 2.0]
    for r, logged in zip(report.dagger, rounds):
        assert r["episodes"] == 5 and r["states"] == logged["imitation/dagger_states"]
        assert r["agreement"] == logged["imitation/dagger_agreement"] and 0.0 < r["agreement"] <= 1.0
        # states with one legal action always agree, so agreement where there is a choice is the lower one
        assert r["agreement_with_choice"] == logged["imitation/dagger_agreement_with_choice"] <= r["agreement"]
        assert r["clone_objective"] == logged["imitation/dagger_objective"]
    epochs = [r["imitation/epoch"] for r in records if "imitation/epoch" in r]
    assert epochs == list(range(0, 4 + 2 * 2 + 1))  # 0 (untrained), 4 cloning epochs, 2 + 2 after the rounds
    # deterministic: the same config gives the same weights
    again = _module(cfg)
    warm_start(again, cfg)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in module.state_dict().items())


def test_dagger_needs_an_expert_that_labels_any_state(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    argv = ["preset=jobshop-small", f"run_dir={run}", "trainer.total_steps=0", "imitation.expert=gnn:jobshop-10x10#k=2",
            "imitation.dagger_rounds=1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "imitation.dagger_rounds" in err and "'gnn:jobshop-10x10#k=2'" in err and "labels_any_state" in err, err
    assert not run.exists()
    with pytest.raises(ConfigError, match="imitation.dagger_rounds"):
        resolve_config("jobshop-small", ["imitation.expert=mwkr:nondelay", "imitation.dagger_rounds=-1"])
    with pytest.raises(ConfigError, match="imitation.dagger_episodes"):
        resolve_config("jobshop-small", ["imitation.expert=mwkr:nondelay", "imitation.dagger_episodes=0"])
    with pytest.raises(ConfigError, match="imitation.dagger_epochs"):
        resolve_config("jobshop-small", ["imitation.expert=mwkr:nondelay", "imitation.dagger_epochs=0"])
    with pytest.raises(ConfigError, match="imitation.dagger_rounds needs imitation.expert"):
        resolve_config("jobshop-small", ["imitation.dagger_rounds=2"])


def test_a_failing_clone_is_named_with_the_round_and_where() -> None:
    cfg = resolve_config("jobshop-small", ["imitation.expert=mwkr:nondelay"])

    def broken(obs) -> int:
        raise ValueError("no logits")

    with pytest.raises(RuntimeError, match=r"the clone failed on schedgym/JobShop-v0 in DAgger round 3 episode 0 "
                                           r"\(seed 4\) at step 0: ValueError: no logits"):
        collect(cfg, make_expert(cfg), episodes=1, seed=4, actor=broken, what="DAgger round 3")

    def illegal(obs) -> int:
        return int(np.flatnonzero(~np.asarray(obs["action_mask"], dtype=bool))[0])

    with pytest.raises(RuntimeError, match=r"the clone failed .* episode 0 \(seed 4\) at step 0: the env refused "
                                           r"its action"):
        collect(cfg, make_expert(cfg), episodes=1, seed=4, actor=illegal, what="DAgger round 1")


@pytest.mark.parametrize("spec, env_id, labels", [
    ("mwkr:nondelay", "schedgym/JobShop-v0", True),
    ("random", "schedgym/JobShop-v0", True),
    ("cpsat:1", "schedgym/JobShop-v0", False),  # replays a plan solved at reset
    ("llumnix-sita", "schedgym/LLMCluster-v0", True),
    ("cluster-rr", "schedgym/LLMCluster-v0", False),  # counts its own dispatches
    ("gnn:jobshop-10x10", "schedgym/JobShop-v0", True),
    ("gnn:jobshop-10x10#k=2", "schedgym/JobShop-v0", False),  # best of k replays a plan made at reset
    ("etf", "schedgym/SoCDAG-v0", False),  # keeps per-PE commitments
    ("mem-lowest-offset", "schedgym/MemoryMap-v0", True),
    ("mem-all-slow", "schedgym/MemoryMap-v0", True),
    ("mem-xla", "schedgym/MemoryMap-v0", False),  # replays a plan made at reset
    ("agent-ttl", "schedgym/LLMServe-v0", True),
    ("vllm-fcfs", "schedgym/LLMServe-v0", True),
    ("disagg-ll", "schedgym/LLMDisagg-v0", True),
    ("disagg-rr", "schedgym/LLMDisagg-v0", False),  # counts its own choices
])
def test_which_policies_label_any_state(spec: str, env_id: str, labels: bool) -> None:
    assert getattr(make_policy(spec, env_id=env_id), "labels_any_state", False) is labels
