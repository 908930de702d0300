"""Leaderboard statistics (95% CI, paired wins / ties / losses, episode counts) and row provenance."""

from __future__ import annotations

import csv
import math
import platform
import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pytest

from schedgym.eval.leaderboard import display_table, render_markdown, suite_tables
from schedgym.eval.provenance import PROVENANCE_COLUMNS, git_commit, provenance, provenance_summary
from schedgym.eval.stats import best_baseline, cell_table, mean_ci, paired


# ----------------------------------------------------------------------------- mean and CI
def test_mean_ci_is_students_t_interval() -> None:
    ci = mean_ci([1, 2, 3, 4, 5])
    # t(0.975, 4) = 2.7764 (any t table); s = sqrt(2.5)
    assert ci.mean == 3 and ci.n == 5
    assert ci.half_width == pytest.approx(2.7764 * math.sqrt(2.5) / math.sqrt(5), rel=1e-4)
    assert ci.low < 3 < ci.high
    assert mean_ci([0.5, 0.5, 0.5]).half_width == 0.0  # no spread
    one = mean_ci([0.25])
    assert one.mean == 0.25 and math.isnan(one.half_width) and one.n == 1
    assert mean_ci([1.0, float("nan"), 3.0]).n == 2  # NaN dropped
    # a wider confidence gives a wider interval
    assert mean_ci([1, 2, 3, 4, 5], confidence=0.99).half_width > ci.half_width


def test_without_scipy_the_ci_is_missing_and_the_leaderboard_says_so(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "scipy", None)  # import scipy raises ImportError
    monkeypatch.setitem(sys.modules, "scipy.stats", None)
    ci = mean_ci([1, 2, 3])
    assert ci.mean == 2 and ci.n == 3 and math.isnan(ci.half_width)
    board = render_markdown(_rows({"a": [110, 120], "b": [105, 130]}))
    assert "need scipy" in board


def _rows(spec: dict[str, list[float]], sense: str = "min", seeds: int = 1) -> pd.DataFrame:
    rows = []
    for policy, objs in spec.items():
        for i, obj in enumerate(objs):
            rows.append({"suite": "s", "group": "", "case": f"c{i // seeds}", "seed": i % seeds, "settings": "x",
                         "policy": policy, "objective": obj, "objective_name": "makespan", "sense": sense,
                         "gap": (obj - 100) / 100 if sense == "min" else (100 - obj) / 100, "validated": True,
                         "error": "", "wall_time_s": 0.1})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- paired comparison
def test_paired_counts_wins_ties_losses_per_instance_in_the_objective_direction() -> None:
    df = _rows({"a": [100, 110, 120, 130, 90], "b": [105, 110 * (1 + 1e-12), 115, 130, 95]}, seeds=2)
    p = paired(df, "a", "b")
    assert (p.wins, p.ties, p.losses) == (2, 2, 1) and p.n == 5 and p.text() == "2/2/1"
    # maximization flips wins and losses
    up = paired(df.assign(sense="max"), "a", "b")
    assert (up.wins, up.ties, up.losses) == (1, 2, 2)
    # instances that only one of the two ran are not counted
    missing = df[~((df["policy"] == "b") & (df["case"] == "c0") & (df["seed"] == 0))]
    assert paired(missing, "a", "b").text() == "1/2/1"


def test_best_baseline_is_the_best_full_baseline_kind_policy() -> None:
    df = _rows({"exact": [100, 100, 100], "rule1": [110, 120, 130], "rule2": [105, 125, 125], "short": [100, 100]})
    kinds = {"exact": "exact", "rule1": "baseline", "rule2": "baseline", "short": "baseline"}
    # the exact solver is better but not a baseline; 'short' ran fewer episodes
    assert best_baseline(df, kinds) == "rule2"
    table, base = cell_table(df, kinds)
    assert base == "rule2"
    assert (table.loc["exact", ["wins", "ties", "losses"]] == [3, 0, 0]).all()
    assert (table.loc["rule1", ["wins", "ties", "losses"]] == [1, 0, 2]).all()
    assert math.isnan(table.loc["rule2", "wins"])  # not compared with itself
    assert table.loc["short", "episodes"] == 2 and table.loc["rule1", "episodes"] == 3
    assert best_baseline(df, {p: "exact" for p in kinds}) is None


