"""Paper-ready figures of the SoC, VM and memory renders: legends, labelled axes with units, integer PE / PM /
time ticks, column / page sizes, SVG / PDF / PNG files, and the rgb_array Gymnasium asks for. Besides the
looks, each test checks that the picture holds the episode's numbers (bars = scheduled tasks, stacked cores =
capacity, rectangles = placed buffers)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from figure_checks import check_files, draw, episode  # tests/figure_checks.py


def _labels(legend) -> list[str]:
    return [t.get_text() for t in legend.get_texts()] if legend is not None else []


def _integer_ticks(axis, lim) -> list[float]:
    low, high = sorted(lim)
    ticks = [t for t in axis.get_ticklocs() if low <= t <= high]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    return ticks


def _beside(ax) -> bool:
    return ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1 - 1


def _bars(ax) -> list:
    """The rectangles drawn by ``bar`` / ``barh`` (not background bands), in drawing order."""
    return [p for container in ax.containers for p in container.patches]


# ----------------------------------------------------------------------------------------------- SoC
def test_soc_gantt_has_pe_rows_job_legend_arrivals_units_sizes_and_files(tmp_path: Path) -> None:
    from schedgym.envs.soc.render import FIGURE_SIZES, env_figure, save_env_figure

    env = episode("schedgym/SoCDAG-v0", "etf", n_jobs=4)
    frame = env.render()
    assert frame.shape == (480, 960, 3) and frame.dtype == np.uint8 and frame.std() > 0
    for size in ("column", "page"):
        assert tuple(env_figure(env, size).get_size_inches()) == pytest.approx(FIGURE_SIZES[size])
    fig = env_figure(env, "column")
    draw(fig)
    ax = fig.axes[0]
    assert _labels(ax.get_legend()) == [f"job {j}" for j in range(4)] + ["job arrival"] and _beside(ax)
    assert ax.get_xlabel() == "time (µs)" and ax.get_ylabel() == "processing element"
    soc = env.unwrapped.sim.soc
    assert _integer_ticks(ax.yaxis, ax.get_ylim()) == list(range(soc.n_pes))
    assert [t.get_text() for t in ax.get_yticklabels()][:1] == [f"{soc.pe_names[0]} (LITTLE)"]
    # one bar per task, on its PE row, as long as the task ran
    tasks = env.unwrapped.sim.solution()["tasks"]
    bars = _bars(ax)
    assert len(bars) == len(tasks["pe"])
    assert sorted(round(b.get_y() + b.get_height() / 2) for b in bars) == sorted(tasks["pe"])
    assert sum(b.get_width() for b in bars) == pytest.approx(float(np.sum(np.subtract(tasks["end"], tasks["start"]))))
    assert len(ax.collections[0].get_offsets()) == 4  # an arrival marker per job
    check_files(lambda p: save_env_figure(env, p, "column"), tmp_path)
    with pytest.raises(ValueError, match="column"):
        env_figure(env, "poster")


def test_soc_gantt_past_twenty_jobs_uses_a_colour_bar_and_a_mid_episode_render_works() -> None:
    from schedgym.envs.soc.render import env_figure

    env = episode("schedgym/SoCDAG-v0", "etf", n_jobs=22, mean_interarrival_us=50.0)
    fig = env_figure(env, "page")
    draw(fig)
    ax, bar = fig.axes
    assert bar.get_ylabel() == "job" and _labels(ax.get_legend()) == ["job arrival"]
    fresh = gym.make("schedgym/SoCDAG-v0", render_mode="rgb_array")
    fresh.reset(seed=0)
    assert fresh.render().shape == (480, 960, 3)  # nothing scheduled yet: still a picture
    draw(env_figure(fresh, "column"))


# ------------------------------------------------------------------------------------------------ VM
def test_vm_placement_has_pm_ticks_core_legend_sizes_and_files(tmp_path: Path) -> None:
    from schedgym.envs.vm.instance import SLOT
    from schedgym.envs.vm.render import FIGURE_SIZES, env_figure, save_env_figure

    env = episode("schedgym/VMReschedule-v0", "vm-slot", preset="small", mnl=10)
    state = env.unwrapped.state
    assert state.migrations, "the seeded episode moves VMs"
    frame = env.render()
    assert frame.shape == (400, 960, 3) and frame.dtype == np.uint8 and frame.std() > 0
    for size in ("column", "page"):
        assert tuple(env_figure(env, size).get_size_inches()) == pytest.approx(FIGURE_SIZES[size])
    fig = env_figure(env, "page")
    draw(fig)
    ax = fig.axes[0]
    labels = _labels(ax.get_legend())
    assert labels == ["used", f"free, in {SLOT}-core slots", f"fragment (free mod {SLOT})", "VM migrated in",
                      "VM migrated out"]
    assert _beside(ax)
    assert ax.get_ylabel() == "CPU cores" and ax.get_xlabel().startswith("physical machine")
    ticks = _integer_ticks(ax.xaxis, ax.get_xlim())
    assert set(ticks) <= set(range(state.n_pms))
    assert "→" in ax.get_title() and f"{env.unwrapped.migrations_done}/10 migrations" in ax.get_title()
    # three stacked parts per NUMA node that add up to its capacity; the fragment is free mod 16
    bars = _bars(ax)
    assert len(bars) == 3 * 2 * state.n_pms
    heights = np.array([b.get_height() for b in bars]).reshape(2, 3, state.n_pms)  # NUMA, part, PM
    np.testing.assert_array_equal(heights.sum(axis=1).T, state.snapshot.numa_cpu)
    np.testing.assert_array_equal(heights[:, 2, :].T, state.free_cpu % SLOT)
    column = env_figure(env, "column")
    draw(column)
    assert _labels(column.legends[0])[:3] == labels[:3]  # a column figure: the legend below the bars
    check_files(lambda p: save_env_figure(env, p), tmp_path)


def test_vm_placement_past_max_pms_draws_the_pms_with_free_cores_or_migrations_and_says_so() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from schedgym.envs.vm.render import placement_figure, shown_pms

    env = episode("schedgym/VMReschedule-v0", "vm-slot", preset="small", mnl=10)
    state = env.unwrapped.state
    touched = {m.from_pm for m in state.migrations} | {m.to_pm for m in state.migrations}
    wanted = sorted(set(np.flatnonzero(state.free_cpu.sum(axis=1) > 0).tolist()) | touched)
    assert 0 < len(wanted) < 8
    pms = shown_pms(state, max_pms=8)
    assert len(pms) == 8 and set(wanted) <= set(pms.tolist()) and list(pms) == sorted(pms)
    assert list(shown_pms(state, max_pms=100)) == list(range(state.n_pms))
    fig = placement_figure(state, size="page", max_pms=8)
    FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    assert "8 of 20" in ax.get_xlabel() and len(_bars(ax)) == 3 * 2 * 8
    shown = {int(t.get_text()) for t in ax.get_xticklabels() if t.get_text()}
    assert shown and shown <= set(pms.tolist())  # the ticks name the PMs' own indices
    with pytest.raises(ValueError, match="max_pms"):
        placement_figure(state, max_pms=0)


# -------------------------------------------------------------------------------------------- memory
def test_memory_mapping_picture_has_address_units_slow_panel_legend_and_files(tmp_path: Path) -> None:
    from schedgym.envs.memory.render import (FIGURE_SIZES, env_figure, placement_figure, save_env_figure,
                                             slow_memory_series)

    env = episode("schedgym/MemoryMap-v0", "mem-first-fit", instance="resnet18-b1", capacity=2**21)
    inst, off = env.unwrapped.instance, env.unwrapped.state.offset
    assert 0 < int((off >= 0).sum()) < inst.n_buffers, "some buffers stay in slow memory"
    frame = env.render()
    assert frame.shape == (480, 960, 3) and frame.dtype == np.uint8 and frame.std() > 0
    for size in ("column", "page"):
        assert tuple(env_figure(env, size).get_size_inches()) == pytest.approx(FIGURE_SIZES[size])
    fig = env_figure(env, "page")
    draw(fig)
    ax, slow = fig.axes
    labels = _labels(ax.get_legend())
    assert "fast-memory capacity" in labels and any(lab.startswith("left in slow memory") for lab in labels)
    assert "weights / inputs" in labels and _beside(ax)
    assert ax.get_ylabel() == "address (MiB)" and slow.get_xlabel() == "time (instructions)"
    assert "MiB" in slow.get_ylabel()
    _integer_ticks(slow.xaxis, slow.get_xlim())
    # one rectangle per placed buffer, at its offset (MiB) over its live interval
    bars = _bars(ax)
    placed = np.flatnonzero(off >= 0)
    assert len(bars) == placed.size
    assert sorted(round(b.get_y() * 2**20) for b in bars) == sorted(off[placed].tolist())
    assert sorted(b.get_width() for b in bars) == sorted((inst.upper - inst.lower)[placed].tolist())
    # the slow-memory series equals a brute-force count of live unplaced bytes at every instruction
    t, live = slow_memory_series(inst, off)
    out = off < 0
    for k in range(int(inst.upper.max())):
        want = int(inst.size[out & (inst.lower <= k) & (k < inst.upper)].sum())
        got = int(live[np.searchsorted(t, k, side="right") - 1]) if k >= t[0] else 0
        assert got == want, k
    column = env_figure(env, "column")
    draw(column)
    assert "fast-memory capacity" in _labels(column.legends[0])
    inferred = placement_figure(inst, off)  # no mode given: an instance with a program is a mapping
    assert len(inferred.axes) == 2 and "fast-memory capacity" in _labels(inferred.axes[0].get_legend())
    check_files(lambda p: save_env_figure(env, p, "column"), tmp_path)


def test_memory_allocation_picture_and_bad_input() -> None:
    from schedgym.envs.memory.render import placement_figure

    env = gym.make("schedgym/MemoryAlloc-v0", instance="minimalloc-example", render_mode="rgb_array")
    env.reset(seed=0)
    for action in (4, 2, 0, 1, 3):  # the docstring's solving order (b5, b3, b1, b2, b4)
        env.step(action)
    base = env.unwrapped
    assert (base.state.offset >= 0).all()
    fig = placement_figure(base.instance, base.state.offset, mode="allocation", size="page")
    draw(fig)
    assert len(fig.axes) == 1  # everything placed: no slow-memory panel
    ax = fig.axes[0]
    assert _labels(ax.get_legend()) == ["intermediates", "capacity"] and ax.get_ylabel() == "address (B)"
    _integer_ticks(ax.xaxis, ax.get_xlim())
    assert env.render().shape == (480, 960, 3)
    with pytest.raises(ValueError, match="mode"):
        placement_figure(base.instance, base.state.offset, mode="paging")
    with pytest.raises(ValueError, match="offsets"):
        placement_figure(base.instance, base.state.offset[:2])
