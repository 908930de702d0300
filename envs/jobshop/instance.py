"""The job-shop instance dataclass and its errors.

Where the rest lives: :mod:`.formats` (the standard and Taillard file formats), :mod:`.taillard`
(Taillard's published generator, ta01-ta80), :mod:`.generator` (seeded random instances) and
:mod:`.catalog` (instances by name, the one name resolver, best-known bounds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


#: the largest processing time of one operation. Time values are exact integers everywhere (int64 in
#: the simulators, float64-exact sums in features and bounds); larger values are refused when an
#: instance is built or parsed, never left to overflow later.
MAX_DURATION = 10**9
#: the largest sum of all processing times of an instance (exact in float64, far below int64 overflow)
MAX_TOTAL_DURATION = 2**53


class InstanceFormatError(ValueError):
    """A malformed instance file; the message names the file (or source) and the line."""


class UnknownInstanceError(KeyError):
    """No instance of that name; the message lists close names."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


def _durations_array(durations: Any, name: str) -> np.ndarray:
    """``durations`` as int64, refusing non-integer values and values that do not fit 64 bits."""
    raw = np.asarray(durations)
    if raw.dtype.kind == "f":
        bad = ~np.isfinite(raw) | (raw != np.round(raw)) if raw.size else np.zeros(0, bool)
        if bad.any():
            j, k = np.argwhere(bad)[0] if raw.ndim == 2 else (0, 0)
            raise ValueError(f"instance {name!r}: duration {float(raw[bad][0])!r} (job {j} op {k}) is not an integer")
        if raw.size and np.abs(raw).max() > MAX_DURATION:
            raise ValueError(f"instance {name!r}: a duration exceeds the limit MAX_DURATION = {MAX_DURATION:,}")
    elif raw.dtype.kind not in "iub":
        try:
            raw = np.asarray(durations, dtype=np.int64)
        except (OverflowError, TypeError, ValueError):
            raise ValueError(f"instance {name!r}: durations must be integers in 0..{MAX_DURATION:,}") from None
    elif raw.dtype.kind == "u" and raw.size and raw.max() > MAX_DURATION:
        raise ValueError(f"instance {name!r}: a duration exceeds the limit MAX_DURATION = {MAX_DURATION:,}")
    return raw.astype(np.int64)


@dataclass(frozen=True, eq=False)
class JobShopInstance:
    """A job-shop instance: job ``j`` visits ``machines[j, k]`` for ``durations[j, k]`` time units.

    Every job visits every machine exactly once (the classic JSSP). Arrays are int64 of shape
    ``(n_jobs, n_machines)``; machines are numbered from 0. Durations are integers in
    ``0..MAX_DURATION`` (10**9) summing to at most ``MAX_TOTAL_DURATION`` (2**53); anything else is a
    ``ValueError`` naming the instance, the job and the operation.
    """

    machines: np.ndarray
    durations: np.ndarray
    name: str = "unnamed"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        m = np.asarray(self.machines, dtype=np.int64)
        d = _durations_array(self.durations, self.name)
        object.__setattr__(self, "machines", m)
        object.__setattr__(self, "durations", d)
        if m.ndim != 2 or m.shape != d.shape or m.size == 0:
            raise ValueError(
                f"instance {self.name!r}: machines {m.shape} and durations {d.shape} must be equal, "
                "non-empty (n_jobs, n_machines) arrays"
            )
        n_m = m.shape[1]
        expected = np.arange(n_m)
        for j in range(m.shape[0]):
            if not np.array_equal(np.sort(m[j]), expected):
                raise ValueError(
                    f"instance {self.name!r}: job {j} must visit each machine 0..{n_m - 1} exactly once, "
                    f"got {m[j].tolist()}"
                )
        if (d < 0).any():
            j, k = np.argwhere(d < 0)[0]
            raise ValueError(f"instance {self.name!r}: negative duration {d[j, k]} at job {j} op {k}")
        if (d > MAX_DURATION).any():
            j, k = np.argwhere(d > MAX_DURATION)[0]
            raise ValueError(f"instance {self.name!r}: duration {d[j, k]} at job {j} op {k} exceeds the limit "
                             f"MAX_DURATION = {MAX_DURATION:,}")
        total = sum(int(x) for x in d.sum(axis=1))  # per-row sums fit int64 under MAX_DURATION; the total in Python
        if total > MAX_TOTAL_DURATION:
            raise ValueError(f"instance {self.name!r}: total processing time {total:,} exceeds the limit "
                             f"MAX_TOTAL_DURATION = 2**53")
        m.setflags(write=False)
        d.setflags(write=False)

    @property
    def n_jobs(self) -> int:
        return int(self.machines.shape[0])

    @property
    def n_machines(self) -> int:
        return int(self.machines.shape[1])

    @property
    def n_operations(self) -> int:
        return int(self.machines.size)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_jobs, self.n_machines)

    def lower_bound(self) -> int:
        """Trivial makespan lower bound: the longest job or the most loaded machine."""
        job_len = int(self.durations.sum(axis=1).max())
        load = np.zeros(self.n_machines, np.int64)
        np.add.at(load, self.machines.ravel(), self.durations.ravel())
        return max(job_len, int(load.max()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JobShopInstance):
            return NotImplemented
        return np.array_equal(self.machines, other.machines) and np.array_equal(self.durations, other.durations)

    def __hash__(self) -> int:
        return hash((self.machines.tobytes(), self.durations.tobytes()))

    def __repr__(self) -> str:
        return f"JobShopInstance(name={self.name!r}, n_jobs={self.n_jobs}, n_machines={self.n_machines})"


# --------------------------------------------------------------------------- parsing / writing
