"""Leaderboards from ``results.csv``: mean gap per policy per suite (and group), best in bold.

Every suite table also gives the 95% confidence interval of the mean gap, the number of validated
episodes behind it and the instance-by-instance wins / ties / losses against the table's best
baseline (:mod:`schedgym.eval.stats`); the header states the provenance of the rows (versions,
commit, CPU, dates: :mod:`schedgym.eval.provenance`). :func:`display_table` is the one formatting
of a table's cells that the Markdown leaderboard, the LaTeX / Markdown exports
(:mod:`schedgym.eval.export`) and the site (:mod:`schedgym.eval.site`) share.

The gap of a row is its objective's relative distance to the case's reference (best known bound,
optimum) in the objective's direction. Cases without a reference are compared with the best policy
of the same run on the same case and seed (``gap to best in run``), which the table says.

A mean over fewer episodes than the column's most (a policy that failed, was not run, or whose rows
were dropped as incomplete on some cases) is not comparable: its cell is marked ``(n/N)`` and never
bolded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .provenance import provenance_summary
from .stats import ci_available, cell_table


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


@dataclass
class SuiteTable:
    """One leaderboard table: the policies of one (suite, group), numeric columns.

    ``table`` is indexed by policy, sorted by mean gap, with columns ``mean_gap``, ``gap_ci95`` (half-width
    of the 95% CI), ``objective`` (mean), ``episodes`` (validated), ``wall_time_s`` (mean), the suite's
    leaderboard metrics (means), ``proven_optimal`` (exact solvers: ``k/n``), ``errors`` (failed
    episodes) and ``wins`` / ``ties`` / ``losses`` against ``baseline``."""

    suite: str
    group: str
    objective_name: str
    sense: str
    gap_kind: str
    baseline: str | None
    table: pd.DataFrame

    @property
    def title(self) -> str:
        return (f"{self.suite}" + (f" — {self.group}" if self.group else "")
                + f" (gap to {self.gap_kind}; {self.objective_name}, {self.sense})")

    @property
    def full(self) -> int:
        """The most episodes any policy of the table has (a cell with fewer is not compared)."""
        return int(self.table["episodes"].max()) if len(self.table) else 0

    def comparable(self) -> list[str]:
        """Policies eligible for bold: every episode of the table ran and validated, no failure."""
        return [p for p in self.table.index
                if int(self.table.loc[p, "episodes"]) == self.full and int(self.table.loc[p, "errors"]) == 0]

    def best(self) -> str | None:
        """The comparable policy with the lowest mean gap (bold), or None."""
        gaps = self.table.loc[self.comparable(), "mean_gap"].dropna()
        return str(gaps.idxmin()) if len(gaps) else None


def _kinds(df: pd.DataFrame) -> dict[str, str]:
    """policy spec -> registry kind, from the rows' ``policy_kind`` (older files: from the registry)."""
    from .runner import policy_kind

    kinds: dict[str, str] = {}
    if "policy_kind" in df.columns:
        for p, k in zip(df["policy"], df["policy_kind"]):
            if isinstance(k, str) and k:
                kinds[str(p)] = k
    for p in set(df["policy"].astype(str)) - set(kinds):
        kinds[p] = policy_kind(p)
    return kinds


