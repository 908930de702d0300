"""Plots of the ``soc-*`` suites (their ``plot:`` hooks): latency vs injection rate, makespans, Gantt charts.

The Gantt charts re-run a baseline on the simulator alone (no env) for one case, so they cost little.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ...envs.soc.env import SoCDAGEnv
from ...envs.soc.render import save_gantt
from .heuristics import OnlineListScheduler, StaticPlanner


def _ok(results: Any) -> Any:
    df = results.copy()
    if "error" in df:
        df = df[df["error"].isna() | (df["error"].astype(str) == "")]
    return df.rename(columns={c: c[2:] for c in df.columns if c.startswith("m.")})


def _rate(case: str) -> float:
    m = re.match(r"([0-9.]+) jobs/ms", str(case))
    return float(m.group(1)) if m else float("nan")


def streaming_plots(results: Any, out_dir: Path) -> list[Path]:
    """Mean and p95 job latency against the injection rate, one line per policy and one panel per noise
    level (means over seeds); a CSV of the same; a Gantt chart of ETF at the highest rate."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    df = _ok(results)
    if df.empty or "avg_latency" not in df:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    df["rate"] = df["case"].map(_rate)
    df["noise"] = df["group"].astype(str).str.extract(r"noise=([0-9.]+)")[0].astype(float)
    suite = str(df["suite"].iloc[0])
    agg = df.groupby(["noise", "policy", "rate"], as_index=False)[["avg_latency", "p95_latency"]].mean()
    noises = sorted(agg["noise"].unique())
    fig, axes = plt.subplots(2, len(noises), figsize=(4.2 * len(noises), 6.5), squeeze=False, sharex=True)
    markers = "osD^v<>ph*"
    for col, noise in enumerate(noises):
        part = agg[agg["noise"] == noise]
        for i, (policy, rows) in enumerate(part.groupby("policy")):
            rows = rows.sort_values("rate")
            for row, metric in enumerate(("avg_latency", "p95_latency")):
                axes[row][col].plot(rows["rate"], rows[metric], marker=markers[i % len(markers)], label=str(policy))
        axes[0][col].set_title(f"noise {noise:g}")
        for row, label in enumerate(("mean job latency (µs)", "p95 job latency (µs)")):
            ax = axes[row][col]
            ax.set_yscale("log")
            ax.grid(alpha=0.3, which="both")
            if col == 0:
                ax.set_ylabel(label)
            if row == 1:
                ax.set_xlabel("injection rate (jobs/ms)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{suite}: job latency vs injection rate")
    fig.tight_layout()
    path = out_dir / f"{suite}-latency-vs-rate.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    table = out_dir / f"{suite}-latency-vs-rate.csv"
    agg.to_csv(table, index=False)
    paths = [path, table]
    # Gantt: ETF on the first jobs at the highest rate, no noise
    env = SoCDAGEnv(mix="wifi", n_jobs=12, mean_interarrival_us=90.0)
    env.reset(seed=0)
    planner = OnlineListScheduler("etf")
    planner.reset(env.sim)
    env.sim.run(planner.decide)
    paths.append(save_gantt(env.sim.solution(), env.sim.soc, out_dir / f"{suite}-gantt-etf.png",
                            title="ETF, WiFi mix at 11.1 jobs/ms, 12 jobs (colour = job)"))
    return paths


def single_job_plots(results: Any, out_dir: Path) -> list[Path]:
    """Makespan per application and policy (grouped bars per SoC), and Gantt charts of HEFT on WiFi RX
    and pulse Doppler."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    df = _ok(results)
    if df.empty:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    suite = str(df["suite"].iloc[0])
    groups = sorted(df["group"].astype(str).unique())
    fig, axes = plt.subplots(1, len(groups), figsize=(7 * len(groups), 4), squeeze=False)
    for ax, group in zip(axes[0], groups):
        part = df[df["group"].astype(str) == group]
        table = part.pivot_table(index="case", columns="policy", values="objective", aggfunc="mean")
        cases, policies = list(table.index), list(table.columns)
        width = 0.8 / max(len(policies), 1)
        for i, policy in enumerate(policies):
            ax.bar(np.arange(len(cases)) + i * width, table[policy].values, width, label=str(policy))
        ax.set_xticks(np.arange(len(cases)) + 0.4 - width / 2)
        ax.set_xticklabels(cases, rotation=20, fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("makespan (µs)")
        ax.set_title(group)
    axes[0][0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path = out_dir / f"{suite}-makespans.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths = [path]
    for soc, app in (("ds3_16pe_head", "wifi_rx"), ("ds3_16pe_paper", "pulse_doppler")):
        env = SoCDAGEnv(soc=soc, jobs=[app], reward="makespan")
        env.reset(seed=0)
        planner = StaticPlanner("heft")
        planner.reset(env.sim)
        env.sim.run(planner.decide)
        paths.append(save_gantt(env.sim.solution(), env.sim.soc, out_dir / f"{suite}-gantt-heft-{app}.png",
                                title=f"HEFT, {app} on {soc}: makespan {env.sim.metrics()['makespan']:g} µs"))
    return paths
