"""``schedgym-train``: train a GNN-PPO agent on any schedgym environment.

Usage::

    schedgym-train preset=jobshop-small                       # a preset from configs/train/
    schedgym-train preset=jobshop-small trainer.total_steps=20000 agent.model.hidden=32
    schedgym-train preset=jobshop-small env=jobshop-10x10     # swap the env group preset
    schedgym-train preset=jobshop-small backend=rllib rllib.num_env_runners=2
    schedgym-train resume=runs/jobshop-small-20260101-120000 # continue a run
    schedgym-train preset=jobshop-small dry_run=true          # print the resolved config only
    schedgym-train list=true                                  # the presets
    schedgym-train --help                                     # every key, its type, default and meaning

The resolved config is printed and saved as ``<run>/config.yaml``; the run folder gets ``last.pt``,
``best.pt`` (best on the validation set), ``checkpoints/`` (``step_<n>.pt`` and the resumable set
``state/``, written as one unit), ``metrics.jsonl`` and, once finished, ``summary.json`` (layout and the
trainer-state format: :mod:`schedgym.train.common`). Evaluate a run with
``schedgym-eval ... policies=[mwkr,gnn:<run>/best.pt]``.

A run folder is always resumable or restartable: ``resume=<run>`` continues from the newest complete
checkpoint set, or restarts the run from its ``config.yaml`` when it was killed before its first one;
a fresh start in such a folder also restarts it, while one in a folder holding a finished or resumable
run is refused. Every bad input (a key, a value, an env kwarg, a baseline that does not serve
``env.id``, a damaged run folder) is one line naming it and exit code 2, before anything is written.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Any

from dataclasses import dataclass, fields
from typing import Optional

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..agents.spec import PolicyError
from ..configs.grammar import UsageError, format_help, package_version, parse_overrides, run_cli, schema_keys
from .config import ConfigError, TrainConfig, _load_yaml, list_presets, resolve_config


@dataclass
class TrainCLI:
    """Keys of the command itself (the rest are training-config keys)."""

    preset: Optional[str] = None  # a train preset in configs/train/ (or a YAML path); see list=true
    resume: Optional[str] = None  # a run folder to continue (its config.yaml, then the overrides)
    dry_run: bool = False  # print the resolved config and exit
    list: bool = False  # list the train, env and agent presets and exit


_CLI_KEYS = {f.name for f in fields(TrainCLI)}
SUMMARY = ("Train a GNN-PPO agent (SB3 or RLlib) on any schedgym environment. Group presets: env=<name> and "
           "agent=<name> swap a whole group (configs/env/, configs/agent/).")
EXAMPLES = (
    "preset=jobshop-small",
    "preset=jobshop-small trainer.total_steps=20000 agent.model.hidden=32",
    "preset=jobshop-small backend=rllib rllib.num_env_runners=2",
    "resume=runs/jobshop-small-20260101-120000",
    "preset=jobshop-small dry_run=true",
)


def _split(argv: list[str]) -> tuple[TrainCLI, list[str]]:
    """The command's own keys (:class:`TrainCLI`) and the training-config overrides."""
    bad = [a for a in argv if "=" not in a or a.startswith("-")]
    if bad:
        raise UsageError(f"argument {bad[0]!r} is not key=value (see schedgym-train --help)")
    own = [a for a in argv if a.split("=", 1)[0] in _CLI_KEYS]
    parsed = parse_overrides("schedgym-train", own, TrainCLI, SUMMARY, EXAMPLES)
    return OmegaConf.to_object(parsed), [a for a in argv if a not in own]  # type: ignore[return-value]


def print_help() -> None:
    print(format_help("schedgym-train", SUMMARY, [*schema_keys(TrainCLI), *schema_keys(TrainConfig)], EXAMPLES))


