"""Training configuration: a typed OmegaConf schema, YAML presets and ``key=value`` overrides.

Resolution order (later wins): the schema's defaults (:class:`TrainConfig`) -> the train preset
``configs/train/<preset>.yaml`` (whose ``env:`` / ``agent:`` may name presets in ``configs/env/`` and
``configs/agent/``) -> the command-line overrides (``env=<preset>`` / ``agent=<preset>`` swap a whole
group; ``a.b.c=value`` sets one key). The schema is structured, so an unknown key or a value of the
wrong type fails here, naming the key, before anything is trained.

Two override rules beyond OmegaConf's:

* **a dict value replaces**: ``env.kwargs={n_jobs: 5}`` (or ``env.kwargs={}``) replaces the preset's
  whole ``env.kwargs`` (OmegaConf alone would merge it into them); ``env.kwargs.n_jobs=5`` sets one key
  and keeps the others. The same holds for ``val.env_kwargs``.
* **a single value is a one-element list** for list keys: ``val.seeds=0`` is ``val.seeds=[0]``,
  ``val.baselines=mwkr:nondelay`` is ``val.baselines=[mwkr:nondelay]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

CONFIG_ROOT = Path(__file__).resolve().parents[1] / "configs"
GROUPS = ("env", "agent")


class ConfigError(ValueError):
    """A bad preset or override (the message names the key)."""


@dataclass
class EnvConfig:
    """Which environment to train on."""

    #: a registered id (every domain's ids: ``schedgym-eval show=true``); set by the env preset
    id: str = MISSING
    #: keyword arguments of ``gym.make`` for training (``env.kwargs={...}`` replaces them all, ``{}`` clears
    #: them; ``env.kwargs.<k>=<v>`` sets one and keeps the rest)
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: keys of ``kwargs`` that an evaluation of the trained policy must reuse (saved in the checkpoint
    #: as the policy's ``env_kwargs``; e.g. the job shop's ``schedule_builder``)
    policy_kwargs: list[str] = field(default_factory=list)


@dataclass
class ModelConfig:
    """:class:`schedgym.agents.gnn.model.GNNConfig`."""

    hidden: int = 64
    n_layers: int = 3
    conv: str = "gin"
    heads: int = 2
    head_hidden: int = 64
    activation: str = "relu"
    #: run the GIN layers of PPO's gradient passes through ``torch.compile`` (CPU, one torch thread; a
    #: compiler failure warns and runs eagerly); an execution option: checkpoints record false
    compile: bool = False
    #: "bfloat16": the encoder of gradient passes (the PPO update, imitation) under bfloat16 autocast; sampling,
    #: evaluation and the weights stay float32; an execution option that checkpoints leave out
    precision: str = "float32"
    #: graphs per chunk of a forward pass (0: the whole minibatch at once): the same loss and gradients up to
    #: float rounding, at lower cost when chunks keep the activations in the CPU caches; an execution option
    micro_batch: int = 0
    #: worker threads of gradient passes: the ``micro_batch`` chunks run forward and backward in parallel, one
    #: core each, gradients summed in chunk order (a seed still fixes the run); 1: one thread. An execution option
    threads: int = 1


@dataclass
class PPOConfig:
    """PPO hyper-parameters shared by both backends."""

    lr: float = 3e-4
    #: env steps per environment per rollout (SB3 ``n_steps``; RLlib batch = n_steps * total envs)
    n_steps: int = 256
    batch_size: int = 256
    n_epochs: int = 4
    gamma: float = 1.0
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    normalize_advantage: bool = True


@dataclass
class AgentConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    #: start from a checkpoint's weights instead of a fresh init: a ``.pt`` file, a run folder (its
    #: ``best.pt``) or a released name (``jobshop-10x10``), resolved as ``gnn:<name>`` resolves; its model
    #: config must equal ``agent.model`` and its graph spec fit the env (checked before training). Imitation,
    #: when on, clones from these weights; a resume keeps its own weights. null: a fresh init
    init: Optional[str] = None


@dataclass
class TrainerConfig:
    #: PPO env steps; 0 runs no PPO (e.g. imitation only) and still writes ``last.pt``, ``best.pt``,
    #: ``checkpoints/step_0.pt`` and a resumable checkpoint set
    total_steps: int = 50_000
    n_envs: int = 4
    #: "subproc", "dummy", or "auto" (dummy when n_envs == 1)
    vec_env: str = "auto"
    seed: int = 0
    torch_threads: int = 1
    #: keep and reuse freed large blocks of memory in the training process (glibc's ``mallopt``: fewer page
    #: faults in the PPO update, the same numbers; see :mod:`schedgym.train.allocator`); ignored off glibc
    reuse_freed_memory: bool = True
    #: torch device: ``cpu``, ``cuda``, ``cuda:<n>``, ``mps`` or ``auto`` (``cuda`` when torch sees a GPU,
    #: else ``cpu``; the same code path either way); checked: must exist here
    device: str = "cpu"
    #: write a checkpoint every this many env steps (at the next rollout boundary)
    checkpoint_every: int = 10_000
    #: run the validation set every this many env steps (0: only at the end)
    eval_every: int = 10_000
    progress_bar: bool = True


@dataclass
class ValidationConfig:
    """A fixed validation set: one episode per seed on ``env.kwargs`` + ``env_kwargs`` (greedy, or sampled with
    ``sample``)."""

    #: validation episode seeds (at least one; ``val.seeds=0`` is ``[0]``)
    seeds: list[int] = field(default_factory=lambda: [10_000, 10_001, 10_002, 10_003])
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    #: baseline policy names (registry names) whose objective the gap is measured against; each must serve
    #: ``env.id`` (checked before anything is written)
    baselines: list[str] = field(default_factory=list)
    #: validate the sampling policy (``gnn:<ckpt>#sample``, seeded by each validation seed, so still
    #: deterministic) instead of the greedy one; ``best.pt`` is then the best sampling policy
    sample: bool = False


@dataclass
class RLlibConfig:
    #: ``ray.init(address=...)``: null starts a local Ray; "auto" or "ray://host:10001" joins a cluster
    address: Optional[str] = None
    num_env_runners: int = 0
    num_envs_per_env_runner: int = 1
    #: CPUs for a local ``ray.init`` (null: Ray's default)
    num_cpus: Optional[int] = None


@dataclass
class WandbConfig:
    project: str = "schedgym"
    #: "offline" (default), "online" or "disabled"; the WANDB_MODE environment variable wins
    mode: str = "offline"
    entity: Optional[str] = None
    tags: list[str] = field(default_factory=list)


@dataclass
class ImitationConfig:
    """Imitation warm start (:mod:`schedgym.train.imitation`): clone an expert before PPO (both backends)."""

    #: expert policy spec (any ``make_policy`` spec serving env.id: ``etf``, ``mwkr:nondelay``, ``mem-xla``,
    #: ``gnn:<ckpt>``); null: no warm start, PPO starts from random weights
    expert: Optional[str] = None
    #: expert episodes played on the training env (seeds imitation.seed + i)
    episodes: int = 20
    #: share of those episodes held out (the last ones) to measure the clone's accuracy; 0: none
    holdout: float = 0.1
    #: passes over the expert's states (masked cross-entropy on the actor, MSE to the returns on the critic)
    epochs: int = 30
    batch_size: int = 256
    #: Adam learning rate of the cloning
    lr: float = 1e-3
    #: weight of the critic's squared error to the Monte-Carlo returns (agent.ppo.gamma)
    vf_coef: float = 0.5
    #: first episode seed and the shuffling seed (null: trainer.seed)
    seed: Optional[int] = None
    #: DAgger rounds after the cloning (0: none). Each round the clone plays ``dagger_episodes`` new episodes
    #: greedily (seeds after the demonstrations'), the expert labels every state the clone reaches, and the
    #: clone trains again on all the states so far. Needs an expert that labels any state (rules that read
    #: only the env's current state, ``gnn:<ckpt>`` without best-of-k)
    dagger_rounds: int = 0
    #: episodes the clone plays per DAgger round (null: imitation.episodes)
    dagger_episodes: Optional[int] = None
    #: passes over the aggregated states after each DAgger round (null: imitation.epochs)
    dagger_epochs: Optional[int] = None


@dataclass
class TrainConfig:
    """The whole training configuration (printed and saved as ``config.yaml`` in the run folder)."""

    name: str = "run"
    backend: str = "sb3"
    #: run folder (null: ``runs/<name>-<UTC time>``)
    run_dir: Optional[str] = None
    env: EnvConfig = field(default_factory=EnvConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    val: ValidationConfig = field(default_factory=ValidationConfig)
    rllib: RLlibConfig = field(default_factory=RLlibConfig)
    imitation: ImitationConfig = field(default_factory=ImitationConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)


BACKENDS = ("sb3", "rllib")
VEC_ENVS = ("auto", "subproc", "dummy")
WANDB_MODES = ("online", "offline", "disabled")
#: free-form dicts: a ``key={...}`` override replaces them (see the module docstring)
FREE_DICTS = ("env.kwargs", "val.env_kwargs")


def preset_path(group: str, name: str) -> Path:
    """``configs/<group>/<name>.yaml`` (or a path to a YAML file)."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return p
    cand = CONFIG_ROOT / group / f"{name}.yaml"
    if not cand.is_file():
        known = sorted(x.stem for x in (CONFIG_ROOT / group).glob("*.yaml"))
        raise ConfigError(f"unknown {group} preset {name!r}: no {cand}; known: {known}")
    return cand


