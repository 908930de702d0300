"""``agent.init`` on both backends, runs with no PPO steps, and self-labeling rounds
(:mod:`schedgym.train.selflabel`) on tiny job shops."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest
import torch
import yaml

import schedgym.envs  # noqa: F401 - registers the ids
from schedgym.agents import make_policy, run_episode
from schedgym.agents.gnn import load_checkpoint
from schedgym.train import selflabel
from schedgym.train.cli import main

TINY = [
    "env=jobshop-6x6",
    "env.kwargs.n_jobs=4",
    "env.kwargs.n_machines=3",
    "agent.model.hidden=16",
    "agent.model.n_layers=1",
    "agent.model.head_hidden=16",
    "agent.ppo.n_steps=32",
    "agent.ppo.batch_size=32",
    "agent.ppo.n_epochs=1",
    "trainer.n_envs=1",
    "trainer.vec_env=dummy",
    "trainer.progress_bar=false",
    "trainer.checkpoint_every=32",
    "trainer.eval_every=0",
    "val.seeds=[0,1]",
    "val.env_kwargs={}",
    "val.baselines=[mwkr:nondelay]",
]
RLLIB = ["backend=rllib", "rllib.num_cpus=1", "rllib.num_env_runners=0"]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)[0].state_dict()


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def start(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny checkpoint (fresh weights of seed 7, no PPO steps) to start from."""
    run = tmp_path_factory.mktemp("start") / "run"
    assert main(["preset=jobshop-small", f"run_dir={run}", *TINY, "trainer.seed=7", "trainer.total_steps=0"]) == 0
    return run / "last.pt"


def test_zero_steps_writes_every_checkpoint(start: Path) -> None:
    run = start.parent
    for name in ("best.pt", "last.pt", "checkpoints/step_0.pt", "checkpoints/state/last.zip",
                 "checkpoints/state/manifest.json", "summary.json"):
        assert (run / name).is_file(), name
    assert json.loads((run / "summary.json").read_text())["timesteps"] == 0
    assert same(weights(run / "last.pt"), weights(run / "checkpoints/step_0.pt"))
    assert load_checkpoint(run / "best.pt")[1]["validation"]["val/objective"] > 0
    # the run resumes into PPO steps from its checkpoint set
    assert main([f"resume={run}", "trainer.total_steps=32"]) == 0
    assert json.loads((run / "summary.json").read_text())["timesteps"] == 32


def test_zero_steps_rllib(tmp_path: Path, start: Path) -> None:
    pytest.importorskip("ray")
    run = tmp_path / "run"
    assert main(["preset=jobshop-small", f"run_dir={run}", *TINY, *RLLIB, "trainer.total_steps=0",
                 f"agent.init={start}"]) == 0
    for name in ("best.pt", "last.pt", "checkpoints/step_0.pt", "checkpoints/state/rllib",
                 "checkpoints/state/manifest.json", "summary.json"):
        assert (run / name).exists(), name
    assert same(weights(run / "last.pt"), weights(start))  # read back from the learner: the init's weights
    assert json.loads((run / "summary.json").read_text())["timesteps"] == 0
    # resuming the finished run has nothing left to do: no second validation, no checkpoint rewritten
    written = {name: (run / name).stat().st_mtime_ns for name in ("checkpoints/step_0.pt", "best.pt", "last.pt")}
    metrics = (run / "metrics.jsonl").read_bytes()
    assert main([f"resume={run}"]) == 0
    assert {name: (run / name).stat().st_mtime_ns for name in written} == written
    assert (run / "metrics.jsonl").read_bytes() == metrics


@pytest.mark.parametrize("backend", [[], RLLIB], ids=["sb3", "rllib"])
def test_init_starts_ppo_and_imitation_from_the_checkpoint(tmp_path: Path, start: Path, backend: list[str]) -> None:
    if backend:
        pytest.importorskip("ray")
    run = tmp_path / "run"
    # the expert is the init checkpoint itself, greedy: a clone that starts from its weights agrees with it on
    # every state before the first epoch (fresh weights of another seed would not)
    rc = main(["preset=jobshop-small", f"run_dir={run}", *TINY, *backend, "trainer.seed=3", "trainer.total_steps=32",
               f"agent.init={start}", f"imitation.expert=gnn:{start}", "imitation.episodes=3", "imitation.epochs=1",
               "imitation.lr=1e-9", "agent.ppo.n_steps=32"])
    assert rc == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    epoch0 = next(r for r in records if r.get("imitation/epoch") == 0.0)
    assert epoch0["imitation/accuracy"] == 1.0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["init"] == str(start) and summary["timesteps"] >= 32
    w0 = weights(run / "checkpoints/step_0.pt")  # the clone (lr 1e-9: the init's weights to float rounding)
    init = weights(start)
    assert all(torch.allclose(w0[k], init[k], atol=1e-6) for k in init)
    assert not same(weights(run / "last.pt"), init)  # PPO moved them


