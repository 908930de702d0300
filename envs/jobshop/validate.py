"""Independent feasibility check of a finished job-shop schedule.

Written from the problem definition only (it shares no code with the simulator): every operation
scheduled exactly once with a start time >= 0, job precedence respected, no two operations
overlapping on a machine, and the reported makespan equal to the latest completion.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .instance import JobShopInstance


class InfeasibleScheduleError(AssertionError):
    """A schedule that breaks a constraint; the message names the operations involved."""


def validate_schedule(instance: JobShopInstance, solution: dict[str, Any] | Sequence[Sequence[int]]) -> int:
    """Check a schedule; return its makespan or raise :class:`InfeasibleScheduleError`.

    ``solution`` is ``info["solution"]`` (a dict with ``"start"``, and optionally ``"makespan"``) or
    a ``(n_jobs, n_machines)`` array of start times (operation ``k`` of job ``j`` at ``start[j][k]``).
    """
    start_raw = solution["start"] if isinstance(solution, dict) else solution
    start_any = np.asarray(start_raw)
    if start_any.size and not np.all(np.equal(np.mod(start_any.astype(np.float64), 1), 0)):
        raise InfeasibleScheduleError("start times must be integers")
    start = start_any.astype(np.int64)
    n, m = instance.shape
    if start.shape != (n, m):
        raise InfeasibleScheduleError(f"start times have shape {start.shape}, expected {(n, m)}")
    missing = np.argwhere(start < 0)
    if missing.size:
        j, k = missing[0]
        raise InfeasibleScheduleError(
            f"{len(missing)} operation(s) not scheduled, first: job {j} operation {k}"
        )
    dur = instance.durations
    end = start + dur
    for j in range(n):
        for k in range(1, m):
            if start[j, k] < end[j, k - 1]:
                raise InfeasibleScheduleError(
                    f"precedence: job {j} op {k} starts at {start[j, k]} before op {k - 1} ends at {end[j, k - 1]}"
                )
    for machine in range(m):
        ops = [(int(start[j, k]), int(end[j, k]), j, k) for j in range(n) for k in range(m)
               if instance.machines[j, k] == machine]
        if len(ops) != n:
            raise InfeasibleScheduleError(f"machine {machine} has {len(ops)} operations, expected {n}")
        # zero-length operations occupy no machine time; every positive-length pair must be disjoint
        busy = sorted(op for op in ops if op[1] > op[0])
        for (s1, e1, j1, k1), (s2, e2, j2, k2) in zip(busy, busy[1:]):
            if s2 < e1:
                raise InfeasibleScheduleError(
                    f"machine {machine}: job {j1} op {k1} [{s1},{e1}) overlaps job {j2} op {k2} [{s2},{e2})"
                )
    makespan = int(end.max())
    if isinstance(solution, dict) and "makespan" in solution and int(solution["makespan"]) != makespan:
        raise InfeasibleScheduleError(
            f"reported makespan {solution['makespan']} differs from the schedule's {makespan}"
        )
    return makespan