def list_presets(group: str = "train") -> list[str]:
    return sorted(x.stem for x in (CONFIG_ROOT / group).glob("*.yaml"))


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split("\n")[:2]).strip() if str(exc).strip() else type(exc).__name__
    return " ".join(text.split())


def _load_yaml(path: Path) -> DictConfig:
    try:
        cfg = OmegaConf.load(path)
    except Exception as exc:  # noqa: BLE001 - any parse error, reported with the file
        raise ConfigError(f"cannot parse {path}: {_first_line(exc)}") from None
    if not isinstance(cfg, DictConfig):
        raise ConfigError(f"{path} must hold a mapping")
    return cfg


def _expand_groups(cfg: DictConfig) -> DictConfig:
    """Replace ``env: <name>`` / ``agent: <name>`` by the named preset's contents."""
    for group in GROUPS:
        if group in cfg and isinstance(cfg[group], str):
            cfg[group] = _load_yaml(preset_path(group, cfg[group]))
        elif group in cfg and isinstance(cfg[group], DictConfig) and "preset" in cfg[group]:
            base = _load_yaml(preset_path(group, str(cfg[group].preset)))
            rest = OmegaConf.masked_copy(cfg[group], [k for k in cfg[group] if k != "preset"])
            cfg[group] = OmegaConf.merge(base, rest)
    return cfg


