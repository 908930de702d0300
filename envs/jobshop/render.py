"""Gantt chart of a (partial) job-shop schedule as an RGB array."""

from __future__ import annotations

import numpy as np

from .instance import JobShopInstance


def gantt_rgb(instance: JobShopInstance, start: np.ndarray, width_px: int = 960, height_px: int = 480) -> np.ndarray:
    """Draw machines as rows and operations as bars coloured by job; returns ``(H, W, 3)`` uint8."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    start = np.asarray(start)
    n, m = instance.shape
    dpi = 96
    fig = plt.figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    cmap = plt.get_cmap("tab20", max(n, 1))
    horizon = 1
    for j in range(n):
        for k in range(m):
            s = int(start[j, k])
            if s < 0:
                continue
            d = int(instance.durations[j, k])
            mach = int(instance.machines[j, k])
            ax.barh(mach, d, left=s, color=cmap(j % 20), edgecolor="black", linewidth=0.3)
            horizon = max(horizon, s + d)
    ax.set_xlim(0, horizon * 1.02)
    ax.set_ylim(-0.6, m - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel("time")
    ax.set_ylabel("machine")
    ax.set_title(f"{instance.name}: makespan {horizon if (start >= 0).any() else 0}")
    fig.tight_layout()
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return rgb
