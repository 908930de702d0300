"""What the job-shop family envs share (``schedgym/JobShop-v0`` and the ISBJSSP envs): how an episode's
instance is chosen, and the attributes dispatching rules rank candidates by."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .catalog import load_instance
from .formats import read_instance
from .generator import generate_random
from .instance import JobShopInstance


def resolve_instance(instance: JobShopInstance | str | os.PathLike[str]) -> JobShopInstance:
    """A JobShopInstance, an instance name (``"ta01"``, ``"ft06"``) or a path to an instance file."""
    if isinstance(instance, JobShopInstance):
        return instance
    text = os.fspath(instance)
    if os.path.sep in text or os.path.isfile(text):
        return read_instance(text)
    return load_instance(text)


def pick_instance(env: Any, options: dict[str, Any] | None, fits: str = "within") -> JobShopInstance:
    """The instance of an episode: ``options["instance"]``, else the env's fixed instance, else a random
    one drawn from ``env.np_random`` (``n_jobs`` x ``n_machines``, durations ``duration_low..high``).

    ``fits`` says how an instance given at reset must fit the env's padding: ``"within"`` (at most the
    env's size) or ``"exact"`` (the same size: node ids depend on it).
    """
    name = type(env).__name__
    if options and options.get("instance") is not None:
        inst = resolve_instance(options["instance"])
        size = (env.n_jobs, env.n_machines)
        too_big = inst.n_jobs > size[0] or inst.n_machines > size[1]
        if (fits == "exact" and inst.shape != size) or too_big:
            need = "the same size (node ids depend on it)" if fits == "exact" else "at most that size"
            raise ValueError(
                f"{name}: instance {inst.name!r} is {inst.n_jobs}x{inst.n_machines}; this env was built for "
                f"{size[0]}x{size[1]} and needs {need}: construct it with n_jobs/n_machines to match"
            )
        return inst
    if env.fixed_instance is not None:
        return env.fixed_instance
    return generate_random(env.n_jobs, env.n_machines, env.np_random, env.duration_low, env.duration_high)


def rule_attributes(jobs: np.ndarray, ops: np.ndarray, n_machines: int, durations: np.ndarray,
                    cum_work: np.ndarray, ready_time: np.ndarray) -> dict[str, np.ndarray]:
    """The :class:`~.types.DispatchView` candidates dict of operations ``(jobs[i], ops[i])``.

    ``cum_work[j, k]`` is job ``j``'s work up to and including operation ``k``; ``ready_time[i]`` the
    completion of candidate ``i``'s previous operation.
    """
    jobs = np.asarray(jobs, np.int64)
    ops = np.asarray(ops, np.int64)
    p = durations[jobs, ops].astype(np.float64)
    done_incl = cum_work[jobs, ops]
    return {
        "action": jobs * n_machines + ops,
        "job": jobs,
        "processing_time": p,
        "job_remaining_work": cum_work[jobs, -1] - done_incl + p,
        "job_remaining_ops": (n_machines - ops).astype(np.float64),
        "job_work_done": done_incl,
        "ready_time": np.asarray(ready_time, np.float64),
    }
