"""Picture of a VM placement: for papers (SVG / PDF) and as Gymnasium's rgb_array.

:func:`placement_figure` draws, for every physical machine (PM; integer ticks on the x axis), two bars
side by side, one per NUMA node, each stacked from the bottom: the cores in use, the free cores in
whole 16-core slots, and the fragment (free cores that are not in a 16-core slot, the numerator of the
fragment rate). Inactive PMs (left out of the fragment rate) are drawn grey; a filled triangle above
a bar marks a NUMA node that a migration of this episode moved a VM into, a hollow one a node it moved
a VM out of. The legend sits right of a page figure and below a column figure; sizes suit one column
(``"column"``, 3.5 in wide) or a page (``"page"``, 7 in wide). Snapshots with more than ``max_pms``
PMs show ``max_pms`` of them, those with free cores or migrations first (:func:`shown_pms`; the axis
label says so and the ticks give the PMs' indices).
:func:`env_figure` / :func:`save_env_figure` take the env; :func:`render_rgb` (what ``env.render()``
returns) rasterizes the same figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..figures import figure_rgb, is_narrow, legend_below, legend_beside, new_figure, paper_fonts, save_figure
from .instance import SLOT

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["FIGURE_SIZES", "env_figure", "placement_figure", "render_rgb", "save_env_figure", "save_figure", "shown_pms"]

#: figure sizes in inches (width, height): one column or a whole page of a two-column paper
FIGURE_SIZES: dict[str, tuple[float, float]] = {"column": (3.5, 2.8), "page": (7.0, 3.0)}
#: PMs drawn by default (two bars each)
MAX_PMS = 60
#: colours of the three stacked parts and of inactive PMs
COLOURS = {"used": "#4c72b0", "slots": "#55a868", "fragment": "#c44e52", "inactive": "#c8c8c8"}
_BAR = 0.4  # width of one NUMA node's bar (a PM's two bars fill 0.8 of its slot)


def shown_pms(state: Any, max_pms: int = MAX_PMS) -> np.ndarray:
    """The PMs drawn, in index order: all of them up to ``max_pms``; beyond, first those with free cores or
    touched by a migration (what the fragment rate and the episode are about), then the lowest others."""
    if max_pms < 1:
        raise ValueError(f"max_pms must be >= 1, got {max_pms}")
    n_pms = int(state.n_pms)
    if n_pms <= max_pms:
        return np.arange(n_pms)
    touched = np.zeros(n_pms, bool)
    for m in getattr(state, "migrations", []):
        touched[[m.from_pm, m.to_pm]] = True
    busy = (np.asarray(state.free_cpu).sum(axis=1) > 0) | touched
    order = np.concatenate([np.flatnonzero(busy), np.flatnonzero(~busy)])
    return np.sort(order[:max_pms])


def _parts(state: Any, pms: np.ndarray) -> dict[str, np.ndarray]:
    """Cores per NUMA node of the PMs ``pms``, ``(len(pms), 2)`` each: used, free in slots, fragment."""
    cap = np.asarray(state.snapshot.numa_cpu, np.int64)[pms]
    free = np.asarray(state.free_cpu, np.int64)[pms]
    return {"used": cap - free, "slots": (free // SLOT) * SLOT, "fragment": free % SLOT}


def _migration_marks(state: Any, pms: np.ndarray) -> dict[str, np.ndarray]:
    """``"in"`` / ``"out"``: ``(len(pms), 2)`` bool, the NUMA nodes (of the PMs drawn) that a migration
    moved a VM into / out of (both nodes of the PM for a double-NUMA VM)."""
    position = {int(p): i for i, p in enumerate(pms)}
    marks = {"in": np.zeros((len(pms), 2), bool), "out": np.zeros((len(pms), 2), bool)}
    for m in getattr(state, "migrations", []):
        for key, pm, numa in (("in", m.to_pm, m.to_numa), ("out", m.from_pm, m.from_numa)):
            i = position.get(int(pm))
            if i is not None:
                marks[key][i, [numa] if numa in (0, 1) else [0, 1]] = True
    return marks


def _style_pm_axis(ax: Any, pms: np.ndarray, n_pms: int) -> None:
    """Integer PM ticks (the PM's index, every one up to 20 PMs drawn) and the axis label."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    n = len(pms)
    ax.set_xlim(-0.6, n - 0.4)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=min(n, 20), integer=True))
    if n < n_pms:  # positions 0..n-1 show PMs of other indices: label each tick with its PM's index
        ax.xaxis.set_major_formatter(FuncFormatter(
            lambda x, _: str(int(pms[int(round(x))])) if 0 <= round(x) < n else ""))
        ax.set_xlabel(f"physical machine ({n} of {n_pms}: those with free cores or migrations first)\n"
                      "NUMA 0 | NUMA 1")
    else:
        ax.set_xlabel("physical machine: NUMA 0 | NUMA 1")


