"""Gantt chart of a (partial) job-shop schedule: for papers (SVG / PDF) and as Gymnasium's rgb_array.

:func:`gantt_figure` draws machines as rows (integer ticks) and operations as bars coloured by job,
with a job legend (up to 20 jobs; beyond, a colour bar of the job index), the time axis in the
instance's time units, and a size for one column (``"column"``, 3.5 in wide) or a whole page
(``"page"``, 7 in wide) of a two-column paper. :func:`save_figure` writes it as SVG, PDF or PNG by
the file's suffix; :func:`gantt_rgb` (what ``env.render()`` returns) rasterizes the same figure.
:func:`env_figure` / :func:`save_env_figure` take the env itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..figures import figure_rgb, figure_size, save_figure

from .instance import JobShopInstance

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: figure sizes in inches (width, height): one column or a whole page of a two-column paper
FIGURE_SIZES: dict[str, tuple[float, float]] = {"column": (3.5, 2.6), "page": (7.0, 3.6)}
#: jobs that get a legend entry each (beyond: a colour bar of the job index)
MAX_LEGEND_JOBS = 20


def job_colours(n_jobs: int) -> tuple[list[Any], Any]:
    """One colour per job (tab20 up to 20 jobs, else samples of a continuous map) and that colour map."""
    import matplotlib

    if n_jobs <= MAX_LEGEND_JOBS:
        cmap = matplotlib.colormaps["tab20"]
        return [cmap(j % 20) for j in range(n_jobs)], cmap
    cmap = matplotlib.colormaps["turbo"]
    return [cmap(j / max(n_jobs - 1, 1)) for j in range(n_jobs)], cmap


def style_machine_axis(ax: Any, n_machines: int) -> None:
    """Machines as rows, top to bottom, with integer ticks (every machine up to 20, else every k-th)."""
    from matplotlib.ticker import MaxNLocator

    ax.set_ylim(n_machines - 0.4, -0.6)
    if n_machines <= 20:
        ax.set_yticks(range(n_machines))
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    ax.set_ylabel("machine")


def job_legend(fig: "Figure", ax: Any, n_jobs: int, colours: list[Any], cmap: Any, extra: list[Any] | None = None) -> None:
    """A legend of the jobs (and ``extra`` handles) right of the axes; past :data:`MAX_LEGEND_JOBS` jobs a
    slim colour bar of the job index instead, with ``extra`` in a row below the axes."""
    import matplotlib
    from matplotlib.patches import Patch

    handles = list(extra or [])
    if n_jobs <= MAX_LEGEND_JOBS:
        handles = [Patch(facecolor=colours[j], edgecolor="black", linewidth=0.3, label=f"job {j}")
                   for j in range(n_jobs)] + handles
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=6, frameon=False,
                  ncol=1 if len(handles) <= 12 else 2, handlelength=1.2, borderaxespad=0.0)
        return
    norm = matplotlib.colors.Normalize(vmin=0, vmax=n_jobs - 1)
    bar = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, fraction=0.04, pad=0.015, aspect=30)
    bar.set_label("job", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    if handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=len(handles), fontsize=6,
                  frameon=False, handlelength=1.2, borderaxespad=0.0)


def gantt_figure(instance: JobShopInstance, start: np.ndarray, size: str | tuple[float, float] = "page",
                 title: bool = True) -> "Figure":
    """The Gantt chart of the scheduled operations (``start[j, k] >= 0``) as a matplotlib Figure."""
    from matplotlib.figure import Figure

    start = np.asarray(start)
    n, m = instance.shape
    fig = Figure(figsize=figure_size(size, FIGURE_SIZES), dpi=100, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    colours, cmap = job_colours(n)
    horizon = 0
    for j in range(n):
        done = start[j] >= 0
        if not done.any():
            continue
        ks = np.flatnonzero(done)
        s = start[j, ks].astype(float)
        d = instance.durations[j, ks].astype(float)
        ax.barh(instance.machines[j, ks], d, left=s, height=0.8, color=colours[j], edgecolor="black", linewidth=0.3)
        horizon = max(horizon, float((s + d).max()))
    ax.set_xlim(0, max(horizon, 1) * 1.02)
    style_machine_axis(ax, m)
    ax.set_xlabel("time (time units)")
    ax.tick_params(labelsize=7)
    ax.xaxis.label.set_size(8)
    ax.yaxis.label.set_size(8)
    job_legend(fig, ax, n, colours, cmap)
    if title:
        ax.set_title(f"{instance.name}: makespan {horizon:g}" if horizon else f"{instance.name}: nothing scheduled",
                     fontsize=8)
    return fig


def gantt_rgb(instance: JobShopInstance, start: np.ndarray, width_px: int = 960, height_px: int = 480) -> np.ndarray:
    """The Gantt chart as an ``(height_px, width_px, 3)`` uint8 array (what ``env.render()`` returns)."""
    return figure_rgb(gantt_figure(instance, start, size=(width_px / 100, height_px / 100)), width_px, height_px)


def env_figure(env: Any, size: str | tuple[float, float] = "page") -> "Figure":
    """The Gantt chart of a JobShop env's current schedule (after ``reset``)."""
    base = getattr(env, "unwrapped", env)
    if getattr(base, "state", None) is None:
        raise RuntimeError("the env has no schedule yet: call reset() first")
    return gantt_figure(base.instance, base.state.start, size=size)


def save_env_figure(env: Any, path: str | Path, size: str | tuple[float, float] = "page") -> Path:
    """:func:`env_figure` written to ``path`` (``.svg``, ``.pdf`` or ``.png``)."""
    return save_figure(env_figure(env, size), path)