def _merge(schema: DictConfig, other: DictConfig | dict, where: str) -> DictConfig:
    try:
        return OmegaConf.merge(schema, other)  # type: ignore[return-value]
    except (TypeError, ValueError) as exc:  # e.g. a list merged onto a dict: OmegaConf raises a bare TypeError
        raise ConfigError(f"bad config value ({where}): {_first_line(exc)}") from None
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or getattr(exc, "key", None) or "?"
        msg = str(exc).splitlines()[0]
        raise ConfigError(f"bad config key {key!r} ({where}): {msg}") from None


def parse_overrides(overrides: list[str]) -> tuple[dict[str, str], list[str]]:
    """Split ``group=<preset>`` selections from ``a.b=value`` overrides; check the ``key=value`` shape."""
    groups: dict[str, str] = {}
    rest: list[str] = []
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        if not key:
            raise ConfigError(f"override {item!r} has an empty key")
        if key in GROUPS:
            groups[key] = value
        else:
            rest.append(item)
    return groups, rest


def resolve_config(preset: str | None, overrides: list[str] | None = None, base: DictConfig | dict | None = None) -> DictConfig:
    """The resolved, validated config; raises :class:`ConfigError` naming the bad key."""
    schema = OmegaConf.structured(TrainConfig)
    cfg = schema
    if base is not None:
        cfg = _merge(cfg, base if isinstance(base, DictConfig) else OmegaConf.create(base), "resumed run config")
    if preset:
        path = preset_path("train", preset)
        cfg = _merge(cfg, _expand_groups(_load_yaml(path)), f"preset {path}")
    groups, dotlist = parse_overrides(list(overrides or []))
    for group, name in groups.items():
        group_cfg = _load_yaml(preset_path(group, name))
        # replace the whole group (defaults from the schema, then the preset)
        fresh = OmegaConf.structured(TrainConfig)[group]
        cfg[group] = _merge(fresh, group_cfg, f"{group} preset {name!r}")
    for item in dotlist:
        key, value = item.split("=", 1)
        if not _key_exists(cfg, key) and not _under_free_dict(key):
            raise ConfigError(f"unknown config key {key!r} (override {item!r}); top-level keys: {list(schema.keys())}")
        given = item
        if _is_list_key(cfg, key) and not value.lstrip().startswith("[") and value.strip() not in ("", "null"):
            item = f"{key}=[{value}]"  # a single value: a one-element list
        try:
            parsed = OmegaConf.from_dotlist([item])
        except Exception as exc:  # noqa: BLE001 - OmegaConf's grammar errors and YAML's parser errors
            raise ConfigError(f"key {key!r}: cannot parse override {given!r}: {_first_line(exc)}") from None
        new_value = OmegaConf.select(parsed, key, throw_on_resolution_failure=False) if key in FREE_DICTS else None
        if isinstance(new_value, DictConfig):
            node = OmegaConf.select(cfg, key.rsplit(".", 1)[0])
            try:
                node[key.rsplit(".", 1)[1]] = new_value  # a dict value replaces the dict (no merge)
            except OmegaConfBaseException as exc:
                raise ConfigError(f"key {key!r}: bad value in override {given!r}: {_first_line(exc)}") from None
            continue
        cfg = _merge(cfg, parsed, f"override {given!r}")
    check(cfg)
    return cfg


