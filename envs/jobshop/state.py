"""The job-shop simulator: a schedule builder over one instance (pure NumPy, no Gymnasium).

A schedule is built one operation at a time. At each decision the *candidate set* is the set of
jobs whose next operation may be scheduled now; scheduling a job starts its next operation as early
as it can: ``start = max(job ready, machine ready)`` (the operation is appended to its machine).

Schedule builders (the candidate set):

``"nondelay"``
    Let ``t*`` be the earliest time any next operation can start. Candidates are the next operations
    that can start at ``t*``. Builds non-delay schedules (no machine idles while an operation waits).
``"active"``
    Giffler-Thompson: let ``c*`` be the earliest completion time of any next operation and ``m*`` its
    machine (ties: lowest job index). Candidates are the next operations on ``m*`` that can start before
    ``c*``. Builds active schedules; every active schedule (so an optimal one) is reachable.
``"serial"``
    Every job's next operation is a candidate (semi-active schedules in the order chosen). Replaying
    any feasible schedule's operations in order of start time reproduces it or improves it, which is how
    exact solvers are replayed through the environment.

Zero-duration operations (they occur in real instances, e.g. ``orb07``) take no machine time: they
start as soon as their job is ready and neither wait for nor advance their machine.

The simulator is used by the env, the baselines and the solvers alike.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .instance import JobShopInstance

ScheduleBuilder = Literal["nondelay", "active", "serial"]
SCHEDULE_BUILDERS: tuple[str, ...] = ("nondelay", "active", "serial")
_INF = np.iinfo(np.int64).max // 4


class JobShopState:
    """Partial schedule of one instance and its transitions.

    Operation ``(j, k)`` has the global id ``j * n_machines + k``.
    """

    def __init__(self, instance: JobShopInstance, builder: ScheduleBuilder = "nondelay") -> None:
        if builder not in SCHEDULE_BUILDERS:
            raise ValueError(f"unknown schedule builder {builder!r}; choose one of {SCHEDULE_BUILDERS}")
        self.instance = instance
        self.builder = builder
        n, m = instance.shape
        self.n_jobs, self.n_machines = n, m
        self.durations = instance.durations
        self.machines = instance.machines
        # machine of each job's op k, padded with a sentinel column for finished jobs
        self._mach_pad = np.concatenate([instance.machines, np.zeros((n, 1), np.int64)], axis=1)
        self._dur_pad = np.concatenate([instance.durations, np.zeros((n, 1), np.int64)], axis=1)
        self._jobs = np.arange(n)
        self.reset()

    def reset(self) -> None:
        n, m = self.n_jobs, self.n_machines
        self.next_op = np.zeros(n, np.int64)  # index k of each job's next operation (m = done)
        self.job_ready = np.zeros(n, np.int64)  # completion time of each job's last scheduled op
        self.machine_ready = np.zeros(m, np.int64)  # completion time of each machine's last op
        self.machine_last = np.full(m, -1, np.int64)  # global id of each machine's last op
        self.start = np.full((n, m), -1, np.int64)
        self.end = np.full((n, m), -1, np.int64)
        self.machine_sequence: list[list[int]] = [[] for _ in range(m)]
        self.n_scheduled = 0
        self.makespan = 0
        # per-job views of the next operation, kept in step so candidate sets need no fancy indexing
        self._next_machine = self.machines[:, 0].copy()
        self._next_duration = self.durations[:, 0].copy()
        self._ready_or_inf = np.zeros(n, np.int64)  # job_ready, or a sentinel once the job is done
        self.next_op_id = np.arange(n, dtype=np.int64) * m  # global id of each job's next operation
        self._machines_list = self.machines.tolist()
        self._durations_list = self.durations.tolist()
        self._job_ready_list = [0] * n
        self._machine_ready_list = [0] * m
        self._next_list = [0] * n
        self._has_zero = bool((self.durations == 0).any())
        self._candidates = self._compute_candidates()

    # ------------------------------------------------------------------ queries
    @property
    def done(self) -> bool:
        return self.n_scheduled == self.n_jobs * self.n_machines

    def earliest_starts(self) -> np.ndarray:
        """Earliest start of each job's next operation (a large sentinel for finished jobs)."""
        est = np.maximum(self._ready_or_inf, self.machine_ready[self._next_machine])
        if self._has_zero:  # zero-duration operations do not wait for their machine
            est = np.where(self._next_duration == 0, self._ready_or_inf, est)
        return est

    def candidates(self) -> np.ndarray:
        """Jobs whose next operation is schedulable now, ascending job index."""
        return self._candidates

    def _compute_candidates(self) -> np.ndarray:
        if self.n_scheduled == self.n_jobs * self.n_machines:
            return np.empty(0, np.int64)
        est = np.maximum(self._ready_or_inf, self.machine_ready[self._next_machine])
        if self._has_zero:
            est = np.where(self._next_duration == 0, self._ready_or_inf, est)
        if self.builder == "nondelay":
            return np.flatnonzero(est == est.min())
        if self.builder == "active":
            ect = est + self._next_duration
            j_star = int(np.argmin(ect))  # first (lowest job index) on ties
            on_m = self._next_machine == self._next_machine[j_star]
            # the conflict set always holds the operation achieving c* (which matters when it takes 0 time)
            return np.flatnonzero(on_m & ((est < ect[j_star]) | (self._jobs == j_star)))
        return np.flatnonzero(self._ready_or_inf < _INF)

    # ------------------------------------------------------------------ transition
    def schedule(self, job: int, check: bool = True) -> tuple[int, int, int, int]:
        """Schedule ``job``'s next operation as early as it can.

        Returns ``(op_id, start, end, previous op id on that machine or -1)``. Raises ``ValueError``
        when ``job`` is not a candidate (``check=False`` skips that test for callers that already
        checked, e.g. the env against its action mask).
        """
        if check and (not 0 <= job < self.n_jobs or job not in self._candidates):
            raise ValueError(
                f"job {job} is not schedulable now (builder {self.builder!r}); candidates: "
                f"{self._candidates.tolist()}"
            )
        m = self.n_machines
        k = self._next_list[job]
        machine = self._machines_list[job][k]
        duration = self._durations_list[job][k]
        jr, mr = self._job_ready_list[job], self._machine_ready_list[machine]
        start = jr if (jr > mr or duration == 0) else mr
        end = start + duration
        op_id = job * m + k
        prev = int(self.machine_last[machine])
        self.start[job, k] = start
        self.end[job, k] = end
        self._job_ready_list[job] = end
        self.job_ready[job] = end
        if duration > 0:
            self._machine_ready_list[machine] = end
            self.machine_ready[machine] = end
        self.machine_last[machine] = op_id
        self.machine_sequence[machine].append(op_id)
        self._next_list[job] = k + 1
        self.next_op[job] = k + 1
        self.next_op_id[job] = op_id + 1
        if k + 1 < m:
            self._next_machine[job] = self._machines_list[job][k + 1]
            self._next_duration[job] = self._durations_list[job][k + 1]
            self._ready_or_inf[job] = end
        else:
            self._ready_or_inf[job] = _INF
            self._next_duration[job] = 0
        self.n_scheduled += 1
        if end > self.makespan:
            self.makespan = end
        self._candidates = self._compute_candidates()
        return op_id, start, end, prev
