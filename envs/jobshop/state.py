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

from bisect import insort
from operator import add
from typing import Literal

import numpy as np

from .instance import JobShopInstance

ScheduleBuilder = Literal["nondelay", "active", "serial"]
SCHEDULE_BUILDERS: tuple[str, ...] = ("nondelay", "active", "serial")
_INF = np.iinfo(np.int64).max // 4


def _argmins(values: list[int]) -> list[int]:
    """Indices of the minimum of ``values``, ascending: C-level scans (``min``, ``count``, ``index``), so
    the Python work grows with the number of ties, not with the length of the list."""
    t = min(values)
    return _ties(values, t, values.index(t), values.count(t))


def _ties(values: list[int], t: int, i: int, count: int) -> list[int]:
    """The ``count`` indices of ``t`` in ``values``, ascending, the first being ``i``."""
    out = [i]
    for _ in range(count - 1):
        i = values.index(t, i + 1)
        out.append(i)
    return out


class JobShopState:
    """Partial schedule of one instance and its transitions.

    Operation ``(j, k)`` has the global id ``j * n_machines + k``.

    The candidate set is maintained incrementally: each job's earliest start (``est``) lives in a
    Python list, and scheduling an operation updates only the job that moved and the jobs waiting for
    the same machine, so a transition costs a few list operations plus one C-level scan of ``n_jobs``
    values (no NumPy call on the hot path besides scalar writes to the public arrays). Under the non-delay
    builder the scan is skipped while jobs of the last candidate set still start at its time (earliest
    starts never decrease, so those jobs are then the whole new set).
    :meth:`_candidates_reference` recomputes the set from scratch (the definition; tests compare both).
    """

    #: what depends on the instance and builder alone (set once; never mutated afterwards)
    _STATIC = ("instance", "builder", "_nondelay", "n_jobs", "n_machines", "durations", "machines", "_jobs",
               "_machines_list", "_durations_list", "_ops", "_op_base", "_n_ops", "_has_zero", "_first_machines",
               "_first_durations", "_first_waiting")
    #: what :meth:`reset` rebuilds for each episode
    _EPISODE = ("start", "_start_mv", "machine_sequence", "n_scheduled", "makespan", "_job_ready_list",
                "_machine_ready_list", "_machine_last_list", "_next_list", "_next_machine_list",
                "_next_duration_list", "_est", "_waiting", "_unfinished", "_cand_list", "_cand_array", "_cand_time")
    # slots: the transition reads some twenty attributes per call, and slot reads stay fast however the
    # state was made (an instance ``__dict__`` that was materialized, or holds more than CPython's 30
    # shared keys, makes every attribute read slower); ``__dict__`` keeps extra attributes possible
    __slots__ = _STATIC + _EPISODE + ("__dict__",)

    def __init__(self, instance: JobShopInstance, builder: ScheduleBuilder = "nondelay") -> None:
        if builder not in SCHEDULE_BUILDERS:
            raise ValueError(f"unknown schedule builder {builder!r}; choose one of {SCHEDULE_BUILDERS}")
        self.instance = instance
        self.builder = builder
        self._nondelay = builder == "nondelay"
        n, m = instance.shape
        self.n_jobs, self.n_machines = n, m
        self.durations = instance.durations
        self.machines = instance.machines
        self._jobs = np.arange(n)
        self._machines_list = self.machines.tolist()
        self._durations_list = self.durations.tolist()
        # (machine, duration) of each operation, per job, and each job's first global op id
        self._ops = [list(zip(ms, ds)) for ms, ds in zip(self._machines_list, self._durations_list)]
        self._op_base = [j * m for j in range(n)]
        self._n_ops = n * m
        self._has_zero = bool((self.durations == 0).any())
        # the empty schedule's per-job / per-machine values, copied by reset()
        self._first_machines = [row[0] for row in self._machines_list]
        self._first_durations = [row[0] for row in self._durations_list]
        self._first_waiting: list[list[int]] = [[] for _ in range(m)]
        for j, mach in enumerate(self._first_machines):
            self._first_waiting[mach].append(j)
        self.reset()

    def reset(self) -> None:
        n, m = self.n_jobs, self.n_machines
        self.start = np.full((n, m), -1, np.int64)  # start time of each operation (-1: not scheduled)
        self._start_mv = memoryview(self.start).cast("B").cast("q")  # flat, indexed by op id (cheap writes)
        self.machine_sequence: list[list[int]] = [[] for _ in range(m)]
        self.n_scheduled = 0
        self.makespan = 0
        # the hot values live in Python lists (list indexing is far cheaper than NumPy scalar access);
        # the public arrays below (next_op, job_ready, ...) are built from them when read
        self._job_ready_list = [0] * n
        self._machine_ready_list = [0] * m
        self._machine_last_list = [-1] * m
        self._next_list = [0] * n
        self._next_machine_list = self._first_machines.copy()  # -1 once the job is done
        self._next_duration_list = self._first_durations.copy()  # 0 once the job is done
        # earliest start of each job's next operation (_INF once done) and the jobs whose next
        # operation needs each machine (ascending job index)
        self._est = [0] * n
        self._waiting: list[list[int]] = [w.copy() for w in self._first_waiting]
        self._unfinished = list(range(n))
        self._cand_list: list[int] = []
        self._cand_array: np.ndarray | None = None
        self._cand_time = 0  # the earliest start of the non-delay candidate set (the time they all start at)
        self._update_candidates()

    def fresh(self) -> "JobShopState":
        """A new state of the same instance and builder at the empty schedule.

        The instance-derived tables (read-only: nothing mutates them after ``__init__``) are shared with
        ``self``; every per-episode attribute is rebuilt by :meth:`reset`, so the two states are
        independent. Cheaper than ``JobShopState(instance, builder)``, which rebuilds the tables."""
        new = object.__new__(JobShopState)
        for name in self._STATIC:
            setattr(new, name, getattr(self, name))
        new.reset()
        return new

    def __getstate__(self) -> dict:
        state = {name: getattr(self, name) for name in self._STATIC + self._EPISODE if name != "_start_mv"}
        state.update(self.__dict__)  # a memoryview does not pickle: _start_mv is rebuilt below
        return state

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self._start_mv = memoryview(self.start).cast("B").cast("q")
        if "_cand_time" not in state:  # pickled before the non-delay set kept its time
            self._cand_time = min(self._est, default=0)

    # ------------------------------------------------------------------ queries
    # each of these builds a fresh array from the state (reading them costs O(size); the transition
    # itself never touches them)
    @property
    def next_op(self) -> np.ndarray:
        """Index ``k`` of each job's next operation (``n_machines`` once the job is done)."""
        return np.array(self._next_list, np.int64)

    @property
    def next_op_id(self) -> np.ndarray:
        """Global id of each job's next operation (``j * n_machines + next_op[j]``)."""
        m = self.n_machines
        return np.array([j * m + k for j, k in enumerate(self._next_list)], np.int64)

    @property
    def job_ready(self) -> np.ndarray:
        """Completion time of each job's last scheduled operation (0 before its first)."""
        return np.array(self._job_ready_list, np.int64)

    @property
    def machine_ready(self) -> np.ndarray:
        """Completion time of each machine's last operation of positive duration (0 before any)."""
        return np.array(self._machine_ready_list, np.int64)

    @property
    def machine_last(self) -> np.ndarray:
        """Global id of each machine's last scheduled operation (-1 before any)."""
        return np.array(self._machine_last_list, np.int64)

    @property
    def end(self) -> np.ndarray:
        """End time of each operation (-1: not scheduled)."""
        return np.where(self.start >= 0, self.start + self.durations, -1)

    @property
    def done(self) -> bool:
        return self.n_scheduled == self._n_ops

    def earliest_starts(self) -> np.ndarray:
        """Earliest start of each job's next operation (a large sentinel for finished jobs)."""
        return np.array(self._est, np.int64)

    def candidates(self) -> np.ndarray:
        """Jobs whose next operation is schedulable now, ascending job index."""
        if self._cand_array is None:
            self._cand_array = np.array(self._cand_list, np.int64)
        return self._cand_array

    def candidate_list(self) -> list[int]:
        """:meth:`candidates` as a Python list (no array built; do not modify it)."""
        return self._cand_list

    def _update_candidates(self) -> None:
        self._cand_array = None
        if self.n_scheduled == self._n_ops:
            self._cand_list = []
            return
        est = self._est
        if self.builder == "nondelay":
            self._cand_list = _argmins(est)
            self._cand_time = est[self._cand_list[0]]
        elif self.builder == "active":
            ect = list(map(add, est, self._next_duration_list))
            best = min(ect)
            j_star = ect.index(best)  # first (lowest job index) on ties
            # the conflict set always holds the operation achieving c* (which matters when it takes 0 time)
            cands = self._cand_list = []  # (a loop: a list comprehension makes a function object per call)
            for j in self._waiting[self._next_machine_list[j_star]]:
                if est[j] < best or j == j_star:
                    cands.append(j)
        else:
            self._cand_list = self._unfinished

    def _candidates_reference(self) -> np.ndarray:
        """The candidate set recomputed from the public arrays alone (the definition, for tests)."""
        if self.done:
            return np.empty(0, np.int64)
        m = self.n_machines
        alive = self.next_op < m
        k = np.minimum(self.next_op, m - 1)
        nxt_machine = self.machines[self._jobs, k]
        nxt_dur = np.where(alive, self.durations[self._jobs, k], 0)
        ready = np.where(alive, self.job_ready, _INF)
        est = np.maximum(ready, self.machine_ready[nxt_machine])
        est = np.where(nxt_dur == 0, ready, est)  # zero-duration operations do not wait for their machine
        if self.builder == "nondelay":
            return np.flatnonzero(est == est.min())
        if self.builder == "active":
            ect = est + nxt_dur
            j_star = int(np.argmin(ect))
            on_m = alive & (nxt_machine == nxt_machine[j_star])
            return np.flatnonzero(on_m & ((est < ect[j_star]) | (self._jobs == j_star)))
        return np.flatnonzero(alive)

    # ------------------------------------------------------------------ transition
    def schedule(self, job: int, check: bool = True) -> tuple[int, int, int, int]:
        """Schedule ``job``'s next operation as early as it can.

        Returns ``(op_id, start, end, previous op id on that machine or -1)``. Raises ``ValueError``
        when ``job`` is not a candidate (``check=False`` skips that test for callers that already
        checked, e.g. the env against its action mask).
        """
        if check and (not 0 <= job < self.n_jobs or job not in self._cand_list):
            raise ValueError(
                f"job {job} is not schedulable now (builder {self.builder!r}); candidates: "
                f"{list(self._cand_list)}"
            )
        nxt_list = self._next_list
        k = nxt_list[job]
        ops = self._ops[job]
        machine, duration = ops[k]
        jr = self._job_ready_list[job]
        mready = self._machine_ready_list
        mr = mready[machine]
        start = jr if (jr > mr or duration == 0) else mr
        end = start + duration
        op_id = self._op_base[job] + k
        mlast = self._machine_last_list
        prev = mlast[machine]
        mlast[machine] = op_id
        self._start_mv[op_id] = start
        self._job_ready_list[job] = end
        est = self._est
        waiting = self._waiting
        w = waiting[machine]
        w.remove(job)
        if duration > 0:
            mready[machine] = end
            # the jobs waiting for this machine cannot start before it is free (zero-duration
            # operations do not wait for their machine)
            if self._has_zero:
                dur = self._next_duration_list
                for i in w:
                    if dur[i] > 0 and est[i] < end:
                        est[i] = end
            else:
                for i in w:
                    if est[i] < end:
                        est[i] = end
        self.machine_sequence[machine].append(op_id)
        k += 1
        nxt_list[job] = k
        if k < self.n_machines:
            nxt, d1 = ops[k]
            self._next_machine_list[job] = nxt
            self._next_duration_list[job] = d1
            mr1 = mready[nxt]
            est[job] = mr1 if (mr1 > end and d1 > 0) else end
            wl = waiting[nxt]
            if not wl or wl[-1] < job:
                wl.append(job)
            else:
                insort(wl, job)
        else:
            self._next_machine_list[job] = -1
            self._next_duration_list[job] = 0
            est[job] = _INF
            unfinished = self._unfinished.copy()  # a new list: the serial builder hands the old one out
            unfinished.remove(job)
            self._unfinished = unfinished
        n_done = self.n_scheduled = self.n_scheduled + 1
        if end > self.makespan:
            self.makespan = end
        # the candidate set (inlined for the default builder: one minimum, most often unique)
        self._cand_array = None
        if n_done == self._n_ops:
            self._cand_list = []
        elif self._nondelay:
            # earliest starts never decrease, so the jobs of the last set that still start at its time t* are
            # the whole new set when there are any (every other job started later before and still does)
            old = self._cand_list
            if len(old) > 1:
                t = self._cand_time
                new = []
                for j in old:  # (a loop, not a list comprehension: CPython 3.11 makes a function object for those)
                    if est[j] == t:
                        new.append(j)
                if new:
                    self._cand_list = new
                    return op_id, start, end, prev
            t = self._cand_time = min(est)
            i = est.index(t)
            c = est.count(t)
            self._cand_list = [i] if c == 1 else [i, est.index(t, i + 1)] if c == 2 else _ties(est, t, i, c)
        else:
            self._update_candidates()
        return op_id, start, end, prev