def build(argv: list[str] | None = None) -> tuple[Any, Path, bool, TrainCLI]:
    """Parse the command line into ``(config, run_dir, resuming, cli)``; raises ConfigError / UsageError."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print_help()
        raise SystemExit(0)
    if "--version" in argv:
        print(f"schedgym-train (schedgym {package_version()})")
        raise SystemExit(0)
    cli, overrides = _split(argv)
    if cli.resume:
        run_dir = Path(cli.resume)
        saved = run_dir / "config.yaml"
        if not saved.is_file():
            raise ConfigError(f"resume={cli.resume}: no config.yaml in that folder")
        cfg = resolve_config(None, overrides, base=_load_yaml(saved))
        cfg.run_dir = str(run_dir)
        return cfg, run_dir, True, cli
    if cli.list:
        return None, Path("."), False, cli
    if cli.preset is None and not overrides:
        raise UsageError("give preset=<name> (see list=true) or overrides (see --help)")
    cfg = resolve_config(cli.preset, overrides)
    if cfg.run_dir:
        run_dir = Path(cfg.run_dir)
    else:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        run_dir = Path("runs") / f"{cfg.name}-{stamp}"
        try:
            cfg.run_dir = str(run_dir)
        except OmegaConfBaseException as exc:  # e.g. a name holding an unfinished "${"
            raise ConfigError(f"key 'name': {cfg.name!r} cannot name a run folder ({str(exc).splitlines()[0]})") from None
    return cfg, run_dir, False, cli


def train(cfg: Any, run_dir: Path, resume: bool) -> dict[str, Any]:
    """Check the env and the baselines, write the config, run the backend; returns its summary (also in
    summary.json, written only when the run finished).

    A fresh start in a folder that holds a finished or resumable run is refused; one in a folder left by a
    run interrupted before its first checkpoint set clears that folder's partial files and starts afresh.
    """
    from .common import CheckpointSet, check_baselines, check_env_config, check_resumable, write_text_atomic

    env = check_env_config(cfg)  # a bad env id / kwarg fails here, before anything is written
    env.close()
    check_baselines(cfg)  # val.baselines that do not serve env.id: before anything is written
    from .imitation import check_imitation

    check_imitation(cfg)  # an imitation.expert that cannot act on the training env: likewise
    init = None
    if not resume:
        from .common import load_init

        init = load_init(cfg)  # an agent.init that is missing or does not fit agent.model / the env: likewise
    if resume:
        check_resumable(run_dir)  # a damaged or older run folder: refused before config.yaml is rewritten
    ckpts = CheckpointSet(run_dir)
    if not resume and ckpts.holds_run():
        raise ConfigError(f"run_dir {run_dir} already holds a run; use resume={run_dir} or another run_dir")
    if not resume:
        ckpts.clear_partial()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(cfg))
    if cfg.trainer.reuse_freed_memory:
        from .allocator import on_glibc, reuse_freed_memory

        # the process's C allocator: the same numbers, fewer page faults (off glibc there is nothing to set)
        if not reuse_freed_memory() and on_glibc():
            print("trainer.reuse_freed_memory: glibc refused a mallopt setting; training goes on with its defaults "
                  "for that setting")
    if cfg.backend == "sb3":
        from .sb3_backend import train_sb3

        summary = train_sb3(cfg, run_dir, resume, init=init)
    else:
        from .rllib_backend import train_rllib

        summary = train_rllib(cfg, run_dir, resume, init=init)
    summary["run_dir"] = str(run_dir)
    write_text_atomic(run_dir / "summary.json", json.dumps(summary, indent=2, default=str))
    return summary


def main(argv: list[str] | None = None) -> int:
    try:
        import torch  # noqa: F401
        import torch_geometric  # noqa: F401
    except ImportError as exc:  # the light install
        print(f"schedgym-train: error: training needs the [train] extra: pip install 'schedgym[train]' ({exc})",
              file=sys.stderr)
        return 2
    return run_cli("schedgym-train", lambda: _main(argv), usage_errors=(ConfigError, PolicyError))


def _main(argv: list[str] | None) -> int:
    cfg, run_dir, resume, cli = build(argv)
    if cli.list:
        for group in ("train", "env", "agent"):
            print(f"{group}: {', '.join(list_presets(group))}")
        return 0
    print(OmegaConf.to_yaml(cfg), end="")
    if cli.dry_run:
        return 0
    try:
        summary = train(cfg, run_dir, resume)
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from exc
    print(json.dumps(summary, indent=2, default=str))
    print(f"checkpoint: {run_dir / 'best.pt'}  (evaluate with policies=[...,gnn:{run_dir / 'best.pt'}])")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
