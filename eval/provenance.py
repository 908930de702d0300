"""Provenance of results: which code and which machine produced a row.

Every row of ``results.csv`` carries the columns of :data:`PROVENANCE_COLUMNS` (prefix ``p.``): the
package version, the git commit of the source tree when it is a git checkout (``+dirty`` when it has
uncommitted changes), the Python / torch / ortools / gymnasium versions, the CPU model and the date
(UTC, ISO 8601) at which the row was made. Versions are read from the installed distributions'
metadata (nothing heavy is imported); a library that is not installed reads ``not installed``.

The leaderboard's header states them (:func:`provenance_summary`); rows made by different versions
(a resumed run after an upgrade) are listed with their counts.
"""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

#: the ``p.`` columns of every results row, in order, with their label in the leaderboard's header
PROVENANCE_COLUMNS: dict[str, str] = {
    "p.schedgym": "schedgym",
    "p.git_commit": "git commit",
    "p.python": "Python",
    "p.torch": "torch",
    "p.ortools": "OR-Tools",
    "p.gymnasium": "Gymnasium",
    "p.cpu": "CPU",
    "p.date": "date (UTC)",
}

NOT_INSTALLED = "not installed"


def package_version(dist: str) -> str:
    """The installed version of distribution ``dist``, or ``"not installed"``."""
    try:
        return version(dist)
    except PackageNotFoundError:
        return NOT_INSTALLED


def git_commit(path: Path | None = None) -> str:
    """The commit of the git checkout holding ``path`` (default: this package's source), with
    ``+dirty`` when tracked files differ from it; ``""`` when it is not a checkout or git is missing."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=20)
        if head.returncode != 0:
            return ""
        commit = head.stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=60)
        return commit + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what :mod:`platform` says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")) and ":" in line:
                name = line.split(":", 1)[1].strip()
                if name:
                    return " ".join(name.split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@lru_cache(maxsize=1)
def _static() -> dict[str, str]:
    import schedgym

    return {
        "p.schedgym": str(schedgym.__version__),
        "p.git_commit": git_commit(),
        "p.python": platform.python_version(),
        "p.torch": package_version("torch"),
        "p.ortools": package_version("ortools"),
        "p.gymnasium": package_version("gymnasium"),
        "p.cpu": cpu_model(),
    }


def provenance() -> dict[str, str]:
    """The ``p.`` columns for a row made now (everything but the date is computed once per process)."""
    return {**_static(), "p.date": utc_now()}


def _text(v: object) -> str:
    return "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)


def provenance_summary(df: pd.DataFrame) -> list[str]:
    """Lines for the leaderboard's header: each provenance field with its value(s) over the rows
    (several values are listed with their row counts, rows made before provenance was recorded last as
    ``unrecorded``; dates as the first and last)."""
    if df.empty:
        return []
    if "p.schedgym" in df.columns:
        recorded = df["p.schedgym"].map(_text) != ""
    else:
        recorded = pd.Series(False, index=df.index)
    lines = []
    for col, what in PROVENANCE_COLUMNS.items():
        cells = df[col].map(_text) if col in df.columns else pd.Series("", index=df.index)
        empty = "not a git checkout" if col == "p.git_commit" else "unrecorded"
        cells = cells.where(cells != "", empty).where(recorded, "unrecorded")
        values = {str(k): int(v) for k, v in cells.value_counts(sort=False).items()}
        if "unrecorded" in values:
            values["unrecorded"] = values.pop("unrecorded")  # last
        if col == "p.date":
            dated = sorted(k for k in values if k != "unrecorded")
            text = (f"{dated[0]} to {dated[-1]}" if len(dated) > 1 else dated[0]) if dated else "unrecorded"
            if dated and "unrecorded" in values:
                text += f" ({values['unrecorded']} rows unrecorded)"
        elif len(values) == 1:
            text = next(iter(values))
        else:
            text = ", ".join(f"{k} ({n} rows)" for k, n in values.items())
        lines.append(f"{what}: {text}")
    return lines
