"""Helpers shared by the figure tests (tests/test_figures.py, tests/test_figures_soc_vm_memory.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import pytest

import schedgym.envs  # noqa: F401  registers the ids
from schedgym.agents.base import run_episode
from schedgym.agents.registry import make_policy

#: the magic bytes each file format starts with
HEADERS = {".svg": (b"<?xml", b"<svg"), ".pdf": (b"%PDF",), ".png": (b"\x89PNG",)}


def episode(env_id: str, policy: str, **kwargs: Any) -> gym.Env:
    """The env after one seeded episode of ``policy`` (render mode ``rgb_array``)."""
    env = gym.make(env_id, render_mode="rgb_array", **kwargs)
    run_episode(env, make_policy(policy, env_id=env_id), seed=0)
    return env


def check_files(save: Callable[[Path], Any], tmp_path: Path) -> None:
    """Each format is written, non-empty, with its magic bytes; the SVG parses as XML; a GIF is refused."""
    for suffix, heads in HEADERS.items():
        path = Path(save(tmp_path / f"fig{suffix}"))
        data = path.read_bytes()
        assert len(data) > 1000 and any(data.startswith(h) for h in heads), (suffix, data[:20])
        if suffix == ".svg":
            assert ET.fromstring(data).tag.endswith("svg")
    with pytest.raises(ValueError, match="svg"):
        save(tmp_path / "fig.gif")


def draw(fig: Any) -> None:
    """Lay the figure out (ticks and legends exist only after a draw)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
