"""What both backends share: env construction, the validation set, metric logging (wandb + JSONL), and the
run folder's checkpoint sets.

Run folder layout (both backends)::

    config.yaml              the resolved config (rewritten atomically: temp file + rename)
    metrics.jsonl            one JSON record per line (step, time, values)
    last.pt, best.pt         backend-independent GNN checkpoints (each written atomically)
    checkpoints/step_<n>.pt  the GNN checkpoint at step n (step_0.pt: the initial weights)
    checkpoints/state/       the one resumable checkpoint set:
        last.zip | rllib/    the backend's own state (SB3 save / RLlib Algorithm.save_to_path)
        trainer_state.json   our counters, best validation value, RNG states, wandb id (format below)
        manifest.json        written last: format, step, the set's files with their sizes, and the length
                             of metrics.jsonl when the set was written
    summary.json             written (atomically) only when the run finished

**Checkpoint sets are written as one unit**: everything goes into ``checkpoints/state.tmp/``, the
manifest last; then ``state`` is renamed to ``state.old``, ``state.tmp`` to ``state``, and ``state.old``
is deleted. At every instant one complete set (a manifest whose files exist with their sizes) is on
disk, so a run killed at any point (or on a full disk) resumes from the newest complete set; a run killed
before its first set restarts from scratch (``resume=`` on it, or a fresh start in the same folder).
On resume ``metrics.jsonl`` is cut back to its length at the set, so no record is repeated.

**Trainer state format** (``schedgym-trainer-state/1``): JSON, no pickle. Keys: ``format``,
``timesteps``, ``next_ckpt``, ``next_eval``, ``best_val`` (number or null), ``best_step``,
``baselines`` (baseline name -> objectives per validation seed), ``wandb_id``, and ``rng`` with
``python`` (``random.getstate()`` as lists), ``numpy`` (``np.random.get_state(legacy=False)`` with the key
as a list) and ``torch`` (``torch.get_rng_state()`` as a list of bytes). A run folder of an older release
(``checkpoints/trainer_state.pt``, a pickle) is refused, never unpickled.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from ..agents.base import run_episode
from ..agents.gnn.checkpoint import save_checkpoint
from ..agents.gnn.model import GraphActorCritic
from ..agents.gnn.policy import GNNPolicy
from .config import ConfigError


def env_kwargs(cfg: DictConfig) -> dict[str, Any]:
    return dict(OmegaConf.to_container(cfg.env.kwargs, resolve=True))  # type: ignore[arg-type]


def policy_env_kwargs(cfg: DictConfig) -> dict[str, Any]:
    kw = env_kwargs(cfg)
    return {k: kw[k] for k in cfg.env.policy_kwargs}


def make_env(env_id: str, kwargs: dict[str, Any]) -> gym.Env:
    """``gym.make`` with the schedgym ids registered and a readable error for bad kwargs."""
    import schedgym.envs  # noqa: F401 - registers the ids

    try:
        return gym.make(env_id, **kwargs)
    except TypeError as exc:
        raise ValueError(f"env.kwargs {kwargs} do not fit {env_id}: {exc}") from exc


def check_env_config(cfg: DictConfig) -> gym.Env:
    """Build the env once (before training) so that a bad id or kwarg fails early, naming it."""
    import schedgym.envs  # noqa: F401

    if cfg.env.id not in gym.registry:
        from schedgym.envs import ENV_IDS

        raise ConfigError(f"env.id {cfg.env.id!r} is not registered; schedgym ids: {sorted(ENV_IDS)}")
    try:
        return make_env(cfg.env.id, env_kwargs(cfg))
    except Exception as exc:  # noqa: BLE001 - any failure to build the env is a bad env.kwargs (e.g. an unknown instance)
        msg = str(exc.args[0]) if exc.args else type(exc).__name__
        raise ConfigError(f"env.kwargs: {type(exc).__name__}: {msg.splitlines()[0] if msg else ''}") from None


TRAINER_STATE_FORMAT = "schedgym-trainer-state/1"
MANIFEST = "manifest.json"
TRAINER_STATE = "trainer_state.json"


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file and a rename (never half-written)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class CheckpointSet:
    """The resumable checkpoint set of a run folder, written as one unit (see the module docstring)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.root = self.run_dir / "checkpoints"
        self.current, self.staging, self.old = self.root / "state", self.root / "state.tmp", self.root / "state.old"

    def begin(self) -> Path:
        """A fresh, empty staging folder for the next set."""
        if self.staging.exists():
            shutil.rmtree(self.staging)
        self.staging.mkdir(parents=True)
        return self.staging

    def commit(self, trainer_state: dict[str, Any], metrics_bytes: int) -> Path:
        """Write the trainer state and the manifest (last) into the staging folder, then swap it in."""
        staging = self.staging
        write_text_atomic(staging / TRAINER_STATE, json.dumps({"format": TRAINER_STATE_FORMAT, **trainer_state}))
        files = {}
        for f in sorted(staging.rglob("*")):
            if f.is_file():
                files[str(f.relative_to(staging))] = f.stat().st_size
        manifest = {"format": TRAINER_STATE_FORMAT, "timesteps": int(trainer_state.get("timesteps", 0)),
                    "files": files, "metrics_bytes": int(metrics_bytes), "time": time.time()}
        write_text_atomic(staging / MANIFEST, json.dumps(manifest, indent=1))
        if self.current.exists():
            if self.old.exists():
                shutil.rmtree(self.old)
            self.current.rename(self.old)
        staging.rename(self.current)
        if self.old.exists():
            shutil.rmtree(self.old)
        return self.current

    @staticmethod
    def _manifest(folder: Path) -> dict[str, Any] | None:
        """The manifest of a complete set in ``folder`` (its files present with their sizes), else None."""
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
            files = manifest["files"]
            int(manifest["timesteps"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        for name, size in files.items():
            f = folder / name
            if not f.is_file() or f.stat().st_size != size:
                return None
        return manifest

    def latest(self) -> tuple[Path, dict[str, Any]] | None:
        """The newest complete set (``state``; or ``state.tmp`` / ``state.old`` when killed mid-swap)."""
        found = [(folder, m) for folder in (self.current, self.staging, self.old)
                 if (m := self._manifest(folder)) is not None]
        if not found:
            return None
        return max(found, key=lambda fm: fm[1]["timesteps"])

    def recover(self) -> tuple[Path, dict[str, Any]] | None:
        """:meth:`latest`, moved into place as ``state`` (the other folders, older or incomplete, removed)."""
        found = self.latest()
        if found is None:
            return None
        folder, manifest = found
        if folder != self.current:
            if self.current.exists():
                shutil.rmtree(self.current)  # older or incomplete: the newest complete set is ``folder``
            folder.rename(self.current)
        for other in (self.staging, self.old):
            if other.exists():
                shutil.rmtree(other)
        return self.current, manifest

    def damaged(self) -> list[Path]:
        """Set folders that should be complete but are not (files missing or of other sizes than their
        manifest says): ``state`` and ``state.old`` always are, ``state.tmp`` once its manifest is written."""
        out = []
        for folder in (self.current, self.old, self.staging):
            if folder == self.staging and not (folder / MANIFEST).exists():
                continue  # a set still being written (killed mid-write): simply not a set
            if folder.exists() and self._manifest(folder) is None:
                out.append(folder)
        return out

    def legacy(self) -> Path | None:
        """A pickled trainer state of an older release (refused, never unpickled)."""
        f = self.root / "trainer_state.pt"
        return f if f.exists() else None

    def holds_run(self) -> bool:
        """Whether the folder holds a run that a fresh start would overwrite (finished, or resumable)."""
        return ((self.run_dir / "summary.json").is_file() or self.latest() is not None
                or self.legacy() is not None or bool(self.damaged()))

    def clear_partial(self) -> None:
        """Remove what an interrupted run left before its first complete set, so it can start afresh.

        Only in a folder that a run started (it has ``config.yaml``); a ``checkpoints/`` folder elsewhere
        is not ours to delete (ConfigError)."""
        if not (self.run_dir / "config.yaml").is_file():
            if self.root.exists():
                raise ConfigError(f"run_dir {self.run_dir} has a checkpoints/ folder but no config.yaml: not a "
                                  "schedgym run; choose another run_dir")
            return
        if self.root.exists():
            shutil.rmtree(self.root)
        for name in ("metrics.jsonl", "last.pt", "best.pt", "summary.json"):
            (self.run_dir / name).unlink(missing_ok=True)


def _read_trainer_state(run_dir: Path, folder: Path) -> dict[str, Any]:
    path = folder / TRAINER_STATE
    try:
        state = json.loads(path.read_text())
        if not isinstance(state, dict) or state.get("format") != TRAINER_STATE_FORMAT:
            raise ValueError(f"format is not {TRAINER_STATE_FORMAT!r}")
        for key in ("timesteps", "next_ckpt", "next_eval", "best_val", "best_step", "rng"):
            state[key]  # noqa: B018 - presence check
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot resume {run_dir}: damaged trainer state {path} "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    return state


def check_resumable(run_dir: Path) -> None:
    """Raise ConfigError if resuming ``run_dir`` must fail (a damaged set or trainer state, an older pickled
    state), without changing anything in it; a folder with no set at all is fine (it restarts)."""
    ckpts = CheckpointSet(run_dir)
    found = ckpts.latest()
    if found is not None:
        _read_trainer_state(run_dir, found[0])
        return
    damaged = ckpts.damaged()
    if damaged:
        raise ConfigError(f"cannot resume {run_dir}: damaged checkpoint set {damaged[0]} (its files do not match "
                          f"its {MANIFEST}); start a new run in another run_dir")
    legacy = ckpts.legacy()
    if legacy is not None:
        raise ConfigError(
            f"cannot resume {run_dir}: {legacy} is a pickled trainer state of an older release, which is "
            "not loaded (unpickling can run code); start a new run in another run_dir"
        )


def load_resume_state(run_dir: Path, resume: bool) -> tuple[dict[str, Any], Path] | None:
    """``(trainer state, set folder)`` of the newest complete checkpoint set when resuming, else None.

    Resuming a folder without a complete set (killed before its first checkpoint) is a restart: ``None``
    after clearing the partial files. A damaged set or trainer state, or an older pickled one, raises
    ConfigError (see :func:`check_resumable`).
    """
    if not resume:
        return None
    check_resumable(run_dir)
    ckpts = CheckpointSet(run_dir)
    found = ckpts.recover()
    if found is None:
        print(f"{run_dir}: no complete checkpoint set (interrupted before its first checkpoint): starting afresh")
        ckpts.clear_partial()
        return None
    folder, manifest = found
    state = _read_trainer_state(run_dir, folder)
    state["metrics_bytes"] = int(manifest.get("metrics_bytes", 0))
    return state, folder


def check_baselines(cfg: DictConfig) -> None:
    """Every ``val.baselines`` name builds and serves ``env.id`` (else ConfigError naming the key)."""
    from ..agents.registry import make_policy
    from ..agents.spec import PolicyError

    for name in cfg.val.baselines:
        try:
            make_policy(str(name), env_id=cfg.env.id)
        except (PolicyError, ValueError, KeyError, TypeError) as exc:
            msg = str(exc.args[0]) if exc.args else str(exc)
            raise ConfigError(f"key 'val.baselines': {msg.splitlines()[0] if msg else type(exc).__name__}") from None


def make_validator(cfg: DictConfig, saved: dict[str, Any] | None) -> "Validator":
    """A :class:`Validator` whose baseline objectives come from ``saved`` when resuming (else computed)."""
    validator = Validator(cfg)
    if saved is not None and saved.get("baselines") is not None:
        validator.baseline_objectives = saved["baselines"]
    else:
        validator.compute_baselines()
    return validator


@dataclass
class Validator:
    """Episodes of the current module on a fixed set of seeds (greedy, or sampled and seeded by each seed
    with ``val.sample``); the gap to baselines."""

    cfg: DictConfig
    baseline_objectives: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kwargs = {**env_kwargs(self.cfg), **dict(OmegaConf.to_container(self.cfg.val.env_kwargs))}  # type: ignore[arg-type]
        self.seeds = [int(s) for s in self.cfg.val.seeds]
        env = make_env(self.cfg.env.id, self.kwargs)
        self.objective = env.unwrapped.objective
        env.close()

    def compute_baselines(self) -> None:
        from ..agents.registry import make_policy

        for name in self.cfg.val.baselines:
            pol = make_policy(name, env_id=self.cfg.env.id)
            env = make_env(self.cfg.env.id, {**self.kwargs, **pol.env_kwargs})
            self.baseline_objectives[name] = [run_episode(env, pol, seed=s).objective for s in self.seeds]
            env.close()

    def run(self, module: GraphActorCritic) -> dict[str, float]:
        was_training = module.training
        module.eval()
        # threads=None: keep the trainer's torch threads (the policy's default, 1, would set them process-wide)
        pol = GNNPolicy(module=module, meta={"module": module.extra_state(), "policy_env_kwargs": {}}, threads=None,
                        sample=bool(self.cfg.val.sample))
        env = make_env(self.cfg.env.id, self.kwargs)
        objs = [run_episode(env, pol, seed=s).objective for s in self.seeds]
        env.close()
        module.train(was_training)
        out = {"val/objective": float(np.mean(objs))}
        if self.baseline_objectives:
            best = [
                min(v) if self.objective.sense == "min" else max(v)
                for v in zip(*self.baseline_objectives.values())
            ]
            gaps = [self.objective.gap(o, b) for o, b in zip(objs, best)]
            out["val/gap_to_best_baseline"] = float(np.mean(gaps))
            for name, vals in self.baseline_objectives.items():
                out[f"val/baseline/{name}"] = float(np.mean(vals))
        return out

    def better(self, a: float, b: float | None) -> bool:
        return b is None or self.objective.better(a, b)


class MetricLog:
    """Appends metric dicts to ``metrics.jsonl`` and to wandb (offline by default)."""

    def __init__(self, cfg: DictConfig, run_dir: Path, resume_id: str | None = None,
                 truncate_to: int | None = None) -> None:
        self.path = run_dir / "metrics.jsonl"
        if truncate_to is not None and self.path.is_file() and self.path.stat().st_size > truncate_to:
            # resuming from a checkpoint set: drop the records written after it (they are logged again)
            with self.path.open("r+b") as f:
                f.truncate(truncate_to)
        self.wandb_run = None
        mode = os.environ.get("WANDB_MODE", cfg.wandb.mode)
        if mode != "disabled":
            import wandb

            self.wandb_run = wandb.init(
                project=cfg.wandb.project,
                entity=cfg.wandb.entity,
                name=run_dir.name,
                dir=str(run_dir),
                mode=mode,
                config=OmegaConf.to_container(cfg, resolve=True),
                tags=list(cfg.wandb.tags),
                id=resume_id,
                resume="allow" if resume_id else None,
                reinit="finish_previous",
            )

    def size(self) -> int:
        """Bytes of ``metrics.jsonl`` written so far (recorded in each checkpoint set's manifest)."""
        return self.path.stat().st_size if self.path.is_file() else 0

    @property
    def run_id(self) -> str | None:
        return self.wandb_run.id if self.wandb_run is not None else None

    def log(self, step: int, values: dict[str, Any]) -> None:
        clean = {k: float(v) for k, v in values.items() if isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(float(v))}
        if not clean:
            return
        with self.path.open("a") as f:
            f.write(json.dumps({"step": int(step), "time": time.time(), **clean}) + "\n")
        if self.wandb_run is not None:
            self.wandb_run.log(clean, step=int(step))

    def close(self) -> None:
        if self.wandb_run is not None:
            self.wandb_run.finish()
            self.wandb_run = None


def write_gnn_checkpoint(
    path: Path, module: GraphActorCritic, cfg: DictConfig, timesteps: int, validation: dict[str, float] | None = None
) -> Path:
    return save_checkpoint(
        path,
        module,
        env_id=cfg.env.id,
        env_kwargs=env_kwargs(cfg),
        policy_env_kwargs=policy_env_kwargs(cfg),
        backend=cfg.backend,
        timesteps=timesteps,
        config=OmegaConf.to_container(cfg, resolve=True),  # type: ignore[arg-type]
        validation=validation,
        feature_names=env_feature_names(cfg.env.id, env_kwargs(cfg)),
    )


def env_feature_names(env_id: str, kwargs: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The node and global feature names of the env (from its GraphSpec), or None if it declares none."""
    env = make_env(env_id, kwargs)
    spec = getattr(env.unwrapped, "graph_spec", None)
    env.close()
    if spec is None or not spec.node_feature_names:
        return None
    return tuple(spec.node_feature_names), tuple(spec.global_feature_names)


def rng_state() -> dict[str, Any]:
    """The global RNG states as JSON values (see the trainer state format in the module docstring)."""
    import random

    version, internal, gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    np_state = {**np_state, "state": {**np_state["state"], "key": np_state["state"]["key"].tolist()}}
    return {"python": [version, list(internal), gauss], "numpy": np_state,
            "torch": torch.get_rng_state().tolist()}


def set_rng_state(state: dict[str, Any]) -> None:
    import random

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state({**np_state, "state": {**np_state["state"],
                                               "key": np.asarray(np_state["state"]["key"], dtype=np.uint32)}})
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))


# ---------------------------------------------------------------------------------------------- agent.init
def checkpoint_spec(value: Any, key: str) -> str:
    """A checkpoint named by ``key`` (``agent.init``, selflabel's ``init``) without a ``gnn:`` prefix; acting
    options (``#k=8``) are refused with a :class:`ConfigError` naming ``key``."""
    spec = str(value).strip()
    if spec.startswith("gnn:"):
        spec = spec[len("gnn:"):]
    if "#" in spec:
        raise ConfigError(f"key '{key}': {value!r} names acting options ('#...'); give only the "
                          "checkpoint (a .pt file, a run folder or a released name)")
    return spec


def _init_spec(cfg: DictConfig) -> str | None:
    """``agent.init`` without a ``gnn:`` prefix (None when unset); options (``#k=8``) are refused."""
    if cfg.agent.init is None:
        return None
    return checkpoint_spec(cfg.agent.init, "agent.init")


def _model_mismatch(cfg: DictConfig, saved_model: dict[str, Any]) -> list[str]:
    """The ``agent.model`` keys whose value differs from the checkpoint's model config (execution options
    aside: :data:`schedgym.agents.gnn.model.EXECUTION_OPTIONS`)."""
    from ..agents.gnn import model as gnn_model

    want = gnn_model.GNNConfig.from_dict(OmegaConf.to_container(cfg.agent.model)).to_dict()  # type: ignore[arg-type]
    # a key the checkpoint does not record has its default (as GraphActorCritic.rebuild reads it)
    have = {**gnn_model.GNNConfig().to_dict(), **saved_model}
    execution = set(gnn_model.EXECUTION_OPTIONS)  # how the function runs, not which
    return [f"agent.model.{k}={want[k]!r} but the checkpoint has {have.get(k)!r}"
            for k in want if k not in execution and have.get(k) != want[k]]


#: what :func:`load_init` returns for a run with ``agent.init``: ``(checkpoint path, state_dict)``
InitWeights = tuple[str, dict[str, torch.Tensor]]


def load_init(cfg: DictConfig) -> InitWeights | None:
    """The weights ``agent.init`` names, checked against the run: ``(checkpoint path, state_dict)``, or None
    when ``agent.init`` is null.

    Raises :class:`ConfigError` naming ``agent.init`` when the checkpoint is missing or unreadable, when its
    model config differs from ``agent.model``, or when its graph spec does not fit the training env (feature
    counts or names, node / edge type counts)."""
    spec = _init_spec(cfg)
    if spec is None:
        return None
    from ..agents.gnn.checkpoint import CheckpointError, load_checkpoint
    from ..agents.gnn.model import GNNConfig, compatible
    from ..envs.core import GraphSpec, graph_spec_of

    try:
        trained, meta = load_checkpoint(spec)
    except (FileNotFoundError, CheckpointError) as exc:
        raise ConfigError(f"key 'agent.init': {str(exc).splitlines()[0]}") from None
    where = meta["path"]
    bad = _model_mismatch(cfg, dict(meta["module"].get("model") or {}))
    if bad:
        raise ConfigError(f"key 'agent.init': {where} has another model config than the run: {'; '.join(bad)} "
                          "(set agent.model to the checkpoint's)")
    env = make_env(str(cfg.env.id), env_kwargs(cfg))
    try:
        full = getattr(env.unwrapped, "graph_spec", None)
        space_spec = graph_spec_of(env.observation_space)
    finally:
        env.close()
    why = compatible(trained.spec, full if isinstance(full, GraphSpec) else space_spec)
    fresh = GraphActorCritic(space_spec, GNNConfig.from_dict(OmegaConf.to_container(cfg.agent.model)))  # type: ignore[arg-type]
    if why is None:
        try:
            fresh.load_state_dict(trained.state_dict())
        except RuntimeError as exc:  # e.g. fewer node types in the env than embedded in the checkpoint
            why = " ".join(str(exc).split())[:300]
    if why:
        raise ConfigError(f"key 'agent.init': {where} (trained on {meta.get('env_id')}) does not fit "
                          f"{cfg.env.id} with env.kwargs {env_kwargs(cfg)}: {why}")
    return where, {k: v.detach().clone() for k, v in trained.state_dict().items()}


def apply_init(module: GraphActorCritic, found: InitWeights | None) -> str | None:
    """Load the weights :func:`load_init` checked (once, before the run folder was written) into ``module`` in
    place (on its device); returns the checkpoint path, or None when the run has no ``agent.init``."""
    if found is None:
        return None
    path, state = found
    device = next(module.parameters()).device
    with torch.no_grad():
        module.load_state_dict({k: v.to(device) for k, v in state.items()})
    print(f"agent.init: starting from the weights of {path}")
    return path
