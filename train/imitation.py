"""Imitation warm start: clone an expert policy into the GNN before PPO (``imitation.expert=<spec>``).

Any policy that :func:`schedgym.agents.registry.make_policy` builds for the training env id can be the
expert (``etf``, ``mwkr:nondelay``, ``mem-xla``, even ``gnn:<checkpoint>``). The warm start:

1. **Demonstrations.** The expert plays ``imitation.episodes`` episodes of the training env
   (``env.kwargs``), seeded ``imitation.seed + i`` (``imitation.seed`` null: ``trainer.seed``), through
   the ordinary Policy protocol (``reset(env, seed)``, then ``act(obs, info)``). Every state is kept
   without its padding (the keys the graph batching reads), with the expert's action and the
   Monte-Carlo return from that state (``agent.ppo.gamma``). The last
   ``ceil(imitation.holdout * episodes)`` episodes are held out (never trained on) to measure accuracy.
2. **Cloning.** ``imitation.epochs`` passes over the training states in shuffled minibatches of
   ``imitation.batch_size``: the states are padded to the minibatch's largest graph and go through the
   same :func:`~schedgym.agents.gnn.graph.flatten_batch` batching as PPO; the loss is the masked
   cross-entropy of the actor's per-node logits against the expert's node (illegal nodes have
   probability 0) plus ``imitation.vf_coef`` times the critic's squared error to the returns (Adam at
   ``imitation.lr``, gradients clipped at ``agent.ppo.max_grad_norm``). After each epoch the greedy
   action's agreement with the expert (``argmax`` of the logits, as :class:`~schedgym.agents.gnn.policy.GNNPolicy`
   acts) is logged on the training and the held-out states (``imitation/accuracy``,
   ``imitation/holdout_accuracy``, at env step 0 of ``metrics.jsonl``).
3. **DAgger** (``imitation.dagger_rounds``, optional). Each round the clone plays ``imitation.dagger_episodes``
   new episodes greedily (seeds ``imitation.seed + episodes + (r - 1) * dagger_episodes + i`` for round ``r``),
   the expert is asked what it would do at every state the clone reaches (``expert.act`` on that state;
   the clone's action is the one played), and the clone trains ``imitation.dagger_epochs`` more passes
   on all the states so far (Ross et al., 2011). The returns of those states are the clone's own. Each
   round logs the clone's agreement with the expert along its own trajectory, before training on it
   (``imitation/dagger_agreement``), and the clone's mean objective on those episodes. Only an expert
   whose ``labels_any_state`` is True can serve: one whose ``act`` reads the env's current state only
   (dispatching rules, the cluster and serving rules, ``gnn:<ckpt>`` without best-of-k).
4. PPO starts from the cloned weights.

The expert's own env kwargs (e.g. a dispatching rule's ``schedule_builder``) must agree with
``env.kwargs``: the demonstrations are played on the training env itself, so an expert that needs another
env is refused before anything is written, naming the key to set.

DAgger is refused for the other experts: rules such as the SoC ones keep per-episode commitments, and
static and exact policies replay a plan made at reset, so they cannot be asked about a state they did not
reach themselves.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from ..agents.gnn.model import GraphActorCritic
from .config import ConfigError

#: observation keys the graph batching reads (:func:`schedgym.agents.gnn.graph.flatten_batch`)
NODE_KEYS = ("nodes", "node_type", "action_mask")
EDGE_KEYS = ("edge_index", "edge_type")
GRAPH_KEYS = ("globals", "n_nodes", "n_edges")


@dataclass
class Demonstrations:
    """Expert states (unpadded), the expert's actions and the Monte-Carlo returns, by episode."""

    states: list[dict[str, np.ndarray]] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)
    #: the action played at each state (the expert's own in demonstrations, the clone's in DAgger rounds)
    played: list[int] = field(default_factory=list)
    #: episode index of each state
    episode: list[int] = field(default_factory=list)
    #: the objective of each episode (the env's objective metric) for the policy that played it
    objectives: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.actions)

    def extend(self, other: "Demonstrations") -> np.ndarray:
        """Append ``other``'s episodes (numbered after these); returns the indices of the appended states."""
        first, n_ep = len(self), len(self.objectives)
        self.states.extend(other.states)
        self.actions.extend(other.actions)
        self.played.extend(other.played)
        self.returns.extend(other.returns)
        self.episode.extend(n_ep + e for e in other.episode)
        self.objectives.extend(other.objectives)
        return np.arange(first, len(self), dtype=np.int64)


