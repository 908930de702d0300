"""Run evaluation episodes in this process, in worker processes, or as tasks on a Ray cluster.

All three executors yield the rows **in plan order**, whatever order the episodes finish in: a row
that finishes early waits until every row before it has been handed back. So ``results.csv`` holds the
same rows in the same order as a serial run, each written once, and resume works the same way: an
interrupted parallel run keeps every row it wrote and redoes the rest. (Rows finished out of order but
not yet written when a run is killed are redone, never half-written.)

* ``workers=1`` (default): :func:`run_serial`, one episode after the other in this process.
* ``workers=N``: :func:`run_processes`, N worker processes (``fork`` where the platform has it, so a
  worker inherits the planned jobs and nothing is pickled but the rows; each worker runs torch with
  one thread).
* ``ray.address=...``: :func:`run_ray`, one Ray task per episode (``num_cpus=1``), on the cluster
  ``ray.init(address=...)`` joins (``auto`` for the one ``ray start`` made on this machine,
  ``ray://host:10001`` for a remote head, ``local`` for a fresh single-machine Ray). The workers need
  ``schedgym`` installed at the same version; a row records the worker's provenance.
"""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterator, Sequence

from .runner import Job, run_job

RunJob = Callable[[Job], dict[str, Any]]

#: the jobs a forked worker reads by index (set in the parent just before the pool starts)
_FORKED_JOBS: Sequence[Job] = ()


def run_serial(jobs: Sequence[Job], run: RunJob = run_job) -> Iterator[dict[str, Any]]:
    """Each job's row, one after the other, in this process."""
    for job in jobs:
        yield run(job)


def in_plan_order(jobs: Sequence[Job], submit: Callable[[int], Any], result: Callable[[Any], dict[str, Any]],
                  ready: Callable[[list[Any]], list[Any]], window: int) -> Iterator[dict[str, Any]]:
    """Rows of ``jobs`` in plan order from an executor: ``submit(i)`` starts job ``i`` and returns a
    handle, ``ready(handles)`` blocks until at least one is done and returns the done ones,
    ``result(handle)`` is its row. At most ``window`` jobs are in flight or waiting to be handed back, so
    an early finisher never runs far ahead of the row being written."""
    handles: dict[int, Any] = {}
    finished: dict[int, dict[str, Any]] = {}
    next_submit, next_yield = 0, 0
    while next_yield < len(jobs):
        while next_submit < len(jobs) and len(handles) + len(finished) < window:
            handles[next_submit] = submit(next_submit)
            next_submit += 1
        if next_yield not in finished:
            done = set(ready(list(handles.values())))
            for i in [i for i, h in handles.items() if h in done]:
                finished[i] = result(handles.pop(i))
        while next_yield in finished:
            yield finished.pop(next_yield)
            next_yield += 1


def _forked_worker_init() -> None:
    if "torch" in sys.modules:  # a policy in the parent imported torch: one thread per worker
        sys.modules["torch"].set_num_threads(1)


def _run_forked(index: int) -> dict[str, Any]:
    return run_job(_FORKED_JOBS[index])


def _run_picklable(job: Job) -> dict[str, Any]:
    return run_job(job)


def run_processes(jobs: Sequence[Job], workers: int) -> Iterator[dict[str, Any]]:
    """Rows of ``jobs`` in plan order, run by ``workers`` worker processes."""
    global _FORKED_JOBS
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    fork = "fork" in multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if fork else "spawn")
    _FORKED_JOBS = jobs
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_forked_worker_init) as pool:
            def submit(i: int) -> Future:
                return pool.submit(_run_forked, i) if fork else pool.submit(_run_picklable, jobs[i])

            def ready(handles: list[Future]) -> list[Future]:
                return list(wait(handles, return_when=FIRST_COMPLETED).done)

            yield from in_plan_order(jobs, submit, lambda f: f.result(), ready, window=4 * workers)
    finally:
        _FORKED_JOBS = ()


def run_ray(jobs: Sequence[Job], address: str, window: int = 256) -> Iterator[dict[str, Any]]:
    """Rows of ``jobs`` in plan order, each episode a Ray task with one CPU on the cluster at ``address``
    (``"local"`` starts a single-machine Ray). Ray is shut down at the end if this call started it."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError("ray.address needs Ray: pip install 'schedgym[rllib]'") from exc
    started = not ray.is_initialized()
    if started:
        ray.init(address=None if address == "local" else address, include_dashboard=False,
                 log_to_driver=False, ignore_reinit_error=True)
    try:
        remote_run = ray.remote(num_cpus=1)(_run_picklable)

        def ready(handles: list[Any]) -> list[Any]:
            return list(ray.wait(handles, num_returns=1)[0])

        yield from in_plan_order(jobs, lambda i: remote_run.remote(jobs[i]), ray.get, ready, window=window)
    finally:
        if started:
            ray.shutdown()


def run_jobs(jobs: Sequence[Job], workers: int = 1, ray_address: str | None = None) -> Iterator[dict[str, Any]]:
    """The executor the config asks for: Ray when ``ray_address`` is set, else ``workers`` processes."""
    if ray_address:
        return run_ray(jobs, ray_address)
    if workers > 1 and len(jobs) > 1:
        return run_processes(jobs, workers)
    return run_serial(jobs)
