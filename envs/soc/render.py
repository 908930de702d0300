"""Gantt chart of an SoC schedule: PEs as rows, tasks as bars coloured by job."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .instance import SoC


def _draw(ax: Any, solution: Mapping[str, Any], soc: SoC, title: str | None = None) -> None:
    import matplotlib.pyplot as plt

    rec = solution["tasks"]
    job = np.asarray(rec["job"], np.int64)
    pe = np.asarray(rec["pe"], np.int64)
    start = np.asarray(rec["start"], np.float64)
    end = np.asarray(rec["end"], np.float64)
    done = np.isfinite(start) & np.isfinite(end) & (pe >= 0)
    n_jobs = max(len(solution.get("jobs", [])), 1)
    cmap = plt.get_cmap("tab20")
    for i in np.flatnonzero(done):
        ax.barh(int(pe[i]), max(end[i] - start[i], 0.0), left=start[i], color=cmap(int(job[i]) % 20),
                edgecolor="black", linewidth=0.3, height=0.8)
    horizon = float(end[done].max()) if done.any() else 1.0
    ax.set_xlim(0, horizon * 1.02 or 1.0)
    ax.set_ylim(-0.6, soc.n_pes - 0.4)
    ax.set_yticks(range(soc.n_pes))
    ax.set_yticklabels(soc.pe_names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("time (µs)")
    ax.set_title(title or f"{soc.name}: {n_jobs} job(s), makespan {horizon:g} µs", fontsize=9)


def gantt_rgb(solution: Mapping[str, Any], soc: SoC, width_px: int = 960, height_px: int = 480) -> np.ndarray:
    """The Gantt chart as an ``(H, W, 3)`` uint8 array (the env's ``render()``)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    dpi = 96
    fig = plt.figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    _draw(fig.add_subplot(1, 1, 1), solution, soc)
    fig.tight_layout()
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return rgb


def save_gantt(solution: Mapping[str, Any], soc: SoC, path: str | Path, title: str | None = None) -> Path:
    """Write the Gantt chart to ``path`` (PNG, SVG or PDF by its suffix)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 0.3 * soc.n_pes + 1.5), dpi=110)
    _draw(ax, solution, soc, title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
