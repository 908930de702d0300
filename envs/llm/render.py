"""Pictures of serving runs: one instance's timeline (batch composition, KV use, queue) and a cluster's
per-instance load and KV use with its dispatches and migrations.

:func:`timeline_figure` is made for papers: four panels against time (s): the batch composition of
every iteration (its prefill tokens and its decode tokens, each on its own scale), the KV cache in use (% of the instance's KV
blocks) and the requests waiting (queued or preempted), sized for a column (``"column"``, 3.5 in
wide) or a page (``"page"``, 7 in wide), saved as SVG / PDF / PNG by :func:`save_figure`.
:func:`render_timeline` (what ``LLMServe``'s ``render()`` returns) rasterizes the same figure.

The series come from the simulator's iteration log (``record=True``) by :func:`timeline_series`: the
KV tokens of each request are replayed from the prefill chunks and decodes it ran, dropped when it is
preempted by recompute (or migrated out), moved off the GPU when swapped out, back when it runs
again, and freed when it finishes. With prefix caching, a block shared by several requests is
counted once per holder (the series is then an upper bound).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..figures import figure_rgb, figure_size, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .cluster_env import ClusterHistory
    from .simulator import ServingSimulator

#: figure sizes in inches (width, height): one column or a whole page of a two-column paper
FIGURE_SIZES: dict[str, tuple[float, float]] = {"column": (3.5, 4.2), "page": (7.0, 4.8)}
#: above this many iteration groups, the filled areas of vector figures are rasterized (small files)
RASTERIZE_ABOVE = 2000
# the simulator's kinds of work in an iteration record (K_PREFILL, K_DECODE, K_SWAPIN)
_PREFILL = 0


def timeline_series(sim: "ServingSimulator") -> dict[str, np.ndarray]:
    """Per recorded iteration group (``repeat`` identical decode iterations share one): ``start`` and
    ``end`` time (s), ``prefill`` and ``decode`` tokens per iteration, ``kv_blocks`` GPU KV blocks in use
    at its end (before finished requests release theirs), and ``queue``: requests arrived, not
    rejected, not finished and not holding GPU KV (queued, or preempted and waiting) at its start.
    Also ``capacity``: the instance's KV blocks. Needs the simulator's ``record=True``."""
    empty = {k: np.zeros(0) for k in ("start", "end", "prefill", "decode", "kv_blocks", "queue")}
    if sim.log is None:
        raise ValueError("the simulator keeps no iteration log (record=False)")
    capacity = np.asarray([int(sim.total_blocks)])
    if not sim.log.start:
        return {**empty, "capacity": capacity}
    log = sim.log.to_arrays()
    bs = int(sim.block_size)
    starts, reps, off = log["start"], log["repeat"], log["offsets"]
    ends = log["ends"][np.cumsum(reps) - 1]
    rid, toks, kind = log["rid"], log["tokens"], log["kind"]
    n_req = int(sim.n)
    kv = np.zeros(n_req, np.int64)
    resident = np.zeros(n_req, bool)
    # events at iteration boundaries, applied before the first group that starts at or after them
    pre_t, pre_r, pre_m = log["preempt_t"], log["preempt_rid"], log["preempt_mode"]
    hit_t, hit_r, hit_k = log["hit_t"], log["hit_rid"], log["hit_tokens"]
    migin = log["mig_in"]
    finish = np.asarray(sim.finish_t, np.float64)
    fin_order = np.argsort(np.where(np.isnan(finish), np.inf, finish), kind="stable")
    fin_sorted = finish[fin_order]
    arrival = np.sort(np.asarray(sim.arrival, np.float64)[np.asarray(sim.reject_reason) == 0])
    n_groups = len(starts)
    prefill = np.zeros(n_groups, np.int64)
    decode = np.zeros(n_groups, np.int64)
    kv_blocks = np.zeros(n_groups, np.int64)
    queue = np.zeros(n_groups, np.int64)
    ip = ih = im = jf = 0
    n_done = 0
    for g in range(n_groups):
        s = starts[g]
        while jf < n_req and fin_sorted[jf] <= s:  # finished before this iteration: KV freed
            r = fin_order[jf]
            resident[r], kv[r] = False, 0
            jf += 1
            n_done += 1
        while ip < len(pre_t) and pre_t[ip] <= s:
            r, mode = pre_r[ip], pre_m[ip]
            resident[r] = False
            if mode != 1:  # recompute or migrated out: the KV is dropped (a swap keeps it on the host)
                kv[r] = 0
            ip += 1
        while ih < len(hit_t) and hit_t[ih] <= s:
            kv[hit_r[ih]] = hit_k[ih]
            resident[hit_r[ih]] = True
            ih += 1
        while im < len(migin) and migin[im, 0] <= s:
            r = int(migin[im, 1])
            kv[r] = int(migin[im, 2])
            resident[r] = True
            im += 1
        a, b = off[g], off[g + 1]
        members, tk, kd = rid[a:b], toks[a:b], kind[a:b]
        is_pre = kd == _PREFILL
        prefill[g] = int(tk[is_pre].sum())
        decode[g] = int(np.count_nonzero(~is_pre))
        resident[members] = True
        queue[g] = max(0, int(np.searchsorted(arrival, s, side="right")) - n_done - int(resident.sum()))
        np.add.at(kv, members[is_pre], tk[is_pre])
        kv[members[~is_pre]] += int(reps[g])
        held = kv[resident]
        kv_blocks[g] = int((-(-held // bs)).sum())
    return {"start": starts, "end": ends, "prefill": prefill, "decode": decode, "kv_blocks": kv_blocks,
            "queue": queue, "capacity": capacity}


def timeline_figure(sim: "ServingSimulator", size: str | tuple[float, float] = "page", title: bool = True) -> "Figure":
    """Batch composition, KV use and queue length of one serving instance against time (see the module)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    ser = timeline_series(sim)
    fig = Figure(figsize=figure_size(size, FIGURE_SIZES), dpi=100, layout="constrained")
    ax_p, ax_d, ax_kv, ax_q = fig.subplots(4, 1, sharex=True)
    t = np.append(ser["start"], ser["end"][-1:]) if len(ser["start"]) else np.zeros(0)
    raster = len(ser["start"]) > RASTERIZE_ABOVE
    if len(t):
        step = lambda v: np.append(v, v[-1:])  # noqa: E731 - values held until the next iteration
        pre, dec = step(ser["prefill"]).astype(float), step(ser["decode"]).astype(float)
        # two panels, each on its own scale: a decode adds one token per sequence, a prefill up to the budget
        ax_p.fill_between(t, 0, pre, step="post", color="tab:orange", lw=0, label="prefill tokens", rasterized=raster)
        ax_d.fill_between(t, 0, dec, step="post", color="tab:blue", lw=0, label="decode tokens\n(1 per sequence)",
                          rasterized=raster)
        cap = float(ser["capacity"][0])
        ax_kv.fill_between(t, 0, 100 * step(ser["kv_blocks"]) / max(cap, 1), step="post", color="tab:green", lw=0,
                           label="KV blocks in use", rasterized=raster)
        ax_q.step(t, step(ser["queue"]), where="post", color="tab:red", lw=0.8, label="waiting requests",
                  rasterized=raster)
    ax_kv.axhline(100, color="black", lw=0.6, ls="--", label="capacity")
    ax_p.set_ylabel("prefill\n(tokens/iter.)", fontsize=7)
    ax_d.set_ylabel("decode\n(tokens/iter.)", fontsize=7)
    for ax, key in ((ax_p, "prefill"), (ax_d, "decode")):
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        ax.set_ylim(0, max(1, int(ser[key].max(initial=0))) * 1.08)
    ax_kv.set_ylabel("KV in use\n(% blocks)", fontsize=7)
    ax_kv.set_ylim(0, 105)
    ax_q.set_ylabel("waiting\n(requests)", fontsize=7)
    ax_q.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_q.set_ylim(0, max(1, int(ser["queue"].max(initial=0))) * 1.08)
    ax_q.set_xlabel("time (s)", fontsize=8)
    outside = fig.get_size_inches()[0] >= 5  # a page: legends right of the panels; a column: inside
    for ax in (ax_p, ax_d, ax_kv, ax_q):
        ax.tick_params(labelsize=6)
        if outside:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=6, frameon=False, borderaxespad=0.0)
        else:
            ax.legend(loc="upper right", fontsize=5, framealpha=0.8, borderaxespad=0.2, handlelength=1.0)
        ax.set_xlim(left=0)
    if title:
        ax_p.set_title(f"{sim.model.name} on {sim.config.tp} x {sim.hardware.name}", fontsize=8)
    return fig


