"""What both backends share: env construction, the validation set, metric logging (wandb + JSONL)."""

from __future__ import annotations

import json
import math
import os
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
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"env.kwargs: {exc}") from None


def load_resume_state(run_dir: Path, required: Path, resume: bool) -> dict[str, Any] | None:
    """The saved trainer state of ``run_dir`` when resuming (``None`` for a fresh run); raises if the
    backend's own checkpoint ``required`` (a file or folder) or the trainer state is missing."""
    if not resume:
        return None
    state_file = run_dir / "checkpoints" / "trainer_state.pt"
    if not state_file.is_file() or not required.exists():
        raise FileNotFoundError(f"cannot resume {run_dir}: no checkpoint ({required.name}) in {required.parent}")
    return torch.load(state_file, weights_only=False)


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
    """Greedy episodes of the current module on a fixed set of seeds; the gap to baselines."""

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
            pol = make_policy(name)
            env = make_env(self.cfg.env.id, {**self.kwargs, **pol.env_kwargs})
            self.baseline_objectives[name] = [run_episode(env, pol, seed=s).objective for s in self.seeds]
            env.close()

    def run(self, module: GraphActorCritic) -> dict[str, float]:
        was_training = module.training
        module.eval()
        pol = GNNPolicy(module=module, meta={"module": module.extra_state(), "policy_env_kwargs": {}})
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

    def __init__(self, cfg: DictConfig, run_dir: Path, resume_id: str | None = None) -> None:
        self.path = run_dir / "metrics.jsonl"
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
    import random

    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    import random

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
