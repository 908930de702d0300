"""Plots of LLM serving evaluation results (the ``plot:`` hook of the ``llm-*`` suites)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def rate_sweep(results: pd.DataFrame, out_dir: Path) -> list[Path]:
    """p99 TBT, p99 TTFT and SLO attainment against the request rate, one line per policy (one point per
    case, at its mean realized rate; metrics averaged over seeds). Sized for a page of a two-column paper
    (7 in wide), the legend right of the panels. Writes ``<suite>-rate-sweep.png`` and ``.pdf``; returns
    the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # the eval CLI prefixes metric columns with "m."
    df = results.rename(columns={c: c[2:] for c in results.columns if c.startswith("m.")})
    needed = {"policy", "request_rate", "tbt_p99", "ttft_p99", "slo_attainment"}
    if needed - set(df.columns) or df.empty:
        return []
    df = df.copy()
    # one point per case: its mean realized request rate over seeds (the same for every policy)
    key = "case" if "case" in df.columns else "request_rate"
    rate = df.groupby(key)["request_rate"].mean()
    df["rate"] = df[key].map(rate)
    agg = df.groupby(["policy", "rate"], as_index=False)[["tbt_p99", "ttft_p99", "slo_attainment"]].mean()
    fig, axes = plt.subplots(1, 3, figsize=(7.0, 2.4), layout="constrained")
    colors = plt.get_cmap("tab20").colors
    markers = "osD^v<>ph*"
    for j, (policy, part) in enumerate(agg.groupby("policy")):
        part = part.sort_values("rate")
        style = {"marker": markers[j % len(markers)], "color": colors[(2 * j) % 20 + (j // 10) % 2],
                 "ls": "-" if j < 10 else "--", "label": policy}
        axes[0].plot(part["rate"], part["tbt_p99"] * 1e3, **style)
        axes[1].plot(part["rate"], part["ttft_p99"], **style)
        axes[2].plot(part["rate"], part["slo_attainment"], **style)
    axes[0].set_ylabel("p99 TBT (ms)")
    axes[1].set_ylabel("p99 TTFT (s)")
    axes[1].set_yscale("log")
    axes[2].set_ylabel("SLO attainment")
    axes[2].axhline(0.9, color="grey", lw=0.8, ls="--")
    for ax in axes:
        ax.set_xlabel("request rate (req/s)", fontsize=7)
        ax.yaxis.label.set_size(7)
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=6, frameon=False)
    suite = str(df["suite"].iloc[0]) if "suite" in df.columns else "llm"
    fig.suptitle(suite, fontsize=8)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{suite}-rate-sweep.png", out_dir / f"{suite}-rate-sweep.pdf"]
    for path in paths:
        fig.savefig(path, dpi=200)
    plt.close(fig)
    return paths