@dataclass
class ImitationReport:
    """What the warm start did (also in the run's ``summary.json`` under ``imitation``)."""

    expert: str
    episodes: int
    train_states: int
    holdout_states: int
    expert_objective: float
    accuracy: float
    holdout_accuracy: float | None
    final_loss: float
    seconds: float
    #: one record per DAgger round: episodes, states, the clone's agreement with the expert along its own
    #: trajectory (before training on it), the clone's mean objective there, training accuracy after the round
    dagger: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def make_expert(cfg: DictConfig) -> Any:
    """The expert of ``imitation.expert`` for ``env.id`` (ConfigError naming the key if it cannot serve)."""
    from ..agents.registry import make_policy
    from ..agents.spec import PolicyError, check_env_kwargs

    spec = str(cfg.imitation.expert)
    try:
        expert = make_policy(spec, env_id=str(cfg.env.id))
    except (PolicyError, ValueError, KeyError, TypeError, FileNotFoundError) as exc:
        msg = str(exc.args[0]) if exc.args else type(exc).__name__
        raise ConfigError(f"key 'imitation.expert': {spec!r} cannot imitate on {cfg.env.id}: "
                          f"{msg.splitlines()[0] if msg else type(exc).__name__}") from None
    from .common import env_kwargs

    given = env_kwargs(cfg)
    needed = dict(getattr(expert, "env_kwargs", {}) or {})
    try:
        check_env_kwargs(spec, needed, given, given_by="env.kwargs")
    except PolicyError as exc:
        raise ConfigError(f"key 'imitation.expert': {exc}") from None
    unset = {k: v for k, v in needed.items() if k not in given}
    if unset:
        sets = " ".join(f"env.kwargs.{k}={v}" for k, v in unset.items())
        raise ConfigError(f"key 'imitation.expert': {spec!r} acts on an env built with {unset}, which env.kwargs "
                          f"does not set (the demonstrations are played on the training env): add {sets}")
    if int(cfg.imitation.dagger_rounds) > 0 and not getattr(expert, "labels_any_state", False):
        raise ConfigError(f"key 'imitation.dagger_rounds': the expert {spec!r} cannot label states it did not reach "
                          f"itself (its labels_any_state is False: it keeps per-episode state or replays a plan made "
                          f"at reset); set imitation.dagger_rounds=0 or use an expert that acts on the current "
                          f"state only")
    return expert


def check_imitation(cfg: DictConfig) -> None:
    """Before anything is written: the expert builds, serves ``env.id`` and fits ``env.kwargs``."""
    if cfg.imitation.expert:
        make_expert(cfg)


