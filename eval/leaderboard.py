"""Leaderboards from ``results.csv``: mean gap per policy per suite (and group), best in bold.

The gap of a row is its objective's relative distance to the case's reference (best known bound,
optimum) in the objective's direction. Cases without a reference are compared with the best policy
of the same run on the same case and seed (``gap to best in run``), which the table says.

A mean over fewer episodes than the column's most (a policy that failed, was not run, or whose rows
were dropped as incomplete on some cases) is not comparable: its cell is marked ``(n/N)`` and never
bolded.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import pandas as pd


def load_results(path: Path) -> pd.DataFrame:
    text_cols = {"suite": str, "group": str, "case": str, "policy": str, "error": str, "reference_source": str}
    df = pd.read_csv(path, dtype=text_cols, keep_default_na=True)
    for col in ("error", "group"):
        if col in df:
            df[col] = df[col].fillna("")
    return df


def with_gaps(df: pd.DataFrame) -> pd.DataFrame:
    """Fill ``gap`` where a row has no reference with the gap to the best in the run (``gap_kind`` says)."""
    ok = df["error"] == ""
    if "validated" in df:  # a row whose objective the validator did not confirm is not a result
        ok &= df["validated"].map(lambda v: str(v) == "True")
    df = df[ok].copy()
    if df.empty:
        df["gap_kind"] = []
        return df
    df["gap_kind"] = ["reference" if pd.notna(g) else "" for g in df["gap"]]
    missing = df["gap_kind"] == ""
    if missing.any():
        keys = ["suite", "group", "case", "seed"]
        sub = df[missing]
        best = sub.groupby(keys)["objective"].transform(
            lambda s: s.min() if sub.loc[s.index, "sense"].iloc[0] == "min" else s.max()
        )
        sense_min = sub["sense"] == "min"
        gap = (sub["objective"] - best) / best.abs()
        gap[~sense_min] = (best - sub["objective"]) / best.abs()
        df.loc[missing, "gap"] = gap
        df.loc[missing, "gap_kind"] = "best in run"
    return df


def _fmt(x: float, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if pct:
        return f"{100 * x:.2f}%"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def suite_tables(df: pd.DataFrame, metrics_by_suite: dict[str, list[str]] | None = None) -> list[tuple[str, pd.DataFrame]]:
    """One table per (suite, group): policy rows with mean gap, objective, metrics, counts, wall time."""
    metrics_by_suite = metrics_by_suite or {}
    out = []
    ok = with_gaps(df)
    for (suite, group), sub in ok.groupby(["suite", "group"], sort=False):
        metric_cols = [f"m.{m}" for m in metrics_by_suite.get(suite, []) if f"m.{m}" in sub]
        agg = sub.groupby("policy", sort=False).agg(
            mean_gap=("gap", "mean"),
            objective=("objective", "mean"),
            episodes=("objective", "size"),
            wall_time_s=("wall_time_s", "mean"),
            **{c[2:]: (c, "mean") for c in metric_cols if c[2:] != sub["objective_name"].iloc[0]},
        )
        if "x.optimal" in sub:  # exact solvers report whether they proved optimality
            proven = sub["x.optimal"].map(lambda v: str(v) == "True")
            has = sub["x.optimal"].notna()
            agg["proven_optimal"] = [
                f"{int(proven[(sub['policy'] == p) & has].sum())}/{int(has[sub['policy'] == p].sum())}"
                if has[sub["policy"] == p].any() else "" for p in agg.index
            ]
        errors = df[(df["suite"] == suite) & (df["group"] == group) & (df["error"] != "")]
        agg["errors"] = errors.groupby("policy").size().reindex(agg.index).fillna(0).astype(int)
        kinds = sorted(set(sub["gap_kind"]))
        kind = kinds[0] if len(kinds) == 1 else " / ".join(kinds) + " (mixed)"
        title = f"{suite}" + (f" — {group}" if group else "") + f" (gap to {kind}; {sub['objective_name'].iloc[0]}, {sub['sense'].iloc[0]})"
        out.append((title, agg.sort_values("mean_gap")))
    return out


def render_markdown(df: pd.DataFrame, metrics_by_suite: dict[str, list[str]] | None = None) -> str:
    """The whole leaderboard as Markdown: a summary of mean gaps, then one table per suite/group."""
    lines = ["# Leaderboard", ""]
    ok = with_gaps(df)
    n_err = int((df["error"] != "").sum()) if "error" in df else 0
    lines.append(f"{len(ok)} validated episodes" + (f", {n_err} failed (see results.csv `error`)" if n_err else "") + ".")
    lines.append("Gap = (objective − reference) / reference in the objective's direction; lower is better; best in **bold**.")
    lines.append("")
    if not ok.empty:
        ok = ok.assign(col=ok["suite"] + ok["group"].map(lambda g: f" [{g}]" if g else ""))
        summary = ok.pivot_table(index="policy", columns="col", values="gap", aggfunc="mean", sort=False)
        counts = ok.pivot_table(index="policy", columns="col", values="gap", aggfunc="size", sort=False)
        lines += ["## Mean gap per suite", ""]
        lines += _markdown_table(summary, pct=True, bold="min", counts=counts.reindex_like(summary))
        lines.append("")
        if _short_cells(counts):
            lines += ["(n/N): the mean covers n of the N episodes the other policies have; not compared.", ""]
    for title, table in suite_tables(df, metrics_by_suite):
        lines += [f"## {title}", ""]
        full = int(table["episodes"].max()) if len(table) else 0
        short = {p for p in table.index if int(table.loc[p, "episodes"]) < full}
        lines += _markdown_table(table, pct_cols={"mean_gap"}, bold_col="mean_gap",
                                 exclude_from_bold={p for p in table.index if table.loc[p, "errors"] > 0} | short,
                                 counts=pd.DataFrame({"mean_gap": table["episodes"]}, index=table.index))
        lines.append("")
    return "\n".join(lines)


def _short_cells(counts: pd.DataFrame) -> bool:
    """Whether some cell of ``counts`` is below its column's most."""
    return bool(((counts.fillna(0) < counts.max()).to_numpy()).any())


