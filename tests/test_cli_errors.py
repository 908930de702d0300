"""Command-line inputs that used to end in a traceback (or a silent surprise) are one-line errors naming
the key, exit 2, before anything is written (issue 9, items 4, 6 and 15)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schedgym.eval.cli import main as eval_main
from schedgym.train.cli import main as train_main

def _one_line_error(capsys, prog: str, key: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith(f"{prog}: error: ") and err.count("\n") == 1, err
    assert key in err, err
    assert "Traceback" not in err and "AnyNode" not in err
    return err


@pytest.mark.parametrize(
    "override, key",
    [
        ("val.seeds=[1,", "val.seeds"),
        ("name=${oc.env:SCHEDGYM_SURELY_UNDEFINED_VAR}", "name"),
        ("env.kwargs.instance=la99", "env.kwargs"),
        ("val.baselines=[nope]", "val.baselines"),
        ("val.baselines=[edf]", "val.baselines"),  # an LLM policy for a job-shop env: refused before writing
        ("trainer.device=gpu", "trainer.device"),
        ("wandb.mode=foo", "wandb.mode"),
        ("val.seeds=[]", "val.seeds"),
        ("val.seeds=abc", "val.seeds"),
        ("val.env_kwargs=[]", "val.env_kwargs"),  # found by the fuzz below: a bare TypeError from OmegaConf
        ("env.kwargs=1e400:", "env.kwargs"),
    ],
)
def test_train_bad_input_is_one_line_exit_2_before_anything_is_written(tmp_path: Path, capsys, override: str,
                                                                        key: str, jsplib_dir) -> None:
    run_dir = tmp_path / "run"
    rc = train_main(["preset=jobshop-small", f"run_dir={run_dir}", override])
    assert rc == 2
    _one_line_error(capsys, "schedgym-train", key)
    assert not run_dir.exists()


@pytest.mark.parametrize(
    "args, key",
    [
        (["suite=[ft06"], "suite"),
        (["suite=ft06", "seeds=abc"], "seeds"),
        (["suite=ft06", "policies=[]"], "policies"),
        (["suite=ft06", "seeds=[]"], "seeds"),
        (["suite=ft06", "cases=[]"], "cases"),
        (["suite=ft06", "policies=[gnn:{tmp}/notes.txt]"], "policies"),
        (["suite=ft06", "policies=[gnn:{tmp}/missing.pt]"], "policies"),
        (["suite=ft06", "policies=[mwkr]", "out={tmp}/notes.txt"], "out"),
        (["suite={tmp}/cases5.yaml"], "suite"),
        (["suite={tmp}/seedsabc.yaml"], "suite"),
        (["suite=ft06", "policies=[mwkr]", "env_kwargs.instance=la99"], "env_kwargs.instance"),
        (["suite=ft06", "env_kwargs=[]"], "env_kwargs"),  # found by the fuzz below
    ],
)
def test_eval_bad_input_is_one_line_exit_2(tmp_path: Path, capsys, args: list[str], key: str, jsplib_dir) -> None:
    (tmp_path / "notes.txt").write_text("not a checkpoint\n")
    (tmp_path / "cases5.yaml").write_text("name: bad\nenv_id: schedgym/JobShop-v0\ncases: 5\n")
    (tmp_path / "seedsabc.yaml").write_text("name: bad\nenv_id: schedgym/JobShop-v0\nseeds: [abc]\n"
                                            "cases: [{name: ft06, env_kwargs: {instance: ft06}}]\n")
    argv = [a.format(tmp=tmp_path) for a in args]
    if not any(a.startswith("out=") for a in argv):
        argv.append(f"out={tmp_path / 'out'}")
    rc = eval_main([*argv, "progress=false", "print_leaderboard=false", f"data_mirror={jsplib_dir.parent}"])
    assert rc == 2
    _one_line_error(capsys, "schedgym-eval", key)
    assert not (tmp_path / "out").exists()


def test_eval_single_values_are_one_element_lists(tmp_path: Path, jsplib_dir) -> None:
    """``policies=mwkr:nondelay`` and ``seeds=0`` (no brackets): before the fix, "AnyNode is not a ListConfig"."""
    out = tmp_path / "out"
    rc = eval_main(["suite=ft06", "policies=mwkr:nondelay", "seeds=0", "cases=ft06", f"out={out}", "progress=false",
                    "print_leaderboard=false", f"data_mirror={jsplib_dir.parent}"])
    assert rc == 0
    import pandas as pd

    df = pd.read_csv(out / "results.csv")
    assert df["policy"].tolist() == ["mwkr:nondelay"] and df["seed"].tolist() == [0]


def test_eval_env_kwargs_apply_where_the_case_does_not_set_them(tmp_path: Path, jsplib_dir) -> None:
    """The documented precedence: ``env_kwargs.<k>`` reaches every case that does not set ``<k>`` itself
    (a clash with a case's own value is the error above)."""
    out = tmp_path / "out"
    rc = eval_main(["suite=ft06", "policies=[mwkr:nondelay]", "env_kwargs.reward=sparse", "env_kwargs.instance=ft06",
                    f"out={out}", "progress=false", "print_leaderboard=false", f"data_mirror={jsplib_dir.parent}"])
    assert rc == 0


def test_train_single_values_are_one_element_lists(capsys) -> None:
    assert train_main(["preset=jobshop-small", "dry_run=true", "val.seeds=0", "val.baselines=mwkr:nondelay"]) == 0
    out = capsys.readouterr().out
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(out)
    assert list(cfg.val.seeds) == [0] and list(cfg.val.baselines) == ["mwkr:nondelay"]


def test_train_dict_override_replaces_the_preset_dict(capsys) -> None:
    """``env.kwargs={...}`` replaces a preset's kwargs (OmegaConf alone merges); ``env.kwargs.k=v`` sets one."""
    from schedgym.train.config import resolve_config

    cfg = resolve_config("jobshop-small", ["env.kwargs={n_jobs: 4, n_machines: 3}", "env.policy_kwargs=[]"])
    assert dict(cfg.env.kwargs) == {"n_jobs": 4, "n_machines": 3}
    cfg = resolve_config("jobshop-small", ["env.kwargs={}", "env.policy_kwargs=[]"])
    assert dict(cfg.env.kwargs) == {}
    cfg = resolve_config("jobshop-small", ["env.kwargs.n_jobs=4"])
    assert dict(cfg.env.kwargs) == {"n_jobs": 4, "n_machines": 6, "schedule_builder": "nondelay"}
    cfg = resolve_config("jobshop-small", ["val.env_kwargs={instance: ft06}", "val.env_kwargs={reward: sparse}"])
    assert dict(cfg.val.env_kwargs) == {"reward": "sparse"}
    # a preset's kwargs replaced for another id of the same domain family
    cfg = resolve_config("jobshop-small", ["env.id=schedgym/BlockingJobShop-v0", "env.kwargs={n_jobs: 3, n_machines: 3}",
                                           "env.policy_kwargs=[]"])
    assert cfg.env.id == "schedgym/BlockingJobShop-v0" and dict(cfg.env.kwargs) == {"n_jobs": 3, "n_machines": 3}


@pytest.mark.parametrize("damage", ["yaml", "not-a-mapping", "bad-key"])
def test_train_resume_with_a_corrupt_config_is_one_line(tmp_path: Path, capsys, damage: str) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    text = {"yaml": "name: [unclosed\n", "not-a-mapping": "- 1\n- 2\n", "bad-key": "trainer: {total_stps: 5}\n"}[damage]
    (run_dir / "config.yaml").write_text(text)
    assert train_main([f"resume={run_dir}"]) == 2
    _one_line_error(capsys, "schedgym-train", "config")


def test_train_name_that_cannot_name_a_folder(capsys) -> None:
    """Found by the fuzz below: ``name=\\${`` broke the default run folder ``runs/<name>-<time>``."""
    assert train_main(["preset=jobshop-small", "dry_run=true", "name=\\${"]) == 2
    _one_line_error(capsys, "schedgym-train", "name")


def test_fuzzed_override_values_are_accepted_or_one_usage_error() -> None:
    """A seeded fuzz (fixed budget, no clock): random values made of YAML / OmegaConf syntax pieces for every
    kind of key either resolve or raise the CLIs' usage errors (never another exception, i.e. a traceback)."""
    import random

    from schedgym.agents.spec import PolicyError
    from schedgym.configs.grammar import UsageError
    from schedgym.eval.cli import parse_config
    from schedgym.train.cli import build
    from schedgym.train.config import ConfigError

    pieces = ["[", "]", "{", "}", ",", ":", "${", "oc.env:", "abc", "1", "-1", "null", "~", "'", '"', " ", "=", "\\",
              "1e400", "nan", ".", "%", "mwkr", "x: 1", "true", "\n", "[]", "{}", "0x10", "é"]
    train_keys = ["val.seeds", "val.baselines", "env.kwargs", "env.kwargs.x", "trainer.device", "name", "wandb.mode",
                  "agent.model.hidden", "env", "agent", "trainer.total_steps", "val.env_kwargs", "backend", "env.id"]
    eval_keys = ["suite", "policies", "seeds", "cases", "env_kwargs", "env_kwargs.x", "out", "resume", "progress"]
    rng = random.Random(0)
    escaped = []
    for _ in range(100):
        value = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))
        key = rng.choice(train_keys)
        try:
            build(["preset=jobshop-small", "dry_run=true", f"{key}={value}"])
        except (ConfigError, UsageError, PolicyError):
            pass
        except Exception as exc:  # noqa: BLE001 - what the test looks for
            escaped.append(("train", key, value, repr(exc)[:120]))
        key = rng.choice(eval_keys)
        try:
            parse_config(["suite=ft06", f"{key}={value}"])
        except (UsageError, PolicyError):
            pass
        except Exception as exc:  # noqa: BLE001
            escaped.append(("eval", key, value, repr(exc)[:120]))
    assert not escaped, escaped[:5]


