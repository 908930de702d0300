"""Solve a MiniMalloc CSV and write the solution CSV (``offset`` column added; -1 where unplaced)::

    python -m schedgym.agents.memory.solve A.1048576.csv out.csv --method cpsat --seconds 60
    python -m schedgym.agents.memory.solve input.12.csv out.csv --method best-fit:size

Methods: ``cpsat`` (CP-SAT, needs ortools), ``search`` (canonical search), ``first-fit:<order>`` /
``best-fit:<order>``. The capacity is ``--capacity`` or the number in the file name. The solution is
checked with the domain's validator before it is written. Exit status 0 when every buffer is placed,
1 when not, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from schedgym.envs.memory.instance import InstanceFormatError, read_minimalloc_csv, write_minimalloc_csv
from schedgym.envs.memory.validate import check_placement

from .heuristics import ORDERS, buffer_order, fit_plan


def solve(path: str, method: str = "cpsat", seconds: float = 60.0, capacity: int | None = None) -> tuple[np.ndarray, str]:
    """Offsets (-1 where unplaced) and a status line for the instance in ``path``."""
    inst, _ = read_minimalloc_csv(path, capacity)
    if method == "cpsat":
        from .exact import solve_allocation

        res = solve_allocation(inst, time_limit=seconds)
        off, status = res.offsets, f"{res.status} in {res.wall_time_s:.2f} s"
    elif method == "search":
        from .search import canonical_search

        r = canonical_search(inst, node_limit=None, time_limit=seconds)
        off, status = r.offsets, f"{r.status} after {r.nodes} nodes in {r.wall_time_s:.2f} s"
    else:
        kind, _, order = method.partition(":")
        if kind not in ("first-fit", "best-fit") or (order or "size") not in ORDERS:
            raise ValueError(f"unknown method {method!r}; use cpsat, search, first-fit:<order> or best-fit:<order> "
                             f"with order in {ORDERS}")
        t0 = time.perf_counter()
        off = fit_plan(inst, buffer_order(inst, order or "size"), best=kind == "best-fit")
        status = f"{kind} placed {int((off >= 0).sum())}/{inst.n_buffers} in {time.perf_counter() - t0:.3f} s"
    check_placement(inst, off, allow_unplaced=True)
    return off, status


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="MiniMalloc CSV (id,lower,upper,size)")
    ap.add_argument("output", help="solution CSV to write (adds the offset column)")
    ap.add_argument("--method", default="cpsat")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--capacity", type=int, default=None)
    args = ap.parse_args(argv)
    try:
        off, status = solve(args.input, args.method, args.seconds, args.capacity)
        inst, _ = read_minimalloc_csv(args.input, args.capacity)
    except (InstanceFormatError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_minimalloc_csv(args.output, inst, off)
    placed = int((off >= 0).sum())
    peak = int((off[off >= 0] + inst.size[off >= 0]).max()) if placed else 0
    print(f"{inst.name}: {status}; placed {placed}/{inst.n_buffers}, peak {peak} of capacity {inst.capacity}")
    return 0 if placed == inst.n_buffers else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
