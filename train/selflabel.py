"""Self-labeling rounds (Corsini et al. 2024) for a GNN policy: the policy labels fresh instances with the
best of its own ``k`` schedules and is trained to imitate them (cross-entropy on the best sample only).

Usage::

    python -m schedgym.train.selflabel rounds=8 run_dir=runs/selflabel            # preset jobshop-selflabel
    python -m schedgym.train.selflabel rounds=3 k=32 init=runs/selflabel/best.pt run_dir=runs/more \\
        imitation.episodes=60                                                      # any training key

Round ``r`` (1, 2, ...) is an ordinary ``schedgym-train`` run in ``<run_dir>/round_<r>`` on the preset,
with ``agent.init`` and ``imitation.expert=gnn:<prev>#k=<k>`` both set to ``prev``: ``init`` for round 1,
round ``r - 1``'s ``best.pt`` after it. Each round labels new instances (``imitation.seed`` advances by
``imitation.episodes`` a round). With the preset's ``trainer.total_steps=0`` a round is imitation only; a
positive value adds that many PPO steps after the cloning.

Every round's policy is validated on the preset's validation set (``val.*``: random instances, not a
benchmark), and so is ``init`` (round 0). ``<run_dir>/selflabel.json`` lists each round (validation
objective and gap to the baselines, the labels' mean objective, the clone's accuracy, wall seconds) and the
chosen one (best validation objective); ``<run_dir>/best.pt`` is a copy of the chosen checkpoint and
``<run_dir>/selflabel.png`` the validation curve over rounds. A rerun with the same ``run_dir`` reuses the
finished rounds (those with a ``summary.json``), resumes an interrupted one and goes on to ``rounds``.
``touch <run_dir>/STOP`` stops a run between rounds (the round under way finishes, the summary is written).

``agent.model.compile=true`` compiles the cloning's GIN layers, the validation and the labeler's rollouts
(``gnn:<prev>#k=<k>&compile``): the labels, most of a round's time on a CPU, come about three times faster.
The labeler is the same function to float rounding, but a sampled rollout whose draw flips on a rounding
difference goes on differently, so the labels are not the eager ones bit for bit. Execution options do not
change a run's lineage: a run may go on with or without them (it then no longer repeats bit for bit).
"""

from __future__ import annotations

import functools
import json
import shutil
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from ..configs.grammar import UsageError, parse_overrides, run_cli
from .config import ConfigError, resolve_config

SUMMARY_FILE = "selflabel.json"
FORMAT = "schedgym-selflabel/1"


@dataclass
class SelfLabelCLI:
    """Keys of the driver itself (the rest are training-config overrides applied to every round)."""

    preset: str = "jobshop-selflabel"  # the train preset of each round (configs/train/)
    rounds: int = 1  # how many self-labeling rounds in all (finished ones in run_dir are reused)
    k: int = 16  # schedules per labeled instance: the greedy one and k - 1 sampled; the best is the label
    init: Optional[str] = None  # round 1's labeler and starting weights (null: the preset's agent.init)
    run_dir: Optional[str] = None  # the folder holding round_<r>/ and selflabel.json (required)
    figure: bool = True  # write <run_dir>/selflabel.png (the validation objective over rounds)


_OWN = {f.name for f in fields(SelfLabelCLI)}
HELP = ("Self-labeling rounds: each round, the current policy labels new instances with the best of k of its "
        "own schedules and is cloned onto them (schedgym-train with agent.init and imitation.expert=gnn:<prev>#k=<k>).")
EXAMPLES = ("rounds=8 run_dir=runs/selflabel", "rounds=3 k=32 init=runs/selflabel/best.pt run_dir=runs/more imitation.episodes=60")


def split_args(argv: list[str]) -> tuple[SelfLabelCLI, list[str]]:
    """The driver's own keys and the training-config overrides; checks the driver's values."""
    bad = [a for a in argv if "=" not in a or a.startswith("-")]
    if bad and not any(a in ("-h", "--help", "--version") for a in argv):
        raise UsageError(f"argument {bad[0]!r} is not key=value (see --help)")
    own = [a for a in argv if a.split("=", 1)[0] in _OWN or a in ("-h", "--help", "--version")]
    cli: SelfLabelCLI = OmegaConf.to_object(parse_overrides("selflabel", own, SelfLabelCLI, HELP, EXAMPLES))  # type: ignore[assignment]
    rest = [a for a in argv if a not in own]
    if cli.rounds < 1:
        raise UsageError(f"rounds must be >= 1, got {cli.rounds}")
    if cli.k < 2:
        raise UsageError(f"k must be >= 2 (the greedy schedule and at least one sample), got {cli.k}")
    if not cli.run_dir:
        raise UsageError("run_dir is required (the folder of the rounds)")
    for a in rest:
        key = a.split("=", 1)[0]
        if key in ("run_dir", "agent.init", "imitation.expert", "imitation.seed", "name"):
            raise UsageError(f"{key} is set by the driver for each round; give init=/k=/run_dir= instead")
    return cli, rest


