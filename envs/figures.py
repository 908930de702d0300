"""Figure plumbing every domain's ``render.py`` shares: paper sizes, saving as SVG / PDF / PNG (with no
dates: the same figure writes the same bytes), the ``rgb_array`` that Gymnasium's ``render()`` returns, and
the pieces of a paper figure (one colour per job or other category with a legend that turns into a colour
bar past 20, legends beside or below the axes, font sizes, binary byte units). Matplotlib is imported only
when a figure is drawn."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: file suffixes :func:`save_figure` writes
FORMATS = (".svg", ".pdf", ".png")


def figure_size(size: str | tuple[float, float], sizes: Mapping[str, tuple[float, float]]) -> tuple[float, float]:
    """Inches for a named size of ``sizes`` (``"column"`` / ``"page"``) or an explicit ``(width, height)``."""
    if isinstance(size, str):
        if size not in sizes:
            raise ValueError(f"size must be one of {sorted(sizes)} or (width, height) in inches, got {size!r}")
        return sizes[size]
    w, h = (float(v) for v in size)
    if w <= 0 or h <= 0:
        raise ValueError(f"size must be positive, got {size!r}")
    return w, h


def save_figure(fig: "Figure", path: str | Path, dpi: int = 300) -> Path:
    """Write ``fig`` as SVG, PDF or PNG (by ``path``'s suffix; ``dpi`` for PNG and rasterized parts); the
    files carry no date, so the same figure writes the same bytes."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"save_figure writes {', '.join(FORMATS)}; got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    import matplotlib

    # the same figure gives the same bytes: no dates, SVG ids from a fixed salt (regenerated files do not churn)
    metadata = {".svg": {"Date": None}, ".pdf": {"CreationDate": None}}.get(path.suffix.lower())
    with matplotlib.rc_context({"svg.hashsalt": "schedgym"}):
        fig.savefig(path, dpi=dpi, metadata=metadata)
    return path


def figure_rgb(fig: "Figure", width_px: int, height_px: int) -> np.ndarray:
    """``fig`` rasterized to ``(height_px, width_px, 3)`` uint8 (its size in inches is restored after)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    w_in, h_in = fig.get_size_inches()
    fig.set_size_inches(width_px / 100, height_px / 100)
    fig.set_dpi(100)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    fig.set_size_inches(w_in, h_in)
    return rgb


#: categories (jobs, ...) that get a legend entry each; beyond, a colour bar of the category index
MAX_LEGEND_ENTRIES = 20
#: the named sizes every domain's figure offers (each render module's ``FIGURE_SIZES`` gives their inches)
SIZE_NAMES = ("column", "page")


def category_colours(n: int) -> tuple[list[Any], Any]:
    """One colour per category (tab20 up to :data:`MAX_LEGEND_ENTRIES`, else samples of turbo) and the map."""
    import matplotlib

    if n <= MAX_LEGEND_ENTRIES:
        cmap = matplotlib.colormaps["tab20"]
        return [cmap(j % 20) for j in range(n)], cmap
    cmap = matplotlib.colormaps["turbo"]
    return [cmap(j / max(n - 1, 1)) for j in range(n)], cmap


def legend_beside(ax: Any, handles: Sequence[Any], fontsize: float = 6) -> None:
    """A legend of ``handles`` right of the axes (never over the data); two columns past 12 entries."""
    ax.legend(handles=list(handles), loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=fontsize, frameon=False,
              ncol=1 if len(handles) <= 12 else 2, handlelength=1.2, borderaxespad=0.0)


def legend_below(fig: "Figure", handles: Sequence[Any], ncol: int = 3, fontsize: float = 6) -> None:
    """A figure legend of ``handles`` in rows under every axes (constrained layout makes room for it): for
    narrow figures, where a legend beside the axes would squeeze them."""
    fig.legend(handles=list(handles), loc="outside lower center", ncol=ncol, fontsize=fontsize, frameon=False,
               handlelength=1.2, columnspacing=1.0, borderaxespad=0.0)


def is_narrow(fig: "Figure") -> bool:
    """True for a figure under 5 in wide (a column): legends go below the axes, not beside them."""
    return float(fig.get_size_inches()[0]) < 5.0


def category_legend(fig: "Figure", ax: Any, labels: Sequence[str], colours: Sequence[Any], cmap: Any,
                    name: str, extra: Sequence[Any] = ()) -> None:
    """A legend of the categories (one patch per label, then ``extra`` handles) right of the axes; past
    :data:`MAX_LEGEND_ENTRIES` a slim colour bar of the category index labelled ``name`` instead, with
    ``extra`` in a row below the axes."""
    import matplotlib
    from matplotlib.patches import Patch

    n = len(labels)
    if n <= MAX_LEGEND_ENTRIES:
        patches = [Patch(facecolor=colours[j], edgecolor="black", linewidth=0.3, label=labels[j]) for j in range(n)]
        legend_beside(ax, patches + list(extra))
        return
    norm = matplotlib.colors.Normalize(vmin=0, vmax=n - 1)
    bar = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, fraction=0.04, pad=0.015, aspect=30)
    bar.set_label(name, fontsize=7)
    bar.ax.tick_params(labelsize=6)
    if extra:
        ax.legend(handles=list(extra), loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=len(extra), fontsize=6,
                  frameon=False, handlelength=1.2, borderaxespad=0.0)


def paper_fonts(ax: Any, tick: float = 7, label: float = 8) -> None:
    """Font sizes that read well at column width: ``tick`` for tick labels, ``label`` for axis labels."""
    ax.tick_params(labelsize=tick)
    ax.xaxis.label.set_size(label)
    ax.yaxis.label.set_size(label)


def byte_unit(n_bytes: float) -> tuple[float, str]:
    """The binary unit to show ``n_bytes`` in: ``(bytes per unit, name)`` among B, KiB, MiB, GiB."""
    for power, name in ((3, "GiB"), (2, "MiB"), (1, "KiB")):
        if n_bytes >= 1024 ** power:
            return float(1024 ** power), name
    return 1.0, "B"


def new_figure(size: str | tuple[float, float], sizes: Mapping[str, tuple[float, float]]) -> "Figure":
    """An empty constrained-layout Figure of ``size`` (not attached to pyplot: nothing to close)."""
    from matplotlib.figure import Figure

    return Figure(figsize=figure_size(size, sizes), dpi=100, layout="constrained")
