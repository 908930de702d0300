"""Independent checker of a finished SoC schedule (``info["solution"]`` of ``schedgym/SoCDAG-v0``).

It uses only the application and SoC definitions (not the simulator's tables) and checks:

* every task of every job is scheduled exactly once (one record per task, with a PE and finite times);
* capability: the PE's cluster supports the task's type;
* durations: ``end - start`` equals the expected time on that cluster times the task's noise factor,
  and the factors are the episode's own (when the env passes them);
* nothing starts before its job arrives;
* precedence with communication: ``start(v) >= end(u) + floor(volume / bandwidth)`` between different
  PEs, ``>= end(u)`` on the same PE;
* one task at a time per PE (intervals on a PE do not overlap; a zero-length task may touch an interval's
  ends, not sit inside it).

Then it recomputes the objective: the mean latency of the jobs after the warm-up (``avg_latency``) or
the makespan. A violation raises :class:`InfeasibleSoCScheduleError` (an ``AssertionError``).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from .instance import Application, SoC

TOL = 1e-6


class InfeasibleSoCScheduleError(AssertionError):
    """The schedule breaks a rule of the model (the message says which, and where)."""


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= TOL * max(1.0, abs(a), abs(b))


def validate_soc_schedule(
    soc: SoC,
    apps: Mapping[str, Application],
    solution: Mapping[str, Any],
    objective: str = "avg_latency",
    expected_jobs: Sequence[tuple[str, float]] | None = None,
    expected_factors: Sequence[float] | None = None,
) -> float:
    """Check ``solution`` against ``soc`` and ``apps`` (name -> application); return the objective.

    ``expected_jobs`` / ``expected_factors``: the episode's own jobs and noise factors, which the solution
    must repeat (so a tampered record cannot shorten its own tasks or move its arrivals).
    """

    def fail(msg: str) -> InfeasibleSoCScheduleError:
        return InfeasibleSoCScheduleError(f"invalid SoC schedule: {msg}")

    if solution.get("soc") != soc.name:
        raise fail(f"solution is for SoC {solution.get('soc')!r}, not {soc.name!r}")
    jobs = list(solution["jobs"])
    if expected_jobs is not None:
        got = [(str(j["app"]), float(j["arrival"])) for j in jobs]
        if len(got) != len(expected_jobs) or any(a != ea or not _close(t, et)
                                                 for (a, t), (ea, et) in zip(got, expected_jobs)):
            raise fail("the jobs (applications, arrivals) differ from the episode's")
    rec = solution["tasks"]
    job = np.asarray(rec["job"], np.int64)
    task = np.asarray(rec["task"], np.int64)
    pe = np.asarray(rec["pe"], np.int64)
    start = np.asarray(rec["start"], np.float64)
    end = np.asarray(rec["end"], np.float64)
    factor = np.asarray(rec["factor"], np.float64)
    n = job.shape[0]
    if not (task.shape[0] == pe.shape[0] == start.shape[0] == end.shape[0] == factor.shape[0] == n):
        raise fail("task record columns have different lengths")
    # every task of every job exactly once
    index: dict[tuple[int, int], int] = {}
    for i, (j, k) in enumerate(zip(job.tolist(), task.tolist())):
        if (j, k) in index:
            raise fail(f"task {k} of job {j} is scheduled twice")
        index[(j, k)] = i
    expected_n = 0
    for j, jd in enumerate(jobs):
        name = str(jd["app"])
        if name not in apps:
            raise fail(f"job {j}: unknown application {name!r}")
        expected_n += apps[name].n_tasks
        for k in range(apps[name].n_tasks):
            if (j, k) not in index:
                raise fail(f"task {k} ({apps[name].task_names[k]}) of job {j} ({name}) is never scheduled")
    if expected_n != n:
        raise fail(f"{n} task records for {expected_n} tasks")
    if expected_factors is not None and (len(expected_factors) != n
                                         or not np.allclose(factor, np.asarray(expected_factors), rtol=1e-12, atol=0)):
        raise fail("the noise factors differ from the episode's")
    if not (np.isfinite(start).all() and np.isfinite(end).all()):
        raise fail("a task has no finite start/end")
    if (pe < 0).any() or (pe >= soc.n_pes).any():
        raise fail("a task is on a PE that does not exist")
    bw = soc.bandwidth
    cl_index = {c: i for i, c in enumerate(soc.clusters)}
    pe_cl = [cl_index[c] for c in soc.pe_clusters]
    for i in range(n):
        j, k, p = int(job[i]), int(task[i]), int(pe[i])
        app = apps[str(jobs[j]["app"])]
        ttype = app.task_types[k]
        cluster = soc.pe_clusters[p]
        times = soc.exec_time.get(ttype, {})
        if cluster not in times:
            raise fail(f"job {j} task {k} ({ttype}) on PE {soc.pe_names[p]} (cluster {cluster}), which cannot run it")
        if factor[i] <= 0:
            raise fail(f"job {j} task {k}: noise factor {factor[i]} <= 0")
        dur = float(times[cluster]) * float(factor[i])
        if not _close(end[i] - start[i], dur):
            raise fail(f"job {j} task {k} ({ttype}) on {soc.pe_names[p]} runs {end[i] - start[i]:g} µs, "
                       f"not its realized {dur:g} µs")
        arrival = float(jobs[j]["arrival"])
        if start[i] < arrival - TOL:
            raise fail(f"job {j} task {k} starts at {start[i]:g} before its job arrives at {arrival:g}")
        for u, vol in app.preds[k]:
            iu = index[(j, u)]
            q = int(pe[iu])
            comm = 0.0 if q == p else float(math.floor(vol / float(bw[pe_cl[q], pe_cl[p]])))
            if start[i] < end[iu] + comm - TOL:
                raise fail(f"job {j}: task {k} ({ttype}) starts at {start[i]:g}, before its input from task {u} "
                           f"arrives at {end[iu] + comm:g} (end {end[iu]:g} + transfer {comm:g})")
    # one task at a time per PE
    for p in range(soc.n_pes):
        ids = np.flatnonzero(pe == p)
        if ids.size < 2:
            continue
        order = ids[np.lexsort((end[ids], start[ids]))]
        s, e = start[order], end[order]
        busy_end = -math.inf
        for a, b, i in zip(s.tolist(), e.tolist(), order.tolist()):
            if a < busy_end - TOL:  # a zero-length task may touch an interval's ends, not sit inside it
                raise fail(f"PE {soc.pe_names[p]} runs two tasks at once around t={a:g} (job {job[i]} task {task[i]})")
            busy_end = max(busy_end, b)
    # the objective
    warm = int(solution.get("warmup_jobs", 0))
    done = np.full(len(jobs), -math.inf)
    np.maximum.at(done, job, end)
    if objective == "makespan":
        return float(end.max()) if n else 0.0
    if objective == "avg_latency":
        arrivals = np.array([float(jd["arrival"]) for jd in jobs])
        lat = (done - arrivals)[warm:]
        return float(lat.mean()) if lat.size else math.nan
    raise ValueError(f"unknown objective {objective!r}")
