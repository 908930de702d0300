"""Statistics of a leaderboard cell: mean with a 95% confidence interval, and paired comparisons.

* **Mean and 95% CI.** A cell (one policy on one suite / group) averages the gap of every validated
  episode: every case and every seed. The interval is Student's t interval of that mean,
  ``mean ± t(0.975, n-1) · s / sqrt(n)`` (``s`` the sample standard deviation): it treats the
  episodes as draws from the suite's population of instances and seeds. With one episode (or
  identical values) there is no spread to estimate: the half-width is NaN (shown as ``-``) or 0.
* **Paired comparison with the best baseline.** The best baseline of a table is the policy of kind
  ``baseline`` (the registry's kind: a field's heuristic, not an exact solver, an oracle, random or a
  learned policy) with the lowest mean gap among those that ran every episode of the table. Every
  other policy is compared with it instance by instance: an instance is a (case, seed, settings)
  triple, so both ran the very same instance; a win is a strictly better objective in the objective's
  direction, a tie equal objectives (relative tolerance 1e-9), a loss a worse one. Instances only one
  of the two has are not counted.
* **Episodes.** The number of validated episodes behind each cell is reported with it; the leaderboard
  marks a cell with fewer than its column's most ``(n/N)`` and never bolds it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

#: relative tolerance under which two objectives tie
TIE_RTOL = 1e-9
#: the columns that identify one instance (both policies ran the same env construction and seed)
INSTANCE_KEYS = ("case", "seed", "settings")


@dataclass(frozen=True)
class MeanCI:
    """A mean with the half-width of its two-sided confidence interval over ``n`` values."""

    mean: float
    half_width: float
    n: int
    confidence: float = 0.95

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width


def ci_available() -> bool:
    """Whether confidence intervals can be computed (Student's t quantiles come from scipy)."""
    try:
        import scipy.stats  # noqa: F401
    except ImportError:
        return False
    return True


def mean_ci(values: Iterable[float], confidence: float = 0.95) -> MeanCI:
    """Mean and Student-t confidence interval of ``values`` (NaNs dropped). Without scipy the half-width
    is NaN (the leaderboard says so) rather than an approximation."""
    x = np.asarray([float(v) for v in values], dtype=np.float64)
    x = x[~np.isnan(x)]
    n = int(x.size)
    if n == 0:
        return MeanCI(math.nan, math.nan, 0, confidence)
    mean = float(x.mean())
    if n == 1:
        return MeanCI(mean, math.nan, 1, confidence)
    if not ci_available():
        return MeanCI(mean, math.nan, n, confidence)
    from scipy import stats

    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)) if sd > 0 else 0.0
    return MeanCI(mean, half, n, confidence)


@dataclass(frozen=True)
class Paired:
    """Instance-by-instance outcome of ``policy`` against ``baseline``."""

    policy: str
    baseline: str
    wins: int
    ties: int
    losses: int

    @property
    def n(self) -> int:
        return self.wins + self.ties + self.losses

    def text(self) -> str:
        return f"{self.wins}/{self.ties}/{self.losses}"


def _keys(df: pd.DataFrame) -> list[str]:
    return [k for k in INSTANCE_KEYS if k in df.columns]


def paired(rows: pd.DataFrame, policy: str, baseline: str) -> Paired:
    """Wins / ties / losses of ``policy`` against ``baseline`` over the instances both ran.

    ``rows``: validated results rows of one table (columns ``policy``, ``objective``, ``sense`` and the
    instance keys). An instance seen more than once for a policy (which a keyed run never writes)
    uses its mean objective."""
    keys = _keys(rows)
    if not keys:
        raise ValueError("rows need the instance columns " + ", ".join(INSTANCE_KEYS))
    sense = str(rows["sense"].iloc[0]) if len(rows) else "min"
    norm = rows.assign(**{k: rows[k].astype(str) for k in keys})
    a = norm[norm["policy"] == policy].groupby(keys)["objective"].mean()
    b = norm[norm["policy"] == baseline].groupby(keys)["objective"].mean()
    both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner")
    wins = ties = losses = 0
    for va, vb in zip(both["a"], both["b"]):
        if math.isclose(va, vb, rel_tol=TIE_RTOL, abs_tol=1e-12):
            ties += 1
        elif (va < vb) == (sense == "min"):
            wins += 1
        else:
            losses += 1
    return Paired(policy, baseline, wins, ties, losses)


def best_baseline(rows: pd.DataFrame, kinds: dict[str, str]) -> str | None:
    """The baseline-kind policy with the lowest mean gap among those with the most episodes, or None.

    ``rows``: validated rows of one table with a ``gap`` column; ``kinds``: policy spec -> kind."""
    counts = rows.groupby("policy", sort=False)["gap"].size()
    if counts.empty:
        return None
    full = counts[counts == counts.max()].index
    means = rows[rows["policy"].isin(full)].groupby("policy", sort=False)["gap"].mean()
    means = means[[kinds.get(p, "") == "baseline" for p in means.index]]
    if means.empty or means.isna().all():
        return None
    return str(means.idxmin())


def cell_table(rows: pd.DataFrame, kinds: dict[str, str], confidence: float = 0.95) -> tuple[pd.DataFrame, str | None]:
    """Per policy of one table: ``mean_gap``, ``gap_ci95`` (half-width), ``episodes`` (validated) and,
    against the best baseline, ``wins`` / ``ties`` / ``losses``; returns (table, best baseline)."""
    base = best_baseline(rows, kinds)
    out = []
    for policy, sub in rows.groupby("policy", sort=False):
        ci = mean_ci(sub["gap"], confidence)
        rec = {"policy": policy, "mean_gap": ci.mean, "gap_ci95": ci.half_width, "episodes": int(len(sub))}
        if base is not None and policy != base:
            p = paired(rows, str(policy), base)
            rec.update(wins=p.wins, ties=p.ties, losses=p.losses)
        out.append(rec)
    table = pd.DataFrame(out).set_index("policy")
    for c in ("wins", "ties", "losses"):
        if c not in table:
            table[c] = np.nan
    return table, base
