"""schedgym: Gymnasium environments for systems scheduling, GNN-PPO agents, baselines and exact solvers.

The code lives in the project's top-level folders, each mapped into this package by pyproject.toml:
``envs/`` -> :mod:`schedgym.envs`, ``agents/`` -> :mod:`schedgym.agents`, ``train/`` ->
:mod:`schedgym.train`, ``eval/`` -> :mod:`schedgym.eval`, ``configs/`` -> :mod:`schedgym.configs`.
This file (``envs/_root/__init__.py`` in the source tree) is the package root and only says its version.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("schedgym")
except PackageNotFoundError:  # pragma: no cover - running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
