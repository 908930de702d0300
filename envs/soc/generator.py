"""Seeded random task graphs with the parameters of Topcuoglu, Hariri and Wu (IEEE TPDS 2002, §5.1).

:class:`TopcuogluGenerator` draws a DAG and its heterogeneous processors together (the computation cost
of every task on every processor is part of the draw), as an :class:`~.instance.Application` and an
:class:`~.instance.SoC` of ``n_pes`` fully connected processors, each its own cluster, unit bandwidth
(so an edge's volume is its communication cost):

* ``n_tasks`` (v): the number of tasks;
* ``alpha`` (shape): the graph has about ``sqrt(v) / alpha`` levels whose widths are uniform with mean
  ``alpha * sqrt(v)`` (small alpha: long, thin graphs; large alpha: short, wide ones);
* ``out_degree``: each task of a non-final level gets a number of successors uniform in
  ``1..2 * out_degree - 1`` (capped by the tasks below it) among the lower levels; every task below the
  first level has at least one predecessor in the level above;
* ``ccr``: communication-to-computation ratio: edge costs are uniform in ``[0, 2 * ccr * w_dag]``;
* ``beta``: heterogeneity: a task's mean cost ``w_i`` is uniform in ``[0, 2 * w_dag]`` and its cost on each
  processor uniform in ``[w_i (1 - beta/2), w_i (1 + beta/2)]``;
* ``w_dag``: the average computation cost; ``n_pes`` (q): the number of processors.

Costs are rounded to integers (computation at least 1), as DS3's µs clock is integral. Topcuoglu et al.
used v in {20, ..., 100}, CCR in {0.1, 0.5, 1, 5, 10}, alpha in {0.5, 1, 2}, out degree in
{1, 2, 3, 4, 5}, beta in {0.1, 0.25, 0.5, 0.75, 1}.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .instance import TOPCUOGLU_CITATION, Application, SoC


@dataclass(frozen=True)
class TopcuogluGenerator:
    """A random (DAG, processors) pair per call: ``app, soc = TopcuogluGenerator(...)(rng)``."""

    n_tasks: int = 20
    alpha: float = 1.0
    out_degree: int = 2
    ccr: float = 1.0
    beta: float = 0.5
    w_dag: float = 50.0
    n_pes: int = 4

    def __post_init__(self) -> None:
        if self.n_tasks < 1 or self.n_pes < 1 or self.out_degree < 1:
            raise ValueError(f"random DAG: n_tasks, n_pes and out_degree must be >= 1, got {self}")
        if not (self.alpha > 0 and self.ccr >= 0 and 0 <= self.beta <= 2 and self.w_dag > 0):
            raise ValueError(f"random DAG: need alpha > 0, ccr >= 0, 0 <= beta <= 2, w_dag > 0, got {self}")

    def levels(self, rng: np.random.Generator) -> list[list[int]]:
        """Task ids grouped by level (ids increase level by level, so they are a topological order)."""
        v = self.n_tasks
        mean_width = self.alpha * math.sqrt(v)
        hi = max(1, int(round(2 * mean_width)) - 1)
        levels: list[list[int]] = []
        nxt = 0
        while nxt < v:
            w = int(rng.integers(1, hi + 1))
            w = min(w, v - nxt)
            levels.append(list(range(nxt, nxt + w)))
            nxt += w
        return levels

    def __call__(self, rng: np.random.Generator, name: str = "random-dag") -> tuple[Application, SoC]:
        levels = self.levels(rng)
        level_of = {t: li for li, lev in enumerate(levels) for t in lev}
        edges: set[tuple[int, int]] = set()
        for li, lev in enumerate(levels[:-1]):
            below = [t for lev2 in levels[li + 1:] for t in lev2]
            for t in lev:
                k = min(int(rng.integers(1, 2 * self.out_degree)), len(below))
                for s in rng.choice(below, size=k, replace=False).tolist():
                    edges.add((t, int(s)))
        for li, lev in enumerate(levels[1:], start=1):
            for t in lev:
                if not any((u, t) in edges for u in levels[li - 1]):
                    edges.add((int(rng.choice(levels[li - 1])), t))
        edge_list = sorted(edges, key=lambda e: (e[0], e[1]))
        v, q = self.n_tasks, self.n_pes
        w_mean = rng.uniform(0.0, 2.0 * self.w_dag, size=v)
        lo, hi = w_mean * (1 - self.beta / 2), w_mean * (1 + self.beta / 2)
        w = np.maximum(1.0, np.round(rng.uniform(lo[:, None], hi[:, None], size=(v, q))))
        costs = np.round(rng.uniform(0.0, 2.0 * self.ccr * self.w_dag, size=len(edge_list)))
        types = tuple(f"t{k}" for k in range(v))
        pes = tuple(f"P{j + 1}" for j in range(q))
        params = {k: (float(x) if isinstance(x, float) else x) for k, x in asdict(self).items()}
        source = {"paper": TOPCUOGLU_CITATION, "generator": "schedgym TopcuogluGenerator", "params": params}
        app = Application(
            name=name,
            task_names=types,
            task_types=types,
            edges=np.array(edge_list, np.int64).reshape(-1, 2),
            volumes=costs.astype(np.float64),
            source=source,
            notes=f"{len(levels)} levels; level of each task: {[level_of[t] for t in range(v)]}",
        )
        soc = SoC(
            name=f"{name}-{q}p",
            pe_names=pes,
            pe_kinds=("cpu",) * q,
            pe_clusters=pes,
            clusters=pes,
            exec_time={t: {p: float(w[k, j]) for j, p in enumerate(pes)} for k, t in enumerate(types)},
            bandwidth=np.ones((q, q), np.float64),
            source=source,
            notes="fully connected processors, unit bandwidth (a volume is its communication cost)",
        )
        return app, soc
