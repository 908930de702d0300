"""Seeded random job-shop instances for training (uniform durations, random machine orders, as
Taillard and L2D draw them)."""

from __future__ import annotations

import numpy as np

from .instance import JobShopInstance


def generate_random(
    n_jobs: int,
    n_machines: int,
    rng: np.random.Generator | int | None = None,
    low: int = 1,
    high: int = 99,
    name: str | None = None,
) -> JobShopInstance:
    """A random instance: durations uniform in ``low..high``, a random machine permutation per job."""
    if n_jobs < 1 or n_machines < 1:
        raise ValueError(f"n_jobs and n_machines must be >= 1, got {n_jobs}x{n_machines}")
    if not 0 <= low <= high:
        raise ValueError(f"need 0 <= low <= high for durations, got low={low}, high={high}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    durations = gen.integers(low, high + 1, size=(n_jobs, n_machines), dtype=np.int64)
    machines = np.argsort(gen.random((n_jobs, n_machines)), axis=1).astype(np.int64)
    return JobShopInstance(machines, durations, name=name or f"random-{n_jobs}x{n_machines}")
