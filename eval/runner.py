"""Run policies over suites: one validated episode per (suite, case, policy, seed), rows streamed to CSV.

Rows are appended to ``results.csv`` as soon as each episode ends, so an interrupted run loses
nothing; running again with the same output folder skips the rows already there (resume). A policy
that fails on a case (an illegal action, a solver error, a validator rejection) gets a row with its
``error`` and the run goes on.

Each row records the policy's registry kind (``policy_kind``: baseline, exact, learned, ...) and its
provenance (``p.*`` columns: versions, git commit, CPU, date; :mod:`schedgym.eval.provenance`).

Each row ends with a ``row_check`` column: a hash of the row's other values as written. On resume a
row whose check does not match (a row cut by a kill or a full disk) is dropped and its episode run
again; the file is then rewritten (temp file + rename) with the intact rows only.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import gymnasium as gym

from ..agents.base import run_episode
from ..agents.registry import make_policy, resolve
from ..agents.spec import check_env_kwargs
from .provenance import provenance
from .suites import Case, Suite

BASE_COLUMNS = [
    "suite", "group", "case", "policy", "seed", "settings", "objective_name", "sense", "objective", "reference",
    "reference_source", "gap", "validated", "wall_time_s", "policy_time_s", "steps", "error",
]


@dataclass(frozen=True)
class Job:
    suite: Suite
    case: Case
    policy: str
    seed: int

    @property
    def settings(self) -> str:
        """Short hash of the env id and kwargs of this case: resume never reuses rows made otherwise."""
        spec = {"env_id": self.suite.env_id, "env_kwargs": {**self.suite.env_kwargs, **self.case.env_kwargs}}
        return hashlib.sha1(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:10]

    @property
    def key(self) -> tuple[str, str, str, str, str, str]:
        return (self.suite.name, self.case.group, self.case.name, self.policy, str(self.seed), self.settings)


def plan(suites: Iterable[Suite], policies: list[str] | None, seeds: list[int] | None,
         cases: list[str] | None = None) -> list[Job]:
    """Every (suite, case, policy, seed) to run; ``policies``/``seeds``/``cases`` override the suites'."""
    jobs = []
    for suite in suites:
        chosen = suite.cases
        if cases:
            chosen = [c for c in suite.cases if c.name in cases]
            if not chosen:
                raise ValueError(f"suite {suite.name!r} has none of the cases {cases}")
        for case in chosen:
            for pol in policies or suite.policies:
                for seed in seeds if seeds is not None else suite.seeds:
                    jobs.append(Job(suite, case, pol, int(seed)))
    return jobs


CHECK_COLUMN = "row_check"


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def row_check(values: list[str]) -> str:
    """The ``row_check`` of a row: a short hash of its other cells, in column order, as written."""
    return hashlib.sha1("\x1f".join(values).encode()).hexdigest()[:12]


def read_done(path: Path) -> tuple[set[tuple[str, ...]], list[dict[str, str]]]:
    """Keys and intact rows already in a results CSV (for resume); rows with an error are redone, and so
    are rows whose ``row_check`` does not match (cut mid-row) or that lack cells (older files)."""
    if not path.is_file():
        return set(), []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        header = [c for c in (reader.fieldnames or []) if c != CHECK_COLUMN]
        checked = CHECK_COLUMN in (reader.fieldnames or [])
        rows = []
        for r in reader:
            if None in r or any(v is None for v in r.values()):  # too many or too few cells
                continue
            if checked and r.get(CHECK_COLUMN) != row_check([r[c] for c in header]):
                continue
            if not all(k in r for k in BASE_COLUMNS):
                continue
            r.pop(CHECK_COLUMN, None)
            rows.append(r)
    done = {(r["suite"], r["group"], r["case"], r["policy"], r["seed"], r.get("settings", "")) for r in rows
            if not r.get("error")}
    return done, rows


