"""The training CLI and the SB3 backend: overrides, tiny runs on every id, determinism, resume."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest
import torch
from omegaconf import OmegaConf

import schedgym.envs
from schedgym.agents import make_policy, run_episode
from schedgym.agents.gnn import load_checkpoint
from schedgym.envs import ENV_IDS
from schedgym.train.cli import build, main, train
from schedgym.train.config import ConfigError, list_presets, resolve_config

#: test-size hints (small instances keep CI short); ids not listed use their registered defaults
SMALL_KWARGS: dict[str, dict] = {"schedgym/JobShop-v0": {"n_jobs": 3, "n_machines": 3}}

TINY = [
    "backend=sb3",
    "trainer.total_steps=128",
    "trainer.n_envs=2",
    "trainer.vec_env=dummy",
    "trainer.checkpoint_every=64",
    "trainer.eval_every=64",
    "trainer.progress_bar=false",
    "agent.model.hidden=16",
    "agent.model.n_layers=1",
    "agent.model.head_hidden=16",
    "agent.ppo.n_steps=32",
    "agent.ppo.batch_size=32",
    "agent.ppo.n_epochs=2",
    "agent.ppo.lr=0.003",
    "val.seeds=[0,1]",
    "val.baselines=[]",
]


def tiny_config(env_id: str, run_dir: Path, extra: list[str] | None = None):
    kw = SMALL_KWARGS.get(env_id, {})
    over = [f"env.id={env_id}", f"run_dir={run_dir}", *TINY, *(extra or [])]
    cfg = resolve_config(None, over)
    cfg.env.kwargs = kw
    return cfg


def weights(path: Path) -> dict[str, torch.Tensor]:
    module, _ = load_checkpoint(path)
    return module.state_dict()


# ---------------------------------------------------------------------- config and overrides
def test_presets_resolve() -> None:
    for name in list_presets("train"):
        cfg = resolve_config(name, [])
        assert cfg.env.id in ENV_IDS, name
    cfg = resolve_config("jobshop-small", ["env=jobshop-10x10", "agent.model.hidden=8", "env.kwargs.n_jobs=7"])
    assert cfg.env.kwargs.n_jobs == 7 and cfg.env.kwargs.n_machines == 10 and cfg.agent.model.hidden == 8


@pytest.mark.parametrize(
    "override, key",
    [
        ("trainer.totl_steps=5", "trainer.totl_steps"),
        ("agent.model.hidden=wide", "agent.model.hidden"),
        ("trainer.n_envs=1.5", "trainer.n_envs"),
        ("nonsense=1", "nonsense"),
        ("backend=jax", "backend"),
        ("agent.model.conv=mlp", "conv"),
        ("trainer.total_steps=-1", "trainer.total_steps"),
        ("env=no-such-env-preset", "no-such-env-preset"),
    ],
)
def test_bad_override_fails_before_training(tmp_path: Path, capsys, override: str, key: str) -> None:
    run_dir = tmp_path / "run"
    rc = main(["preset=jobshop-small", f"run_dir={run_dir}", override])
    err = capsys.readouterr().err
    assert rc == 2 and key in err, err
    assert not run_dir.exists()  # nothing was started


def test_bad_env_kwarg_fails_before_training(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    rc = main(["preset=jobshop-small", f"run_dir={run_dir}", "env.kwargs.n_jbs=3"])
    err = capsys.readouterr().err
    assert rc == 2 and "n_jbs" in err and not run_dir.exists()
    rc = main(["preset=jobshop-small", f"run_dir={run_dir}", "env.id=schedgym/Nope-v0"])
    assert rc == 2 and "schedgym/Nope-v0" in capsys.readouterr().err


def test_dry_run_prints_resolved_config(capsys) -> None:
    assert main(["preset=jobshop-small", "dry_run=true", "trainer.seed=7"]) == 0
    out = OmegaConf.create(capsys.readouterr().out)
    assert out.trainer.seed == 7 and out.env.id == "schedgym/JobShop-v0"


# ---------------------------------------------------------------------- tiny runs
@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_tiny_sb3_run_every_id(tmp_path: Path, env_id: str) -> None:
    run_dir = tmp_path / "run"
    cfg = tiny_config(env_id, run_dir)
    summary = train(cfg, run_dir, resume=False)
    assert summary["timesteps"] >= 128 and summary["n_updates"] > 0
    for name in ("config.yaml", "last.pt", "best.pt", "metrics.jsonl", "summary.json", "checkpoints/state/last.zip",
                 "checkpoints/state/trainer_state.json", "checkpoints/state/manifest.json"):
        assert (run_dir / name).is_file(), name
    w0, w1 = weights(run_dir / "checkpoints" / "step_0.pt"), weights(run_dir / "last.pt")
    assert any(not torch.equal(w0[k], w1[k]) for k in w0), "training did not change the policy"
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any("train/value_loss" in d for d in logged) and any("val/objective" in d for d in logged)
    policy = make_policy(f"gnn:{run_dir / 'best.pt'}")
    env = gym.make(env_id, **{**SMALL_KWARGS.get(env_id, {}), **policy.env_kwargs})
    res = run_episode(env, policy, seed=0)
    assert res.validated_objective is not None


def test_sb3_deterministic_for_a_seed(tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        cfg = tiny_config("schedgym/JobShop-v0", tmp_path / name, ["trainer.seed=3"])
        train(cfg, tmp_path / name, resume=False)
        runs.append(weights(tmp_path / name / "last.pt"))
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def _train_in_a_fresh_process(run_dir: Path, overrides: list[str]) -> None:
    """A tiny ``jobshop-small`` run in its own Python process (process-wide settings do not leak between runs)."""
    import os
    import subprocess
    import sys

    code = "import sys; from schedgym.train.cli import main; sys.exit(main(sys.argv[1:]))"
    subprocess.run([sys.executable, "-c", code, "preset=jobshop-small", "env=jobshop-3x3", f"run_dir={run_dir}",
                    *TINY, *overrides],
                   check=True, env={**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"},
                   capture_output=True)


def test_reuse_freed_memory_changes_no_numbers(tmp_path: Path) -> None:
    """The weights a seed gives are the same bit for bit with ``trainer.reuse_freed_memory`` on and off, each run
    in a fresh process (``mallopt`` is process-wide and never undone)."""
    runs = []
    for on in ("false", "true"):
        _train_in_a_fresh_process(tmp_path / on, ["trainer.seed=3", f"trainer.reuse_freed_memory={on}"])
        runs.append(weights(tmp_path / on / "last.pt"))
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_reuse_freed_memory_is_applied_only_when_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``trainer.reuse_freed_memory`` (on by default) sets the process's C allocator before the backend runs;
    off, it is left alone."""
    from schedgym.train import allocator

    calls: list[int] = []
    real = allocator.reuse_freed_memory
    monkeypatch.setattr(allocator, "reuse_freed_memory", lambda: calls.append(1) or real())
    monkeypatch.setattr(allocator, "on_glibc", lambda: True)
    for name, on in (("off", "false"), ("on", "true")):
        cfg = tiny_config("schedgym/JobShop-v0", tmp_path / name, [f"trainer.reuse_freed_memory={on}"])
        train(cfg, tmp_path / name, resume=False)
        assert len(calls) == (1 if on == "true" else 0)
    assert resolve_config("jobshop-small", []).trainer.reuse_freed_memory is True