def _unpadded(obs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The graph keys of one observation without padding (copies: the env may reuse its buffers)."""
    n = int(np.asarray(obs["n_nodes"]).reshape(-1)[0])
    e = int(np.asarray(obs["n_edges"]).reshape(-1)[0])
    out = {k: np.array(np.asarray(obs[k])[:n]) for k in NODE_KEYS}
    out["edge_index"] = np.array(np.asarray(obs["edge_index"])[:, :e])
    out["edge_type"] = np.array(np.asarray(obs["edge_type"])[:e])
    for k in GRAPH_KEYS:
        out[k] = np.array(obs[k])
    return out


def collect(cfg: DictConfig, expert: Any, episodes: int, seed: int,
            actor: Callable[[Mapping[str, Any]], int] | None = None, what: str = "demonstration") -> Demonstrations:
    """``episodes`` episodes on the training env (seeds ``seed + i``), every state recorded with the expert's
    action there. ``actor`` None: the expert plays (demonstrations). Otherwise ``actor(obs)`` picks the action
    played and the expert only labels the states it reaches (DAgger); the returns and objectives are then the
    actor's. ``what`` names the episodes in errors (e.g. ``"DAgger round 2"``)."""
    from .common import env_kwargs, make_env

    gamma = float(cfg.agent.ppo.gamma)
    env = make_env(str(cfg.env.id), env_kwargs(cfg))
    base = env.unwrapped
    objective = base.objective.name
    demos = Demonstrations()
    expert_name = f"imitation.expert {cfg.imitation.expert!r}"
    player = expert_name if actor is None else "the clone"

    def failed(who: str, i: int, step: int, exc: Exception, detail: str = "") -> RuntimeError:
        """The error for a failure at step ``step`` of episode ``i``, naming who failed and where."""
        return RuntimeError(f"{who} failed on {cfg.env.id} in {what} episode {i} (seed {seed + i}) at step {step}: "
                            f"{detail}{type(exc).__name__}: {exc}")

    try:
        for i in range(episodes):
            obs, info = env.reset(seed=seed + i)
            expert.reset(base, seed + i)
            rewards: list[float] = []
            while True:
                try:
                    action = int(expert.act(obs, info))
                except Exception as exc:  # noqa: BLE001 - reraised with where it happened
                    raise failed(expert_name, i, len(rewards), exc) from exc
                state = _unpadded(obs)
                try:
                    played = action if actor is None else int(actor(obs))
                except Exception as exc:  # noqa: BLE001 - reraised with where it happened
                    raise failed("the clone", i, len(rewards), exc) from exc
                try:
                    obs, reward, terminated, truncated, info = env.step(played)
                except Exception as exc:  # noqa: BLE001 - reraised with where it happened
                    raise failed(player, i, len(rewards), exc, f"the env refused its action {played}: ") from exc
                demos.states.append(state)
                demos.actions.append(action)
                demos.played.append(played)
                demos.episode.append(i)
                rewards.append(float(reward))
                if terminated or truncated:
                    break
            ret, rets = 0.0, []
            for r in reversed(rewards):
                ret = r + gamma * ret
                rets.append(ret)
            demos.returns.extend(reversed(rets))
            demos.objectives.append(float(info["metrics"][objective]))
    finally:
        env.close()
    return demos


def collate(states: list[dict[str, np.ndarray]], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Unpadded states -> one padded batch (padded to its largest graph), as the module reads it."""
    b = len(states)
    n_max = max(int(s["nodes"].shape[0]) for s in states)
    e_max = max(int(s["edge_type"].shape[0]) for s in states)
    n_feat = states[0]["nodes"].shape[1]
    nodes = np.zeros((b, n_max, n_feat), dtype=np.float32)
    node_type = np.zeros((b, n_max), dtype=np.int64)
    mask = np.zeros((b, n_max), dtype=bool)
    edge_index = np.zeros((b, 2, e_max), dtype=np.int64)
    edge_type = np.zeros((b, e_max), dtype=np.int64)
    for i, s in enumerate(states):
        n, e = s["nodes"].shape[0], s["edge_type"].shape[0]
        nodes[i, :n] = s["nodes"]
        node_type[i, :n] = s["node_type"]
        mask[i, :n] = s["action_mask"]
        edge_index[i, :, :e] = s["edge_index"]
        edge_type[i, :e] = s["edge_type"]
    batch = {
        "nodes": nodes, "node_type": node_type, "action_mask": mask, "edge_index": edge_index,
        "edge_type": edge_type, "globals": np.stack([np.asarray(s["globals"], dtype=np.float32).reshape(-1) for s in states]),
        "n_nodes": np.array([s["nodes"].shape[0] for s in states], dtype=np.int64),
        "n_edges": np.array([s["edge_type"].shape[0] for s in states], dtype=np.int64),
    }
    return {k: torch.as_tensor(v, device=device) for k, v in batch.items()}


def _device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


@torch.no_grad()
def greedy_accuracy(module: GraphActorCritic, demos: Demonstrations, index: np.ndarray, batch_size: int) -> float:
    """Share of the states in ``index`` where the greedy action (argmax of the masked logits) is the expert's."""
    if index.size == 0:
        return float("nan")
    was_training = module.training
    module.eval()
    hits = 0
    for start in range(0, index.size, batch_size):
        chunk = index[start:start + batch_size]
        logits, _ = module(collate([demos.states[i] for i in chunk], _device(module)))
        expert = torch.as_tensor([demos.actions[i] for i in chunk], device=logits.device)
        hits += int((logits.argmax(dim=-1) == expert).sum())
    module.train(was_training)
    return hits / index.size


def with_choice(demos: Demonstrations, index: np.ndarray) -> np.ndarray:
    """The states of ``index`` with more than one legal action (where the accuracy is not a given)."""
    return np.asarray([i for i in index if int(np.count_nonzero(demos.states[i]["action_mask"])) > 1], dtype=np.int64)


def split(demos: Demonstrations, holdout: float) -> tuple[np.ndarray, np.ndarray]:
    """State indices to train on and held out: the last ``ceil(holdout * episodes)`` episodes are held out
    (none when ``holdout`` is 0; at least one episode always trains)."""
    n_ep = len(demos.objectives)
    n_hold = min(math.ceil(holdout * n_ep), n_ep - 1) if holdout > 0 else 0
    episode = np.asarray(demos.episode)
    held = episode >= n_ep - n_hold
    return np.flatnonzero(~held), np.flatnonzero(held)


def clone(module: GraphActorCritic, demos: Demonstrations, train_idx: np.ndarray, holdout_idx: np.ndarray,
          cfg: DictConfig, log: Callable[[dict[str, float]], None] | None = None, *, epochs: int | None = None,
          first_epoch: int = 1, shuffle_seed: int | None = None,
          tags: Mapping[str, float] | None = None) -> tuple[float, float, float | None]:
    """Train ``module`` on the demonstrations; returns ``(final cross-entropy, accuracy, held-out accuracy)``
    (accuracies over every state; ``imitation/holdout_accuracy_with_choice`` also logs it over the held-out
    states with more than one legal action).

    ``epochs`` passes (None: ``imitation.epochs``), logged as epochs ``first_epoch, first_epoch + 1, ...``
    with ``tags`` added to each record (a DAgger round continues the numbering; the untrained epoch-0 record
    is logged only when ``first_epoch`` is 1). The minibatch order comes from ``shuffle_seed`` (None: the
    imitation seed)."""
    im = cfg.imitation
    bs = int(im.batch_size)
    vf_coef = float(im.vf_coef)
    max_norm = float(cfg.agent.ppo.max_grad_norm)
    rng = np.random.default_rng(_seed(cfg) if shuffle_seed is None else shuffle_seed)
    n_epochs = int(im.epochs if epochs is None else epochs)
    extra = dict(tags or {})
    device = _device(module)
    opt = torch.optim.Adam(module.parameters(), lr=float(im.lr))
    actions = torch.as_tensor(demos.actions, dtype=torch.long)
    returns = torch.as_tensor(demos.returns, dtype=torch.float32)
    hold_choice = with_choice(demos, holdout_idx)
    module.train()
    loss_mean = float("nan")
    acc = hold_acc = float("nan")
    if first_epoch == 1 or n_epochs == 0:  # the untrained accuracies (a DAgger round starts from the last epoch's)
        acc, hold_acc = greedy_accuracy(module, demos, train_idx, bs), greedy_accuracy(module, demos, holdout_idx, bs)
    if log is not None and first_epoch == 1:
        log(_epoch_record(0, loss_mean, acc, hold_acc))
    for epoch in range(first_epoch, first_epoch + n_epochs):
        losses = []
        order = rng.permutation(train_idx)
        for start in range(0, order.size, bs):
            chunk = order[start:start + bs]
            logits, values = module(collate([demos.states[i] for i in chunk], device))
            idx = torch.as_tensor(chunk)
            ce = F.cross_entropy(logits, actions[idx].to(device))
            vloss = F.mse_loss(values, returns[idx].to(device))
            loss = ce + vf_coef * vloss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), max_norm)
            opt.step()
            losses.append((float(ce.detach()), float(vloss.detach())))
        loss_mean = float(np.mean([c for c, _ in losses])) if losses else float("nan")
        acc = greedy_accuracy(module, demos, train_idx, bs)
        hold_acc = greedy_accuracy(module, demos, holdout_idx, bs)
        if log is not None:
            rec = _epoch_record(epoch, loss_mean, acc, hold_acc)
            rec["imitation/value_loss"] = float(np.mean([v for _, v in losses])) if losses else float("nan")
            rec["imitation/holdout_accuracy_with_choice"] = greedy_accuracy(module, demos, hold_choice, bs)
            log({**rec, **extra})
    return loss_mean, acc, (None if math.isnan(hold_acc) else hold_acc)