def test_init_without_imitation_is_step_0(tmp_path: Path, start: Path) -> None:
    run = tmp_path / "run"
    assert main(["preset=jobshop-small", f"run_dir={run}", *TINY, "trainer.seed=3", "trainer.total_steps=32",
                 f"agent.init=gnn:{start}"]) == 0
    assert same(weights(run / "checkpoints/step_0.pt"), weights(start))


def test_released_name_resolves(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["preset=jobshop-small", f"run_dir={run}", *TINY[:2], "agent=gnn-base", "trainer.n_envs=1",
                 "trainer.total_steps=0", "trainer.progress_bar=false", "val.seeds=0", "agent.init=jobshop-10x10"]) == 0
    assert same(weights(run / "last.pt"), weights(Path(load_checkpoint("jobshop-10x10")[1]["path"])))


@pytest.mark.parametrize(
    "extra, words",
    [
        (["agent.init=/no/such/ckpt.pt"], ["agent.init", "not found"]),
        (["agent.init=jobshop-10x10"], ["agent.init", "agent.model.hidden=16", "64"]),  # GIN 3x64 vs 1x16
        (["agent.init=jobshop-10x10#k=8"], ["agent.init", "#"]),
    ],
    ids=["missing", "model", "options"],
)
def test_bad_init_fails_before_anything_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   extra: list[str], words: list[str]) -> None:
    run = tmp_path / "run"
    assert main(["preset=jobshop-small", f"run_dir={run}", *TINY, *extra]) == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words), err
    assert not run.exists()


def test_init_from_another_env_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """gnn:isb-lawrence has jobshop-small's model (GIN 2x32) but the ISB job shop's node features."""
    run = tmp_path / "run"
    assert main(["preset=jobshop-small", f"run_dir={run}", "trainer.total_steps=0", "agent.init=isb-lawrence"]) == 2
    err = capsys.readouterr().err
    assert "agent.init" in err and "ISBJobShop" in err and "node_features" in err, err
    assert not run.exists()