def test_fuzzed_suite_files_load_or_raise_one_value_error(tmp_path: Path) -> None:
    """Seeded fuzz (fixed budget) over suite YAML shapes (``cases: 5`` was a ``TypeError`` traceback): a suite
    either loads or raises ValueError / KeyError, which ``schedgym-eval`` reports as one line under 'suite'."""
    import random

    import yaml

    from schedgym.eval.suites import load_suite

    rng = random.Random(0)

    def value(depth: int = 0):
        r = rng.random()
        if depth > 2 or r < 0.3:
            return rng.choice([5, -1, 1.5, "abc", None, True, "", "ft06", "schedgym/JobShop-v0", [], {}])
        if r < 0.65:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return {rng.choice(["name", "env_kwargs", "group", "instance", "x"]): value(depth + 1)
                for _ in range(rng.randint(0, 3))}

    keys = ["name", "env_id", "env_kwargs", "cases", "policies", "seeds", "leaderboard_metrics", "description"]
    path = tmp_path / "fuzz.yaml"
    escaped = []
    for _ in range(400):
        doc = {k: value() for k in rng.sample(keys, rng.randint(0, len(keys)))}
        if rng.random() < 0.7:
            doc["env_id"] = "schedgym/JobShop-v0"
            doc.setdefault("name", "fuzz")
        path.write_text(yaml.safe_dump(doc))
        try:
            load_suite(str(path))
        except (ValueError, KeyError):
            pass
        except Exception as exc:  # noqa: BLE001 - what the test looks for
            escaped.append((doc, repr(exc)[:120]))
    assert not escaped, escaped[:3]
