"""Independent feasibility check of a finished job-shop schedule.

Written from the problem definition only (it shares no code with the simulator): every operation
scheduled exactly once with an integer start time >= 0, job precedence respected, no two operations
overlapping on a machine, the reported ``machine_sequences`` (when given) consistent with the start
times, and the reported makespan equal to the latest completion.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .instance import JobShopInstance


class InfeasibleScheduleError(AssertionError):
    """A schedule that breaks a constraint; the message names the operations involved."""


def _is_whole(value: Any) -> bool:
    """An int, a NumPy integer or a float holding a whole number (not a bool, not a string)."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    return isinstance(value, (float, np.floating)) and bool(np.isfinite(value)) and float(value).is_integer()


def _check_machine_sequences(instance: JobShopInstance, start: np.ndarray, end: np.ndarray,
                             sequences: Any) -> None:
    """``machine_sequences[i]`` lists the operations (``j * n_machines + k``) of machine ``i`` in the
    order it processes them: exactly the machine's operations, each once, and the operations that take
    time in start order, each starting no earlier than the previous one ends. (Zero-length operations
    occupy no machine time, so their place in the sequence is not constrained.)"""
    n, m = instance.shape
    if len(sequences) != m:
        raise InfeasibleScheduleError(f"machine_sequences lists {len(sequences)} machines, expected {m}")
    dur = instance.durations
    for machine, seq in enumerate(sequences):
        ops = []
        for op in seq:
            if not _is_whole(op):
                raise InfeasibleScheduleError(f"machine_sequences[{machine}]: {op!r} is not an operation index")
            ops.append(int(op))
        expected = sorted(j * m + k for j in range(n) for k in range(m) if instance.machines[j, k] == machine)
        if sorted(ops) != expected:
            raise InfeasibleScheduleError(
                f"machine_sequences[{machine}] = {ops} is not the machine's operations {expected}, each once")
        prev = None
        for op in ops:
            j, k = divmod(op, m)
            if dur[j, k] == 0:
                continue
            if prev is not None:
                pj, pk = prev
                if start[j, k] < end[pj, pk]:
                    raise InfeasibleScheduleError(
                        f"machine_sequences[{machine}]: job {j} op {k} (start {start[j, k]}) is sequenced after "
                        f"job {pj} op {pk}, which ends at {end[pj, pk]}")
            prev = (j, k)


def validate_schedule(instance: JobShopInstance, solution: dict[str, Any] | Sequence[Sequence[int]]) -> int:
    """Check a schedule; return its makespan or raise :class:`InfeasibleScheduleError`.

    ``solution`` is ``info["solution"]`` (a dict with ``"start"``, and optionally ``"makespan"``) or
    a ``(n_jobs, n_machines)`` array of start times (operation ``k`` of job ``j`` at ``start[j][k]``).
    """
    start_raw = solution["start"] if isinstance(solution, dict) else solution
    try:
        start_any = np.asarray(start_raw)
    except ValueError:
        raise InfeasibleScheduleError("start times are not a rectangular array") from None
    if start_any.dtype.kind not in "iuf":
        raise InfeasibleScheduleError(f"start times must be integers, got an array of {start_any.dtype}")
    with np.errstate(invalid="ignore"):
        whole = np.all(np.equal(np.mod(start_any.astype(np.float64), 1), 0)) if start_any.size else True
    if not whole:
        raise InfeasibleScheduleError("start times must be integers")
    if start_any.size and np.abs(start_any.astype(np.float64)).max() >= 2.0**62:
        raise InfeasibleScheduleError("start times are out of range")
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
    if isinstance(solution, dict) and solution.get("machine_sequences") is not None:
        _check_machine_sequences(instance, start, end, solution["machine_sequences"])
    makespan = int(end.max())
    reported = solution.get("makespan") if isinstance(solution, dict) else None
    if reported is not None and not _is_whole(reported):
        raise InfeasibleScheduleError(f"reported makespan {reported!r} is not an integer")
    if isinstance(solution, dict) and "makespan" in solution and int(solution["makespan"]) != makespan:
        raise InfeasibleScheduleError(
            f"reported makespan {solution['makespan']} differs from the schedule's {makespan}"
        )
    return makespan