def _is_list_key(cfg: DictConfig, key: str) -> bool:
    """Whether the schema types ``key`` as a list."""
    from omegaconf import ListConfig

    try:
        node = OmegaConf.select(cfg, key, throw_on_missing=False, throw_on_resolution_failure=False)
    except OmegaConfBaseException:
        return False
    return isinstance(node, ListConfig)


def _key_exists(cfg: DictConfig, key: str) -> bool:
    """Whether the dotted ``key`` is in ``cfg`` (also when its value is still missing)."""
    node: Any = cfg
    for part in key.split("."):
        if not isinstance(node, DictConfig) or part not in node.keys():
            return False
        node = node._get_node(part)
    return True


def _under_free_dict(key: str) -> bool:
    """Keys under free-form dicts (env kwargs) may be new."""
    return key.startswith(("env.kwargs.", "val.env_kwargs."))


def check(cfg: DictConfig) -> None:
    """Semantic checks beyond types, each naming its key."""
    if OmegaConf.is_missing(cfg.env, "id"):
        raise ConfigError("env.id is required: give a preset (preset=<name>, see list=true), env=<env preset> or "
                          "env.id=<registered id>")
    if cfg.backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {BACKENDS}, got {cfg.backend!r}")
    _check_resolvable(cfg)
    if cfg.trainer.vec_env not in VEC_ENVS:
        raise ConfigError(f"trainer.vec_env must be one of {VEC_ENVS}, got {cfg.trainer.vec_env!r}")
    if cfg.wandb.mode not in WANDB_MODES:
        raise ConfigError(f"wandb.mode must be one of {WANDB_MODES}, got {cfg.wandb.mode!r}")
    if len(cfg.val.seeds) == 0:
        raise ConfigError("val.seeds must list at least one seed (the validation set; e.g. val.seeds=[0,1,2,3])")
    _check_device(str(cfg.trainer.device))
    if cfg.trainer.total_steps < 0:
        raise ConfigError(f"trainer.total_steps must be >= 0 (0: no PPO steps), got {cfg.trainer.total_steps}")
    if cfg.agent.init is not None and not str(cfg.agent.init).strip():
        raise ConfigError("agent.init must name a checkpoint (a .pt file, a run folder or a released name) or be null")
    positive = {
        "trainer.n_envs": cfg.trainer.n_envs,
        "trainer.torch_threads": cfg.trainer.torch_threads,
        "trainer.checkpoint_every": cfg.trainer.checkpoint_every,
        "agent.ppo.n_steps": cfg.agent.ppo.n_steps,
        "agent.ppo.batch_size": cfg.agent.ppo.batch_size,
        "agent.ppo.n_epochs": cfg.agent.ppo.n_epochs,
        "agent.ppo.lr": cfg.agent.ppo.lr,
        "rllib.num_envs_per_env_runner": cfg.rllib.num_envs_per_env_runner,
    }
    for key, value in positive.items():
        if not value > 0:
            raise ConfigError(f"{key} must be > 0, got {value}")
    _check_imitation(cfg)
    if cfg.trainer.eval_every < 0 or cfg.rllib.num_env_runners < 0:
        raise ConfigError("trainer.eval_every and rllib.num_env_runners must be >= 0")
    missing = [k for k in cfg.env.policy_kwargs if k not in cfg.env.kwargs]
    if missing:
        raise ConfigError(f"env.policy_kwargs names {missing}, which are not in env.kwargs {list(cfg.env.kwargs)}")
    from ..agents.gnn.model import GNNConfig

    try:
        GNNConfig.from_dict(OmegaConf.to_container(cfg.agent.model))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if cfg.agent.model.threads > 1 and cfg.trainer.torch_threads != 1:
        raise ConfigError(f"agent.model.threads={cfg.agent.model.threads} gives each chunk a core of its own, with one "
                          f"torch thread each: set trainer.torch_threads=1 (got {cfg.trainer.torch_threads}; more "
                          "torch threads would share the cores and turn agent.model.compile off)")
    if cfg.agent.model.threads > 1 and cfg.agent.model.micro_batch >= cfg.agent.ppo.batch_size:
        raise ConfigError(f"agent.model.threads={cfg.agent.model.threads} runs the micro-batches of a minibatch in "
                          f"parallel, but agent.model.micro_batch={cfg.agent.model.micro_batch} is not below "
                          f"agent.ppo.batch_size={cfg.agent.ppo.batch_size}: one chunk, nothing to run in parallel")