def test_reuse_freed_memory_on_glibc_and_nothing_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """On glibc every setting is accepted (again on a second call); elsewhere nothing is set and it says so."""
    from schedgym.train import allocator

    if allocator.on_glibc():
        assert allocator.reuse_freed_memory() and allocator.reuse_freed_memory()
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert not allocator.on_glibc() and allocator.reuse_freed_memory() is False


def test_subproc_vec_env_and_cli(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    over = [o for o in TINY if not o.startswith("trainer.vec_env")]
    rc = main(["preset=jobshop-small", f"run_dir={run_dir}", "env=jobshop-3x3", "trainer.vec_env=subproc", *over])
    assert rc == 0
    saved = OmegaConf.load(run_dir / "config.yaml")
    assert saved.trainer.vec_env == "subproc" and saved.env.kwargs.n_jobs == 3
    assert "best.pt" in capsys.readouterr().out


class _Interrupt(Exception):
    pass


def test_resume_after_interruption(tmp_path: Path, monkeypatch) -> None:
    from schedgym.train import sb3_backend

    extra = ["trainer.total_steps=256", "trainer.checkpoint_every=128", "trainer.eval_every=128"]
    full_dir = tmp_path / "full"
    full = train(tiny_config("schedgym/JobShop-v0", full_dir, extra), full_dir, resume=False)

    run_dir = tmp_path / "run"
    original = sb3_backend.TrainCallback.save

    def save_then_crash(self, t, val):  # the run "dies" right after its first checkpoint
        original(self, t, val)
        raise _Interrupt

    monkeypatch.setattr(sb3_backend.TrainCallback, "save", save_then_crash)
    with pytest.raises(_Interrupt):
        train(tiny_config("schedgym/JobShop-v0", run_dir, extra), run_dir, resume=False)
    monkeypatch.setattr(sb3_backend.TrainCallback, "save", original)
    assert load_checkpoint(run_dir / "last.pt")[1]["timesteps"] == 128
    config_before = (run_dir / "config.yaml").read_text()

    cfg, rdir, resuming, _ = build([f"resume={run_dir}"])
    assert resuming and rdir == run_dir
    summary = train(cfg, rdir, resume=True)
    assert summary["timesteps"] == full["timesteps"] == 256
    assert summary["n_updates"] == full["n_updates"]
    assert (run_dir / "config.yaml").read_text() == config_before
    assert load_checkpoint(run_dir / "last.pt")[1]["timesteps"] == 256
    with pytest.raises(ConfigError, match="already holds a run"):
        train(tiny_config("schedgym/JobShop-v0", run_dir, extra), run_dir, resume=False)


def test_model_config_schema_mirrors_gnn_config() -> None:
    """train.config.ModelConfig (mutable, for OmegaConf overrides) must mirror the frozen GNNConfig."""
    import dataclasses

    from schedgym.agents.gnn.model import GNNConfig
    from schedgym.train.config import ModelConfig

    def fields(cls):
        return {f.name: f.default for f in dataclasses.fields(cls)}

    assert fields(ModelConfig) == fields(GNNConfig)


def test_train_cli_shares_the_grammar(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for key in ("preset", "resume", "dry_run", "env.id", "trainer.total_steps", "agent.ppo.lr", "backend"):
        assert f"  {key} " in out, key
    with pytest.raises(SystemExit):
        main(["--version"])
    assert "schedgym" in capsys.readouterr().out
    assert main(["--preset", "jobshop-small"]) == 2  # the old flag style is a usage error naming it
    err = capsys.readouterr().err
    assert "'--preset' is not key=value" in err and err.count("\n") == 1
    assert main([]) == 2 and "preset=" in capsys.readouterr().err
    assert main(["list=true"]) == 0 and "jobshop-small" in capsys.readouterr().out
    assert main(["dry_run=true", "env.kwargs.n_jobs=3"]) == 2  # no env id anywhere
    assert "env.id is required" in capsys.readouterr().err


# ---------------------------------------------------------------------- run folders under faults
EXTRA_256 = ["trainer.total_steps=256", "trainer.checkpoint_every=128", "trainer.eval_every=128"]


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_killed_before_the_first_checkpoint_is_resumable_and_restartable(tmp_path: Path, monkeypatch) -> None:
    """Killed after ``checkpoints/step_0.pt`` but before the first checkpoint set: before the fix
    ``resume=`` said "no checkpoint" and a fresh start said "already holds a run"."""
    from schedgym.train import sb3_backend

    def crash(self, t, val):
        raise _Interrupt

    for how in ("resume", "fresh"):
        run_dir = tmp_path / how
        monkeypatch.setattr(sb3_backend.TrainCallback, "save", crash)
        with pytest.raises(_Interrupt):
            train(tiny_config("schedgym/JobShop-v0", run_dir, EXTRA_256), run_dir, resume=False)
        monkeypatch.undo()
        assert (run_dir / "checkpoints" / "step_0.pt").is_file() and (run_dir / "metrics.jsonl").is_file()
        if how == "resume":
            cfg, rdir, resuming, _ = build([f"resume={run_dir}"])
            summary = train(cfg, rdir, resume=True)
        else:
            summary = train(tiny_config("schedgym/JobShop-v0", run_dir, EXTRA_256), run_dir, resume=False)
        assert summary["timesteps"] == 256 and (run_dir / "summary.json").is_file()
        steps = [r["step"] for r in _records(run_dir) if "val/objective" in r]
        assert steps == sorted(set(steps)) == [128, 256]  # the interrupted attempt left no records


def test_resume_after_a_kill_during_the_checkpoint_swap(tmp_path: Path, monkeypatch) -> None:
    """Killed between moving the old set away and renaming the new one in (the RLlib backend's
    delete-old / rename-new had this window with nothing on disk): the newest complete set is used."""
    from schedgym.train import common, sb3_backend

    full_dir = tmp_path / "full"
    full = train(tiny_config("schedgym/JobShop-v0", full_dir, EXTRA_256), full_dir, resume=False)
    run_dir = tmp_path / "run"
    calls = {"n": 0}
    original_rename = Path.rename

    def rename_then_die(self, target):
        out = original_rename(self, target)
        if Path(target).name == "state.old":  # the second set's swap: old moved away, new not yet in
            calls["n"] += 1
            raise _Interrupt
        return out

    def second_save_dies(self, t, val):
        if t >= 256:
            monkeypatch.setattr(Path, "rename", rename_then_die)
        original(self, t, val)

    original = sb3_backend.TrainCallback.save
    monkeypatch.setattr(sb3_backend.TrainCallback, "save", second_save_dies)
    with pytest.raises(_Interrupt):
        train(tiny_config("schedgym/JobShop-v0", run_dir, EXTRA_256), run_dir, resume=False)
    monkeypatch.undo()
    ck = run_dir / "checkpoints"
    assert calls["n"] == 1 and not (ck / "state").exists() and (ck / "state.old").is_dir()
    found = common.CheckpointSet(run_dir).latest()
    assert found is not None and found[1]["timesteps"] == 256  # the staged set is complete and newest
    cfg, rdir, _, _ = build([f"resume={run_dir}"])
    summary = train(cfg, rdir, resume=True)
    assert summary["timesteps"] == full["timesteps"] == 256
    assert sorted(p.name for p in ck.iterdir() if p.name.startswith("state")) == ["state"]


def test_a_partial_set_is_ignored_and_metrics_are_not_repeated_after_resume(tmp_path: Path, monkeypatch) -> None:
    """Records logged after the last checkpoint set are cut on resume (before the fix they were logged
    twice); a staged set without its manifest (killed mid-write, or a full disk) is not used."""
    from schedgym.train import sb3_backend

    run_dir = tmp_path / "run"

    def die_at_the_end(self):
        raise _Interrupt

    monkeypatch.setattr(sb3_backend.TrainCallback, "_on_training_end", die_at_the_end)
    with pytest.raises(_Interrupt):
        train(tiny_config("schedgym/JobShop-v0", run_dir, EXTRA_256), run_dir, resume=False)
    monkeypatch.undo()
    before = _records(run_dir)
    assert max(r["step"] for r in before) > 128  # records after the set at 128
    staged = run_dir / "checkpoints" / "state.tmp"
    staged.mkdir()
    (staged / "last.zip").write_bytes(b"half a zip")  # no manifest: an incomplete set
    cfg, rdir, _, _ = build([f"resume={run_dir}"])
    assert train(cfg, rdir, resume=True)["timesteps"] == 256
    seen = set()
    for r in _records(run_dir):
        for key in r:
            if key not in ("step", "time"):
                assert (r["step"], key) not in seen, (r["step"], key)
                seen.add((r["step"], key))
    assert (256, "val/objective") in seen


def test_trainer_state_is_json_and_a_pickled_one_is_refused(tmp_path: Path, capsys) -> None:
    """The trainer state is plain JSON; an older pickled ``trainer_state.pt`` (here a crafted one that would
    run code) is refused with one line, never unpickled; a damaged JSON state is one line too."""
    run_dir = tmp_path / "run"
    train(tiny_config("schedgym/JobShop-v0", run_dir), run_dir, resume=False)
    state = json.loads((run_dir / "checkpoints" / "state" / "trainer_state.json").read_text())
    assert state["format"] == "schedgym-trainer-state/1" and state["timesteps"] == 128

    class RunsCode:
        def __reduce__(self):
            return (Path.write_text, (tmp_path / "ran.txt", "ran"))

    old = tmp_path / "old"
    (old / "checkpoints").mkdir(parents=True)
    (old / "config.yaml").write_text((run_dir / "config.yaml").read_text())
    torch.save({"rng": RunsCode()}, old / "checkpoints" / "trainer_state.pt")
    config_before = (old / "config.yaml").read_text()
    assert main([f"resume={old}", "trainer.total_steps=999"]) == 2
    assert (old / "config.yaml").read_text() == config_before  # refused before anything is rewritten
    err = capsys.readouterr().err
    assert "pickled trainer state" in err and err.count("\n") == 1
    assert not (tmp_path / "ran.txt").exists()
    assert main(["preset=jobshop-small", f"run_dir={old}"]) == 2  # a fresh start does not overwrite it
    assert "already holds a run" in capsys.readouterr().err

    (run_dir / "checkpoints" / "state" / "trainer_state.json").write_text("{not json")
    assert main([f"resume={run_dir}"]) == 2  # the files no longer match the manifest: refused, not wiped
    err = capsys.readouterr().err
    assert "damaged checkpoint set" in err and err.count("\n") == 1
    assert (run_dir / "checkpoints" / "state" / "last.zip").is_file()
    # make the manifest agree, so that the JSON itself is read
    man = json.loads((run_dir / "checkpoints" / "state" / "manifest.json").read_text())
    man["files"]["trainer_state.json"] = len("{not json")
    (run_dir / "checkpoints" / "state" / "manifest.json").write_text(json.dumps(man))
    assert main([f"resume={run_dir}"]) == 2
    err = capsys.readouterr().err
    assert "damaged trainer state" in err and err.count("\n") == 1


def test_config_yaml_is_replaced_atomically(tmp_path: Path, monkeypatch) -> None:
    """A failure while writing ``config.yaml`` (a full disk, a kill) leaves the previous one intact."""
    import os

    from schedgym.train.common import write_text_atomic

    target = tmp_path / "config.yaml"
    write_text_atomic(target, "name: a\n")

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        write_text_atomic(target, "name: b\n" * 1000)
    assert target.read_text() == "name: a\n"


# ---------------------------------------------------------------------- presets for every id
#: the domains whose ids must each have a train preset here (the newer domains ship their own)
PRESET_DOMAINS = ("jobshop", "isbjobshop", "llm")


def _preset_ids() -> dict[str, str]:
    return {name: str(resolve_config(name, []).env.id) for name in list_presets("train")}


def test_every_registered_id_has_a_train_preset() -> None:
    from schedgym.envs.domains import domains

    ids = {i for d in domains() for i in d.env_ids}
    assert {i for d in domains() if d.name in PRESET_DOMAINS for i in d.env_ids} <= ids
    missing = ids - set(_preset_ids().values())
    assert not missing, f"no configs/train preset for {sorted(missing)}"


@pytest.mark.parametrize("preset", ["jobshop-small", "isb-small", "blocking-small", "interrupt-small",
                                    "llm-serve-small", "llm-cluster-small"])
def test_each_preset_trains_briefly_with_its_baselines(tmp_path: Path, preset: str) -> None:
    """A preset, shrunk by overrides (its env kwargs kept, its baselines computed), trains and validates."""
    run_dir = tmp_path / "run"
    shrink = [o for o in TINY if not o.startswith(("val.baselines", "val.seeds"))] + ["val.seeds=[0]"]
    cfg, rdir, _, _ = build([f"preset={preset}", f"run_dir={run_dir}", *shrink])
    summary = train(cfg, rdir, resume=False)
    assert summary["timesteps"] >= 128
    last = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if "val/objective" in line][-1]
    assert "val/gap_to_best_baseline" in last and all(f"val/baseline/{b}" in last for b in cfg.val.baselines)


def test_sb3_resume_unpickles_nothing_from_the_run_folder(tmp_path: Path, monkeypatch) -> None:
    """SB3 keeps some attributes cloudpickled in its zip; a crafted one would run code on resume. They are
    replaced by the fresh model's (``custom_objects``), so the crafted payload never runs."""
    import base64
    import zipfile

    import cloudpickle

    from schedgym.train import sb3_backend

    marker = tmp_path / "ran.txt"

    class RunsCode:
        def __reduce__(self):
            return (Path.write_text, (marker, "ran"))

    def save_then_crash(self, t, val):
        original(self, t, val)
        raise _Interrupt

    original = sb3_backend.TrainCallback.save
    run_dir = tmp_path / "run"
    monkeypatch.setattr(sb3_backend.TrainCallback, "save", save_then_crash)
    with pytest.raises(_Interrupt):
        train(tiny_config("schedgym/JobShop-v0", run_dir, EXTRA_256), run_dir, resume=False)
    monkeypatch.undo()
    state = run_dir / "checkpoints" / "state"
    src = state / "last.zip"
    with zipfile.ZipFile(src) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    data = json.loads(members["data"])
    evil = {":type:": "<class 'x'>", ":serialized:": base64.b64encode(cloudpickle.dumps(RunsCode())).decode()}
    for key in ("policy_class", "lr_schedule", "ep_info_buffer"):
        data[key] = evil
    members["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(src, "w") as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    manifest = json.loads((state / "manifest.json").read_text())
    manifest["files"]["last.zip"] = src.stat().st_size
    (state / "manifest.json").write_text(json.dumps(manifest))
    cfg, rdir, _, _ = build([f"resume={run_dir}"])
    assert train(cfg, rdir, resume=True)["timesteps"] == 256
    assert not marker.exists()


def test_a_foreign_checkpoints_folder_is_not_deleted(tmp_path: Path) -> None:
    """Restarting clears an interrupted run's partial files only in a folder a run started (config.yaml)."""
    run_dir = tmp_path / "mine"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "keep.txt").write_text("not ours")
    with pytest.raises(ConfigError, match="not a schedgym run"):
        train(tiny_config("schedgym/JobShop-v0", run_dir), run_dir, resume=False)
    assert (run_dir / "checkpoints" / "keep.txt").is_file()