def test_suite_table_and_markdown_carry_ci_episodes_and_wtl() -> None:
    df = _rows({"mwkr": [110, 120, 130, 125], "spt": [115, 118, 140, 125], "cpsat": [100, 100, 100, 100]})
    df["policy_kind"] = df["policy"].map({"mwkr": "baseline", "spt": "baseline", "cpsat": "exact"})
    (st,) = suite_tables(df)
    assert st.baseline == "mwkr" and st.best() == "cpsat"
    assert st.table.loc["mwkr", "gap_ci95"] == pytest.approx(mean_ci([0.1, 0.2, 0.3, 0.25]).half_width)
    text, bold = display_table(st)
    assert text.loc["spt", "W/T/L vs mwkr"] == "1/1/2" and text.loc["mwkr", "W/T/L vs mwkr"] == "best baseline"
    assert text.loc["cpsat", "W/T/L vs mwkr"] == "4/0/0"
    assert text.loc["cpsat", "95% CI"] == "± 0.00%" and bold.loc["cpsat", "mean gap"]
    assert text.loc["mwkr", "episodes"] == "4"
    board = render_markdown(df)
    line = next(x for x in board.splitlines() if x.startswith("| spt |") and "±" in x)
    assert "1/1/2" in line and f"± {100 * st.table.loc['spt', 'gap_ci95']:.2f}%" in line


def test_a_cell_with_fewer_episodes_is_marked_not_bold_and_not_the_best_baseline() -> None:
    df = _rows({"few": [100, 101], "all": [104, 105, 106], "worse": [110, 110, 110]})
    df["policy_kind"] = "baseline"
    (st,) = suite_tables(df)
    assert st.baseline == "all"
    text, bold = display_table(st)
    assert text.loc["few", "mean gap"].endswith("(2/3)") and not bold.loc["few"].any()
    assert bold.loc["all", "mean gap"]
    assert text.loc["few", "W/T/L vs all"] == "2/0/0"


def test_summary_cells_mark_short_cells_and_bold_the_best_full_one() -> None:
    from schedgym.eval.leaderboard import display_summary

    df = _rows({"few": [100, 101], "all": [104, 105, 106], "worse": [110, 110, 110]})
    text, bold = display_summary(df)
    assert list(text.columns) == ["s"]
    assert text.loc["few", "s"] == "0.50% (2/3)" and not bold.loc["few", "s"]
    assert text.loc["all", "s"] == "5.00%" and bold.loc["all", "s"] and not bold.loc["worse", "s"]


# ----------------------------------------------------------------------------- provenance
def test_provenance_states_versions_commit_cpu_and_date() -> None:
    import schedgym

    p = provenance()
    assert list(p) == list(PROVENANCE_COLUMNS)
    assert p["p.schedgym"] == schedgym.__version__
    assert p["p.python"] == platform.python_version()
    assert p["p.gymnasium"] == version("gymnasium") and p["p.ortools"] == version("ortools")
    try:
        assert p["p.torch"] == version("torch")
    except Exception:  # noqa: BLE001 - the light install has no torch
        assert p["p.torch"] == "not installed"
    assert p["p.cpu"] and p["p.date"].endswith("Z") and p["p.date"][:2] == "20"


def test_git_commit_of_a_checkout_and_outside_one(tmp_path: Path) -> None:
    assert git_commit(tmp_path) == ""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    run = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True, env={**env, "PATH": "/usr/bin:/bin"})  # noqa: E731
    run("init", "-q")
    (repo / "f").write_text("1")
    run("add", "f")
    run("commit", "-qm", "x")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert git_commit(repo) == head
    (repo / "f").write_text("2")
    assert git_commit(repo) == head + "+dirty"


