"""schedgym-bench runs and prints its table (speed targets live in the benchmark, not in tests)."""

from __future__ import annotations

from schedgym.eval.bench import _jobshop_rows, main


def test_jobshop_bench_rows_are_consistent() -> None:
    rows = {r["measure"]: r["value"] for r in _jobshop_rows("ft06", episodes=5, builder="nondelay")}
    assert rows["env + random policy: episodes/s"] > 0
    assert rows["simulator only: episodes/s"] > 0
    assert 0.0 <= rows["observation share of env time"] < 1.0


def test_bench_cli_prints_table(capsys) -> None:
    assert main(["--episodes", "3", "--instance", "ft06", "--domains", "jobshop"]) == 0
    out = capsys.readouterr().out
    assert "schedgym-bench" in out and "episodes/s" in out
