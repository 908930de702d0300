"""Address x time picture of a buffer placement: for papers (SVG / PDF) and as Gymnasium's rgb_array.

:func:`placement_figure` draws every placed buffer as a rectangle ``[lower, upper) x [offset, offset +
size)``: time in instructions on the x axis (integer ticks), the address in B / KiB / MiB / GiB
(whichever suits the capacity) on the y axis, and the capacity as a dashed line. Buffers are coloured
by what their contents are: weights and program inputs (copied in from slow memory before their first
use), program outputs (copied out after their last use), and intermediate values. In mapping mode
(and in allocation mode while buffers are still unplaced) a lower panel shows the bytes of the buffers
left in slow memory (not placed) that are live at each instruction. The legend sits right of a page
figure and below a column figure; sizes suit one column (``"column"``, 3.5 in wide) or a page
(``"page"``, 7 in wide). :func:`env_figure` / :func:`save_env_figure` take the env;
:func:`placement_rgb` (what ``env.render()`` returns) rasterizes the same figure.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..figures import (byte_unit, figure_rgb, is_narrow, legend_below, legend_beside, new_figure, paper_fonts,
                       save_figure)
from .instance import MemoryInstance

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["FIGURE_SIZES", "env_figure", "placement_figure", "placement_rgb", "save_env_figure", "save_figure",
           "save_placement", "slow_memory_series"]

#: figure sizes in inches (width, height): one column or a whole page of a two-column paper
FIGURE_SIZES: dict[str, tuple[float, float]] = {"column": (3.5, 3.2), "page": (7.0, 3.6)}
#: fill colours of the buffer kinds
KIND_COLOURS = {"weights / inputs": "#4c72b0", "outputs": "#dd8452", "intermediates": "#55a868",
                "slow": "#8c8c8c"}
MODES = ("mapping", "allocation")


def buffer_kinds(instance: MemoryInstance) -> np.ndarray:
    """Kind of each buffer, ``(n,)`` str: ``"weights / inputs"`` (prefetched), ``"outputs"`` (evicted),
    else ``"intermediates"`` (also every buffer of an instance without a program)."""
    n = instance.n_buffers
    kinds = np.full(n, "intermediates", dtype=object)
    if instance.evict is not None:
        kinds[np.asarray(instance.evict, bool)] = "outputs"
    if instance.prefetch is not None:
        kinds[np.asarray(instance.prefetch, bool)] = "weights / inputs"
    return kinds


def slow_memory_series(instance: MemoryInstance, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(t, bytes)``: from each time ``t[i]`` until ``t[i + 1]``, the bytes of the buffers not placed
    (offset -1) that are live (``lower <= t < upper``); empty arrays when every buffer is placed."""
    out = np.flatnonzero(np.asarray(offsets) < 0)
    if not out.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lo, up, size = instance.lower[out], instance.upper[out], instance.size[out]
    t = np.unique(np.concatenate([lo, up]))
    delta = np.zeros(len(t), np.int64)
    np.add.at(delta, np.searchsorted(t, lo), size)
    np.add.at(delta, np.searchsorted(t, up), -size)
    return t, np.cumsum(delta)


def _draw_buffers(ax: Any, instance: MemoryInstance, off: np.ndarray, scale: float) -> list[str]:
    """The placed buffers as rectangles, one ``bar`` call per kind; returns the kinds drawn."""
    kinds = buffer_kinds(instance)
    placed = off >= 0
    drawn = []
    for kind in ("weights / inputs", "outputs", "intermediates"):
        mine = np.flatnonzero(placed & (kinds == kind))
        if not mine.size:
            continue
        lo, up = instance.lower[mine], instance.upper[mine]
        ax.bar(lo, instance.size[mine] / scale, width=up - lo, bottom=off[mine] / scale, align="edge",
               color=KIND_COLOURS[kind], edgecolor="black", linewidth=0.2)
        drawn.append(kind)
    return drawn


