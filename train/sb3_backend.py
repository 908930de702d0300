"""Stable-Baselines3 backend: sb3-contrib MaskablePPO with the GNN policy on vectorized envs.

Checkpoints are written after a PPO update (at the start of the next rollout) once
``trainer.checkpoint_every`` more env steps have passed: one checkpoint set ``checkpoints/state/``
written as a unit (:class:`~schedgym.train.common.CheckpointSet`) with ``last.zip`` (SB3's own save:
weights, optimizer state, step and update counters) and ``trainer_state.json`` (RNG states, best
validation value, thresholds, wandb run id), and ``last.pt`` / ``checkpoints/step_<n>.pt`` (the
backend-independent GNN checkpoint). ``best.pt`` is the checkpoint with the best validation objective
so far.

Resuming loads all of that and continues to ``trainer.total_steps``. Environments are re-created and
reset with seeds derived from ``(trainer.seed, step)``: episodes that were in flight when the run
stopped are started afresh (env simulator states are not part of a checkpoint), so a resumed run is
deterministic given the checkpoint but not bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter, Logger
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from .config import ConfigError, resolve_device
from .common import (
    CheckpointSet,
    InitWeights,
    apply_init,
    MetricLog,
    Validator,
    env_kwargs,
    load_resume_state,
    make_env,
    make_validator,
    rng_state,
    set_rng_state,
    write_gnn_checkpoint,
)


class _EnvFactory:
    """Picklable env constructor for SubprocVecEnv."""

    def __init__(self, env_id: str, kwargs: dict[str, Any]) -> None:
        self.env_id, self.kwargs = env_id, kwargs

    def __call__(self) -> Any:
        import torch as _torch

        _torch.set_num_threads(1)
        env = make_env(self.env_id, self.kwargs)
        if hasattr(env.unwrapped, "copy_obs"):
            # the vector env copies every observation into its own buffers (DummyVecEnv) or pickles it
            # (SubprocVecEnv) before the next step: the env's own per-step copy is not needed (the
            # terminal observation, which SB3 keeps, is always a copy; see schedgym.envs.core)
            env.unwrapped.copy_obs = False
        return Monitor(env)


def build_vec_env(cfg: DictConfig) -> VecEnv:
    n = int(cfg.trainer.n_envs)
    fns = [_EnvFactory(cfg.env.id, env_kwargs(cfg)) for _ in range(n)]
    kind = cfg.trainer.vec_env
    if kind == "auto":
        kind = "dummy" if n == 1 else "subproc"
    if kind == "dummy":
        return DummyVecEnv(fns)
    return SubprocVecEnv(fns, start_method="spawn")


class _MetricWriter(KVWriter):
    """Forwards SB3's logger (losses, fps, our own records) to :class:`MetricLog`."""

    def __init__(self, log: MetricLog) -> None:
        self.log = log

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
        self.log.log(step, key_values)

    def close(self) -> None:
        pass


