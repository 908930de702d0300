"""Gantt chart of an ISBJSSP episode: processing, blocking and machine downtime drawn distinguishably."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..jobshop.instance import JobShopInstance


def isb_gantt_rgb(instance: JobShopInstance, state: Any, width_px: int = 960, height_px: int = 480) -> np.ndarray:
    """Machines as rows. Processing: solid bars coloured by job (an interrupted operation's bar spans its
    downtime, which is drawn over it); blocking: the job's colour, hatched and pale; downtime: black bars
    with red hatching. A dashed line marks the current time. Returns ``(H, W, 3)`` uint8."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.patches import Patch

    n, m = instance.shape
    t_now = int(state.t)
    dpi = 96
    fig = plt.figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    cmap = plt.get_cmap("tab20", max(n, 1))
    horizon = max(1, t_now)
    for j in range(n):
        for k in range(m):
            s = state.start_time[j][k]
            if s < 0:
                continue
            mach = int(instance.machines[j, k])
            c = state.completion[j][k]
            lv = state.leave_time[j][k]
            c_draw = c if c >= 0 else t_now
            colour = cmap(j % 20)
            ax.barh(mach, max(c_draw - s, 0), left=s, color=colour, edgecolor="black", linewidth=0.3)
            if c >= 0:
                lv_draw = lv if lv >= 0 else t_now
                if lv_draw > c:
                    ax.barh(mach, lv_draw - c, left=c, color=colour, alpha=0.35, hatch="///",
                            edgecolor="grey", linewidth=0.3)
                horizon = max(horizon, lv_draw)
    for i, ivs in enumerate(state.realized_downtime(max(t_now, 1))):
        for a, b in ivs:
            b_draw = min(b, max(t_now, a + 1)) if not state.done else b
            ax.barh(i, b_draw - a, left=a, height=0.35, color="black", hatch="xx", edgecolor="red", linewidth=0.3)
            horizon = max(horizon, b_draw)
    ax.axvline(t_now, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlim(0, horizon * 1.02)
    ax.set_ylim(-0.6, m - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel("time")
    ax.set_ylabel("machine")
    ax.legend(
        handles=[
            Patch(facecolor="tab:blue", edgecolor="black", label="processing"),
            Patch(facecolor="tab:blue", alpha=0.35, hatch="///", edgecolor="grey", label="blocking"),
            Patch(facecolor="black", hatch="xx", edgecolor="red", label="machine down"),
        ],
        loc="upper right",
        fontsize=7,
    )
    ax.set_title(f"{instance.name}: t={t_now}, swaps={len(state.swaps)}, failures={state.n_failures}")
    fig.tight_layout()
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return rgb