def _check_imitation(cfg: DictConfig) -> None:
    """``imitation.*`` values (the expert itself is built and checked against env.id before training)."""
    im = cfg.imitation
    if not im.dagger_rounds >= 0:
        raise ConfigError(f"imitation.dagger_rounds must be >= 0, got {im.dagger_rounds}")
    for key in ("dagger_episodes", "dagger_epochs"):
        if im[key] is not None and not im[key] > 0:
            raise ConfigError(f"imitation.{key} must be > 0 or null, got {im[key]}")
    if im.dagger_rounds > 0 and not im.expert:
        raise ConfigError("imitation.dagger_rounds needs imitation.expert (the policy that labels the clone's states)")
    if not im.expert:
        return
    for key in ("episodes", "epochs", "batch_size", "lr"):
        if not im[key] > 0:
            raise ConfigError(f"imitation.{key} must be > 0, got {im[key]}")
    if not 0 <= im.holdout < 1:
        raise ConfigError(f"imitation.holdout must be in [0, 1), got {im.holdout}")
    if im.vf_coef < 0:
        raise ConfigError(f"imitation.vf_coef must be >= 0, got {im.vf_coef}")


def _check_resolvable(cfg: DictConfig) -> None:
    """Every ``${...}`` interpolation resolves (else ConfigError naming its key)."""
    try:
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "?"
        raise ConfigError(f"key {key!r}: {_first_line(exc).split(' full_key:')[0]}") from None


def resolve_device(device: str) -> str:
    """``trainer.device`` as the torch device the run uses: ``auto`` -> ``cuda`` when
    ``torch.cuda.is_available()``, else ``cpu``; any other value unchanged."""
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _check_device(device: str) -> None:
    """``trainer.device``: ``auto``, ``cpu``, ``cuda[:n]``, ``mps``..., and available here."""
    if device == "auto":
        return
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(f"trainer.device must be 'auto', 'cpu', 'cuda', 'cuda:<n>' or another torch device, "
                          f"got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device={device!r}, but torch sees no CUDA device here (use cpu or auto)")


def to_plain(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