class TrainCallback(BaseCallback):
    """Episode statistics, progress bar, periodic validation and checkpoints."""

    def __init__(self, cfg: DictConfig, run_dir: Path, validator: Validator, log: MetricLog, state: dict[str, Any]) -> None:
        super().__init__()
        self.cfg, self.run_dir, self.validator, self.mlog = cfg, run_dir, validator, log
        self.state = state
        self.ckpt_dir = run_dir / "checkpoints"
        self.returns: list[float] = []
        self.objectives: list[float] = []
        self.bar = None
        self._t0 = time.perf_counter()
        self._steps0 = 0
        self._first_rollout = True

    # ---------------------------------------------------------------- hooks
    def _on_training_start(self) -> None:
        from tqdm.auto import tqdm

        self._t0 = time.perf_counter()
        self._steps0 = self.model.num_timesteps
        if self.model.num_timesteps == 0:  # the initial weights, for comparisons
            write_gnn_checkpoint(self.ckpt_dir / "step_0.pt", self.model.policy.gnn, self.cfg, 0)
        self.bar = tqdm(
            total=int(self.cfg.trainer.total_steps),
            initial=self.model.num_timesteps,
            unit="step",
            desc=f"sb3 {self.cfg.env.id}",
            disable=not self.cfg.trainer.progress_bar,
            dynamic_ncols=True,
        )

    def _on_step(self) -> bool:
        n = self.training_env.num_envs
        if self.bar is not None:
            self.bar.update(n)
        obj_name = self.validator.objective.name
        for info in self.locals.get("infos", []):
            if "episode" in info:
                self.returns.append(float(info["episode"]["r"]))
            if "metrics" in info and obj_name in info["metrics"]:
                self.objectives.append(float(info["metrics"][obj_name]))
        return True

    def _on_rollout_end(self) -> None:
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        rec = self.logger.record
        rec("rollout/steps_per_s", (self.model.num_timesteps - self._steps0) / elapsed)
        if self.returns:
            rec("rollout/return_mean", float(np.mean(self.returns[-100:])))
        if self.objectives:
            rec("rollout/objective_mean", float(np.mean(self.objectives[-100:])))
            if self.bar is not None:
                self.bar.set_postfix({self.validator.objective.name: f"{np.mean(self.objectives[-100:]):.4g}"})

    def _on_rollout_start(self) -> None:
        if self._first_rollout:  # nothing trained yet in this process
            self._first_rollout = False
            return
        self.maybe_checkpoint(final=False)

    def _on_training_end(self) -> None:
        self.maybe_checkpoint(final=True)
        if self.bar is not None:
            self.bar.close()

    # ---------------------------------------------------------------- work
    def maybe_checkpoint(self, final: bool) -> None:
        t = self.model.num_timesteps
        st = self.state
        every_eval = int(self.cfg.trainer.eval_every)
        do_eval = final or (every_eval > 0 and t >= st["next_eval"])
        do_ckpt = final or t >= st["next_ckpt"]
        module = self.model.policy.gnn
        val = None
        if do_eval:
            while every_eval > 0 and st["next_eval"] <= t:
                st["next_eval"] += every_eval
            val = self.validator.run(module)
            self.mlog.log(t, val)
            if self.validator.better(val["val/objective"], st["best_val"]):
                st["best_val"] = val["val/objective"]
                st["best_step"] = t
                write_gnn_checkpoint(self.run_dir / "best.pt", module, self.cfg, t, val)
        if do_ckpt:
            while st["next_ckpt"] <= t:
                st["next_ckpt"] += int(self.cfg.trainer.checkpoint_every)
            self.save(t, val)

    def save(self, t: int, val: dict[str, float] | None) -> None:
        """One checkpoint set (SB3 zip + trainer state, manifest last), then ``last.pt``."""
        ckpts = CheckpointSet(self.run_dir)
        module = self.model.policy.gnn
        write_gnn_checkpoint(self.ckpt_dir / f"step_{t}.pt", module, self.cfg, t, val)
        staging = ckpts.begin()
        self.model.save(staging / "last.zip")
        state = {**self.state, "timesteps": t, "rng": rng_state(), "wandb_id": self.mlog.run_id}
        ckpts.commit(state, self.mlog.size())
        write_gnn_checkpoint(self.run_dir / "last.pt", module, self.cfg, t, val)


def _new_model(cfg: DictConfig, venv: VecEnv) -> Any:
    """A fresh MaskablePPO with the GNN policy, from the config."""
    from sb3_contrib import MaskablePPO

    from ..agents.gnn.sb3 import GNNMaskablePolicy

    ppo = cfg.agent.ppo
    seed = int(cfg.trainer.seed)
    return MaskablePPO(
        GNNMaskablePolicy,
        venv,
        learning_rate=float(ppo.lr),
        n_steps=int(ppo.n_steps),
        batch_size=int(ppo.batch_size),
        n_epochs=int(ppo.n_epochs),
        gamma=float(ppo.gamma),
        gae_lambda=float(ppo.gae_lambda),
        clip_range=float(ppo.clip_range),
        ent_coef=float(ppo.ent_coef),
        vf_coef=float(ppo.vf_coef),
        max_grad_norm=float(ppo.max_grad_norm),
        normalize_advantage=bool(ppo.normalize_advantage),
        policy_kwargs={"model": OmegaConf.to_container(cfg.agent.model)},
        seed=seed,
        device=resolve_device(str(cfg.trainer.device)),
        verbose=0,
    )


