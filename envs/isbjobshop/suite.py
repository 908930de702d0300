"""Evaluation-suite hooks of the ISBJSSP suites (``configs/suites/isb-*.yaml``): cases, references, plot.

Cases: Lawrence instances (la01-la40, the set used in the blocking job-shop literature) crossed with
machine shutdown probabilities; each probability is a leaderboard group ``"p=0.05"``.

References (shutdown probability 0 only: with shutdowns the makespan depends on the realization) are the
blocking-job-shop-with-swaps results published in the OptalCP benchmark repository
(github.com/ScheduleOpt/optalcp-benchmarks, ``benchmarks/blocking-jobshop/results/Optal-4W-2FDS.csv``,
4 workers, 1800 s, 2023-07/08): proven optima where its status is "Optimum", otherwise the upper bound
it found (marked as such; a policy may beat it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..jobshop.catalog import case_instance_name

#: shutdown probabilities of the sweep
SHUTDOWN_PROBS: tuple[float, ...] = (0.0, 0.01, 0.05, 0.1)
_SOURCE = "OptalCP benchmarks, blocking-jobshop Optal-4W-2FDS (1800 s)"
#: (makespan, proven optimal) of the blocking job shop with swaps, p = 0
BLOCKING_REFERENCE: dict[str, tuple[int, bool]] = {
    "la01": (793, True), "la02": (793, True), "la03": (715, True), "la04": (743, True), "la05": (664, True),
    "la06": (1060, True), "la07": (1016, True), "la08": (1040, True), "la09": (1141, True), "la10": (1096, True),
    "la11": (1476, False), "la12": (1261, False), "la13": (1438, False), "la14": (1452, False),
    "la15": (1523, False), "la16": (1060, True), "la17": (929, True), "la18": (1025, True), "la19": (1043, True),
    "la20": (1060, True), "la21": (1428, False), "la22": (1317, False), "la23": (1416, False),
    "la24": (1347, False), "la25": (1336, False), "la26": (1891, False), "la27": (2007, False),
    "la28": (1906, False), "la29": (1829, False), "la30": (1945, False), "la31": (2729, False),
    "la32": (2971, False), "la33": (2755, False), "la34": (2662, False), "la35": (2746, False),
    "la36": (1704, False), "la37": (1815, False), "la38": (1638, False), "la39": (1663, False),
    "la40": (1685, False),
}


def group_name(p: float) -> str:
    """The leaderboard group of a shutdown probability."""
    return f"p={p:.2f}"


def _cases(names: list[str], probs: tuple[float, ...] = SHUTDOWN_PROBS) -> list[dict[str, Any]]:
    return [
        {"name": name, "group": group_name(p), "env_kwargs": {"instance": name, "shutdown_prob": p}}
        for p in probs
        for name in names
    ]


def lawrence_cases() -> list[dict[str, Any]]:
    """la01-la40 x every shutdown probability of :data:`SHUTDOWN_PROBS`."""
    return _cases([f"la{i:02d}" for i in range(1, 41)])


def lawrence_10x5_cases() -> list[dict[str, Any]]:
    """la01-la05 (10 jobs x 5 machines) x every shutdown probability."""
    return _cases([f"la{i:02d}" for i in range(1, 6)])


def blocking_reference(case: dict[str, Any]) -> dict[str, Any] | None:
    """Reference makespan of a case without shutdowns (None with shutdowns or for unknown instances)."""
    kwargs = case.get("env_kwargs") or {}
    if float(kwargs.get("shutdown_prob", 0.0) or 0.0) > 0 or not kwargs.get("blocking", True):
        return None
    name = case_instance_name(case)  # the job shop's one name resolver: "LA1" -> "la01"
    if name is None or name not in BLOCKING_REFERENCE:
        return None
    value, optimal = BLOCKING_REFERENCE[name]
    kind = "optimum (blocking with swaps)" if optimal else "upper bound (blocking with swaps)"
    return {"value": float(value), "source": f"{kind}; {_SOURCE}"}


def plot_makespan_vs_probability(results: Any, out_dir: Path) -> list[Path]:
    """Mean makespan (over cases and seeds) against the shutdown probability, one line per policy; also
    the mean makespan relative to each case's p=0 reference when references exist. Returns the files."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import pandas as pd

    df = results.copy()
    if "error" in df:
        err = df["error"]
        df = df[err.isna() | (err.astype(str) == "")]
    if df.empty:
        return []
    df["p"] = df["group"].astype(str).str.extract(r"p=([0-9.]+)")[0].astype(float)
    df = df.dropna(subset=["p"])
    df["objective"] = pd.to_numeric(df["objective"], errors="coerce")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for suite, sub in df.groupby("suite"):
        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
        # compare policies on the cases every policy finished
        mean = sub.groupby(["policy", "p"])["objective"].mean().unstack("p")
        for policy, row in mean.iterrows():
            ax.plot(row.index, row.values, marker="o", label=str(policy))
        ax.set_xlabel("machine shutdown probability per time unit")
        ax.set_ylabel("mean makespan")
        ax.set_title(f"{suite}: makespan vs shutdown probability")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        path = out_dir / f"{suite}-makespan-vs-p.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
        table = out_dir / f"{suite}-makespan-vs-p.csv"
        mean.to_csv(table)
        paths.append(table)
    return paths
