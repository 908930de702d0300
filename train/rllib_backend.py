"""Ray RLlib backend: PPO on the new API stack with :class:`~schedgym.agents.gnn.rllib.GNNTorchRLModule`.

``rllib.address: null`` starts a new local Ray (``num_cpus`` from ``rllib.num_cpus``), even when a
cluster started with ``ray start`` runs on the same machine; any other value is
passed to ``ray.init(address=...)`` to join an existing cluster (``"auto"`` for one started with
``ray start --head`` on this machine, ``"ray://<head>:10001"`` for Ray Client). ``rllib.num_env_runners``
sets the sampling workers (0: sample in the driver).

One PPO iteration samples ``agent.ppo.n_steps * max(1, num_env_runners) * num_envs_per_env_runner``
env steps. Checkpoints: one set ``checkpoints/state/`` written as a unit
(:class:`~schedgym.train.common.CheckpointSet`: staged in ``state.tmp/``, manifest last, then swapped in,
so no instant lacks a complete set) with ``rllib/`` (``Algorithm.save_to_path``: module weights,
optimizer, connector states) and ``trainer_state.json`` (our step counter, thresholds, best validation,
RNG states), and the backend-independent ``last.pt`` / ``best.pt`` / ``checkpoints/step_<n>.pt``.

Trust: resuming restores ``rllib/`` with Ray's ``Algorithm.restore_from_path``, which unpickles Ray's
own files (``class_and_ctor_args.pkl``, state files): resume only run folders you trust. The trainer
state and the GNN checkpoints are read without unpickling (JSON; ``torch.load(weights_only=True)``), and
the SB3 backend's resume unpickles nothing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from ..agents.gnn.model import GNNConfig, GraphActorCritic
from .config import resolve_device
from .common import (
    CheckpointSet,
    InitWeights,
    apply_init,
    MetricLog,
    env_kwargs,
    load_resume_state,
    make_env,
    make_validator,
    rng_state,
    set_rng_state,
    write_gnn_checkpoint,
)


def build_algo_config(cfg: DictConfig, observation_space: Any) -> Any:
    """The ``PPOConfig`` for a training config."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from ..agents.gnn.rllib import GNNTorchRLModule, register_rllib_env

    ppo = cfg.agent.ppo
    runners = int(cfg.rllib.num_env_runners)
    per_runner = int(cfg.rllib.num_envs_per_env_runner)
    batch = int(ppo.n_steps) * max(1, runners) * per_runner
    name = register_rllib_env(cfg.env.id)
    return (
        PPOConfig()
        .api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
        .framework("torch")
        .environment(env=name, env_config=env_kwargs(cfg), disable_env_checking=True)
        .env_runners(
            num_env_runners=runners,
            num_envs_per_env_runner=per_runner,
            num_cpus_per_env_runner=1,
            rollout_fragment_length=int(ppo.n_steps),
        )
        .learners(num_learners=0, num_gpus_per_learner=1 if resolve_device(str(cfg.trainer.device)).startswith("cuda") else 0)
        .rl_module(
            rl_module_spec=RLModuleSpec(
                module_class=GNNTorchRLModule,
                model_config=OmegaConf.to_container(cfg.agent.model),
            )
        )
        .training(
            lr=float(ppo.lr),
            gamma=float(ppo.gamma),
            lambda_=float(ppo.gae_lambda),
            clip_param=float(ppo.clip_range),
            entropy_coeff=float(ppo.ent_coef),
            vf_loss_coeff=float(ppo.vf_coef),
            grad_clip=float(ppo.max_grad_norm),
            num_epochs=int(ppo.n_epochs),
            minibatch_size=min(int(ppo.batch_size), batch),
            train_batch_size_per_learner=batch,
        )
        .debugging(seed=int(cfg.trainer.seed), log_level="ERROR")
        .reporting(metrics_num_episodes_for_smoothing=20)
    )


def _learner_module_state(algo: Any) -> dict[str, Any]:
    from ray.rllib.core import DEFAULT_MODULE_ID

    weights = algo.learner_group.get_weights(module_ids=[DEFAULT_MODULE_ID])
    return weights[DEFAULT_MODULE_ID]


