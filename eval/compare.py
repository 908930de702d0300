"""Paired comparison of policies against a reference on any metric of ``schedgym-eval`` results.

Usage (``key=value``, lists in brackets)::

    python -m schedgym.eval.compare results=runs/eval/x/results.csv reference=llumnix metric=ttft_p99 sense=min \\
        also=[throughput_tok_s]
    python -m schedgym.eval.compare "results=[a/results.csv,b/results.csv]" reference=mwkr by=group
    python -m schedgym.eval.compare --help

The leaderboard compares every policy with the best baseline on the objective (wins / ties / losses). This
answers the next question a paper asks: is policy A's metric lower than the reference's on the same
instances, by how much, and how sure is that? For each row group (``by``: a case, a group, or everything)
and each policy, over the instances both ran (an instance is a suite, case, seed and settings; unvalidated
and failed rows, and instances where either lacks the metric, are left out):

* ``policy`` and ``reference``: the metric's means;
* ``difference``: the mean of the per-instance differences (policy minus reference), with a paired
  bootstrap percentile interval (``resamples`` resamples of the instances, seeded per row by ``seed``, the
  row's group and policy: the same instances give the same interval, whatever else is compared);
* ``mean ratio``: the mean of the per-instance ratios (policy / reference);
* ``better on``: the instances where the policy is strictly better in the metric's ``sense``;
* for each metric of ``also`` (column ``also:<metric>``, interval ``also:<metric>:lo`` / ``:hi``): the ratio
  of the policy's mean to the reference's, with a paired bootstrap interval (e.g. throughput: is it at
  least the reference's?).

Several results files may be given (later files win for the same instance and policy), so a policy run
later can be compared with a reference run before, as long as both ran the same instances.
"""

from __future__ import annotations

import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd
from omegaconf import MISSING

from ..configs.grammar import UsageError, parse_overrides, run_cli
from .leaderboard import load_results
from .stats import INSTANCE_KEYS

#: the columns that identify one instance across policies
PAIR_KEYS = ("suite", *INSTANCE_KEYS)
SENSES = ("min", "max")


@dataclass
class CompareCLI:
    results: list[str] = MISSING  # results.csv of schedgym-eval runs: a path or a list of paths (later files win for the same instance and policy)
    reference: str = MISSING  # the policy spec every other policy is compared with, instance by instance
    metric: str = "objective"  # the compared column: objective, or a metric column (ttft_p99 or m.ttft_p99)
    sense: Optional[str] = None  # min | max, which direction is better (null: the rows' own sense for objective; required for other metrics)
    also: list[str] = field(default_factory=list)  # metrics shown as the ratio of means with a paired bootstrap interval, e.g. [throughput_tok_s]
    policies: Optional[list[str]] = None  # compare only these policies (default: every policy but the reference)
    by: str = "case"  # one row per case, per group, or one over all instances (all)
    confidence: float = 0.95  # of the bootstrap intervals
    resamples: int = 10000  # paired bootstrap resamples
    seed: int = 0  # of the bootstrap
    out: Optional[str] = None  # also write the table as Markdown to this file


SUMMARY = ("Compare policies with a reference instance by instance on any metric of schedgym-eval results: means, "
           "the mean difference with a paired bootstrap interval, the mean ratio, and how often each is better.")
EXAMPLES = (
    "results=runs/eval/x/results.csv reference=llumnix metric=ttft_p99 sense=min also=[throughput_tok_s]",
    "results=[runs/eval/a/results.csv,runs/eval/b/results.csv] reference=mwkr by=group",
)
BY = {"case": ["suite", "case"], "group": ["suite", "group"], "all": []}
#: keys typed as lists: a single value is a one-element list
LIST_KEYS = ("results", "also", "policies")


def _wrap_lists(argv: Sequence[str]) -> list[str]:
    """``also=x`` -> ``also=[x]`` for the list keys (as ``schedgym-eval`` does)."""
    out = []
    for arg in argv:
        key, eq, value = arg.partition("=")
        if eq and key in LIST_KEYS and value.strip() and not value.lstrip().startswith("[") and value.strip() != "null":
            arg = f"{key}=[{value}]"
        out.append(arg)
    return out


