"""Plots of VM rescheduling evaluation results (the ``plot:`` hook of the ``vm-*`` suites): FR against
the migration number limit, and FR against the decision wall time, one line / point set per policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any



def _finish(fig: Any, ax: Any, xlabel: str, ylabel: str, title: str, path: Path) -> Path:
    """Label, save (PNG, 120 dpi) and close one plot; returns its path."""
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

def fr_plots(results: Any, out_dir: Path) -> list[Path]:
    """Write ``<suite>-fr-vs-mnl.png`` (mean final FR per MNL, per policy; the mean initial FR dashed) and
    ``<suite>-fr-vs-time.png`` (mean final FR against mean policy wall time per episode, per policy and
    MNL). ``results`` is the eval CLI's DataFrame (metric columns prefixed ``m.``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = results.rename(columns={c: c[2:] for c in results.columns if c.startswith("m.")})
    needed = {"policy", "fragment_rate", "fragment_rate_initial", "mnl", "policy_time_s"}
    if needed - set(df.columns) or df.empty:
        return []
    if "error" in df.columns:
        df = df[df["error"].fillna("") == ""]
    if df.empty:
        return []
    df = df.astype({"fragment_rate": float, "fragment_rate_initial": float, "mnl": float, "policy_time_s": float})
    suite = str(df["suite"].iloc[0]) if "suite" in df.columns else "vm"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    agg = df.groupby(["policy", "mnl"], as_index=False)[["fragment_rate", "policy_time_s"]].mean()
    init = df.groupby("mnl")["fragment_rate_initial"].mean()
    markers = "osD^v<>ph*"
    paths = []
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for j, (policy, part) in enumerate(agg.groupby("policy")):
        part = part.sort_values("mnl")
        ax.plot(part["mnl"], part["fragment_rate"], marker=markers[j % len(markers)], label=policy)
    ax.plot(init.index, init.values, color="grey", ls="--", lw=0.8, label="initial FR")
    paths.append(_finish(fig, ax, "migration number limit (MNL)", "fragment rate (lower is better)", suite,
                         out_dir / f"{suite}-fr-vs-mnl.png"))
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for j, (policy, part) in enumerate(agg.groupby("policy")):
        ax.scatter(part["policy_time_s"].clip(lower=1e-4), part["fragment_rate"], marker=markers[j % len(markers)],
                   label=policy)
    ax.set_xscale("log")
    paths.append(_finish(fig, ax, "decision wall time per snapshot (s, policy time incl. solving)", "fragment rate",
                         suite, out_dir / f"{suite}-fr-vs-time.png"))
    return paths