def _markdown_table(table: pd.DataFrame, pct: bool = False, bold: str | None = None,
                    pct_cols: Iterable[str] = (), bold_col: str | None = None,
                    exclude_from_bold: set[str] | None = None, counts: pd.DataFrame | None = None) -> list[str]:
    """Markdown rows; the best value per bolded column is bold, among rows not in ``exclude_from_bold``
    (policies that failed some episodes: their means cover fewer cases). ``counts`` (episodes behind each
    cell, for some columns): a cell with fewer than its column's most is marked ``(n/N)``, never bold."""
    pct_cols = set(pct_cols)
    exclude_from_bold = exclude_from_bold or set()
    cols = list(table.columns)
    header = "| policy | " + " | ".join(str(c) for c in cols) + " |"
    sep = "|---|" + "|".join("---:" for _ in cols) + "|"

    def short(idx: object, c: object) -> tuple[int, int] | None:
        if counts is None or c not in counts.columns:
            return None
        col = counts[c].fillna(0)
        n, most = int(col.get(idx, 0)), int(col.max())
        return (n, most) if n < most else None

    best: dict[str, float] = {}
    for c in cols:
        if (bold and pct) or c == bold_col:
            keep = [i not in exclude_from_bold and short(i, c) is None for i in table.index]
            vals = pd.to_numeric(table[c], errors="coerce")[keep]
            if vals.notna().any():
                best[c] = vals.min()
    rows = [header, sep]
    for idx, r in table.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if isinstance(v, str):
                cells.append(v or "-")
                continue
            s = _fmt(float(v), pct or c in pct_cols) if pd.notna(v) else "-"
            few = short(idx, c) if pd.notna(v) else None
            if few is not None:
                s = f"{s} ({few[0]}/{few[1]})"
            elif c in best and idx not in exclude_from_bold and pd.notna(v) and math.isclose(float(v), best[c], rel_tol=1e-12, abs_tol=1e-12):
                s = f"**{s}**"
            cells.append(s)
        rows.append(f"| {idx} | " + " | ".join(cells) + " |")
    return rows
