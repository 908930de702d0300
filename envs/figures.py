"""Figure plumbing every domain's ``render.py`` shares: paper sizes, saving as SVG / PDF / PNG, and the
``rgb_array`` that Gymnasium's ``render()`` returns. Matplotlib is imported only when a figure is drawn."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping

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
    """Write ``fig`` as SVG, PDF or PNG (by ``path``'s suffix; ``dpi`` for PNG and rasterized parts)."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"save_figure writes {', '.join(FORMATS)}; got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
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