def suite_tables(df: pd.DataFrame, metrics_by_suite: dict[str, list[str]] | None = None) -> list[SuiteTable]:
    """One table per (suite, group): see :class:`SuiteTable`."""
    metrics_by_suite = metrics_by_suite or {}
    out = []
    ok = with_gaps(df)
    if ok.empty:
        return out
    kinds = _kinds(ok)
    for (suite, group), sub in ok.groupby(["suite", "group"], sort=False):
        objective_name = str(sub["objective_name"].iloc[0])
        metric_cols = [f"m.{m}" for m in metrics_by_suite.get(suite, []) if f"m.{m}" in sub]
        stats, baseline = cell_table(sub, kinds)
        agg = sub.groupby("policy", sort=False).agg(
            objective=("objective", "mean"),
            wall_time_s=("wall_time_s", "mean"),
            **{c[2:]: (c, "mean") for c in metric_cols if c[2:] != objective_name},
        )
        agg = pd.concat([stats[["mean_gap", "gap_ci95"]], agg[["objective"]], stats[["episodes"]],
                         agg.drop(columns=["objective"])], axis=1)
        if "x.optimal" in sub:  # exact solvers report whether they proved optimality
            proven = sub["x.optimal"].map(lambda v: str(v) == "True")
            has = sub["x.optimal"].notna()
            agg["proven_optimal"] = [
                f"{int(proven[(sub['policy'] == p) & has].sum())}/{int(has[sub['policy'] == p].sum())}"
                if has[sub["policy"] == p].any() else "" for p in agg.index
            ]
        errors = df[(df["suite"] == suite) & (df["group"] == group) & (df["error"] != "")]
        agg["errors"] = errors.groupby("policy").size().reindex(agg.index).fillna(0).astype(int)
        for c in ("wins", "ties", "losses"):
            agg[c] = stats[c]
        kinds_here = sorted(set(sub["gap_kind"]))
        kind = kinds_here[0] if len(kinds_here) == 1 else " / ".join(kinds_here) + " (mixed)"
        out.append(SuiteTable(str(suite), str(group), objective_name, str(sub["sense"].iloc[0]), kind, baseline,
                              agg.sort_values("mean_gap")))
    return out