def policy_kind(spec: str) -> str:
    """The registry's kind of a policy spec (``baseline``, ``exact``, ``learned``, ...); ``""`` if unknown."""
    try:
        entry = resolve(spec)[1]
    except Exception:  # noqa: BLE001 - a spec the registry cannot parse has no kind
        return ""
    return entry.kind if entry is not None else ""


def build(job: Job, render_mode: str | None = None) -> tuple[Any, gym.Env, dict[str, Any]]:
    """The policy and the env of ``job`` (and the env kwargs used), as :func:`run_job` builds them."""
    suite, case = job.suite, job.case
    policy = make_policy(job.policy, env_id=suite.env_id)
    kwargs = check_env_kwargs(job.policy, policy.env_kwargs, {**suite.env_kwargs, **case.env_kwargs},
                              given_by=f"suite {suite.name!r} (case {case.name!r}) or the env_kwargs override")
    extra = {"render_mode": render_mode} if render_mode is not None else {}
    return policy, gym.make(suite.env_id, **kwargs, **extra), kwargs


def run_job(job: Job) -> dict[str, Any]:
    """One episode of ``job``; returns its CSV row (with ``error`` set on failure). The row records the
    policy's kind and the provenance columns (``p.*``, :mod:`schedgym.eval.provenance`)."""
    suite, case = job.suite, job.case
    row: dict[str, Any] = {
        "suite": suite.name, "group": case.group, "case": case.name, "policy": job.policy, "seed": job.seed,
        "settings": job.settings, "error": "", "policy_kind": policy_kind(job.policy), **provenance(),
    }
    t0 = time.perf_counter()
    try:
        policy, env, kwargs = build(job)
        objective = env.unwrapped.objective
        row.update(objective_name=objective.name, sense=objective.sense)
        result = run_episode(env, policy, seed=job.seed, validate=True)
        env.close()
        row.update(
            objective=result.objective,
            validated=result.validated_objective is not None
            and math.isclose(result.validated_objective, result.objective, rel_tol=1e-9, abs_tol=1e-9),
            wall_time_s=round(result.wall_time_s, 6),
            policy_time_s=round(result.policy_time_s, 6),
            steps=result.steps,
        )
        if not row["validated"]:
            row["error"] = (f"ValidationMismatch: the validator's {objective.name} {result.validated_objective} "
                            f"differs from the reported {result.objective}")
        for k, v in result.metrics.items():
            row[f"m.{k}"] = v
        for k, v in result.extra.items():
            row[f"x.{k}"] = v
        ref = suite.reference({"name": case.name, "group": case.group, "env_kwargs": kwargs}) if suite.reference else None
        if ref is not None:
            row["reference"] = ref["value"]
            row["reference_source"] = ref.get("source", "")
            row["gap"] = objective.gap(result.objective, ref["value"])
    except Exception as exc:  # noqa: BLE001 - recorded in the row, the run goes on
        row["error"] = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500]
        row["wall_time_s"] = round(time.perf_counter() - t0, 6)
        row["traceback"] = traceback.format_exc(limit=4).replace("\n", " | ")[:2000]
    return row


class ResultsWriter:
    """Appends rows to a CSV whose header grows with new metric columns (rewritten when it does)."""

    def __init__(self, path: Path, existing: list[dict[str, str]]) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = [r for r in existing if not r.get("error")]
        self.columns = list(BASE_COLUMNS)
        for r in self.rows:
            self._extend(r)
        self._rewrite()

    def _extend(self, row: dict[str, Any]) -> bool:
        new = [k for k in row if k not in self.columns]
        self.columns.extend(new)
        return bool(new)

    def _cells(self, row: dict[str, Any]) -> list[str]:
        values = [_cell(row.get(c)) for c in self.columns]
        return values + [row_check(values)]

    def _rewrite(self) -> None:
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow([*self.columns, CHECK_COLUMN])
            w.writerows(self._cells(r) for r in self.rows)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if self._extend(row):
            self._rewrite()
            return
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow(self._cells(row))
