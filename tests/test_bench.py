"""schedgym-bench runs and prints its table (speed targets live in the benchmark, not in tests)."""

from __future__ import annotations

import pandas as pd
import pytest

from schedgym.envs.domains import domains
from schedgym.envs.jobshop.bench import jobshop_rows
from schedgym.eval.bench import main


def test_jobshop_bench_rows_are_consistent() -> None:
    rows = {r["measure"]: r["value"] for r in jobshop_rows("ft06", episodes=5, builder="nondelay")}
    assert rows["env + random policy: episodes/s"] > 0
    assert rows["simulator only: episodes/s"] > 0
    assert 0.0 <= rows["observation share of env time"] < 1.0


@pytest.mark.parametrize("name", [d.name for d in domains()])
def test_every_domain_has_quick_bench_rows(name: str) -> None:
    d = next(d for d in domains() if d.name == name)
    assert d.bench is not None, f"domain {name} declares no bench in its manifest"
    rows = d.bench_rows(quick=True)
    assert rows, f"{name}: no rows"
    for r in rows:
        assert {"benchmark", "measure", "value"} <= set(r), r
        assert r["value"] == r["value"] and r["value"] >= 0, r  # finite, not NaN


def test_bench_cli_prints_table_and_writes_csv(capsys, tmp_path) -> None:
    out = tmp_path / "bench.csv"
    assert main(["domains=[jobshop]", "quick=true", f"out={out}"]) == 0
    text = capsys.readouterr().out
    assert "schedgym-bench" in text and "episodes/s" in text
    df = pd.read_csv(out)
    assert set(df["domain"]) == {"jobshop"} and (df["value"] > 0).all()


def test_bench_cli_usage_errors_exit_2(capsys) -> None:
    assert main(["domains=[nosuch]"]) == 2
    assert "domains" in capsys.readouterr().err
    assert main(["--episodes", "3"]) == 2
    assert main(["episodes=3"]) == 2
    err = capsys.readouterr().err
    assert "episodes" in err and err.count("\n") == 2  # one line per error
