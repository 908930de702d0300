"""``schedgym-train``: train a GNN-PPO agent on any schedgym environment.

Usage::

    schedgym-train --preset jobshop-small                       # a preset from configs/train/
    schedgym-train --preset jobshop-small trainer.total_steps=20000 agent.model.hidden=32
    schedgym-train --preset jobshop-small env=jobshop-10x10     # swap the env group preset
    schedgym-train --preset jobshop-small backend=rllib rllib.num_env_runners=2
    schedgym-train resume=runs/jobshop-small-20260101-120000   # continue a run
    schedgym-train --preset jobshop-small --dry-run             # print the resolved config only
    schedgym-train --list                                       # the presets

The resolved config is printed and saved as ``<run>/config.yaml``; the run folder gets ``last.pt``,
``best.pt`` (best on the validation set), ``checkpoints/`` and ``metrics.jsonl``. Evaluate a run with
``schedgym-eval ... policies=[mwkr,gnn:<run>/best.pt]``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from .config import ConfigError, list_presets, resolve_config


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="schedgym-train",
        description="Train a GNN-PPO agent (SB3 or RLlib) on a schedgym environment.",
        epilog="Overrides: key=value (OmegaConf dotlist), env=<preset>, agent=<preset>, preset=<name>, resume=<run dir>.",
    )
    p.add_argument("--preset", "-p", default=None, help="train preset in configs/train/ (or a YAML path)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--list", action="store_true", help="list the presets and exit")
    p.add_argument("overrides", nargs="*", help="key=value overrides")
    return p.parse_args(argv)


def build(argv: list[str] | None = None) -> tuple[Any, Path, bool, argparse.Namespace]:
    """Parse the command line into ``(config, run_dir, resuming, args)``; raises ConfigError."""
    args = _parse_args(argv)
    preset = args.preset
    resume: str | None = None
    overrides: list[str] = []
    for item in args.overrides:
        if item.startswith("preset="):
            preset = item.split("=", 1)[1]
        elif item.startswith("resume="):
            resume = item.split("=", 1)[1]
        else:
            overrides.append(item)
    if resume:
        run_dir = Path(resume)
        saved = run_dir / "config.yaml"
        if not saved.is_file():
            raise ConfigError(f"resume={resume}: no config.yaml in that folder")
        cfg = resolve_config(None, overrides, base=OmegaConf.load(saved))
        cfg.run_dir = str(run_dir)
        return cfg, run_dir, True, args
    if preset is None and not overrides and not args.list:
        raise ConfigError("give a preset (--preset NAME; see --list) or overrides")
    cfg = resolve_config(preset, overrides)
    if cfg.run_dir:
        run_dir = Path(cfg.run_dir)
    else:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        run_dir = Path("runs") / f"{cfg.name}-{stamp}"
        cfg.run_dir = str(run_dir)
    return cfg, run_dir, False, args


def train(cfg: Any, run_dir: Path, resume: bool) -> dict[str, Any]:
    """Check the env, write the config, run the backend; returns its summary (also in summary.json)."""
    from .common import check_env_config

    env = check_env_config(cfg)  # a bad env id / kwarg fails here, before anything is written
    env.close()
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume and (run_dir / "checkpoints").exists():
        raise ConfigError(f"run_dir {run_dir} already holds a run; use resume={run_dir} or another run_dir")
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    if cfg.backend == "sb3":
        from .sb3_backend import train_sb3

        summary = train_sb3(cfg, run_dir, resume)
    else:
        from .rllib_backend import train_rllib

        summary = train_rllib(cfg, run_dir, resume)
    summary["run_dir"] = str(run_dir)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def main(argv: list[str] | None = None) -> int:
    try:
        cfg, run_dir, resume, args = build(argv)
    except ConfigError as exc:
        print(f"schedgym-train: error: {exc}", file=sys.stderr)
        return 2
    if args.list:
        for group in ("train", "env", "agent"):
            print(f"{group}: {', '.join(list_presets(group))}")
        return 0
    print(OmegaConf.to_yaml(cfg), end="")
    if args.dry_run:
        return 0
    try:
        summary = train(cfg, run_dir, resume)
    except (ConfigError, FileNotFoundError) as exc:
        print(f"schedgym-train: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2, default=str))
    print(f"checkpoint: {run_dir / 'best.pt'}  (evaluate with policies=[...,gnn:{run_dir / 'best.pt'}])")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
