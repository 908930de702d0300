"""schedgym-bench runs and prints its table (speed targets live in the benchmark, not in tests)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from schedgym.envs.domains import domains
from schedgym.envs.jobshop import bench as jobshop_bench
from schedgym.envs.jobshop.bench import jobshop_rows, peer_rows
from schedgym.eval.bench import main


def test_jobshop_bench_rows_are_consistent() -> None:
    rows = {r["measure"]: r["value"] for r in jobshop_rows("ft06", episodes=5, builder="nondelay")}
    assert rows["env + random policy: episodes/s"] > 0
    assert rows["simulator only: episodes/s"] > 0
    assert 0.0 <= rows["observation share of env time"] < 1.0


@pytest.mark.parametrize("name", [d.name for d in domains()])
def test_every_domain_has_quick_bench_rows(name: str) -> None:
    d = next(d for d in domains() if d.name == name)
    assert d.bench is not None, f"domain {name} declares no bench in its manifest"
    rows = d.bench_rows(quick=True)
    assert rows, f"{name}: no rows"
    for r in rows:
        assert {"benchmark", "measure", "value"} <= set(r), r
        if ": skipped (" in r["measure"]:  # an optional peer that is not installed: NaN, said so
            assert r["value"] != r["value"], r
            continue
        assert r["value"] == r["value"] and r["value"] >= 0, r  # finite, not NaN


def test_bench_cli_prints_table_and_writes_csv(capsys, tmp_path) -> None:
    out = tmp_path / "bench.csv"
    assert main(["domains=[jobshop]", "quick=true", f"out={out}"]) == 0
    text = capsys.readouterr().out
    assert "schedgym-bench" in text and "episodes/s" in text
    df = pd.read_csv(out)
    measured = df[~df["measure"].str.contains(": skipped (", regex=False)]
    assert set(df["domain"]) == {"jobshop"} and (measured["value"] > 0).all()
    assert df["value"].isna().sum() == len(df) - len(measured)  # only skipped peers have no value


def test_bench_cli_usage_errors_exit_2(capsys) -> None:
    assert main(["domains=[nosuch]"]) == 2
    assert "domains" in capsys.readouterr().err
    assert main(["--episodes", "3"]) == 2
    assert main(["episodes=3"]) == 2
    err = capsys.readouterr().err
    assert "episodes" in err and err.count("\n") == 2  # one line per error


# ----------------------------------------------------------------------------- job-shop peers
def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


MEASURES = {"env + random policy: episodes/s", "env + random policy: episodes per CPU-second",
            "env only (replay): episodes/s", "env only (replay): episodes per CPU-second", "steps per episode"}


def _peer_check(rows: list[dict], peer: str, label: str, installed: bool) -> None:
    mine = [r for r in rows if r["measure"].startswith(label)]
    ratios = [r for r in rows if r["measure"].startswith("ratio ") and f"/ {label}" in r["measure"]]
    skipped = [r for r in rows if r["measure"].startswith(f"{peer}: skipped (")]
    if installed:
        assert not skipped, skipped
        assert {r["measure"].split(": ", 1)[1] for r in mine} == MEASURES
        assert all(np.isfinite(r["value"]) and r["value"] > 0 for r in mine + ratios), mine + ratios
        assert len(ratios) == 6  # JobShop-v0 copying / not x with the policy (wall, CPU) / env only (CPU)
    else:
        assert not mine and not ratios
        assert len(skipped) == 1 and np.isnan(skipped[0]["value"])
        assert "schedgym[peers]" in skipped[0]["measure"]


def test_peer_rows_are_produced_or_skipped_cleanly() -> None:
    rows = peer_rows("ft06", episodes={"schedgym": 2, "JSSEnv": 2, "job_shop_lib": 1}, rounds=1)
    ours = {r["measure"]: r["value"] for r in rows if r["measure"].startswith("JobShop-v0")}
    for name in ("JobShop-v0", "JobShop-v0 (copy_obs=False)"):
        for m in MEASURES - {"steps per episode"}:
            assert ours[f"{name}: {m}"] > 0
        assert ours[f"{name}: steps per episode"] == 36  # one step per operation of ft06
    _peer_check(rows, "JSSEnv", "JSSEnv ", _installed("JSSEnv"))
    _peer_check(rows, "job_shop_lib", "job_shop_lib ", _installed("job_shop_lib"))
    if _installed("JSSEnv"):  # every JSSEnv episode schedules all 36 operations (plus its no-op steps)
        assert next(r["value"] for r in rows if r["measure"].startswith("JSSEnv") and "steps per" in r["measure"]) >= 36


def test_a_peer_that_fails_to_import_gives_one_skip_row(monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise ImportError("No module named 'JSSEnv'")

    monkeypatch.setattr(jobshop_bench, "_jssenv_peer", broken)
    monkeypatch.setattr(jobshop_bench, "_job_shop_lib_peer", broken)
    rows = peer_rows("ft06", episodes={"schedgym": 1}, rounds=1)
    _peer_check(rows, "JSSEnv", "JSSEnv ", installed=False)
    _peer_check(rows, "job_shop_lib", "job_shop_lib ", installed=False)
    assert "No module named 'JSSEnv'" in next(r["measure"] for r in rows if "skipped" in r["measure"])
    assert any(r["measure"] == "JobShop-v0: env + random policy: episodes/s" for r in rows)


def test_masked_random_episodes_are_legal_seeded_and_replayable() -> None:
    from schedgym.envs.benchmarking import Timing, masked_random_episodes, replay_episodes
    from schedgym.envs.jobshop.env import JobShopEnv

    env = JobShopEnv(instance="ft06")

    def legal(obs, info):
        return obs["action_mask"].nonzero()[0]

    a, t, steps = masked_random_episodes(lambda ep: env.reset(seed=ep), env.step, legal, 3, seed=4)
    b, _, _ = masked_random_episodes(lambda ep: env.reset(seed=ep), env.step, legal, 3, seed=4)
    assert a == b and steps == sum(map(len, a)) == 3 * 36 and isinstance(t, Timing) and t.wall >= 0 and t.cpu >= 0
    c, _, _ = masked_random_episodes(lambda ep: env.reset(seed=ep), env.step, legal, 3, seed=5)
    assert c != a  # the seed drives the draws
    # replaying checks every recorded action against the mask again (an illegal one would raise)
    assert isinstance(replay_episodes(lambda ep: env.reset(seed=ep), env.step, a), Timing)


def test_bench_training_rows_through_the_cli(capsys) -> None:
    """``training=true`` adds PPO env steps/s per backend (quick: a smoke run of the rows, not for quoting)."""
    assert main(["domains=[jobshop]", "quick=true", "training=true"]) == 0
    out = capsys.readouterr().out
    assert "training" in out and "sb3" in out.lower()
