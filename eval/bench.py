"""``schedgym-bench``: speed benchmarks of every domain, printed as one table (and optionally a CSV).

Each domain contributes rows through its manifest's ``bench`` function (``bench_rows(quick=...)``);
this module names no domain. Speed targets live here, never in timed tests. Every figure of one table is
measured in the same run, so ratios between rows are meaningful even on a noisy shared machine.

Usage::

    schedgym-bench                                  # every domain, full sizes
    schedgym-bench domains=[jobshop,llm] quick=true # some domains, small sizes (seconds)
    schedgym-bench out=runs/bench.csv               # also write the rows as CSV
    schedgym-bench domains=[jobshop] training=true  # and PPO env steps/s per backend (the learner's speed)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..configs.grammar import UsageError, parse_overrides, run_cli


@dataclass
class BenchConfig:
    domains: Optional[list[str]] = None  # domain names (default: every domain; see schedgym-eval show=true)
    training: bool = False  # also PPO env steps/s per backend on the jobshop-10x10 preset (needs the [train] extra; ~1 min)
    quick: bool = False  # small sizes, a few seconds per domain (for smoke tests; not for quoting)
    out: Optional[str] = None  # also write the rows to this CSV file


SUMMARY = "Speed of every domain's environments and simulators (this machine, this run, one process)."
EXAMPLES = ("", "domains=[jobshop,llm] quick=true", "out=runs/bench.csv", "domains=[jobshop] training=true")


def collect_rows(domain_names: list[str] | None, quick: bool) -> list[dict[str, Any]]:
    """Rows of the named domains (all when None), each with its ``domain``."""
    from ..envs.domains import domains

    known = {d.name: d for d in domains()}
    names = domain_names or list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"key 'domains': unknown domain(s) {unknown}; known: {list(known)}")
    rows: list[dict[str, Any]] = []
    for name in names:
        for r in known[name].bench_rows(quick=quick):
            rows.append({"domain": name, "benchmark": r["benchmark"], "measure": r["measure"],
                         "value": float(r["value"]), "unit": r.get("unit", "")})
    return rows


def training_rows(quick: bool) -> list[dict[str, Any]]:
    """PPO throughput rows of :func:`schedgym.train.bench.ppo_bench_rows` (the one source of rows that is
    not a domain: the learner's speed), under the domain ``training``."""
    try:
        from ..train.bench import ppo_bench_rows
    except ImportError as exc:
        raise UsageError(f"key 'training': needs the [train] extra: pip install 'schedgym[train]' ({exc})") from None
    return [{"domain": "training", "benchmark": r["benchmark"], "measure": r["measure"],
             "value": float(r["value"]), "unit": r.get("unit", "")} for r in ppo_bench_rows(quick=quick)]


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="schedgym-bench (one process, this machine, this run)")
    for col in ("domain", "benchmark", "measure"):
        table.add_column(col)
    table.add_column("value", justify="right")
    for r in rows:
        v = r["value"]
        text = "n/a" if v != v else (f"{100 * v:.1f}%" if r.get("unit") == "%" else f"{v:,.1f}")
        if r.get("unit") and r.get("unit") != "%":
            text += f" {r['unit']}"
        table.add_row(r["domain"], r["benchmark"], r["measure"], text)
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    return run_cli("schedgym-bench", lambda: _main(list(sys.argv[1:] if argv is None else argv)))


def _main(argv: list[str]) -> int:
    cfg = parse_overrides("schedgym-bench", argv, BenchConfig, SUMMARY, EXAMPLES)
    rows = collect_rows(list(cfg.domains) if cfg.domains else None, bool(cfg.quick))
    if cfg.training:
        rows += training_rows(bool(cfg.quick))
    print_table(rows)
    if cfg.out:
        import pandas as pd

        path = Path(cfg.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(path, index=False)
        print(f"rows: {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
