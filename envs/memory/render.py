"""Address x time picture of a placement: each placed buffer is a rectangle [lower, upper) x [offset, offset + size)."""

from __future__ import annotations

import os

import numpy as np

from .instance import MemoryInstance


def _figure(instance: MemoryInstance, offsets: np.ndarray, width_px: int, height_px: int, title: str | None):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.patches import Rectangle

    off = np.asarray(offsets, np.int64)
    dpi = 96
    fig = plt.figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    cmap = plt.get_cmap("tab20")
    placed = np.flatnonzero(off >= 0)
    for i, b in enumerate(placed.tolist()):
        lo, up = int(instance.lower[b]), int(instance.upper[b])
        ax.add_patch(Rectangle((lo, int(off[b])), up - lo, int(instance.size[b]), facecolor=cmap(b % 20),
                               edgecolor="black", linewidth=0.3))
    ax.axhline(instance.capacity, color="red", linewidth=1.0, linestyle="--", label=f"capacity {instance.capacity:,} B")
    ax.set_xlim(int(instance.lower.min()), int(instance.upper.max()))
    peak = int((off[placed] + instance.size[placed]).max()) if placed.size else 0
    ax.set_ylim(0, max(instance.capacity, peak) * 1.05)
    ax.set_xlabel("time (instruction)")
    ax.set_ylabel("address (bytes)")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or f"{instance.name}: {placed.size}/{instance.n_buffers} buffers placed, peak {peak:,} B")
    fig.tight_layout()
    return fig, plt


def placement_rgb(instance: MemoryInstance, offsets: np.ndarray, width_px: int = 960, height_px: int = 480,
                  title: str | None = None) -> np.ndarray:
    """The picture as an ``(H, W, 3)`` uint8 array (offset -1 = not placed, not drawn)."""
    fig, plt = _figure(instance, offsets, width_px, height_px, title)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return rgb


def save_placement(path: str | os.PathLike[str], instance: MemoryInstance, offsets: np.ndarray,
                   title: str | None = None) -> None:
    """Save the picture (format from the suffix: .png, .svg, .pdf)."""
    fig, plt = _figure(instance, offsets, 960, 480, title)
    fig.savefig(os.fspath(path))
    plt.close(fig)
