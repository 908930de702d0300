"""schedgym-eval: results, leaderboard, resume, failures recorded, bad input named."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from schedgym.eval.cli import main, parse_config
from schedgym.configs.grammar import UsageError
from schedgym.eval.suites import load_suite, suite_names


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_eval_writes_results_and_leaderboard(tmp_path: Path, jsplib_dir: Path) -> None:
    out = tmp_path / "ev"
    rc = main(["suite=[ft06,lawrence-10x5]", "policies=[mwkr:nondelay,spt:active,cpsat:5]", f"out={out}",
               "progress=false", "print_leaderboard=false", f"data_mirror={jsplib_dir.parent}"])
    assert rc == 0
    rows = _rows(out / "results.csv")
    assert len(rows) == (1 + 5) * 3
    assert all(r["validated"] == "True" and r["error"] == "" for r in rows)
    cp = [r for r in rows if r["policy"] == "cpsat:5"]
    # whatever the machine's load (a 5 s wall-clock limit): never below the optimum, 0 gap when proven,
    # and a warm start kept is said so (the proofs themselves: tests/test_solver_fallback.py, deterministic)
    assert all(float(r["gap"]) >= 0.0 for r in cp)
    assert all(float(r["gap"]) == 0.0 for r in cp if r["x.optimal"] == "True")
    assert all((r["x.fallback"] == "True") == r["x.solver_status"].endswith("_KEPT_WARM_START") for r in cp)
    board = (out / "leaderboard.md").read_text()
    assert "## ft06" in board and "**" in board and "mwkr:nondelay" in board
    assert (out / "config.yaml").is_file()


def test_eval_resume_skips_finished_rows(tmp_path: Path, capsys) -> None:
    out = tmp_path / "ev"
    args = ["suite=taillard-15x15", "cases=[ta01,ta02]", "policies=[mwkr:nondelay]", f"out={out}", "progress=false",
            "print_leaderboard=false"]
    assert main(args) == 0
    first = _rows(out / "results.csv")
    # simulate an interrupted run: drop the last row, then resume with one more policy
    with (out / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(first[0]))
        w.writeheader()
        w.writerows(first[:-1])
    capsys.readouterr()
    assert main(args[:2] + ["policies=[mwkr:nondelay,fifo:nondelay]"] + args[3:]) == 0
    assert "4 episodes planned, 1 already in" in capsys.readouterr().out
    rows = _rows(out / "results.csv")
    assert len(rows) == 4
    again = [r for r in rows if r["policy"] == "mwkr:nondelay"]
    assert sorted(r["objective"] for r in again) == sorted(r["objective"] for r in first)  # deterministic


def test_eval_is_deterministic_for_given_seeds(tmp_path: Path) -> None:
    objs = []
    for k in range(2):
        out = tmp_path / f"ev{k}"
        main(["suite=generated-10x10", "seeds=[0,1]", "policies=[random,mwkr:nondelay]", f"out={out}",
              "progress=false", "print_leaderboard=false"])
        objs.append([(r["policy"], r["seed"], r["objective"]) for r in _rows(out / "results.csv")])
    assert objs[0] == objs[1]


def test_failures_are_recorded_and_the_run_goes_on(tmp_path: Path, monkeypatch) -> None:
    from schedgym.eval import runner

    real = runner.run_episode

    def flaky(env, policy, **kw):
        if policy.name == "spt:nondelay":
            raise RuntimeError("boom")
        return real(env, policy, **kw)

    monkeypatch.setattr(runner, "run_episode", flaky)
    out = tmp_path / "ev"
    rc = main(["suite=ft06", "policies=[spt:nondelay,mwkr:nondelay]", f"out={out}", "progress=false",
               "print_leaderboard=false"])
    assert rc == 1
    rows = {r["policy"]: r for r in _rows(out / "results.csv")}
    assert rows["spt:nondelay"]["error"].startswith("RuntimeError: boom")
    assert rows["mwkr:nondelay"]["error"] == "" and rows["mwkr:nondelay"]["objective"]
    assert "failed" in (out / "leaderboard.md").read_text()


@pytest.mark.parametrize(
    "argv, match",
    [
        (["suite=ft06", "polices=[spt]"], "polices"),
        (["suite=ft06", "seeds=abc"], "seeds"),
        (["suite=ft06", "resume=maybe"], "resume"),
        (["ft06"], "key=value"),
        ([], "key 'suite' is required"),
    ],
)
def test_bad_overrides_name_the_key(argv: list[str], match: str, capsys) -> None:
    with pytest.raises(UsageError, match=match):
        parse_config(argv)
    assert main(argv) == 2  # a usage error: exit 2 and one line naming the key, no traceback
    err = capsys.readouterr().err
    assert err.startswith("schedgym-eval: error:") and match in err and err.count("\n") == 1


def test_help_lists_keys_and_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for key in ("suite", "policies", "seeds", "data_mirror", "env_kwargs"):
        assert f"  {key} " in out
    assert "examples:" in out and "default" in out
    with pytest.raises(SystemExit):
        main(["--version"])
    assert "schedgym" in capsys.readouterr().out


def test_show_lists_every_domain_and_policy(capsys) -> None:
    from schedgym.agents.registry import policy_entries
    from schedgym.envs.domains import domains

    assert main(["show=true"]) == 0
    out = capsys.readouterr().out
    for d in domains():
        assert f"{d.name}: " in out
        for env_id in d.env_ids:
            assert env_id in out
    for name in policy_entries():
        assert name in out


def test_unknown_suite_and_policy(tmp_path: Path, capsys) -> None:
    with pytest.raises(KeyError, match="taillard-15x15"):
        load_suite("taillard-15x1")
    assert main(["suite=ft06", "policies=[mwrk]", f"out={tmp_path / 'never'}", "progress=false"]) == 2
    assert "unknown policy 'mwrk'" in capsys.readouterr().err
    assert not (tmp_path / "never").exists(), "nothing is written before the inputs are checked"
    assert main(["suite=ft06", "policies=[cpsat:soon]", f"out={tmp_path / 'never'}", "progress=false"]) == 2
    assert "cpsat" in capsys.readouterr().err
    assert main(["suite=ft06", "policies=[vllm-fcfs]", f"out={tmp_path / 'never'}", "progress=false"]) == 2
    assert "does not serve" in capsys.readouterr().err
    assert main(["suite=ft06", f"policies=[gnn:{tmp_path / 'missing.pt'}]", f"out={tmp_path / 'never'}"]) == 2
    err = capsys.readouterr().err
    assert "gnn" in err and "not found" in err and err.count("\n") == 1
    assert not (tmp_path / "never").exists()
    assert main(["suite=nosuch", f"out={tmp_path / 'never'}"]) == 2
    assert "unknown suite" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nenv_id: schedgym/JobShop-v0\ncases: [{name: a}]\nplicies: [spt]\n")
    with pytest.raises(ValueError, match=r"unknown suite key\(s\) \['plicies'\]"):
        load_suite(str(bad))


def test_every_shipped_suite_loads() -> None:
    for name in suite_names():
        suite = load_suite(name)
        assert suite.cases and suite.env_id.startswith("schedgym/")


def test_env_kwargs_override_reaches_the_env(tmp_path: Path) -> None:
    out = tmp_path / "ev"
    assert main(["suite=ft06", "policies=[rule-random]", "env_kwargs.schedule_builder=active", f"out={out}",
                 "progress=false", "print_leaderboard=false"]) == 0
    assert _rows(out / "results.csv")[0]["validated"] == "True"
    assert main(["suite=ft06", "policies=[rule-random]", "env_kwargs.reward=bogus", f"out={tmp_path / 'b'}",
                 "progress=false", "print_leaderboard=false"]) == 1
    assert "reward must be" in _rows(tmp_path / "b" / "results.csv")[0]["error"]


def test_resume_does_not_reuse_rows_made_with_other_settings(tmp_path: Path, capsys) -> None:
    out = tmp_path / "ev"
    base = ["suite=generated-10x10", "seeds=[0]", "policies=[mwkr:nondelay]", f"out={out}", "progress=false",
            "print_leaderboard=false"]
    assert main(base) == 0
    capsys.readouterr()
    assert main(base + ["env_kwargs.duration_high=5"]) == 0
    assert "2 episodes planned" not in capsys.readouterr().out
    rows = _rows(out / "results.csv")
    assert len(rows) == 2 and rows[0]["settings"] != rows[1]["settings"]
    assert rows[0]["objective"] != rows[1]["objective"]


def test_resume_redoes_a_row_cut_in_the_middle(tmp_path: Path, capsys) -> None:
    """A ``results.csv`` cut mid-row (a kill, a full disk): before the fix the cut row was taken as finished
    and the leaderboard showed the policy on fewer episodes, still eligible for bold."""
    out = tmp_path / "ev"
    args = ["suite=taillard-15x15", "cases=[ta01,ta02,ta03]", "policies=[mwkr:nondelay,spt:nondelay]", f"out={out}",
            "progress=false", "print_leaderboard=false"]
    assert main(args) == 0
    first = _rows(out / "results.csv")
    text = (out / "results.csv").read_text()
    last = text.rstrip("\n").rsplit("\n", 1)[1]
    cut = text[: len(text) - 1 - len(last) + len(last) // 2]  # the last row loses its second half
    for damaged in (cut, cut.rsplit(",", 1)[0] + ","):  # mid-cell, and exactly after a comma
        (out / "results.csv").write_text(damaged)
        capsys.readouterr()
        assert main(args) == 0
        assert "6 episodes planned, 5 already in" in capsys.readouterr().out
        rows = _rows(out / "results.csv")
        assert len(rows) == 6 and {(r["case"], r["policy"]) for r in rows} == {(r["case"], r["policy"]) for r in first}
        assert sorted(r["objective"] for r in rows) == sorted(r["objective"] for r in first)
    # a row whose values were altered after the fact (not what was written) is redone too
    lines = (out / "results.csv").read_text().splitlines()
    lines[1] = lines[1].replace(",True,", ",False,", 1)
    (out / "results.csv").write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(args) == 0 and "5 already in" in capsys.readouterr().out


def test_leaderboard_marks_a_cell_with_fewer_episodes_and_never_bolds_it() -> None:
    import pandas as pd

    from schedgym.eval.leaderboard import render_markdown

    rows = []
    for policy, gap, n in (("few", 0.01, 14), ("all", 0.05, 15), ("worse", 0.09, 15)):
        for i in range(n):
            rows.append({"suite": "s", "group": "", "case": f"c{i}", "policy": policy, "seed": 0, "objective": 100 + gap,
                         "objective_name": "makespan", "sense": "min", "gap": gap, "validated": True, "error": "",
                         "wall_time_s": 0.1})
    board = render_markdown(pd.DataFrame(rows))
    few = [line for line in board.splitlines() if line.startswith("| few |")]
    assert len(few) == 2 and all("(14/15)" in line and "**" not in line for line in few), few
    allp = [line for line in board.splitlines() if line.startswith("| all |")]
    assert all("**5.00%**" in line for line in allp), allp
    assert "(n/N)" in board