def test_selflabel_rounds(tmp_path: Path, start: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two real rounds: round 1 is labeled by ``start``, round 2 by round 1's output; a rerun reuses them."""
    root = tmp_path / "sl"
    args = ["rounds=2", "k=4", f"init={start}", f"run_dir={root}", "figure=false", *TINY,
            "imitation.episodes=4", "imitation.epochs=2", "imitation.lr=3e-3"]
    assert selflabel.main(args) == 0
    summary = json.loads((root / "selflabel.json").read_text())
    assert [r["round"] for r in summary["rounds"]] == [0, 1, 2]
    r1 = yaml.safe_load((root / "round_1" / "config.yaml").read_text())
    r2 = yaml.safe_load((root / "round_2" / "config.yaml").read_text())
    assert r1["agent"]["init"] == str(start) and r1["imitation"]["expert"] == f"gnn:{start}#k=4"
    assert r2["agent"]["init"] == str(root / "round_1" / "best.pt")
    assert r2["imitation"]["seed"] == r1["imitation"]["seed"] + 4  # new instances each round
    assert r1["trainer"]["total_steps"] == 0
    for r in (1, 2):
        row = summary["rounds"][r]
        assert row["label_states"] > 0 and row["val_objective"] > 0 and row["ppo_steps"] == 0
    assert not same(weights(root / "round_1" / "best.pt"), weights(start))  # the cloning moved the weights
    assert not same(weights(root / "round_2" / "best.pt"), weights(root / "round_1" / "best.pt"))
    chosen = summary["rounds"][summary["chosen_round"]]
    assert chosen["val_objective"] == min(r["val_objective"] for r in summary["rounds"])
    assert same(weights(root / "best.pt"), weights(Path(chosen["checkpoint"])))
    policy = make_policy(f"gnn:{root / 'best.pt'}")
    env = gym.make("schedgym/JobShop-v0", n_jobs=4, n_machines=3, **policy.env_kwargs)
    assert run_episode(env, policy, seed=5).validated_objective is not None
    # a rerun with one more round reuses rounds 1 and 2 (their weights unchanged)
    before = weights(root / "round_2" / "best.pt")
    assert not (root / "selflabel.png").exists()
    # (``init=gnn:<path>`` names the same first labeler as ``init=<path>``)
    rerun = [{"rounds=2": "rounds=3", "figure=false": "figure=true", f"init={start}": f"init=gnn:{start}"}.get(a, a)
             for a in args]
    assert selflabel.main(rerun) == 0
    assert same(weights(root / "round_2" / "best.pt"), before)
    assert (root / "selflabel.png").stat().st_size > 0
    assert [r["round"] for r in json.loads((root / "selflabel.json").read_text())["rounds"]] == [0, 1, 2, 3]
    # a rerun with another k would mix two lineages in one folder: refused, naming what differs, nothing changed
    capsys.readouterr()
    other_k = [{"k=4": "k=3"}.get(a, a) for a in args]
    assert selflabel.main(other_k) == 2
    err = capsys.readouterr().err
    assert "round_1" in err and "imitation" in err and "#k=3" in err and "#k=4" in err, err
    assert same(weights(root / "round_2" / "best.pt"), before)
    assert [r["round"] for r in json.loads((root / "selflabel.json").read_text())["rounds"]] == [0, 1, 2, 3]
    # a STOP file stops the run before a round that is not finished: rounds 1-3 are reused, round 4 not started
    (root / "STOP").touch()
    capsys.readouterr()
    assert selflabel.main([{"rounds=2": "rounds=5"}.get(a, a) for a in args]) == 0
    assert "stopping before round 4" in capsys.readouterr().out
    assert not (root / "round_4").exists()
    assert [r["round"] for r in json.loads((root / "selflabel.json").read_text())["rounds"]] == [0, 1, 2, 3]


def test_selflabel_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert selflabel.main(["rounds=1", f"run_dir={tmp_path / 'x'}", "k=1"]) == 2
    assert "k must be >= 2" in capsys.readouterr().err
    assert selflabel.main(["rounds=1", f"run_dir={tmp_path / 'x'}", "agent.init=jobshop-10x10"]) == 2
    assert "agent.init is set by the driver" in capsys.readouterr().err
    assert selflabel.main(["rounds=1", f"run_dir={tmp_path / 'x'}", "init=/no/such.pt"]) == 2
    assert "agent.init" in capsys.readouterr().err
    assert selflabel.main(["rounds=1", f"run_dir={tmp_path / 'x'}", "init=gnn:jobshop-10x10#k=4"]) == 2
    assert "'init'" in (err := capsys.readouterr().err) and "acting options" in err, err
    assert not (tmp_path / "x").exists()


def test_released_selflabel_checkpoint() -> None:
    """``gnn:jobshop-selflabel`` (round 8 of docs/jobshop-selflabel.md's run) loads by name without arbitrary
    unpickling, is not the released 10x10 policy it started from, and reproduces its greedy ta01 makespan
    (1396; gnn:jobshop-10x10: 1420)."""
    from schedgym.agents.gnn.checkpoint import RELEASED_DIR

    assert torch.load(RELEASED_DIR / "jobshop-selflabel.pt", weights_only=True)
    module, meta = load_checkpoint("jobshop-selflabel")
    assert meta["env_id"] == "schedgym/JobShop-v0" and meta["policy_env_kwargs"] == {"schedule_builder": "nondelay"}
    assert meta["config"]["agent"]["init"].endswith("round_7/best.pt") and meta["timesteps"] == 0
    assert not same(module.state_dict(), load_checkpoint("jobshop-10x10")[0].state_dict())
    policy = make_policy("gnn:jobshop-selflabel")
    env = gym.make("schedgym/JobShop-v0", instance="ta01", **policy.env_kwargs)
    result = run_episode(env, policy, seed=0)
    assert result.validated_objective == 1396.0
