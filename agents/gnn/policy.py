"""A trained GNN checkpoint as a :class:`~schedgym.agents.base.Policy`.

``make_policy("gnn:<checkpoint>")`` acts greedily (argmax of the masked logits). Options, given as
keywords or after a ``#`` in the variant, joined by ``&`` (``"gnn:runs/x/best.pt#k=16"``,
``"gnn:runs/x#sample&threads=2"``; ``,`` also works outside of an OmegaConf list):

* ``sample=True`` — sample each action from the policy (seeded by ``reset(seed=...)``);
* ``threads=<n>`` — torch intra-op threads (default 1: per-step graphs are small, and more threads
  only oversubscribe a busy machine; note this sets the process-wide torch setting);
* ``compile`` — run the network through ``torch.compile`` (``agent.model.compile``'s pass without gradients:
  one torch thread, CPU). The same function to float rounding, so an action can differ where two logits
  tie to rounding (and a sampled rollout that draws differently goes on differently); off by default, so
  the documented results repeat bit for bit. It pays with ``k``: best of 16 on ``ta01`` in about a third of
  the time, best of 128 in about a quarter (the first call in a process also compiles, tens of seconds).
  GIN layers and one torch thread only (a warning says where it has no effect);
* ``k=<n>`` (n > 1) — best of ``n`` schedules, the greedy one and ``n - 1`` sampled ones (so it is never
  worse than greedy): at ``reset`` the policy rolls out the ``n`` episodes on copies of the environment
  in lockstep (batched through the network), keeps the one with the best objective and replays it, so
  the evaluation loop still validates one ordinary episode.

``env_kwargs`` carries the env kwargs the policy was trained with that an evaluation must reuse (e.g.
the job shop's ``schedule_builder``), from the checkpoint's ``policy_env_kwargs``.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ...envs.core import graph_spec_of
from ..base import BasePolicy
from .checkpoint import load_checkpoint
from ...envs.core import GraphSpec
from .model import compatible


def _parse_variant(variant: str) -> tuple[str, dict[str, Any]]:
    path, _, opts = variant.partition("#")
    out: dict[str, Any] = {}
    for item in filter(None, opts.replace("&", ",").split(",")):
        key, eq, val = item.partition("=")
        key = key.strip()
        if key in ("sample", "compile"):
            out[key] = (val.strip().lower() not in ("0", "false", "no")) if eq else True
        elif key == "k":
            out["k"] = int(val)
        elif key == "threads":
            out["threads"] = int(val)
        else:
            raise ValueError(f"gnn policy option {key!r} in {variant!r}: known options are sample, k, threads, compile")
    return path, out


class GNNPolicy(BasePolicy):
    """Acts with a trained :class:`~schedgym.agents.gnn.model.GraphActorCritic` checkpoint."""

    def __init__(
        self,
        variant: str | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        sample: bool = False,
        k: int = 1,
        threads: int | None = 1,
        compile: bool = False,
        name: str | None = None,
        module: torch.nn.Module | None = None,
        meta: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        opts: dict[str, Any] = {}
        if variant:
            variant_path, opts = _parse_variant(variant)
            checkpoint = checkpoint or variant_path
        if not checkpoint and module is None:
            raise ValueError('the gnn policy needs a checkpoint: make_policy("gnn:<path to .pt or run folder>")')
        sample = bool(opts.get("sample", sample))
        k = int(opts.get("k", k))
        threads = opts.get("threads", threads)
        compile = bool(opts.get("compile", compile))
        if k < 1:
            raise ValueError(f"gnn policy: k must be >= 1, got {k}")
        if threads:
            torch.set_num_threads(int(threads))
        if module is not None:  # an in-memory module (validation during training)
            self.module, self.meta = module, dict(meta or {"module": module.extra_state()})
        else:
            self.module, self.meta = load_checkpoint(checkpoint)
        if compile:
            self._ask_to_compile(module is not None, threads)
        self.spec = GraphSpec(**self.meta["module"]["spec"])
        label = variant or (str(checkpoint) if checkpoint else "in-memory")
        super().__init__(name=name or f"gnn:{label}", env_kwargs=dict(self.meta.get("policy_env_kwargs") or {}))
        self.sample = sample or k > 1
        self.k = k
        # acting one step from the observation labels any state; best of k replays a plan made at reset
        self.labels_any_state = k == 1
        self._plan: list[int] | None = None
        self._torch_gen = torch.Generator().manual_seed(0)
        self.episode_extra: dict[str, Any] = {}

    def _ask_to_compile(self, in_memory: bool, threads: int | None) -> None:
        """The ``compile`` option: an execution option of the loaded module (checkpoints record
        ``compile: false``); a warning where it cannot apply (an in-memory module, a training run's, keeps its
        own setting; compiled passes need GIN layers and one torch thread)."""
        why = ("an in-memory module keeps its own agent.model.compile" if in_memory
               else "the checkpoint's layers are not GIN" if self.module.config.conv != "gin"
               else f"threads={threads}: compiled passes run with one torch thread" if threads and int(threads) > 1
               else None)
        if why:
            warnings.warn(f"gnn policy option compile has no effect here: {why}", RuntimeWarning, stacklevel=3)
        if not in_memory:
            self.module.config = dataclasses.replace(self.module.config, compile=True)

    # ------------------------------------------------------------------ acting
    @torch.no_grad()  # not inference_mode: a compiled module (#compile) then reuses its sampling variant
    def _logits(self, obs_batch: dict[str, np.ndarray]) -> torch.Tensor:
        """Logits on the CPU, whatever device the module is on (a GPU-trained module during validation)."""
        device = next(self.module.parameters()).device
        logits, _ = self.module({k: torch.as_tensor(np.asarray(v)).to(device) for k, v in obs_batch.items()})
        return logits.cpu()

    def _choose(self, logits: torch.Tensor, sample: bool) -> np.ndarray:
        if sample:
            probs = torch.softmax(logits.double(), dim=-1)
            return torch.multinomial(probs, 1, generator=self._torch_gen).squeeze(-1).numpy()
        return logits.argmax(dim=-1).numpy()

    def reset(self, env: gym.Env, seed: int | None = None) -> None:
        super().reset(env, seed)
        env_spec = getattr(env, "graph_spec", None)  # the contract base's full spec (with feature names)
        why = compatible(self.spec, env_spec if isinstance(env_spec, GraphSpec) else graph_spec_of(env.observation_space))
        if why:
            raise ValueError(f"{self.name}: checkpoint cannot act on {type(env).__name__}: {why}")
        self._torch_gen = torch.Generator().manual_seed(int(seed or 0))
        self._plan = None
        self.episode_extra = {}
        if self.k > 1:
            self._plan = self._best_of_k(env)

    def _best_of_k(self, env: gym.Env) -> list[int]:
        """Roll out the greedy and ``k - 1`` sampled episodes on copies of ``env`` in lockstep; the actions
        of the best (rollout 0 is the greedy one)."""
        obj = env.objective
        envs = [copy.deepcopy(env) for _ in range(self.k)]
        obs = [e.graph.snapshot() for e in envs]
        actions: list[list[int]] = [[] for _ in envs]
        results: list[float | None] = [None] * self.k
        active = list(range(self.k))
        while active:
            batch = {key: np.stack([obs[i][key] for i in active]) for key in obs[active[0]]}
            logits = self._logits(batch)
            chosen = self._choose(logits, sample=True)
            if active[0] == 0:  # rollout 0 stays greedy
                chosen[0] = int(logits[0].argmax())
            still = []
            for i, a in zip(active, chosen):
                o, _, term, trunc, info = envs[i].step(int(a))
                actions[i].append(int(a))
                obs[i] = o
                if term or trunc:
                    results[i] = float(info["metrics"][obj.name])
                else:
                    still.append(i)
            active = still
        best = 0
        for i in range(1, self.k):
            if obj.better(results[i], results[best]):  # type: ignore[arg-type]
                best = i
        self.episode_extra = {"k": self.k, "best_of_k": results[best], "greedy": results[0],
                              "worst_of_k": max(results) if obj.sense == "min" else min(results)}
        return actions[best]

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        if self._plan is not None:
            if not self._plan:
                raise RuntimeError(f"{self.name}: the replayed best-of-{self.k} schedule ran out of actions")
            a = self._plan.pop(0)
            if not obs["action_mask"][a]:
                raise RuntimeError(f"{self.name}: replayed action {a} is not legal (environment not deterministic?)")
            return a
        batch = {key: np.asarray(v)[None] for key, v in obs.items()}
        return int(self._choose(self._logits(batch), self.sample)[0])


def make_gnn_policy(variant: str | None = None, **kwargs: Any) -> GNNPolicy:
    """Registry factory: ``make_policy("gnn:<checkpoint>[#k=16|#sample|#compile]")``."""
    return GNNPolicy(variant=variant, **kwargs)
