"""Picture of a VM placement: for papers (SVG / PDF) and as Gymnasium's rgb_array.

:func:`placement_figure` draws, for every physical machine (PM; integer ticks on the x axis), two bars
side by side, one per NUMA node, each stacked from the bottom: the cores in use, the free cores in
whole 16-core slots, and the fragment (free cores that are not in a 16-core slot, the numerator of the
fragment rate). Inactive PMs (left out of the fragment rate) are drawn grey; a triangle above a bar
marks a NUMA node that a migration of this episode moved a VM into. The legend sits right of the
bars; sizes suit one column (``"column"``, 3.5 in wide) or a page (``"page"``, 7 in wide). Snapshots
with more than ``max_pms`` PMs show the first ``max_pms`` (the axis label says so).
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

__all__ = ["FIGURE_SIZES", "env_figure", "placement_figure", "render_rgb", "save_env_figure", "save_figure"]

#: figure sizes in inches (width, height): one column or a whole page of a two-column paper
FIGURE_SIZES: dict[str, tuple[float, float]] = {"column": (3.5, 2.8), "page": (7.0, 3.0)}
#: PMs drawn by default (two bars each)
MAX_PMS = 60
#: colours of the three stacked parts and of inactive PMs
COLOURS = {"used": "#4c72b0", "slots": "#55a868", "fragment": "#c44e52", "inactive": "#c8c8c8"}
_BAR = 0.4  # width of one NUMA node's bar (a PM's two bars fill 0.8 of its slot)


def _parts(state: Any, n: int) -> dict[str, np.ndarray]:
    """Cores per NUMA node of the first ``n`` PMs, ``(n, 2)`` each: used, free in slots, fragment."""
    cap = np.asarray(state.snapshot.numa_cpu[:n], np.int64)
    free = np.asarray(state.free_cpu[:n], np.int64)
    return {"used": cap - free, "slots": (free // SLOT) * SLOT, "fragment": free % SLOT}


def _migration_targets(state: Any, n: int) -> np.ndarray:
    """``(n, 2)`` bool: the NUMA nodes a migration moved a VM into (both nodes for a double-NUMA VM)."""
    hit = np.zeros((n, 2), bool)
    for m in getattr(state, "migrations", []):
        if 0 <= m.to_pm < n:
            if m.to_numa in (0, 1):
                hit[m.to_pm, m.to_numa] = True
            else:
                hit[m.to_pm, :] = True
    return hit


def placement_figure(state: Any, size: str | tuple[float, float] = "page", title: bool | str = True,
                     max_pms: int = MAX_PMS) -> "Figure":
    """The placement of a :class:`~schedgym.envs.vm.state.VMState` (see the module docstring).

    ``title``: True for a generated one (snapshot, fragment rate now and at the start, migrations), a
    string, or False for none.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    if max_pms < 1:
        raise ValueError(f"max_pms must be >= 1, got {max_pms}")
    n = min(int(state.n_pms), int(max_pms))
    parts = _parts(state, n)
    active = np.asarray(state.active[:n], bool)
    fig = new_figure(size, FIGURE_SIZES)
    ax = fig.add_subplot(1, 1, 1)
    pm = np.arange(n)
    for p in range(1, n, 2):  # every other PM on a pale band: the two NUMA bars of one PM read as a pair
        ax.axvspan(p - 0.5, p + 0.5, color="#f0f0f0", lw=0, zorder=0)
    for k, offset in ((0, -_BAR / 2), (1, _BAR / 2)):
        x = pm + offset
        bottom = np.zeros(n)
        for key in ("used", "slots", "fragment"):
            height = parts[key][:, k].astype(float)
            colour = np.where(active, COLOURS[key], COLOURS["inactive"]) if not active.all() else COLOURS[key]
            ax.bar(x, height, width=_BAR, bottom=bottom, color=colour, edgecolor="white", linewidth=0.2)
            bottom += height
    top = float(np.asarray(state.snapshot.numa_cpu[:n]).max(initial=1))
    targets = _migration_targets(state, n)
    for k, offset in ((0, -_BAR / 2), (1, _BAR / 2)):
        hit = np.flatnonzero(targets[:, k])
        if hit.size:
            ax.scatter(hit + offset, np.full(hit.size, top * 1.06), marker="v", s=10, color="black", linewidths=0)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(0, top * 1.12)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=min(n, 20), integer=True))
    shown = f" (first {n} of {state.n_pms})" if state.n_pms > n else ""
    ax.set_xlabel(f"physical machine{shown}: NUMA 0 | NUMA 1")
    ax.set_ylabel("CPU cores")
    paper_fonts(ax)
    handles = [Patch(facecolor=COLOURS["used"], label="used"),
               Patch(facecolor=COLOURS["slots"], label=f"free, in {SLOT}-core slots"),
               Patch(facecolor=COLOURS["fragment"], label=f"fragment (free mod {SLOT})")]
    if not active.all():
        handles.append(Patch(facecolor=COLOURS["inactive"], label="inactive PM"))
    if targets.any():
        handles.append(Line2D([0], [0], marker="v", color="none", markerfacecolor="black", markeredgewidth=0,
                              markersize=4, label="VM migrated in"))
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
