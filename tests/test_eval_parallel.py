"""schedgym-eval workers=N and ray.address=...: the same rows, in the same order, as a serial run, and the
same resume semantics (issue 15 item 7)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from schedgym.configs.grammar import UsageError
from schedgym.eval.cli import main, parse_config
from schedgym.eval.parallel import in_plan_order

#: columns that differ between runs by design (timings, the worker's provenance)
VOLATILE = ("wall_time_s", "policy_time_s", "row_check")

POLICIES = "policies=[mwkr:nondelay,spt:active,random,fifo:nondelay]"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return [{k: v for k, v in r.items() if k not in VOLATILE and not k.startswith("p.")} for r in csv.DictReader(f)]


def _eval(out: Path, jsplib_dir: Path, *extra: str, suite: str = "suite=[ft06,lawrence-10x5]") -> int:
    return main([suite, POLICIES, f"out={out}", "progress=false", "print_leaderboard=false",
                 "site=false", "exports=false", f"data_mirror={jsplib_dir.parent}", *extra])


def test_workers_give_the_serial_rows_in_the_serial_order(tmp_path: Path, jsplib_dir: Path) -> None:
    assert _eval(tmp_path / "serial", jsplib_dir, "seeds=[0,1]") == 0
    assert _eval(tmp_path / "parallel", jsplib_dir, "seeds=[0,1]", "workers=2") == 0
    serial, parallel = _rows(tmp_path / "serial" / "results.csv"), _rows(tmp_path / "parallel" / "results.csv")
    assert len(serial) == 6 * 4 * 2
    assert parallel == serial
    assert all(r["validated"] == "True" for r in parallel)


def test_parallel_resume_runs_only_the_missing_rows(tmp_path: Path, jsplib_dir: Path, capsys) -> None:
    out = tmp_path / "ev"
    assert _eval(out, jsplib_dir, "seeds=[0]") == 0
    first = _rows(out / "results.csv")
    capsys.readouterr()
    assert _eval(out, jsplib_dir, "seeds=[0,1]", "workers=2") == 0
    assert "24 already in" in capsys.readouterr().out
    both = _rows(out / "results.csv")
    assert both[: len(first)] == first  # the rows written before are kept as they were, each once
    assert _eval(tmp_path / "serial", jsplib_dir, "seeds=[0]") == 0
    assert _eval(tmp_path / "serial", jsplib_dir, "seeds=[0,1]") == 0
    assert both == _rows(tmp_path / "serial" / "results.csv")
    keys = [(r["suite"], r["case"], r["policy"], r["seed"]) for r in both]
    assert len(keys) == len(set(keys)) == 48


def test_in_plan_order_yields_in_plan_order_whatever_finishes_first() -> None:
    jobs = list(range(7))
    in_flight: list[int] = []
    submitted: list[int] = []

    def submit(i: int) -> int:
        submitted.append(i)
        in_flight.append(i)
        return i

    def ready(handles: list[int]) -> list[int]:
        last = max(handles)  # the newest job finishes first: the worst order for the writer
        in_flight.remove(last)
        return [last]

    rows = list(in_plan_order(jobs, submit, lambda h: {"job": h}, ready, window=3))
    assert [r["job"] for r in rows] == jobs
    assert submitted == jobs


def test_bad_parallel_keys_are_named() -> None:
    with pytest.raises(UsageError, match="workers"):
        parse_config(["suite=ft06", "workers=0"])
    with pytest.raises(UsageError, match="ray"):
        parse_config(["suite=ft06", "ray.adress=auto"])


def test_ray_cluster_gives_the_serial_rows_and_resumes(tmp_path: Path, jsplib_dir: Path) -> None:
    """A head and a worker node started as separate processes (one CPU each); the episodes run as Ray
    tasks through ``ray.address=<head>``, a second call resumes through the same address, and the cluster
    is left running (the eval only disconnects from a cluster it joined)."""
    ray = pytest.importorskip("ray", reason="ray.address needs Ray (the [rllib] extra)")
    from ray.cluster_utils import Cluster

    for seeds in ("seeds=[0]", "seeds=[0,1]"):  # the serial run, interrupted and resumed the same way
        assert _eval(tmp_path / "serial", jsplib_dir, seeds, suite="suite=ft06") == 0
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        out = tmp_path / "ray"
        assert _eval(out, jsplib_dir, "seeds=[0]", f"ray.address={cluster.address}", suite="suite=ft06") == 0
        assert _eval(out, jsplib_dir, "seeds=[0,1]", f"ray.address={cluster.address}", suite="suite=ft06") == 0
        assert not ray.is_initialized()
        assert len(cluster.list_all_nodes()) == 2
    finally:
        cluster.shutdown()
    assert _rows(out / "results.csv") == _rows(tmp_path / "serial" / "results.csv")
