"""Training curves from a run folder's ``metrics.jsonl``: the validation objective against env steps.

Usage::

    python -m schedgym.train.curves runs/soc-wifi docs/img/soc-wifi-training.png [--title TEXT]

The figure shows ``val/objective`` (mean over ``val.seeds``; greedy, or sampled with ``val.sample``) at
every validation, each validation baseline's mean (``val/baseline/<name>``) as a dashed line, the mean
objective of the sampled training episodes (``rollout/objective_mean``) when logged, and, for a run with an
imitation warm start, the cloned policy's validation at step 0 marked as such.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def load_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The records of ``<run_dir>/metrics.jsonl`` (a missing or malformed file is a ValueError naming it)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise ValueError(f"no metrics.jsonl in {run_dir} (not a schedgym-train run folder?)")
    records = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{i}: not a JSON record ({exc.msg})") from None
    return records


def series(records: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """``(steps, values)`` of every record holding ``key`` (the last record wins for a repeated step)."""
    by_step: dict[int, float] = {}
    for rec in records:
        if key in rec:
            by_step[int(rec["step"])] = float(rec[key])
    steps = sorted(by_step)
    return steps, [by_step[s] for s in steps]


def _labels(run_dir: Path) -> tuple[str, str]:
    """The env's objective name and the validated mode (``greedy`` / ``sampled``, from ``val.sample``), read
    from the run's config.yaml; generic labels when it cannot be read."""
    cfg_path = Path(run_dir) / "config.yaml"
    try:
        from omegaconf import OmegaConf

        from .common import make_env

        cfg = OmegaConf.load(cfg_path)
        mode = "sampled" if bool(OmegaConf.select(cfg, "val.sample", default=False)) else "greedy"
        env = make_env(str(cfg.env.id), dict(OmegaConf.to_container(cfg.env.kwargs, resolve=True)))  # type: ignore[arg-type]
        name = env.unwrapped.objective.name
        env.close()
        return name, mode
    except Exception:  # noqa: BLE001 - the labels only
        return "objective", "greedy"


def plot_training_curve(run_dir: Path, out: Path, title: str | None = None) -> Path:
    """Write the training-curve figure of ``run_dir`` to ``out`` (format from its suffix); returns ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = load_metrics(run_dir)
    steps, values = series(records, "val/objective")
    if not steps:
        raise ValueError(f"{run_dir}/metrics.jsonl holds no validation (val/objective) record yet")
    objective, mode = _labels(run_dir)
    imitated = any("imitation/epoch" in r for r in records)
    fig, ax = plt.subplots(figsize=(6.4, 3.6), constrained_layout=True)
    ax.plot(steps, values, marker="o", ms=3.5, lw=1.5, color="C0", label=f"GNN {mode} (validation)")
    if imitated and steps[0] == 0:
        ax.plot([0], [values[0]], marker="*", ms=12, color="C3", ls="none", label="imitation clone (step 0)")
    r_steps, r_values = series(records, "rollout/objective_mean")
    if r_steps:
        ax.plot(r_steps, r_values, lw=1, alpha=0.6, color="C7", label="sampled training episodes (mean of last 100)")
    baselines = sorted({k.split("/", 2)[2] for r in records for k in r if k.startswith("val/baseline/")})
    for i, name in enumerate(baselines):
        _, b = series(records, f"val/baseline/{name}")
        ax.axhline(b[-1], ls="--", lw=1, color=f"C{(i + 1) % 10}", label=f"{name} (validation)")
    ax.set_xlabel("PPO env steps")
    ax.set_ylabel(f"{objective} (mean over validation seeds)")
    ax.set_title(title or f"{Path(run_dir).name}: validation during training", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=150)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schedgym.train.curves", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--title", default=None)
    args = parser.parse_args(argv)
    try:
        print(plot_training_curve(args.run_dir, args.out, args.title))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