def placement_figure(state: Any, size: str | tuple[float, float] = "page", title: bool | str = True,
                     max_pms: int = MAX_PMS) -> "Figure":
    """The placement of a :class:`~schedgym.envs.vm.state.VMState` (see the module docstring).

    ``title``: True for a generated one (snapshot, fragment rate now and at the start, migrations), a
    string, or False for none. Past ``max_pms`` PMs, :func:`shown_pms` picks the PMs drawn.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    pms = shown_pms(state, max_pms)
    n = len(pms)
    parts = _parts(state, pms)
    active = np.asarray(state.active, bool)[pms]
    fig = new_figure(size, FIGURE_SIZES)
    ax = fig.add_subplot(1, 1, 1)
    x0 = np.arange(n)
    for i in range(1, n, 2):  # every other PM on a pale band: the two NUMA bars of one PM read as a pair
        ax.axvspan(i - 0.5, i + 0.5, color="#f0f0f0", lw=0, zorder=0)
    for k, offset in ((0, -_BAR / 2), (1, _BAR / 2)):
        bottom = np.zeros(n)
        for key in ("used", "slots", "fragment"):
            height = parts[key][:, k].astype(float)
            colour = np.where(active, COLOURS[key], COLOURS["inactive"]) if not active.all() else COLOURS[key]
            ax.bar(x0 + offset, height, width=_BAR, bottom=bottom, color=colour, edgecolor="white", linewidth=0.2)
            bottom += height
    top = float(np.asarray(state.snapshot.numa_cpu)[pms].max(initial=1))
    marks = _migration_marks(state, pms)
    styles = {"in": {"marker": "v", "color": "black"}, "out": {"marker": "v", "color": "none"}}
    for key, y in (("in", 1.05), ("out", 1.12)):
        for k, offset in ((0, -_BAR / 2), (1, _BAR / 2)):
            hit = np.flatnonzero(marks[key][:, k])
            if hit.size:
                ax.scatter(hit + offset, np.full(hit.size, top * y), s=10, marker="v", facecolors=styles[key]["color"],
                           edgecolors="black", linewidths=0.5)
    ax.set_ylim(0, top * 1.18)
    _style_pm_axis(ax, pms, int(state.n_pms))
    ax.set_ylabel("CPU cores")
    paper_fonts(ax)
    handles = [Patch(facecolor=COLOURS["used"], label="used"),
               Patch(facecolor=COLOURS["slots"], label=f"free, in {SLOT}-core slots"),
               Patch(facecolor=COLOURS["fragment"], label=f"fragment (free mod {SLOT})")]
    if not active.all():
        handles.append(Patch(facecolor=COLOURS["inactive"], label="inactive PM"))
    for key, label in (("in", "VM migrated in"), ("out", "VM migrated out")):
        if marks[key].any():
            handles.append(Line2D([0], [0], marker="v", color="none", markerfacecolor=styles[key]["color"],
                                  markeredgecolor="black", markeredgewidth=0.5, markersize=4, label=label))
    if is_narrow(fig):
        legend_below(fig, handles, ncol=2)
    else:
        legend_beside(ax, handles)
    if title:
        text = title if isinstance(title, str) else (
            f"{state.snapshot.name}\nfragment rate {state.fr0:.3f} → {state.fr():.3f}, "
            f"{len(state.migrations)} migration(s)")
        ax.set_title(text, fontsize=8)
    return fig


def render_rgb(state: Any, title: bool | str = True, width_px: int = 960, height_px: int = 400) -> np.ndarray:
    """The placement as an ``(height_px, width_px, 3)`` uint8 array (what ``env.render()`` returns)."""
    fig = placement_figure(state, size=(width_px / 100, height_px / 100), title=title)
    return figure_rgb(fig, width_px, height_px)


def env_title(base: Any) -> str:
    """The title of an env's picture: snapshot, fragment rate at the start and now, migrations of the limit."""
    state = base.state
    return (f"{state.snapshot.name}\nfragment rate {state.fr0:.3f} → {state.fr():.3f}, "
            f"{base.migrations_done}/{base.mnl} migrations")


def env_figure(env: Any, size: str | tuple[float, float] = "page") -> "Figure":
    """The placement of a VMReschedule env's current state (after ``reset``)."""
    base = getattr(env, "unwrapped", env)
    if getattr(base, "state", None) is None:
        raise RuntimeError("the env has no placement yet: call reset() first")
    return placement_figure(base.state, size=size, title=env_title(base))


def save_env_figure(env: Any, path: str | Path, size: str | tuple[float, float] = "page") -> Path:
    """:func:`env_figure` written to ``path`` (``.svg``, ``.pdf`` or ``.png``)."""
    return save_figure(env_figure(env, size), path)
