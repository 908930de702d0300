"""Paper-ready figures of the job-shop, ISB and LLM renders: legends, labelled axes with units, integer
machine ticks, column / page sizes, SVG / PDF / PNG files, and the rgb_array Gymnasium asks for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from figure_checks import check_files, draw, episode  # tests/figure_checks.py


def _legend_labels(ax) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend is not None else []


def _integer_ticks(ax) -> list[float]:
    low, high = sorted(ax.get_ylim())
    ticks = [t for t in ax.get_yticks() if low <= t <= high]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    return ticks


def test_jobshop_gantt_has_a_job_legend_units_integer_ticks_sizes_and_files(tmp_path: Path) -> None:
    from schedgym.envs.jobshop.render import FIGURE_SIZES, env_figure, save_env_figure

    env = episode("schedgym/JobShop-v0", "mwkr:nondelay", n_jobs=6, n_machines=4)
    frame = env.render()
    assert frame.shape == (480, 960, 3) and frame.dtype == np.uint8 and frame.std() > 0
    for size in ("column", "page"):
        fig = env_figure(env, size)
        assert tuple(fig.get_size_inches()) == pytest.approx(FIGURE_SIZES[size])
    fig = env_figure(env, "column")
    draw(fig)
    ax = fig.axes[0]
    assert _legend_labels(ax) == [f"job {j}" for j in range(6)]
    assert ax.get_xlabel() == "time (time units)" and ax.get_ylabel() == "machine"
    assert _integer_ticks(ax) == [0, 1, 2, 3]
    # the legend sits beside the bars, not over them
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.x0 >= ax.get_window_extent().x1 - 1
    check_files(lambda p: save_env_figure(env, p, "column"), tmp_path)
    with pytest.raises(ValueError, match="column"):
        env_figure(env, "poster")


def test_jobshop_gantt_past_twenty_jobs_uses_a_colour_bar() -> None:
    from schedgym.envs.jobshop.render import env_figure

    env = episode("schedgym/JobShop-v0", "spt:nondelay", n_jobs=25, n_machines=5)
    fig = env_figure(env)
    draw(fig)
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "job"  # the colour bar
    assert not _legend_labels(fig.axes[0])


def test_isb_gantt_legend_is_outside_the_bars_with_integer_machine_ticks(tmp_path: Path) -> None:
    from schedgym.envs.isbjobshop.render import env_figure, save_env_figure

    env = episode("schedgym/ISBJobShop-v0", "spt", n_jobs=5, n_machines=4)
    frame = env.render()
    assert frame.shape == (480, 960, 3) and frame.dtype == np.uint8
    fig = env_figure(env, "page")
    draw(fig)
    ax = fig.axes[0]
    labels = _legend_labels(ax)
    assert labels[:5] == [f"job {j}" for j in range(5)]
    assert {"processing", "blocking", "machine down", "now"} <= set(labels)
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1 - 1
    assert _integer_ticks(ax) == [0, 1, 2, 3]
    assert ax.get_xlabel() == "time (time units)"
    check_files(lambda p: save_env_figure(env, p), tmp_path)


def test_isb_gantt_past_twenty_jobs_has_a_colour_bar_and_the_kinds_below() -> None:
    from schedgym.envs.isbjobshop.render import env_figure

    env = episode("schedgym/ISBJobShop-v0", "spt", n_jobs=22, n_machines=4, shutdown_prob=0.01)
    fig = env_figure(env, "page")
    draw(fig)
    ax, bar = fig.axes
    assert bar.get_ylabel() == "job"
    assert _legend_labels(ax) == ["processing", "blocking", "machine down", "now"]
    assert ax.get_legend().get_window_extent().y1 <= ax.get_window_extent().y0 + 1  # below the bars


def test_llm_timeline_series_replays_batches_kv_and_queue() -> None:
    from schedgym.envs.llm.render import timeline_series

    # plenty of KV: no preemption; every prompt token is prefilled once, every output token but the
    # first (sampled by the prefill) is one decode, and the queue drains
    env = episode("schedgym/LLMServe-v0", "vllm-fcfs", n_requests=40, rate=20)
    sim = env.unwrapped.sim
    ser = timeline_series(sim)
    reps = sim.log.to_arrays()["repeat"]
    served = sim.reject_reason == 0
    assert sim.n_preempt_recompute == sim.n_preempt_swap == 0
    assert ser["prefill"].sum() == sim.prompt[served].sum()
    assert (ser["decode"] * reps).sum() == (sim.output[served] - 1).sum()
    assert ser["kv_blocks"].max() == sim.max_blocks_used
    assert ser["queue"].min() >= 0 and ser["queue"].max() > 0 and ser["queue"][-1] == 0
    assert np.all(np.diff(ser["start"]) > 0) and np.all(ser["end"] >= ser["start"])
    # scarce KV: recompute and swap preemptions; the replayed peak is the simulator's, within capacity
    for preemption in ("recompute", "swap"):
        env = episode("schedgym/LLMServe-v0", "vllm-fcfs", n_requests=40, rate=20, max_kv_blocks=200,
                       preemption=preemption)
        sim = env.unwrapped.sim
        assert sim.n_preempt_recompute + sim.n_preempt_swap > 0
        ser = timeline_series(sim)
        assert ser["kv_blocks"].max() == sim.max_blocks_used <= ser["capacity"][0] == 200
        assert ser["queue"].min() >= 0


def test_llm_timeline_figure_shows_composition_kv_and_queue(tmp_path: Path) -> None:
    from schedgym.envs.llm.render import FIGURE_SIZES, env_figure, save_env_figure

    env = episode("schedgym/LLMServe-v0", "vllm-fcfs", n_requests=30, rate=20, max_kv_blocks=200)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    for size in ("column", "page"):
        fig = env_figure(env, size)
        assert tuple(fig.get_size_inches()) == pytest.approx(FIGURE_SIZES[size])
        draw(fig)
        prefill, decode, kv, queue = fig.axes
        assert _legend_labels(prefill) == ["prefill tokens"] and _legend_labels(decode)[0].startswith("decode tokens")
        assert _legend_labels(kv) == ["KV blocks in use", "capacity"] and _legend_labels(queue) == ["waiting requests"]
        assert "tokens/iter." in prefill.get_ylabel() and "% blocks" in kv.get_ylabel()
        assert "(requests)" in queue.get_ylabel() and queue.get_xlabel() == "time (s)"
        _integer_ticks(queue)
        _integer_ticks(decode)
    check_files(lambda p: save_env_figure(env, p), tmp_path)


def test_llm_cluster_figure_has_instance_ticks_and_legend(tmp_path: Path) -> None:
    from schedgym.envs.llm.render import env_figure, save_env_figure

    env = episode("schedgym/LLMCluster-v0", "llumnix", n_instances=3)
    assert env.render().shape == (480, 800, 3)
    fig = env_figure(env, "page")
    draw(fig)
    load, kv, disp = fig.axes
    assert _legend_labels(load) == ["instance 0", "instance 1", "instance 2"]
    assert list(disp.get_yticks()) == [0, 1, 2] and disp.get_xlabel() == "time (s)"
    assert "% blocks" in kv.get_ylabel()
    path = save_env_figure(env, tmp_path / "cluster.pdf")
    assert path.read_bytes().startswith(b"%PDF")


def test_llm_rate_sweep_plot_writes_png_and_pdf(tmp_path: Path) -> None:
    from schedgym.envs.llm.plots import rate_sweep

    rows = [{"suite": "llm-x", "case": f"r{rate}", "policy": p, "m.request_rate": rate, "m.tbt_p99": 0.05 * rate,
             "m.ttft_p99": 0.1 * rate + i, "m.slo_attainment": 1 - 0.05 * rate}
            for rate in (1, 2, 4) for i, p in enumerate(("vllm-fcfs", "sarathi"))]
    paths = rate_sweep(pd.DataFrame(rows), tmp_path)
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert paths[0].read_bytes().startswith(b"\x89PNG") and paths[1].read_bytes().startswith(b"%PDF")