def _epoch_record(epoch: int, loss: float, acc: float, hold_acc: float) -> dict[str, float]:
    """One epoch's log record (``imitation/loss``: the actor's cross-entropy)."""
    rec = {"imitation/epoch": float(epoch), "imitation/loss": loss, "imitation/accuracy": acc}
    if not math.isnan(hold_acc):
        rec["imitation/holdout_accuracy"] = hold_acc
    return rec


def _seed(cfg: DictConfig) -> int:
    return int(cfg.trainer.seed if cfg.imitation.seed is None else cfg.imitation.seed)


def greedy_actor(module: GraphActorCritic) -> Callable[[Mapping[str, Any]], int]:
    """The clone's greedy action on one observation (argmax of the masked logits, as ``GNNPolicy`` acts).
    The caller puts the module in eval mode for the rollout."""
    device = _device(module)

    @torch.no_grad()
    def act(obs: Mapping[str, Any]) -> int:
        logits, _ = module(collate([_unpadded(obs)], device))
        return int(logits[0].argmax())

    return act


def dagger_round(module: GraphActorCritic, expert: Any, demos: Demonstrations, train_idx: np.ndarray,
                 holdout_idx: np.ndarray, cfg: DictConfig, round_no: int, first_epoch: int,
                 log: Callable[[dict[str, float]], None] | None = None
                 ) -> tuple[np.ndarray, dict[str, float], tuple[float, float, float | None]]:
    """One DAgger round: the clone plays, the expert labels what it reaches, the clone trains on everything.
    Returns the grown training indices, the round's record and ``clone``'s result."""
    im = cfg.imitation
    n_dem = int(im.episodes)
    n_ep = int(im.dagger_episodes or n_dem)
    epochs = int(im.dagger_epochs or im.epochs)
    seed = _seed(cfg) + n_dem + (round_no - 1) * n_ep
    was_training = module.training
    module.eval()
    try:
        reached = collect(cfg, expert, n_ep, seed, actor=greedy_actor(module), what=f"DAgger round {round_no}")
    finally:
        module.train(was_training)
    agree = np.asarray(reached.actions) == np.asarray(reached.played)
    choice = with_choice(reached, np.arange(len(reached)))
    train_idx = np.concatenate([train_idx, demos.extend(reached)])
    record = {"imitation/dagger_round": float(round_no), "imitation/dagger_agreement": float(agree.mean()),
              "imitation/dagger_agreement_with_choice": float(agree[choice].mean()) if choice.size else float("nan"),
              "imitation/dagger_objective": float(np.mean(reached.objectives)),
              "imitation/dagger_states": float(len(reached))}
    if log is not None:
        log(record)
    result = clone(module, demos, train_idx, holdout_idx, cfg, log, epochs=epochs, first_epoch=first_epoch,
                   shuffle_seed=_seed(cfg) + round_no, tags={"imitation/dagger_round": float(round_no)})
    return train_idx, record, result


