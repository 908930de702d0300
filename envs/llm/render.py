"""Pictures of serving runs as RGB arrays: one instance's tokens per iteration (prefill vs decode) over
time; a cluster's per-instance load and KV use over time with its dispatches and migrations."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .cluster_env import ClusterHistory
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


def render_cluster(history: "ClusterHistory", n_instances: int, width: int = 800, height: int = 480) -> np.ndarray:
    """Three panels against time: each instance's load (Llumnix virtual usage, > 1 is a backlog), its
    KV use (blocks in use / capacity), and the dispatches (a dot per request on the instance it was
    sent to) with the migrations (source -> destination arrows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_load, ax_kv, ax_disp) = plt.subplots(3, 1, sharex=True, figsize=(width / 100, height / 100), dpi=100)
    colors = plt.get_cmap("tab10").colors
    if history.times:
        t = np.asarray(history.times)
        loads = np.vstack(history.loads)
        kv = np.vstack(history.kv)
        for k in range(n_instances):
            c = colors[k % len(colors)]
            ax_load.step(t, loads[:, k], where="post", lw=0.8, color=c, label=f"instance {k}")
            ax_kv.step(t, kv[:, k], where="post", lw=0.8, color=c)
    if history.dispatches:
        d = np.asarray(history.dispatches, np.float64)
        ax_disp.scatter(d[:, 0], d[:, 1], s=6, c=[colors[int(k) % len(colors)] for k in d[:, 1]])
    for t0, src, dst in history.migrations:
        ax_disp.annotate("", xy=(t0, dst), xytext=(t0, src),
                         arrowprops={"arrowstyle": "->", "color": "black", "lw": 0.6})
    ax_load.set_ylabel("load")
    ax_kv.set_ylabel("KV use")
    ax_kv.set_ylim(0, 1.05)
    ax_disp.set_ylabel("instance")
    ax_disp.set_ylim(-0.5, n_instances - 0.5)
    ax_disp.set_yticks(range(n_instances))
    ax_disp.set_xlabel("time (s)")
    ax_load.set_title(f"{n_instances} instances: {len(history.dispatches)} dispatches, "
                      f"{len(history.migrations)} migrations", fontsize=9)
    if history.times and n_instances <= 10:
        ax_load.legend(loc="upper right", fontsize=6, ncol=min(n_instances, 5))
    fig.tight_layout()
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return img
