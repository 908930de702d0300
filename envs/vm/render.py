"""Pictures of a VM placement: used and free cores per NUMA node, free cores split into 16-core
slots and fragments (matplotlib, imported lazily)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .instance import SLOT


def _figure(state: Any, title: str = "", max_pms: int = 60):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    P = min(state.n_pms, max_pms)
    cap = state.snapshot.numa_cpu[:P].reshape(-1)
    free = state.free_cpu[:P].reshape(-1)
    used = cap - free
    slots = (free // SLOT) * SLOT
    frag = free % SLOT
    x = np.arange(2 * P)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.18 * 2 * P), 3.2), dpi=80)
    ax.bar(x, used, color="#4c72b0", label="used cores")
    ax.bar(x, slots, bottom=used, color="#55a868", label="free in 16-core slots")
    ax.bar(x, frag, bottom=used + slots, color="#c44e52", label="fragment (free mod 16)")
    ax.set_xlabel("NUMA node (PM p: 2p, 2p+1)" + (f"; first {P} of {state.n_pms} PMs" if state.n_pms > P else ""))
    ax.set_ylabel("cores")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    return fig


def render_rgb(state: Any, title: str = "") -> np.ndarray:
    """An RGB array (H, W, 3) of the placement."""
    import matplotlib.pyplot as plt

    fig = _figure(state, title)
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return img


def save_figure(state: Any, path: str, title: str = "") -> None:
    """Save the picture as SVG/PDF/PNG (by the file extension)."""
    import matplotlib.pyplot as plt

    fig = _figure(state, title)
    fig.savefig(path)
    plt.close(fig)
