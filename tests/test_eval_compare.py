"""``python -m schedgym.eval.compare``: paired comparisons of schedgym-eval results on any metric."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from schedgym.configs.grammar import UsageError
from schedgym.eval.compare import compare, load, main


def _rows(policy: str, p99: list[float], tput: list[float], case: str = "c1", validated: bool = True,
          seeds: list[int] | None = None) -> list[dict]:
    seeds = seeds if seeds is not None else list(range(len(p99)))
    return [{"suite": "s", "group": "g", "case": case, "policy": policy, "seed": s, "settings": "abc",
             "objective": -v, "sense": "max", "validated": validated, "error": "", "m.ttft_p99": v,
             "m.throughput_tok_s": t} for s, v, t in zip(seeds, p99, tput)]


def _write(tmp_path: Path, rows: list[dict], name: str = "results.csv") -> Path:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_a_constant_improvement_is_measured_exactly() -> None:
    ref = [4.0, 5.0, 6.0, 7.0]
    df = pd.DataFrame(_rows("ref", ref, [100.0] * 4) + _rows("a", [v - 1 for v in ref], [110.0] * 4))
    t = compare(df, "ref", "ttft_p99", "min", also=["throughput_tok_s"])
    (row,) = t.to_dict("records")
    assert row["instances"] == 4 and row["better_on"] == 4
    assert row["difference"] == pytest.approx(-1.0)
    assert row["difference_lo"] == pytest.approx(-1.0) and row["difference_hi"] == pytest.approx(-1.0)
    assert row["mean_ratio"] == pytest.approx(np.mean([3 / 4, 4 / 5, 5 / 6, 6 / 7]))
    assert row["also:throughput_tok_s"] == pytest.approx(1.1)
    assert row["also:throughput_tok_s:lo"] == pytest.approx(1.1) and row["also:throughput_tok_s:hi"] == pytest.approx(1.1)


def test_instances_are_paired_and_the_interval_covers_the_mean() -> None:
    rng = np.random.default_rng(1)
    ref = rng.uniform(5, 10, size=40)
    noise = rng.normal(0, 1, size=40)
    # the policy misses seed 39, and has an extra seed the reference lacks: neither is counted
    df = pd.DataFrame(_rows("ref", list(ref), [1.0] * 40)
                      + _rows("a", list(ref[:39] - 0.5 + noise[:39]), [1.0] * 39)
                      + _rows("a", [1.0], [1.0], seeds=[99]))
    (row,) = compare(df, "ref", "ttft_p99", "min", resamples=2000).to_dict("records")
    assert row["instances"] == 39
    assert row["difference"] == pytest.approx(float(np.mean(-0.5 + noise[:39])))
    assert row["difference_lo"] < row["difference"] < row["difference_hi"]
    again = compare(df, "ref", "ttft_p99", "min", resamples=2000).to_dict("records")[0]
    assert again == row  # seeded bootstrap: the same input gives the same interval


def test_rows_are_grouped_by_case_group_or_all() -> None:
    df = pd.DataFrame(_rows("ref", [2.0, 2.0], [1.0, 1.0], case="c1") + _rows("ref", [4.0, 4.0], [1.0, 1.0], case="c2")
                      + _rows("a", [1.0, 3.0], [1.0, 1.0], case="c1") + _rows("a", [4.0, 4.0], [1.0, 1.0], case="c2"))
    by_case = compare(df, "ref", "ttft_p99", "min", by="case")
    assert list(by_case["group"]) == ["s / c1", "s / c2"] and list(by_case["better_on"]) == [1, 0]
    (everything,) = compare(df, "ref", "ttft_p99", "min", by="all").to_dict("records")
    assert everything["instances"] == 4 and everything["difference"] == pytest.approx(0.0)
    assert len(compare(df, "ref", "ttft_p99", "min", by="group")) == 1


def test_the_objective_uses_the_rows_own_sense() -> None:
    df = pd.DataFrame(_rows("ref", [2.0, 3.0], [1.0, 1.0]) + _rows("a", [1.0, 2.0], [1.0, 1.0]))
    (row,) = compare(df, "ref").to_dict("records")  # objective = -p99, sense max: a is better on both
    assert row["better_on"] == 2 and row["difference"] == pytest.approx(1.0)


def test_unvalidated_failed_and_replaced_rows(tmp_path: Path) -> None:
    first = _write(tmp_path, _rows("ref", [2.0, 2.0], [1.0, 1.0]) + _rows("a", [9.0, 9.0], [1.0, 1.0]), "a.csv")
    bad = _rows("a", [1.0], [1.0], validated=False, seeds=[1])
    failed = _rows("ref", [1.0], [1.0], seeds=[5])
    failed[0]["error"] = "RuntimeError: boom"
    second = _write(tmp_path, _rows("a", [1.0], [1.0], seeds=[0]) + bad + failed, "b.csv")
    df = load([first, second])
    # a's seed 0 is replaced by the later file; its seed 1 is unvalidated there, so the earlier valid row
    # stays; the failed row is gone
    a = df[df.policy == "a"].set_index("seed")["m.ttft_p99"]
    assert a.to_dict() == {"0": 1.0, "1": 9.0}
    assert "5" not in set(df["seed"])


def test_cli_prints_and_writes_markdown(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path, _rows("ref", [2.0, 3.0], [1.0, 1.0]) + _rows("a", [1.0, 2.0], [1.2, 1.2]))
    out = tmp_path / "cmp" / "table.md"
    assert main([f"results={path}", "reference=ref", "metric=ttft_p99", "sense=min", "also=throughput_tok_s",
                 f"out={out}"]) == 0
    text = capsys.readouterr().out
    assert "| s / c1 | `a` | 2 | 1.5 | 2.5 | -1 [-1, -1] |" in text and "2/2" in text and "1.2 [1.2, 1.2]" in text
    assert out.read_text() == text


@pytest.mark.parametrize("args, words", [
    (["reference=nobody"], ["'reference'", "nobody", "ref"]),
    (["reference=ref", "metric=ttft_p99"], ["'sense'", "ttft_p99"]),
    (["reference=ref", "metric=latency_p42", "sense=min"], ["'metric'", "latency_p42", "ttft_p99"]),
    (["reference=ref", "policies=[zzz]"], ["'policies'", "zzz"]),
    (["reference=ref", "by=seed"], ["'by'", "seed"]),
    (["reference=ref", "metric=ttft_p99", "sense=lowest"], ["'sense'", "lowest"]),
    (["reference=ref", "also=nothing", "metric=ttft_p99", "sense=min"], ["'also'", "nothing"]),
    (["reference=ref", "confidence=1.5"], ["'confidence'"]),
    (["reference=ref", "colour=red"], ["colour"]),
])
def test_bad_arguments_are_named(tmp_path: Path, capsys, args: list[str], words: list[str]) -> None:
    path = _write(tmp_path, _rows("ref", [2.0, 3.0], [1.0, 1.0]) + _rows("a", [1.0, 2.0], [1.0, 1.0]))
    assert main([f"results={path}", *args]) == 2
    err = capsys.readouterr().err
    for w in words:
        assert w in err, err


def test_a_file_that_is_not_results_is_named(tmp_path: Path, capsys) -> None:
    assert main([f"results={tmp_path / 'missing.csv'}", "reference=ref"]) == 2
    assert "missing.csv" in capsys.readouterr().err
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    assert main([f"results={other}", "reference=ref"]) == 2
    assert "lacks the columns" in capsys.readouterr().err
    with pytest.raises(UsageError, match="not a file"):
        load([tmp_path])


def test_instances_without_the_metric_are_left_out_and_disjoint_runs_refused() -> None:
    ref = _rows("ref", [2.0, 3.0, 4.0], [1.0, 1.0, 1.0])
    mine = _rows("a", [1.0, float("nan"), 3.0], [1.0, 1.0, 1.0])
    (row,) = compare(pd.DataFrame(ref + mine), "ref", "ttft_p99", "min").to_dict("records")
    assert row["instances"] == 2 and row["difference"] == pytest.approx(-1.0)
    other_seeds = _rows("b", [1.0], [1.0], seeds=[50])
    with pytest.raises(UsageError, match="'b' ran no instance that 'ref' ran"):
        compare(pd.DataFrame(ref + other_seeds), "ref", "ttft_p99", "min")


def test_intervals_do_not_depend_on_what_else_is_compared() -> None:
    rng = np.random.default_rng(3)
    ref = list(rng.uniform(5, 10, size=12))
    rows = _rows("ref", ref, [1.0] * 12) + _rows("a", [v + rng.normal() for v in ref], [1.0] * 12)
    alone = compare(pd.DataFrame(rows), "ref", "ttft_p99", "min", policies=["a"], resamples=500)
    more = compare(pd.DataFrame(rows + _rows("b", ref, [1.0] * 12)), "ref", "ttft_p99", "min", resamples=500,
                   also=["throughput_tok_s"])
    a_more = more[more.policy == "a"].iloc[0]
    assert (a_more["difference_lo"], a_more["difference_hi"]) == (alone.iloc[0]["difference_lo"],
                                                                alone.iloc[0]["difference_hi"])


def test_nan_in_a_further_metric_and_groups_without_the_metric() -> None:
    ref = _rows("ref", [2.0, 3.0, 4.0], [10.0, 10.0, 10.0])
    mine = _rows("a", [1.0, 2.0, 3.0], [11.0, float("nan"), 11.0])
    (row,) = compare(pd.DataFrame(ref + mine), "ref", "ttft_p99", "min", also=["throughput_tok_s"]).to_dict("records")
    assert row["instances"] == 3 and row["also:throughput_tok_s"] == pytest.approx(1.1)
    # a case where neither has the metric gives no row, not a row of NaNs
    empty = _rows("ref", [float("nan")], [1.0], case="c2") + _rows("a", [float("nan")], [1.0], case="c2")
    table = compare(pd.DataFrame(ref + mine + empty), "ref", "ttft_p99", "min")
    assert list(table["group"]) == ["s / c1"]