def test_provenance_summary_lists_every_value_with_counts() -> None:
    df = pd.DataFrame({"p.schedgym": ["0.1.0", "0.1.0", "0.2.0", None], "p.git_commit": ["", "", "abc", None],
                       "p.date": ["2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z", None]})
    lines = provenance_summary(df)
    assert "schedgym: 0.1.0 (2 rows), 0.2.0 (1 rows), unrecorded (1 rows)" in lines
    assert any(x.startswith("git commit") and "not a git checkout (2 rows)" in x and "abc (1 rows)" in x for x in lines)
    assert "date (UTC): 2026-01-01T00:00:00Z to 2026-01-03T00:00:00Z (1 rows unrecorded)" in lines
    assert any(x.startswith("torch: unrecorded") for x in lines)  # an older file without the column


def test_every_row_records_provenance_and_resume_keeps_it(tmp_path: Path, capsys) -> None:
    from schedgym.eval.cli import main

    out = tmp_path / "ev"
    args = ["suite=ft06", "policies=[spt:nondelay,mwkr:nondelay]", f"out={out}", "progress=false",
            "print_leaderboard=false"]
    assert main(args) == 0
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    p = provenance()
    for r in rows:
        for col in PROVENANCE_COLUMNS:
            assert r[col] == p[col] or col == "p.date", col
        assert r["policy_kind"] == "baseline" and r["p.date"]
    board = (out / "leaderboard.md").read_text()
    assert f"schedgym: {p['p.schedgym']}" in board and f"CPU: {p['p.cpu']}" in board
    assert f"Gymnasium: {p['p.gymnasium']}" in board and f"torch: {p['p.torch']}" in board
    assert f"Python: {p['p.python']}" in board and f"OR-Tools: {p['p.ortools']}" in board
    assert f"git commit: {p['p.git_commit'] or 'not a git checkout'}" in board
    capsys.readouterr()
    assert main(args) == 0  # resume: the rows (with their provenance and row_check) are kept, nothing rerun
    assert "2 already in" in capsys.readouterr().out
    with (out / "results.csv").open() as f:
        assert [r["p.date"] for r in csv.DictReader(f)] == [r["p.date"] for r in rows]


def test_resume_from_a_file_written_before_provenance(tmp_path: Path, capsys) -> None:
    from schedgym.eval.cli import main
    from schedgym.eval.runner import CHECK_COLUMN, row_check

    out = tmp_path / "ev"
    base = ["suite=ft06", f"out={out}", "progress=false", "print_leaderboard=false"]
    assert main(base + ["policies=[spt:nondelay]"]) == 0
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    # the same file as an older version wrote it: no policy_kind, no p.* columns
    old = [c for c in rows[0] if c != CHECK_COLUMN and c != "policy_kind" and not c.startswith("p.")]
    with (out / "results.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*old, CHECK_COLUMN])
        for r in rows:
            values = [r[c] for c in old]
            w.writerow([*values, row_check(values)])
    capsys.readouterr()
    assert main(base + ["policies=[spt:nondelay,mwkr:nondelay]"]) == 0
    assert "2 episodes planned, 1 already in" in capsys.readouterr().out
    with (out / "results.csv").open() as f:
        after = {r["policy"]: r for r in csv.DictReader(f)}
    assert after["spt:nondelay"]["objective"] == rows[0]["objective"] and after["spt:nondelay"]["p.schedgym"] == ""
    assert after["mwkr:nondelay"]["p.schedgym"] == provenance()["p.schedgym"]
    board = (out / "leaderboard.md").read_text()
    assert f"schedgym: {provenance()['p.schedgym']} (1 rows), unrecorded (1 rows)" in board
    # an old row is unrecorded (not "not a git checkout")
    assert f"git commit: {provenance()['p.git_commit'] or 'not a git checkout'} (1 rows), unrecorded (1 rows)" in board
    # the rewritten file is intact: a third run redoes nothing
    capsys.readouterr()
    assert main(base + ["policies=[spt:nondelay,mwkr:nondelay]"]) == 0
    assert "2 already in" in capsys.readouterr().out