def render_timeline(sim: "ServingSimulator", width: int = 800, height: int = 560) -> np.ndarray:
    """:func:`timeline_figure` as an ``(height, width, 3)`` uint8 array (what ``render()`` returns)."""
    return figure_rgb(timeline_figure(sim, size=(width / 100, height / 100)), width, height)


def env_figure(env: Any, size: str | tuple[float, float] = "page") -> "Figure":
    """The picture of an LLMServe env's episode so far (:func:`timeline_figure`), or of an LLMCluster
    env's (:func:`cluster_figure`)."""
    base = getattr(env, "unwrapped", env)
    if hasattr(base, "history") and hasattr(base, "n_instances"):
        return cluster_figure(base.history, base.n_instances, size=size)
    return timeline_figure(base.sim, size=size)


def save_env_figure(env: Any, path: str | Path, size: str | tuple[float, float] = "page") -> Path:
    """:func:`env_figure` written to ``path`` (``.svg``, ``.pdf`` or ``.png``)."""
    return save_figure(env_figure(env, size), path)


def cluster_figure(history: "ClusterHistory", n_instances: int, size: str | tuple[float, float] = "page",
                   title: bool = True) -> "Figure":
    """Three panels against time (s): each instance's load (Llumnix virtual usage, > 1 is a backlog), its
    KV use (% of its KV blocks), and the dispatches (a dot per request on the instance it was sent to)
    with the migrations (source -> destination arrows); a legend of the instances."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=figure_size(size, FIGURE_SIZES), dpi=100, layout="constrained")
    ax_load, ax_kv, ax_disp = fig.subplots(3, 1, sharex=True)
    colors = matplotlib.colormaps["tab10"].colors
    if history.times:
        t = np.asarray(history.times)
        loads = np.vstack(history.loads)
        kv = np.vstack(history.kv)
        for k in range(n_instances):
            c = colors[k % len(colors)]
            ax_load.step(t, loads[:, k], where="post", lw=0.8, color=c, label=f"instance {k}")
            ax_kv.step(t, 100 * kv[:, k], where="post", lw=0.8, color=c)
    if history.dispatches:
        d = np.asarray(history.dispatches, np.float64)
        ax_disp.scatter(d[:, 0], d[:, 1], s=4, c=[colors[int(k) % len(colors)] for k in d[:, 1]], label="dispatch")
    for t0, src, dst in history.migrations:
        ax_disp.annotate("", xy=(t0, dst), xytext=(t0, src), arrowprops={"arrowstyle": "->", "color": "black", "lw": 0.6})
    if history.migrations:
        ax_disp.plot([], [], color="black", lw=0.6, label="migration")
    ax_load.set_ylabel("load\n(virtual usage)", fontsize=7)
    ax_kv.set_ylabel("KV in use\n(% blocks)", fontsize=7)
    ax_kv.set_ylim(0, 105)
    ax_disp.set_ylabel("instance", fontsize=7)
    ax_disp.set_ylim(-0.5, n_instances - 0.5)
    if n_instances <= 16:
        ax_disp.set_yticks(range(n_instances))
    else:
        ax_disp.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_disp.set_xlabel("time (s)", fontsize=8)
    for ax in (ax_load, ax_kv, ax_disp):
        ax.tick_params(labelsize=6)
    if history.times and n_instances <= 10:
        ax_load.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=6, frameon=False, borderaxespad=0.0)
    if history.dispatches:
        ax_disp.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=6, frameon=False, borderaxespad=0.0)
    if title:
        ax_load.set_title(f"{n_instances} instances: {len(history.dispatches)} dispatches, "
                          f"{len(history.migrations)} migrations", fontsize=8)
    return fig


def render_cluster(history: "ClusterHistory", n_instances: int, width: int = 800, height: int = 480) -> np.ndarray:
    """:func:`cluster_figure` as an ``(height, width, 3)`` uint8 array (what LLMCluster's ``render()`` returns)."""
    return figure_rgb(cluster_figure(history, n_instances, size=(width / 100, height / 100)), width, height)