def warm_start(module: GraphActorCritic, cfg: DictConfig,
               log: Callable[[dict[str, float]], None] | None = None) -> ImitationReport:
    """Collect the expert's demonstrations and clone them into ``module`` (in place), then run the DAgger
    rounds, if any."""
    t0 = time.perf_counter()
    expert = make_expert(cfg)
    seed = _seed(cfg)
    rounds: list[dict[str, float]] = []
    with torch.random.fork_rng(devices=[]):  # PPO's own RNG stream is left as the run seed made it
        torch.manual_seed(seed)
        demos = collect(cfg, expert, int(cfg.imitation.episodes), seed)
        expert_objective = float(np.mean(demos.objectives))
        train_idx, holdout_idx = split(demos, float(cfg.imitation.holdout))
        loss, acc, hold_acc = clone(module, demos, train_idx, holdout_idx, cfg, log)
        epoch = int(cfg.imitation.epochs) + 1
        for r in range(1, int(cfg.imitation.dagger_rounds) + 1):
            train_idx, record, (loss, acc, hold_acc) = dagger_round(module, expert, demos, train_idx, holdout_idx,
                                                                    cfg, r, epoch, log)
            epoch += int(cfg.imitation.dagger_epochs or cfg.imitation.epochs)
            rounds.append({"round": r, "episodes": int(cfg.imitation.dagger_episodes or cfg.imitation.episodes),
                           "states": int(record["imitation/dagger_states"]),
                           "agreement": record["imitation/dagger_agreement"],
                           "agreement_with_choice": record["imitation/dagger_agreement_with_choice"],
                           "clone_objective": record["imitation/dagger_objective"], "accuracy_after": acc})
            print(f"DAgger round {r}: the clone agreed with the expert on {record['imitation/dagger_agreement']:.3f} "
                  f"of the {int(record['imitation/dagger_states'])} states it reached "
                  f"({record['imitation/dagger_agreement_with_choice']:.3f} where it had a choice; mean objective "
                  f"{record['imitation/dagger_objective']:.4g}); accuracy after training {acc:.3f}")
    return ImitationReport(
        expert=str(cfg.imitation.expert),
        episodes=int(cfg.imitation.episodes),
        train_states=int(train_idx.size),
        holdout_states=int(holdout_idx.size),
        expert_objective=expert_objective,
        accuracy=acc,
        holdout_accuracy=hold_acc,
        final_loss=loss,
        seconds=time.perf_counter() - t0,
        dagger=rounds,
    )