#: a file in ``run_dir`` that stops the driver between rounds: it finishes the round under way, writes the
#: summary and exits before the next one starts (a rerun without the file goes on from there)
STOP_FILE = "STOP"

#: what the labeler's policy spec gets when the rounds run with ``agent.model.compile=true``: its rollouts through
#: ``torch.compile`` too (best of 16 on a 15x15 job shop about three times faster; the same function to rounding)
COMPILED_LABELER = "&compile"


def round_config(cli: SelfLabelCLI, overrides: list[str], r: int, prev: str) -> DictConfig:
    """The training config of round ``r`` (labeled and started by ``prev``). With ``agent.model.compile=true``
    the labeler's best-of-``k`` rollouts are compiled as well (:data:`COMPILED_LABELER`)."""
    base = resolve_config(cli.preset, overrides)
    labeler = f"gnn:{prev}#k={cli.k}" + (COMPILED_LABELER if base.agent.model.compile else "")
    episodes = int(base.imitation.episodes)
    seed0 = int(base.trainer.seed if base.imitation.seed is None else base.imitation.seed)
    root = Path(str(cli.run_dir))
    return resolve_config(cli.preset, [
        *overrides,
        f"name={base.name}-round{r}",
        f"run_dir={root / f'round_{r}'}",
        f"agent.init={prev}",
        f"imitation.expert={labeler}",
        f"imitation.seed={seed0 + (r - 1) * episodes}",
    ])


def first_labeler(cli: SelfLabelCLI, overrides: list[str]) -> str:
    """Round 1's checkpoint: ``init=``, else the preset's ``agent.init`` (one of them is required)."""
    from .common import checkpoint_spec

    if cli.init:
        return checkpoint_spec(cli.init, "init")
    base = resolve_config(cli.preset, overrides)
    if not base.agent.init:
        raise ConfigError("selflabel needs a first labeler: init=<checkpoint> or a preset with agent.init")
    return checkpoint_spec(base.agent.init, "agent.init")


def validate_checkpoint(cfg: DictConfig, path: str) -> dict[str, float]:
    """The validation record (``val/*``) of the checkpoint ``path`` on ``cfg``'s validation set."""
    from ..agents.gnn.checkpoint import load_checkpoint
    from .common import Validator

    module, _ = load_checkpoint(path)
    validator = Validator(cfg)
    validator.compute_baselines()
    return validator.run(module)


def run_round(cfg: DictConfig) -> dict[str, Any]:
    """Train one round (or resume / reuse it); returns its ``summary.json``."""
    from .cli import train
    from .common import CheckpointSet

    run_dir = Path(str(cfg.run_dir))
    done = run_dir / "summary.json"
    if done.is_file():
        refuse_other_lineage(cfg, run_dir)
        print(f"selflabel: {run_dir} is finished, reused")
        return json.loads(done.read_text())
    resume = (run_dir / "config.yaml").is_file() and CheckpointSet(run_dir).latest() is not None
    return train(cfg, run_dir, resume)


#: the keys of a round's config that make it the same round: reusing a finished round made with other values
#: would mix two lineages in one run folder (execution options aside: see :func:`lineage_value`)
LINEAGE_KEYS: tuple[str, ...] = ("env", "agent.model", "agent.init", "imitation", "val.seeds", "val.env_kwargs",
                                 "trainer.seed")


@functools.lru_cache(maxsize=1)
def _schema_defaults() -> dict[str, Any]:
    """The training schema's default at each of :data:`LINEAGE_KEYS` (plain containers), built once."""
    from .config import TrainConfig

    schema = OmegaConf.structured(TrainConfig)
    defaults = {key: OmegaConf.select(schema, key) for key in LINEAGE_KEYS}
    return {key: OmegaConf.to_container(v) if OmegaConf.is_config(v) else v for key, v in defaults.items()}