def load(paths: Sequence[str | Path]) -> pd.DataFrame:
    """The validated, error-free rows of the results files; a later file's row replaces an earlier one's
    for the same instance and policy."""
    frames = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise UsageError(f"key 'results': {str(path)!r} is not a file (a schedgym-eval results.csv)")
        try:
            frame = load_results(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise UsageError(f"key 'results': {str(path)!r} is not a readable CSV: {exc}") from None
        missing = [c for c in ("policy", "group", "sense", "objective", *PAIR_KEYS, "validated") if c not in frame.columns]
        if missing:
            raise UsageError(f"key 'results': {str(path)!r} lacks the columns {missing} (not a schedgym-eval results.csv)")
        frames.append(frame)
    df = pd.concat(frames, ignore_index=True)
    df = df.assign(**{k: df[k].astype(str) for k in PAIR_KEYS})
    ok = df["validated"].astype(str).str.lower().eq("true")
    if "error" in df.columns:
        ok &= df["error"].isna() | df["error"].astype(str).eq("")
    # a later file's row replaces an earlier one only where it is itself usable
    return df[ok].drop_duplicates(subset=["policy", *PAIR_KEYS], keep="last")


def metric_column(df: pd.DataFrame, metric: str, key: str = "metric") -> str:
    """The results column of ``metric`` (``objective``, ``ttft_p99`` or ``m.ttft_p99``)."""
    for name in (metric, f"m.{metric}"):
        if name in df.columns and (name == "objective" or name.startswith("m.")):
            return name
    known = ["objective", *sorted(c[2:] for c in df.columns if c.startswith("m."))]
    raise UsageError(f"key {key!r}: no metric {metric!r} in the results; known: {', '.join(known)}")


def _bootstrap(values: np.ndarray, statistic, resamples: int, confidence: float,
               rng: np.random.Generator) -> tuple[float, float]:
    """Percentile interval of ``statistic`` over ``resamples`` resamples of the rows of ``values``."""
    n = values.shape[0]
    if n < 2:
        return float("nan"), float("nan")
    idx = rng.integers(n, size=(resamples, n))
    stats = statistic(values[idx])
    tail = (1.0 - confidence) / 2.0 * 100.0
    return float(np.percentile(stats, tail)), float(np.percentile(stats, 100.0 - tail))


def compare(df: pd.DataFrame, reference: str, metric: str = "objective", sense: str | None = None,
            also: Sequence[str] = (), policies: Sequence[str] | None = None, by: str = "case",
            confidence: float = 0.95, resamples: int = 10000, seed: int = 0) -> pd.DataFrame:
    """One row per (``by`` group, policy): the paired comparison with ``reference`` (module docstring)."""
    if by not in BY:
        raise UsageError(f"key 'by': {by!r} is not one of {sorted(BY)}")
    if not 0 < confidence < 1:
        raise UsageError(f"key 'confidence': must be in (0, 1), got {confidence}")
    if resamples < 1:
        raise UsageError(f"key 'resamples': must be >= 1, got {resamples}")
    present = sorted(df["policy"].unique())
    if reference not in present:
        raise UsageError(f"key 'reference': no validated rows of {reference!r}; policies: {', '.join(present)}")
    others = [p for p in present if p != reference] if policies is None else list(policies)
    for p in others:
        if p not in present:
            raise UsageError(f"key 'policies': no validated rows of {p!r}; policies: {', '.join(present)}")
    col = metric_column(df, metric)
    if sense is None:
        if col != "objective":
            raise UsageError(f"key 'sense': say whether lower (min) or higher (max) {metric} is better")
        senses = df["sense"].astype(str).unique()
        if len(senses) != 1 or senses[0] not in SENSES:
            raise UsageError(f"key 'sense': the rows mix objective senses {list(senses)}; compare one suite at a time")
        sense = str(senses[0])
    if sense not in SENSES:
        raise UsageError(f"key 'sense': {sense!r} is not min or max")
    also_cols = [metric_column(df, m, "also") for m in also]
    keys = list(PAIR_KEYS)
    group_cols = BY[by]
    ref = df[df["policy"] == reference].set_index(keys)
    rows: list[dict[str, Any]] = []
    for policy in others:
        mine = df[df["policy"] == policy].set_index(keys)
        both = mine.index.intersection(ref.index)
        if both.empty:
            raise UsageError(f"key 'policies': {policy!r} ran no instance that {reference!r} ran (same suite, case, "
                             f"seed and settings); compare results of the same suites and seeds")
        a, b = mine.loc[both], ref.loc[both]
        labels = a.reset_index()[group_cols].astype(str).agg(" / ".join, axis=1) if group_cols else pd.Series(
            ["all"] * len(both))
        for label in dict.fromkeys(labels):
            sel = (labels == label).to_numpy()
            # each row's own bootstrap stream: its interval does not depend on what else is compared
            rng = np.random.default_rng([seed, zlib.crc32(f"{label}\0{policy}".encode())])
            row = _row(label, policy, a[sel], b[sel], col, sense, also_cols, confidence, resamples, rng)
            if row is not None:
                rows.append(row)
    return pd.DataFrame(rows)


def _row(label: str, policy: str, a: pd.DataFrame, b: pd.DataFrame, col: str, sense: str, also_cols: list[str],
         confidence: float, resamples: int, rng: np.random.Generator) -> dict[str, Any] | None:
    """One table row: ``a`` the policy's rows, ``b`` the reference's, aligned instance by instance (None when
    no instance of the group has the metric for both). A ratio whose reference value is 0 is left out of the
    mean ratio."""
    finite = np.isfinite(a[col].to_numpy(dtype=float)) & np.isfinite(b[col].to_numpy(dtype=float))
    a, b = a[finite], b[finite]  # a metric a run could not measure (NaN) leaves that instance out
    if not len(a):
        return None
    x = a[col].to_numpy(dtype=float)
    y = b[col].to_numpy(dtype=float)
    diff = x - y
    lo, hi = _bootstrap(diff, lambda d: d.mean(axis=-1), resamples, confidence, rng)
    better = (x < y) if sense == "min" else (x > y)
    nonzero = y != 0
    ratio = float(np.mean(x[nonzero] / y[nonzero])) if nonzero.any() else float("nan")
    row: dict[str, Any] = {"group": label, "policy": policy, "instances": int(x.size), "policy_mean": float(x.mean()),
                           "reference_mean": float(y.mean()), "difference": float(diff.mean()), "difference_lo": lo,
                           "difference_hi": hi, "mean_ratio": ratio, "better_on": int(better.sum())}
    for c in also_cols:
        name = c[2:] if c.startswith("m.") else c
        pair = np.stack([a[c].to_numpy(dtype=float), b[c].to_numpy(dtype=float)], axis=-1)
        pair = pair[np.isfinite(pair).all(axis=1)]  # instances where either lacks this metric are left out of it
        if not len(pair):
            row[f"also:{name}"] = row[f"also:{name}:lo"] = row[f"also:{name}:hi"] = float("nan")
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            row[f"also:{name}"] = float(pair[:, 0].mean() / pair[:, 1].mean())
            row[f"also:{name}:lo"], row[f"also:{name}:hi"] = _bootstrap(
                pair, lambda s: s[..., 0].mean(axis=-1) / s[..., 1].mean(axis=-1), resamples, confidence, rng)
    return row


def _num(x: float) -> str:
    return "-" if not np.isfinite(x) else f"{x:.4g}"


def markdown(table: pd.DataFrame, reference: str, metric: str, sense: str | None, confidence: float) -> str:
    """The comparison as a Markdown table (intervals in brackets)."""
    pct = f"{confidence * 100:g}%"
    also = [c[len("also:"):] for c in table.columns if c.startswith("also:") and c.count(":") == 1]
    head = ["group", "policy", "instances", f"{metric}: policy", "reference", f"difference [{pct}]", "mean ratio",
            "better on", *[f"{m} ratio [{pct}]" for m in also]]
    lines = [f"Paired comparison with `{reference}` on `{metric}`" + (f" ({sense}: {'lower' if sense == 'min' else 'higher'} is better)" if sense else ""),
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        cells = [str(r["group"]), f"`{r['policy']}`", str(r["instances"]), _num(r["policy_mean"]), _num(r["reference_mean"]),
                 f"{_num(r['difference'])} [{_num(r['difference_lo'])}, {_num(r['difference_hi'])}]",
                 _num(r["mean_ratio"]), f"{r['better_on']}/{r['instances']}",
                 *[f"{_num(r[f'also:{m}'])} [{_num(r[f'also:{m}:lo'])}, {_num(r[f'also:{m}:hi'])}]" for m in also]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m schedgym.eval.compare``: print (and with ``out=`` write) the paired comparison."""
    args = list(sys.argv[1:] if argv is None else argv)

    def body() -> int:
        cfg = parse_overrides("schedgym-compare", _wrap_lists(args), CompareCLI, SUMMARY, EXAMPLES)
        df = load([str(p) for p in cfg.results])
        table = compare(df, cfg.reference, cfg.metric, cfg.sense, list(cfg.also),
                        list(cfg.policies) if cfg.policies is not None else None, cfg.by, cfg.confidence,
                        cfg.resamples, cfg.seed)
        sense = cfg.sense or (str(df["sense"].iloc[0]) if cfg.metric == "objective" and len(df) else None)
        text = markdown(table, cfg.reference, cfg.metric, sense, cfg.confidence)
        print(text, end="")
        if cfg.out:
            Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
            Path(cfg.out).write_text(text)
        return 0

    return run_cli("schedgym-compare", body)


if __name__ == "__main__":
    raise SystemExit(main())
