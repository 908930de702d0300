"""Gantt chart of an SoC schedule: for papers (SVG / PDF) and as Gymnasium's rgb_array.

:func:`soc_gantt_figure` draws the processing elements (PEs) as rows, top to bottom, with integer ticks
labelled by the PE's name and kind, every task as a bar coloured by its job, a job legend right of the
bars (up to 20 jobs; beyond, a colour bar of the job index), each job's arrival as a triangle on the
time axis, and time in µs, sized for one column (``"column"``, 3.5 in wide) or a whole page
(``"page"``, 7 in wide) of a two-column paper. :func:`env_figure` / :func:`save_env_figure` take the
env itself; :func:`gantt_rgb` (what ``env.render()`` returns) rasterizes the same figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ..figures import category_colours, category_legend, figure_rgb, new_figure, paper_fonts, save_figure

from .instance import SoC

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["FIGURE_SIZES", "env_figure", "gantt_rgb", "save_env_figure", "save_figure", "save_gantt",
           "soc_gantt_figure"]

#: figure sizes in inches (width, height): one column or a whole page of a two-column paper
FIGURE_SIZES: dict[str, tuple[float, float]] = {"column": (3.5, 3.0), "page": (7.0, 3.8)}
#: PEs that get a tick each (beyond: every k-th, still integers)
MAX_PE_TICKS = 24
#: short names of the PE kinds for tick labels
KIND_SHORT = {"cpu_little": "LITTLE", "cpu_big": "big", "accelerator": "acc.", "cpu": "CPU"}


def pe_labels(soc: SoC) -> list[str]:
    """``"<name> (<kind>)"`` for every PE, e.g. ``"A7_0 (LITTLE)"``."""
    return [f"{name} ({KIND_SHORT.get(kind, kind)})" for name, kind in zip(soc.pe_names, soc.pe_kinds)]


def style_pe_axis(ax: Any, soc: SoC) -> None:
    """PEs as rows, top to bottom, integer ticks labelled with name and kind (every k-th past
    :data:`MAX_PE_TICKS` PEs)."""
    n = soc.n_pes
    ax.set_ylim(n - 0.4, -0.6)
    step = 1 if n <= MAX_PE_TICKS else int(np.ceil(n / MAX_PE_TICKS))
    ticks = list(range(0, n, step))
    labels = pe_labels(soc)
    ax.set_yticks(ticks)
    ax.set_yticklabels([labels[i] for i in ticks])
    ax.set_ylabel("processing element")


def _darker(colour: Any, factor: float = 0.6) -> tuple[float, float, float]:
    """``colour`` darkened: the outline of a bar, so that a task too short to show its fill keeps its job's hue."""
    import matplotlib.colors

    r, g, b = matplotlib.colors.to_rgb(colour)
    return (r * factor, g * factor, b * factor)


def _arrival_markers(ax: Any, arrivals: np.ndarray, colours: list[Any]) -> Any:
    """A triangle per job arrival on the time axis (in the job's colour); returns the legend handle."""
    from matplotlib.lines import Line2D

    if len(arrivals):
        ax.scatter(arrivals, np.zeros(len(arrivals)), transform=ax.get_xaxis_transform(), marker="^", s=14,
                   c=colours[: len(arrivals)], edgecolors="black", linewidths=0.3, clip_on=False, zorder=3)
    return Line2D([0], [0], marker="^", color="none", markerfacecolor="lightgrey", markeredgecolor="black",
                  markeredgewidth=0.3, markersize=4, label="job arrival")


def soc_gantt_figure(solution: Mapping[str, Any], soc: SoC, size: str | tuple[float, float] = "page",
                     title: bool | str = True) -> "Figure":
    """The Gantt chart of the tasks placed so far (``pe >= 0`` with a finite start and end) as a Figure.

    ``solution`` is the simulator's record (:meth:`SoCSimulator.solution`): ``jobs`` (with ``arrival``)
    and ``tasks`` (``job``, ``pe``, ``start``, ``end``). ``title``: True for a generated one, a string,
    or False for none.
    """
    tasks = solution["tasks"]
    job = np.asarray(tasks["job"], np.int64)
    pe = np.asarray(tasks["pe"], np.int64)
    start = np.asarray(tasks["start"], np.float64)
    end = np.asarray(tasks["end"], np.float64)
    arrivals = np.asarray([float(j["arrival"]) for j in solution.get("jobs", [])], np.float64)
    n_jobs = max(len(arrivals), int(job.max(initial=-1)) + 1)
    fig = new_figure(size, FIGURE_SIZES)
    ax = fig.add_subplot(1, 1, 1)
    colours, cmap = category_colours(max(n_jobs, 1))
    done = np.isfinite(start) & np.isfinite(end) & (pe >= 0)
    for j in range(n_jobs):
        mine = np.flatnonzero(done & (job == j))
        if mine.size:
            ax.barh(pe[mine], np.maximum(end[mine] - start[mine], 0.0), left=start[mine], height=0.8,
                    color=colours[j], edgecolor=_darker(colours[j]), linewidth=0.3)
    horizon = float(end[done].max()) if done.any() else 0.0
    ax.set_xlim(0, max(horizon, float(arrivals.max(initial=0.0)), 1.0) * 1.02)
    style_pe_axis(ax, soc)
    ax.set_xlabel("time (µs)")
    paper_fonts(ax, tick=6)
    arrival = _arrival_markers(ax, arrivals, colours)
    category_legend(fig, ax, [f"job {j}" for j in range(n_jobs)], colours, cmap, "job", extra=[arrival])
    if title:
        text = title if isinstance(title, str) else (
            f"{soc.name}: {n_jobs} job(s), makespan {horizon:g} µs" if horizon else f"{soc.name}: nothing scheduled")
        ax.set_title(text, fontsize=8)
    return fig


def gantt_rgb(solution: Mapping[str, Any], soc: SoC, width_px: int = 960, height_px: int = 480) -> np.ndarray:
    """The Gantt chart as an ``(height_px, width_px, 3)`` uint8 array (what ``env.render()`` returns)."""
    return figure_rgb(soc_gantt_figure(solution, soc, size=(width_px / 100, height_px / 100)), width_px, height_px)


def env_figure(env: Any, size: str | tuple[float, float] = "page") -> "Figure":
    """The Gantt chart of an SoCDAG env's episode so far (after ``reset``)."""
    base = getattr(env, "unwrapped", env)
    if getattr(base, "sim", None) is None:
        raise RuntimeError("the env has no schedule yet: call reset() first")
    return soc_gantt_figure(base.sim.solution(), base.sim.soc, size=size)


def save_env_figure(env: Any, path: str | Path, size: str | tuple[float, float] = "page") -> Path:
    """:func:`env_figure` written to ``path`` (``.svg``, ``.pdf`` or ``.png``)."""
    return save_figure(env_figure(env, size), path)


def save_gantt(solution: Mapping[str, Any], soc: SoC, path: str | Path, title: str | None = None,
               size: str | tuple[float, float] = "page") -> Path:
    """Write the Gantt chart of ``solution`` to ``path`` (``.svg``, ``.pdf`` or ``.png``)."""
    return save_figure(soc_gantt_figure(solution, soc, size=size, title=title or True), path)