def lineage_value(cfg: Any, key: str) -> Any:
    """``cfg``'s value at ``key`` as the lineage compares it: plain containers in which a key the config lacks
    counts as its schema default (a round saved before a key was added to the schema, e.g. the DAgger
    settings, still matches a run that leaves it at its default), without the model's execution options
    (``compile``, ``micro_batch``, ...: how the function is computed, not which) and without the labeler's
    ``&compile``, so a run may go on with or without them."""
    from ..agents.gnn.model import EXECUTION_OPTIONS

    value = OmegaConf.select(cfg, key)
    value = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
    default = _schema_defaults().get(key)
    if isinstance(value, dict) and isinstance(default, dict):
        value = {**default, **value}
    if key == "agent.model" and isinstance(value, dict):
        value = {k: v for k, v in value.items() if k not in EXECUTION_OPTIONS}
    if key == "imitation" and isinstance(value, dict) and isinstance(value.get("expert"), str):
        value = {**value, "expert": value["expert"].removesuffix(COMPILED_LABELER)}
    return value


def refuse_other_lineage(cfg: DictConfig, run_dir: Path) -> None:
    """Raise :class:`ConfigError` when the finished round in ``run_dir`` was made with other
    :data:`LINEAGE_KEYS` values than ``cfg`` (another ``init=``, ``k=``, preset or override), naming them."""
    saved_path = run_dir / "config.yaml"
    if not saved_path.is_file():
        return
    saved = OmegaConf.load(saved_path)
    differ = []
    for key in LINEAGE_KEYS:
        mine, theirs = lineage_value(cfg, key), lineage_value(saved, key)
        if mine != theirs:
            differ.append(f"{key}: {theirs!r} there, {mine!r} now")
    if differ:
        raise ConfigError(f"selflabel: {run_dir} holds a finished round made with other settings ("
                          + "; ".join(differ) + "); use another run_dir= or the settings it was made with")


def round_record(r: int, checkpoint: str, summary: dict[str, Any] | None, val: dict[str, float],
                 seconds: float | None) -> dict[str, Any]:
    """One row of ``selflabel.json``."""
    im = (summary or {}).get("imitation") or {}
    return {
        "round": r,
        "checkpoint": checkpoint,
        "val_objective": val.get("val/objective"),
        "val_gap_to_best_baseline": val.get("val/gap_to_best_baseline"),
        "label_objective": im.get("expert_objective"),
        "label_states": im.get("train_states"),
        "clone_accuracy": im.get("accuracy"),
        "clone_holdout_accuracy": im.get("holdout_accuracy"),
        "ppo_steps": (summary or {}).get("timesteps"),
        "seconds": seconds,
    }


def round_validation(run_dir: Path) -> dict[str, float]:
    """The validation record (``val/*``) of a finished round's ``best.pt``, as written in it."""
    from ..agents.gnn.checkpoint import load_checkpoint

    _, meta = load_checkpoint(Path(run_dir) / "best.pt")
    if not meta.get("validation"):
        raise ValueError(f"{run_dir}/best.pt holds no validation record")
    return dict(meta["validation"])


def choose(rows: list[dict[str, Any]], sense: str) -> dict[str, Any]:
    """The row with the best validation objective (the earliest on a tie)."""
    best = rows[0]
    for row in rows[1:]:
        a, b = row["val_objective"], best["val_objective"]
        if (a < b) if sense == "min" else (a > b):
            best = row
    return best


