"""Gantt chart of an ISBJSSP episode: processing, blocking and machine downtime drawn distinguishably.

For papers (SVG / PDF via :func:`save_figure`, sized for a column or a page) and as Gymnasium's
rgb_array (:func:`isb_gantt_rgb`, what ``env.render()`` returns). Machines are rows with integer
ticks; the legend (jobs, processing, blocking, machine down, now) sits right of the plot, never over
the bars; time is in the instance's time units.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..jobshop.instance import JobShopInstance
from ..figures import figure_rgb, save_figure
from ..figures import figure_size as _figure_size
from ..jobshop.render import FIGURE_SIZES, job_colours, job_legend, style_machine_axis

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["env_figure", "isb_gantt_figure", "isb_gantt_rgb", "save_env_figure", "save_figure"]


def isb_gantt_figure(instance: JobShopInstance, state: Any, size: str | tuple[float, float] = "page",
                     title: bool = True) -> "Figure":
    """Machines as rows. Processing: solid bars coloured by job (an interrupted operation's bar spans its
    downtime, which is drawn over it); blocking: the job's colour, hatched and pale; downtime: black bars
    with red hatching. A dashed line marks the current time."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    n, m = instance.shape
    t_now = int(state.t)
    fig = Figure(figsize=_figure_size(size, FIGURE_SIZES), dpi=100, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    colours, cmap = job_colours(n)
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
            ax.barh(mach, max(c_draw - s, 0), left=s, height=0.8, color=colours[j], edgecolor="black", linewidth=0.3)
            if c >= 0:
                lv_draw = lv if lv >= 0 else t_now
                if lv_draw > c:
                    ax.barh(mach, lv_draw - c, left=c, height=0.8, color=colours[j], alpha=0.35, hatch="///",
                            edgecolor="grey", linewidth=0.3)
                horizon = max(horizon, lv_draw)
    for i, ivs in enumerate(state.realized_downtime(max(t_now, 1))):
        for a, b in ivs:
            b_draw = min(b, max(t_now, a + 1)) if not state.done else b
            ax.barh(i, b_draw - a, left=a, height=0.35, color="black", hatch="xx", edgecolor="red", linewidth=0.3)
            horizon = max(horizon, b_draw)
    ax.axvline(t_now, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlim(0, horizon * 1.02)
    style_machine_axis(ax, m)
    ax.set_xlabel("time (time units)")
    ax.tick_params(labelsize=7)
    ax.xaxis.label.set_size(8)
    ax.yaxis.label.set_size(8)
    kinds = [
        Patch(facecolor="lightgrey", edgecolor="black", linewidth=0.3, label="processing"),
        Patch(facecolor="lightgrey", alpha=0.35, hatch="///", edgecolor="grey", label="blocking"),
        Patch(facecolor="black", hatch="xx", edgecolor="red", label="machine down"),
        Line2D([0], [0], color="grey", linestyle="--", linewidth=0.8, label="now"),
    ]
    job_legend(fig, ax, n, colours, cmap, extra=kinds)
    if title:
        ax.set_title(f"{instance.name}: t={t_now}, swaps={len(state.swaps)}, failures={state.n_failures}", fontsize=8)
    return fig


def isb_gantt_rgb(instance: JobShopInstance, state: Any, width_px: int = 960, height_px: int = 480) -> np.ndarray:
    """The chart as an ``(height_px, width_px, 3)`` uint8 array (what ``env.render()`` returns)."""
    fig = isb_gantt_figure(instance, state, size=(width_px / 100, height_px / 100))
    return figure_rgb(fig, width_px, height_px)


def env_figure(env: Any, size: str | tuple[float, float] = "page") -> "Figure":
    """The chart of an ISBJSSP env's episode so far (after ``reset``)."""
    base = getattr(env, "unwrapped", env)
    if getattr(base, "state", None) is None:
        raise RuntimeError("the env has no schedule yet: call reset() first")
    return isb_gantt_figure(base.instance, base.state, size=size)


def save_env_figure(env: Any, path: str | Path, size: str | tuple[float, float] = "page") -> Path:
    """:func:`env_figure` written to ``path`` (``.svg``, ``.pdf`` or ``.png``)."""
    return save_figure(env_figure(env, size), path)