def _imitation_warm_start(algo: Any, module: GraphActorCritic, cfg: DictConfig, run_dir: Path, validator: Any,
                          log: Any, state: dict[str, Any]) -> dict[str, Any]:
    """Clone ``imitation.expert`` into the learner's initial weights (:mod:`schedgym.train.imitation`, on the
    plain module), then set them on the learner and sync them to every env runner (the local one too), so
    the first PPO iteration samples with the clone. Returns the imitation report."""
    from ray.rllib.core import DEFAULT_MODULE_ID

    from ..agents.gnn.rllib import module_state_to_gnn
    from .imitation import warm_start_run

    module_state_to_gnn(_learner_module_state(algo), module)
    report = warm_start_run(module, cfg, run_dir, validator, log, state)
    _set_learner_weights(algo, module)
    return report


def _set_learner_weights(algo: Any, module: GraphActorCritic) -> None:
    """Set ``module``'s weights on the learner and sync them to every env runner (the local one too)."""
    from ray.rllib.core import DEFAULT_MODULE_ID

    weights = {f"gnn.{k}": v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    algo.learner_group.set_weights({DEFAULT_MODULE_ID: weights})
    algo.env_runner_group.sync_weights(from_worker_or_learner_group=algo.learner_group, inference_only=True)


def _apply_init(algo: Any, module: GraphActorCritic, init: InitWeights | None) -> str | None:
    """``agent.init``: load the checkpoint's weights into ``module`` and onto the learner and every env
    runner, so that imitation (if on) and the first PPO iteration start from them; returns the path."""
    path = apply_init(module, init)
    if path is not None:
        _set_learner_weights(algo, module)
    return path


def _nested(d: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def init_ray(cfg: DictConfig) -> bool:
    """Start or join Ray; returns True when this call started it (so we shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    if cfg.rllib.address:
        ray.init(address=cfg.rllib.address, include_dashboard=False, log_to_driver=False)
    else:
        kw: dict[str, Any] = {}
        if cfg.rllib.num_cpus:
            kw["num_cpus"] = int(cfg.rllib.num_cpus)
        # address="local": always a new local Ray, never a cluster that `ray start` left on this machine
        ray.init(address="local", include_dashboard=False, log_to_driver=False, **kw)
    return True


def _validate_and_checkpoint(algo: Any, module: GraphActorCritic, cfg: DictConfig, run_dir: Path, validator: Any,
                             log: MetricLog, state: dict[str, Any], bar: Any, final: bool) -> None:
    """After an iteration (or, with ``trainer.total_steps=0``, instead of any): validate when due (``best.pt``
    when better) and write the checkpoint set, ``step_<t>.pt`` and ``last.pt`` when due; always at the end."""
    from ..agents.gnn.rllib import module_state_to_gnn

    t = state["timesteps"]
    every_eval = int(cfg.trainer.eval_every)
    do_eval = final or (every_eval > 0 and t >= state["next_eval"])
    do_ckpt = final or t >= state["next_ckpt"]
    if do_eval or do_ckpt:
        module_state_to_gnn(_learner_module_state(algo), module)
    val = None
    if do_eval:
        while every_eval > 0 and state["next_eval"] <= t:
            state["next_eval"] += every_eval
        val = validator.run(module)
        log.log(t, val)
        bar.set_postfix({validator.objective.name: f"{val['val/objective']:.4g}"})
        if validator.better(val["val/objective"], state["best_val"]):
            state["best_val"], state["best_step"] = val["val/objective"], t
            write_gnn_checkpoint(run_dir / "best.pt", module, cfg, t, val)
    if do_ckpt:
        while state["next_ckpt"] <= t:
            state["next_ckpt"] += int(cfg.trainer.checkpoint_every)
        ckpt_dir = run_dir / "checkpoints"
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        write_gnn_checkpoint(ckpt_dir / f"step_{t}.pt", module, cfg, t, val)
        ckpts = CheckpointSet(run_dir)
        staging = ckpts.begin()
        algo.save_to_path(str((staging / "rllib").resolve()))
        ckpts.commit({**state, "rng": rng_state(), "wandb_id": log.run_id}, log.size())
        write_gnn_checkpoint(run_dir / "last.pt", module, cfg, t, val)


def train_rllib(cfg: DictConfig, run_dir: Path, resume: bool, init: InitWeights | None = None) -> dict[str, Any]:
    """Train (or resume) with RLlib PPO; returns a summary. ``init``: the ``agent.init`` weights
    (:func:`~schedgym.train.common.load_init`) a fresh run starts from."""
    import ray

    from ..agents.gnn.rllib import module_state_to_gnn

    torch.set_num_threads(int(cfg.trainer.torch_threads))
    ckpt_dir = run_dir / "checkpoints"
    found = load_resume_state(run_dir, resume)
    saved, state_dir = found if found is not None else (None, None)
    validator = make_validator(cfg, saved)
    env = make_env(cfg.env.id, env_kwargs(cfg))
    space = env.observation_space
    env.close()
    from ..envs.core import graph_spec_of

    module = GraphActorCritic(graph_spec_of(space), GNNConfig.from_dict(OmegaConf.to_container(cfg.agent.model)))
    started = init_ray(cfg)
    log = MetricLog(cfg, run_dir, resume_id=saved.get("wandb_id") if saved else None,
                    truncate_to=saved["metrics_bytes"] if saved else 0)
    algo = None
    try:
        algo = build_algo_config(cfg, space).build_algo()
        if saved is not None:
            algo.restore_from_path(str((state_dir / "rllib").resolve()))
            set_rng_state(saved["rng"])
            state = {k: saved[k] for k in ("timesteps", "next_ckpt", "next_eval", "best_val", "best_step")}
        else:
            state = {
                "timesteps": 0,
                "next_ckpt": int(cfg.trainer.checkpoint_every),
                "next_eval": int(cfg.trainer.eval_every) or int(cfg.trainer.total_steps),
                "best_val": None,
                "best_step": None,
            }
        state["baselines"] = validator.baseline_objectives
        init_path = _apply_init(algo, module, init) if saved is None else None
        imitation = None
        if saved is None and cfg.imitation.expert:  # a fresh run: PPO starts from the expert's clone
            imitation = _imitation_warm_start(algo, module, cfg, run_dir, validator, log, state)
        if saved is None:  # the initial weights, for comparisons (a resume has them already)
            write_gnn_checkpoint(ckpt_dir / "step_0.pt", module_state_to_gnn(_learner_module_state(algo), module), cfg, 0)
        total = int(cfg.trainer.total_steps)
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=state["timesteps"], unit="step", desc=f"rllib {cfg.env.id}",
                   disable=not cfg.trainer.progress_bar, dynamic_ncols=True)
        t0 = time.perf_counter()
        c0 = time.process_time()
        steps0 = state["timesteps"]
        while state["timesteps"] < total:
            result = algo.train()
            sampled = int(_nested(result, "env_runners", "num_env_steps_sampled", default=0) or 0)
            state["timesteps"] += sampled
            bar.update(sampled)
            t = state["timesteps"]
            learner = _nested(result, "learners", "default_policy", default={}) or {}
            values = {
                "rollout/return_mean": _nested(result, "env_runners", "episode_return_mean"),
                "rollout/len_mean": _nested(result, "env_runners", "episode_len_mean"),
                "rollout/steps_per_s": (t - steps0) / max(time.perf_counter() - t0, 1e-9),
                "train/policy_loss": learner.get("policy_loss"),
                "train/value_loss": learner.get("vf_loss"),
                "train/entropy": learner.get("entropy"),
                "train/approx_kl": learner.get("mean_kl_loss"),
                "train/total_loss": learner.get("total_loss"),
            }
            log.log(t, {k: v for k, v in values.items() if v is not None})
            _validate_and_checkpoint(algo, module, cfg, run_dir, validator, log, state, bar, final=t >= total)
        if saved is None and state["timesteps"] == 0:  # trainer.total_steps=0: no PPO, the run's checkpoints all the same
            # (a resume of such a finished run has nothing left to do, as on SB3)
            _validate_and_checkpoint(algo, module, cfg, run_dir, validator, log, state, bar, final=True)
        bar.close()
        wall = time.perf_counter() - t0
        return {
            "timesteps": int(state["timesteps"]),
            "steps_per_s": (state["timesteps"] - steps0) / max(wall, 1e-9),
            # CPU seconds of the driver process (all the work when rllib.num_env_runners=0)
            "process_cpu_s": time.process_time() - c0,
            "best_val": state["best_val"],
            "best_step": state["best_step"],
            **({"imitation": imitation} if imitation is not None else {}),
            **({"init": init_path} if init_path is not None else {}),
        }
    finally:
        if algo is not None:
            algo.stop()
        log.close()
        if started:
            ray.shutdown()
