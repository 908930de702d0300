"""SoC task-DAG baselines (being written)."""

from __future__ import annotations

POLICIES: dict = {}