def plot(rows: list[dict[str, Any]], baselines: dict[str, float], out: Path, title: str) -> Path:
    """The validation objective over rounds (round 0: the first labeler), the baselines dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 3.8))
    xs = [row["round"] for row in rows]
    ax.plot(xs, [row["val_objective"] for row in rows], "o-", label="GNN greedy (round 0: the first labeler)")
    for i, (name, value) in enumerate(sorted(baselines.items())):
        ax.axhline(value, ls="--", lw=1, color=f"C{i + 1}", label=name)
    ax.set_xlabel("self-labeling round")
    ax.set_ylabel("validation objective (mean)")
    ax.set_title(title, fontsize=7.5)
    ax.set_xticks(xs)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_title(cli: SelfLabelCLI, cfg: DictConfig) -> str:
    """``<preset>: labels best of k on <train kwargs>; greedy validation on <val kwargs>, <n> seeds``."""
    def kw(d: Any) -> str:
        return ", ".join(f"{k}={v}" for k, v in dict(OmegaConf.to_container(d)).items()) or "the training env"  # type: ignore[arg-type]

    return (f"{cli.preset}: labels best of k={cli.k} on {kw(cfg.env.kwargs)}\n"
            f"greedy validation on {kw(cfg.val.env_kwargs)}, {len(cfg.val.seeds)} seeds")


def write_summary(root: Path, rows: list[dict[str, Any]], cfg: DictConfig, cli: SelfLabelCLI,
                  baselines: dict[str, float]) -> dict[str, Any]:
    """``selflabel.json`` and ``best.pt`` (a copy of the chosen round's checkpoint)."""
    from .common import Validator, write_text_atomic

    chosen = choose(rows, Validator(cfg).objective.sense)
    summary = {"format": FORMAT, "preset": cli.preset, "k": cli.k, "rounds": rows, "chosen_round": chosen["round"],
               "chosen_checkpoint": chosen["checkpoint"], "val_baselines": baselines,
               "val_seeds": list(cfg.val.seeds), "val_env_kwargs": OmegaConf.to_container(cfg.val.env_kwargs),
               "train_env_kwargs": OmegaConf.to_container(cfg.env.kwargs),
               "train_seconds": sum(float(row["seconds"] or 0.0) for row in rows)}
    write_text_atomic(root / SUMMARY_FILE, json.dumps(summary, indent=2))
    from ..agents.gnn.checkpoint import resolve_checkpoint_path

    src = resolve_checkpoint_path(chosen["checkpoint"])
    tmp = root / "best.pt.tmp"
    shutil.copyfile(src, tmp)
    tmp.replace(root / "best.pt")
    return summary


def selflabel(cli: SelfLabelCLI, overrides: list[str]) -> dict[str, Any]:
    """Run (or continue) the rounds; returns the ``selflabel.json`` summary."""
    import torch

    root = Path(str(cli.run_dir))
    prev = first_labeler(cli, overrides)
    cfg1 = round_config(cli, overrides, 1, prev)
    from .common import load_init

    load_init(cfg1)  # a missing or unfitting first labeler fails here, naming agent.init
    torch.set_num_threads(int(cfg1.trainer.torch_threads))
    root.mkdir(parents=True, exist_ok=True)
    old = json.loads((root / SUMMARY_FILE).read_text()) if (root / SUMMARY_FILE).is_file() else {}
    round0 = next((row for row in old.get("rounds", []) if row["round"] == 0 and row["checkpoint"] == prev), None)
    val0 = validate_checkpoint(cfg1, prev) if round0 is None else {"val/objective": round0["val_objective"],
                                                                    "val/gap_to_best_baseline": round0["val_gap_to_best_baseline"]}
    baselines = {k[len("val/baseline/"):]: v for k, v in val0.items() if k.startswith("val/baseline/")} or old.get("val_baselines", {})
    rows = [round_record(0, prev, None, val0, None)]
    seconds_of = {row["round"]: row["seconds"] for row in old.get("rounds", [])}
    out: dict[str, Any] | None = None
    for r in range(1, cli.rounds + 1):
        cfg = round_config(cli, overrides, r, prev)
        run_dir = Path(str(cfg.run_dir))
        reused = (run_dir / "summary.json").is_file()
        if not reused and (root / STOP_FILE).exists():
            print(f"selflabel: {root / STOP_FILE} exists: stopping before round {r} (remove it to go on)")
            break
        t0 = time.perf_counter()
        summary = run_round(cfg)
        seconds = seconds_of.get(r) if reused else time.perf_counter() - t0
        prev = str(run_dir / "best.pt")
        rows.append(round_record(r, prev, summary, round_validation(run_dir), seconds))
        print(f"selflabel: round {r}: validation {rows[-1]['val_objective']:.2f} "
              f"(round 0: {rows[0]['val_objective']:.2f}), labels {rows[-1]['label_objective']}")
        out = write_summary(root, rows, cfg1, cli, baselines)
        if cli.figure:
            plot(rows, baselines, root / "selflabel.png", plot_title(cli, cfg1))
    return out if out is not None else write_summary(root, rows, cfg1, cli, baselines)


def main(argv: list[str] | None = None) -> int:
    from ..agents.spec import PolicyError

    def body() -> int:
        cli, rest = split_args(list(sys.argv[1:] if argv is None else argv))
        summary = selflabel(cli, rest)
        chosen = summary["chosen_round"]
        print(json.dumps({"chosen_round": chosen, "best": str(Path(str(cli.run_dir)) / "best.pt"),
                          "val_objective": [row["val_objective"] for row in summary["rounds"]]}, indent=1))
        return 0

    return run_cli("selflabel", body, usage_errors=(ConfigError, PolicyError))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