def load_without_unpickling(path: Path, cfg: DictConfig, venv: VecEnv) -> Any:
    """``MaskablePPO.load`` without unpickling anything from the file.

    SB3 stores some attributes (classes, spaces, schedules, episode buffers) cloudpickled in the zip's
    ``data``; loading them would run whatever a crafted file holds. Each such attribute is taken from a
    fresh model built from the config instead (``custom_objects``); the weights and optimizer state are
    read by SB3 with ``torch.load(weights_only=True)``. The episode-statistics buffer starts empty.
    """
    import json
    import zipfile

    from sb3_contrib import MaskablePPO

    try:
        with zipfile.ZipFile(path) as zf:
            data = json.loads(zf.read("data"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"cannot resume: damaged SB3 checkpoint {path} ({type(exc).__name__}: {exc})") from None
    serialized = [k for k, v in data.items() if isinstance(v, dict) and ":serialized:" in v]
    fresh = _new_model(cfg, venv)
    custom = {k: getattr(fresh, k, None) for k in serialized}
    return MaskablePPO.load(path, env=venv, device=resolve_device(str(cfg.trainer.device)), custom_objects=custom)


def _checkpoint_without_steps(model: Any, callback: TrainCallback) -> None:
    """A fresh run with ``trainer.total_steps=0``: ``checkpoints/step_0.pt``, the final validation, ``best.pt``
    (if not already the imitation clone's), ``last.pt`` and a resumable checkpoint set, as ``learn`` would
    have written them at its end."""
    callback.init_callback(model)
    write_gnn_checkpoint(callback.ckpt_dir / "step_0.pt", model.policy.gnn, callback.cfg, 0)
    callback.maybe_checkpoint(final=True)


def train_sb3(cfg: DictConfig, run_dir: Path, resume: bool, init: InitWeights | None = None) -> dict[str, Any]:
    """Train (or resume) with MaskablePPO; returns a summary. ``init``: the ``agent.init`` weights
    (:func:`~schedgym.train.common.load_init`) a fresh run starts from."""
    torch.set_num_threads(int(cfg.trainer.torch_threads))
    found = load_resume_state(run_dir, resume)
    saved, state_dir = found if found is not None else (None, None)
    validator = make_validator(cfg, saved)
    log = MetricLog(cfg, run_dir, resume_id=saved.get("wandb_id") if saved else None,
                    truncate_to=saved["metrics_bytes"] if saved else 0)
    venv = build_vec_env(cfg)
    seed = int(cfg.trainer.seed)
    init_path = None
    try:
        if saved is not None:
            model = load_without_unpickling(state_dir / "last.zip", cfg, venv)
            # fresh env episodes, seeded from the run seed and the step reached
            venv.seed(seed + int(model.num_timesteps))
            set_rng_state(saved["rng"])
            state = {k: saved[k] for k in ("next_ckpt", "next_eval", "best_val", "best_step")}
        else:
            model = _new_model(cfg, venv)
            init_path = apply_init(model.policy.gnn, init)  # agent.init: the checkpoint's weights
            state = {
                "next_ckpt": int(cfg.trainer.checkpoint_every),
                "next_eval": int(cfg.trainer.eval_every) or int(cfg.trainer.total_steps),
                "best_val": None,
                "best_step": None,
            }
        state["baselines"] = validator.baseline_objectives
        imitation = None
        if saved is None and cfg.imitation.expert:  # a fresh run: PPO starts from the expert's clone
            from .imitation import warm_start_run

            imitation = warm_start_run(model.policy.gnn, cfg, run_dir, validator, log, state)
        model.set_logger(Logger(folder=str(run_dir), output_formats=[_MetricWriter(log)]))
        callback = TrainCallback(cfg, run_dir, validator, log, state)
        remaining = int(cfg.trainer.total_steps) - int(model.num_timesteps)
        t0 = time.perf_counter()
        c0 = time.process_time()
        steps0 = int(model.num_timesteps)
        if remaining > 0:
            model.learn(total_timesteps=remaining, reset_num_timesteps=saved is None, callback=callback, log_interval=1)
        elif saved is None:  # trainer.total_steps=0: no PPO, but the run's checkpoints all the same
            _checkpoint_without_steps(model, callback)
        wall = time.perf_counter() - t0
        return {
            "timesteps": int(model.num_timesteps),
            "steps_per_s": (int(model.num_timesteps) - steps0) / max(wall, 1e-9),
            # CPU seconds of this process (all its threads; not the SubprocVecEnv workers) while training
            "process_cpu_s": time.process_time() - c0,
            "best_val": state["best_val"],
            "best_step": state["best_step"],
            "n_updates": int(model._n_updates),
            **({"imitation": imitation} if imitation is not None else {}),
            **({"init": init_path} if init_path is not None else {}),
        }
    finally:
        venv.close()
        log.close()
