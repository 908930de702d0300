"""The job-shop instance dataclass and its errors.

Where the rest lives: :mod:`.formats` (the standard and Taillard file formats), :mod:`.taillard`
(Taillard's published generator, ta01-ta80), :mod:`.generator` (seeded random instances) and
:mod:`.catalog` (instances by name, the one name resolver, best-known bounds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


class InstanceFormatError(ValueError):
    """A malformed instance file; the message names the file (or source) and the line."""


class UnknownInstanceError(KeyError):
    """No instance of that name; the message lists close names."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


@dataclass(frozen=True, eq=False)
class JobShopInstance:
    """A job-shop instance: job ``j`` visits ``machines[j, k]`` for ``durations[j, k]`` time units.

    Every job visits every machine exactly once (the classic JSSP). Arrays are int64 of shape
    ``(n_jobs, n_machines)``; machines are numbered from 0.
    """

    machines: np.ndarray
    durations: np.ndarray
    name: str = "unnamed"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        m = np.asarray(self.machines, dtype=np.int64)
        d = np.asarray(self.durations, dtype=np.int64)
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
