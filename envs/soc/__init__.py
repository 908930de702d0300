"""Heterogeneous SoC task-DAG scheduling (the DS3 / DeepSoCS domain).

* :mod:`.instance` — applications (task DAGs) and SoCs: dataclasses, the JSON format, the shipped DS3 and
  Topcuoglu data, job mixes;
* :mod:`.generator` — Topcuoglu et al.'s seeded random DAGs with heterogeneous processors;
* :mod:`.simulator` — the event-driven simulator (no Gymnasium);
* :mod:`.env` — ``schedgym/SoCDAG-v0``; :mod:`.validate` — the independent checker; :mod:`.render` — Gantt;
* :mod:`.suite` — evaluation-suite cases, reference values and plots; the baselines are in
  :mod:`schedgym.agents.soc`.
"""

from __future__ import annotations

from ..domain import Domain, EnvEntry, Gallery
from .generator import TopcuogluGenerator
from .instance import (
    APP_NAMES,
    MIXES,
    SOC_NAMES,
    Application,
    SoC,
    SoCFormatError,
    WorkloadError,
    load_app,
    load_soc,
    read_app,
    read_soc,
    resolve_mix,
    write_app,
    write_soc,
)
from .simulator import AppTables, SoCSimulator
from .types import SoCSchedulingView, SoCSolution
from .validate import InfeasibleSoCScheduleError, validate_soc_schedule

DOMAIN = Domain(
    name="soc",
    title="heterogeneous SoC task-DAG scheduling (DS3 applications, streaming jobs, HEFT family)",
    env_ids={
        "schedgym/SoCDAG-v0": EnvEntry(
            "schedgym.envs.soc.env:SoCDAGEnv",
            summary=("map streaming DAG jobs onto a 16-PE big/LITTLE + accelerator SoC: a task or a PE (or wait), "
                     "then the other half"),
        ),
    },
    policies="schedgym.agents.soc",
    suites=("soc-single-jobs", "soc-streaming", "soc-random-dags", "soc-topcuoglu"),
    bench="schedgym.agents.soc.bench:bench_rows",
    references="schedgym.envs.soc.suite:reference",
    docs="docs/soc.md",
    gallery=Gallery(
        "schedgym/SoCDAG-v0", "etf", "schedgym.envs.soc.render:env_figure",
        seed=0, caption="ETF on streaming DS3 jobs on the 16-PE SoC",
    ),
)

__all__ = [
    "APP_NAMES",
    "AppTables",
    "Application",
    "DOMAIN",
    "InfeasibleSoCScheduleError",
    "MIXES",
    "SOC_NAMES",
    "SoC",
    "SoCFormatError",
    "SoCSchedulingView",
    "SoCSimulator",
    "SoCSolution",
    "TopcuogluGenerator",
    "WorkloadError",
    "load_app",
    "load_soc",
    "read_app",
    "read_soc",
    "resolve_mix",
    "validate_soc_schedule",
    "write_app",
    "write_soc",
]