def warm_start_run(module: GraphActorCritic, cfg: DictConfig, run_dir: Any, validator: Any, log: Any,
                   state: dict[str, Any]) -> dict[str, Any]:
    """The warm start inside a fresh training run (both the epochs and the result go to ``metrics.jsonl``
    at env step 0): clone, write ``checkpoints/imitation.pt``, validate the clone like any PPO checkpoint
    (so ``best.pt`` is the clone until PPO beats it). Returns the report as a dict."""
    from pathlib import Path

    from .common import write_gnn_checkpoint

    report = warm_start(module, cfg, log=lambda rec: log.log(0, rec))
    dagger = (f" + {len(report.dagger)} DAgger rounds ({sum(r['episodes'] for r in report.dagger)} episodes)"
              if report.dagger else "")
    print(f"imitation warm start ({report.expert}): {report.train_states} states from {report.episodes} episodes"
          f"{dagger}, accuracy {report.accuracy:.3f}, held out {report.holdout_accuracy}, {report.seconds:.1f} s")
    val = validator.run(module)
    log.log(0, {**val, "imitation/expert_objective": report.expert_objective,
                "imitation/final_accuracy": report.accuracy,
                **({"imitation/final_holdout_accuracy": report.holdout_accuracy}
                   if report.holdout_accuracy is not None else {})})
    run_dir = Path(run_dir)
    write_gnn_checkpoint(run_dir / "checkpoints" / "imitation.pt", module, cfg, 0, val)
    if validator.better(val["val/objective"], state["best_val"]):
        state["best_val"], state["best_step"] = val["val/objective"], 0
        write_gnn_checkpoint(run_dir / "best.pt", module, cfg, 0, val)
    return {**report.as_dict(), "val_objective": val["val/objective"]}
