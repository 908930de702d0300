"""Timeline of a serving run as an RGB array: tokens per iteration (prefill vs decode) over time."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .simulator import ServingSimulator


def render_timeline(sim: "ServingSimulator", width: int = 800, height: int = 300) -> np.ndarray:
    """Prefill and decode tokens of every recorded iteration against its end time (needs ``record=True``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width / 100, height / 100), dpi=100)
    if sim.log is not None and sim.log.start:
        log = sim.log.to_arrays()
        reps = log["repeat"]
        off = log["offsets"]
        kinds, toks = log["kind"], log["tokens"]
        pre = np.array([toks[off[g]:off[g + 1]][kinds[off[g]:off[g + 1]] == 0].sum() for g in range(reps.size)])
        dec = np.array([np.count_nonzero(kinds[off[g]:off[g + 1]] != 0) for g in range(reps.size)])
        ends = log["ends"]
        ax.step(ends, np.repeat(dec, reps), where="pre", label="decode tokens", lw=0.8)
        ax.step(ends, np.repeat(pre, reps), where="pre", label="prefill tokens", lw=0.8)
        ax.legend(loc="upper right", fontsize=7)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("tokens / iteration")
    ax.set_title(f"{sim.model.name} on {sim.config.tp} x {sim.hardware.name}", fontsize=9)
    fig.tight_layout()
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return img