def _pct_pm(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"± {100 * x:.2f}%"


def display_table(st: SuiteTable) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cells of ``st`` as text (no markup) and a same-shaped boolean frame of the cells to bold.

    ``mean gap`` of a policy with fewer episodes than the table's most is marked ``(n/N)`` and never
    bold; the best comparable mean gap is bold. ``W/T/L vs <baseline>``: wins / ties / losses per
    instance against the best baseline (the baseline's own cell says ``best baseline``)."""
    t = st.table
    cols: dict[str, list[str]] = {"mean gap": [], "95% CI": [], "objective": [], "episodes": [], "wall time (s)": []}
    extra = [c for c in t.columns if c not in {"mean_gap", "gap_ci95", "objective", "episodes", "wall_time_s",
                                                "proven_optimal", "errors", "wins", "ties", "losses"}]
    for c in extra:
        cols[c] = []
    if "proven_optimal" in t:
        cols["proven optimal"] = []
    cols["errors"] = []
    vs = f"W/T/L vs {st.baseline}" if st.baseline else None
    if vs:
        cols[vs] = []
    full, best = st.full, st.best()
    bold = pd.DataFrame(False, index=t.index, columns=list(cols))
    for p, r in t.iterrows():
        gap = _fmt(float(r["mean_gap"]), pct=True) if pd.notna(r["mean_gap"]) else "-"
        n = int(r["episodes"])
        if n < full:
            gap += f" ({n}/{full})"
        elif p == best:
            bold.loc[p, "mean gap"] = True
        cols["mean gap"].append(gap)
        cols["95% CI"].append(_pct_pm(float(r["gap_ci95"])))
        cols["objective"].append(_fmt(float(r["objective"])))
        cols["episodes"].append(str(n))
        cols["wall time (s)"].append(_fmt(float(r["wall_time_s"])))
        for c in extra:
            cols[c].append(_fmt(float(r[c])) if pd.notna(r[c]) else "-")
        if "proven_optimal" in t:
            cols["proven optimal"].append(str(r["proven_optimal"]) or "-")
        cols["errors"].append(str(int(r["errors"])))
        if vs:
            cols[vs].append("best baseline" if p == st.baseline else
                            "-" if pd.isna(r["wins"]) else f"{int(r['wins'])}/{int(r['ties'])}/{int(r['losses'])}")
    text = pd.DataFrame(cols, index=t.index)
    text.index.name = "policy"
    return text, bold


def summary_frames(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean gap (and number of validated episodes) of every policy on every suite [group]: policies as
    rows, ``suite [group]`` as columns."""
    ok = with_gaps(df)
    if ok.empty:
        return pd.DataFrame(), pd.DataFrame()
    ok = ok.assign(col=ok["suite"] + ok["group"].map(lambda g: f" [{g}]" if g else ""))
    summary = ok.pivot_table(index="policy", columns="col", values="gap", aggfunc="mean", sort=False)
    counts = ok.pivot_table(index="policy", columns="col", values="gap", aggfunc="size", sort=False)
    return summary, counts.reindex_like(summary)


def display_summary(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cells of :func:`summary_frames` as text and which to bold: the lowest mean gap of each column
    among the policies with all its episodes; a cell over fewer is marked ``(n/N)`` and never bold."""
    summary, counts = summary_frames(df)
    text = pd.DataFrame("-", index=summary.index, columns=summary.columns, dtype=object)
    bold = pd.DataFrame(False, index=summary.index, columns=summary.columns)
    for c in summary.columns:
        n = counts[c].fillna(0).astype(int)
        most = int(n.max())
        full = summary[c][(n == most) & summary[c].notna()]
        best = full.min() if len(full) else math.nan
        for p in summary.index:
            v = summary.loc[p, c]
            if pd.isna(v):
                continue
            text.loc[p, c] = _fmt(float(v), pct=True) + (f" ({n[p]}/{most})" if n[p] < most else "")
            bold.loc[p, c] = bool(n[p] == most and math.isclose(float(v), best, rel_tol=1e-12, abs_tol=1e-12))
    text.index.name = "policy"
    return text, bold


def render_markdown(df: pd.DataFrame, metrics_by_suite: dict[str, list[str]] | None = None) -> str:
    """The whole leaderboard as Markdown: provenance, a summary of mean gaps, then one table per suite/group."""
    lines = ["# Leaderboard", ""]
    ok = with_gaps(df)
    n_err = int((df["error"] != "").sum()) if "error" in df else 0
    lines.append(f"{len(ok)} validated episodes" + (f", {n_err} failed (see results.csv `error`)" if n_err else "") + ".")
    lines.append("Gap = (objective − reference) / reference in the objective's direction; lower is better; best in **bold**.")
    lines.append("95% CI: Student's t interval of the mean gap over cases and seeds. W/T/L: instances (case, seed) where "
                 "the policy's objective is better / equal / worse than the best baseline's (the baseline-kind policy "
                 "with the lowest mean gap).")
    if not ci_available():
        lines.append("(No 95% CIs: they need scipy, which is not installed: pip install scipy.)")
    lines.append("")
    prov = provenance_summary(df)
    if prov:
        lines += ["Produced with:", ""] + [f"- {line}" for line in prov] + [""]
    text, bold = display_summary(df)
    if not text.empty:
        lines += ["## Mean gap per suite", ""] + _markdown_rows(text, bold) + [""]
        if text.map(lambda v: v.endswith(")")).to_numpy().any():
            lines += ["(n/N): the mean covers n of the N episodes the other policies have; not compared.", ""]
    for st in suite_tables(df, metrics_by_suite):
        lines += [f"## {st.title}", ""]
        text, bold = display_table(st)
        lines += _markdown_rows(text, bold) + [""]
    return "\n".join(lines)


def _markdown_rows(text: pd.DataFrame, bold: pd.DataFrame) -> list[str]:
    """A Markdown table of display cells (policies as rows), bold cells in ``**``."""
    lines = ["| policy | " + " | ".join(str(c) for c in text.columns) + " |",
             "|---|" + "|".join("---:" for _ in text.columns) + "|"]
    for p in text.index:
        cells = [f"**{v}**" if bold.loc[p, c] else str(v) for c, v in text.loc[p].items()]
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    return lines