def placement_figure(instance: MemoryInstance, offsets: np.ndarray, mode: str | None = None,
                     size: str | tuple[float, float] = "page", title: bool | str = True) -> "Figure":
    """The placement ``offsets`` (bytes, -1 = not placed) of ``instance`` (see the module docstring).

    ``mode``: ``"mapping"`` (unplaced buffers are in slow memory: the lower panel is always drawn) or
    ``"allocation"``; None: mapping for an instance with a program, else allocation (an env knows its mode:
    :func:`env_figure` passes it). ``title``: True for a generated one, a string, or False for none.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    if mode is None:
        mode = "mapping" if instance.program is not None else "allocation"
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    off = np.asarray(offsets, np.int64).reshape(-1)
    if off.shape[0] != instance.n_buffers:
        raise ValueError(f"{instance.name}: {off.shape[0]} offsets for {instance.n_buffers} buffers")
    placed = off >= 0
    peak = int((off[placed] + instance.size[placed]).max(initial=0))
    scale, unit = byte_unit(max(instance.capacity, peak))
    fig = new_figure(size, FIGURE_SIZES)
    slow_panel = mode == "mapping" or not placed.all()
    if slow_panel:
        ax, ax_slow = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    else:
        ax, ax_slow = fig.add_subplot(1, 1, 1), None
    drawn = _draw_buffers(ax, instance, off, scale)
    cap_label = "fast-memory capacity" if mode == "mapping" else "capacity"
    ax.axhline(instance.capacity / scale, color="#c44e52", linewidth=0.9, linestyle="--")
    t_end = int(instance.upper.max())
    ax.set_xlim(int(instance.lower.min()), t_end)
    ax.set_ylim(0, max(instance.capacity, peak) / scale * 1.06)
    ax.set_ylabel(f"address ({unit})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    paper_fonts(ax)
    handles: list[Any] = [Patch(facecolor=KIND_COLOURS[k], edgecolor="black", linewidth=0.2, label=k) for k in drawn]
    handles.append(Line2D([0], [0], color="#c44e52", linewidth=0.9, linestyle="--", label=cap_label))
    bottom_ax = ax
    if ax_slow is not None:
        t, live = slow_memory_series(instance, off)
        slow_label = "left in slow memory" if mode == "mapping" else "not placed"
        if len(t):
            ax_slow.fill_between(t, 0, live / scale, step="post", color=KIND_COLOURS["slow"], linewidth=0)
        ax_slow.set_ylim(0, max(float(live.max(initial=0)) / scale, 1e-9) * 1.1 if len(t) else 1.0)
        ax_slow.set_ylabel(f"{'slow' if mode == 'mapping' else 'unplaced'}\n({unit} live)")
        ax_slow.yaxis.set_major_locator(MaxNLocator(nbins=3))
        paper_fonts(ax_slow)
        handles.append(Patch(facecolor=KIND_COLOURS["slow"], label=f"{slow_label}\n(bytes live, lower panel)"))
        bottom_ax = ax_slow
    bottom_ax.set_xlabel("time (instructions)")
    if is_narrow(fig):
        legend_below(fig, handles, ncol=2)
    else:
        legend_beside(ax, handles)
    if title:
        where = "in fast memory" if mode == "mapping" else "placed"
        text = title if isinstance(title, str) else (
            f"{instance.name}: {int(placed.sum())}/{instance.n_buffers} buffers {where}\n"
            f"peak {peak / scale:.3g} of {instance.capacity / scale:.3g} {unit}")
        ax.set_title(text, fontsize=8)
    return fig


def placement_rgb(instance: MemoryInstance, offsets: np.ndarray, width_px: int = 960, height_px: int = 480,
                  title: bool | str | None = None, mode: str | None = None) -> np.ndarray:
    """The picture as an ``(height_px, width_px, 3)`` uint8 array (what ``env.render()`` returns)."""
    fig = placement_figure(instance, offsets, mode=mode, size=(width_px / 100, height_px / 100),
                           title=True if title is None else title)
    return figure_rgb(fig, width_px, height_px)


def save_placement(path: str | os.PathLike[str], instance: MemoryInstance, offsets: np.ndarray,
                   title: bool | str | None = None, mode: str | None = None,
                   size: str | tuple[float, float] = "page") -> Path:
    """Write the picture to ``path`` (``.svg``, ``.pdf`` or ``.png``)."""
    fig = placement_figure(instance, offsets, mode=mode, size=size, title=True if title is None else title)
    return save_figure(fig, path)


def env_figure(env: Any, size: str | tuple[float, float] = "page") -> "Figure":
    """The placement of a Memory env's episode so far (after ``reset``)."""
    base = getattr(env, "unwrapped", env)
    if getattr(base, "state", None) is None or getattr(base, "instance", None) is None:
        raise RuntimeError("the env has no placement yet: call reset() first")
    return placement_figure(base.instance, base.state.offset, mode=base.mode, size=size)


def save_env_figure(env: Any, path: str | Path, size: str | tuple[float, float] = "page") -> Path:
    """:func:`env_figure` written to ``path`` (``.svg``, ``.pdf`` or ``.png``)."""
    return save_figure(env_figure(env, size), path)
