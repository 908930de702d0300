"""Ray RLlib (new API stack) pieces: a ``TorchRLModule`` on the graph actor-critic and env registration.

:class:`GNNTorchRLModule` wraps the same :class:`~schedgym.agents.gnn.model.GraphActorCritic` as the
SB3 policy. Action masking happens inside the module: the contract's observation carries
``action_mask``, and the logits of masked-out and padding nodes are set to
:data:`~schedgym.agents.gnn.model.MASKED_LOGIT` (probability exactly 0 under RLlib's categorical
distribution). The value head implements RLlib's ``ValueFunctionAPI``; ``_forward_train`` hands the
values over as ``embeddings`` so the PPO learner does not run the encoder twice.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule

from ...envs.core import graph_spec_of
from .model import GNNConfig, GraphActorCritic

#: graphs per chunk of the learner's value pass over a whole CPU train batch when ``agent.model.micro_batch`` is 0
#: (1,024 random-play 10x10 job-shop states, one thread: 809 CPU-ms in one pass, 316 in chunks of 256, 187 in
#: chunks of 64; the values are the same)
VALUE_PASS_CHUNK: int = 64

#: prefix of every schedgym env registered with ``ray.tune.register_env``
RLLIB_ENV_PREFIX = "schedgym-rllib:"


def undo_rllib_deterministic_flag() -> None:
    """Turn off ``torch.use_deterministic_algorithms``, which RLlib's seeding turned on in this process.

    RLlib seeds torch in the algorithm, in each learner and in each env runner, before they build their modules
    (``ray.rllib.utils.torch_utils.set_torch_seed``), and there, when torch has no CUDA, it also calls
    ``torch.use_deterministic_algorithms(True)`` for the whole process. This module needs no such flag: on the
    CPU with one torch thread (the presets' setting) its passes repeat bit for bit, as on SB3, which never sets
    it. And the flag is costly: it makes ``torch.compile`` (``agent.model.compile``) replace the fused scatter in
    the backward of the GIN layers by a serial ``index_put_`` (measured on the ``jobshop-10x10`` bench row with
    ``compile + micro_batch=128 + bfloat16``: 562 and 584 against 718 and 739 env steps/s), and, the flag being
    process-wide, it slowed whatever trained in the process afterwards (SB3 runs too). So on CUDA-less torch
    the module turns it off whoever set it (a user's own ``use_deterministic_algorithms(True)`` is undone as
    well); with CUDA torch, where RLlib does not set it, the flag is left alone."""
    if torch.version.cuda is None and torch.are_deterministic_algorithms_enabled():
        torch.use_deterministic_algorithms(False)


class GNNTorchRLModule(TorchRLModule, ValueFunctionAPI):
    """Per-node categorical policy + value over the contract's graph observations.

    ``model_config`` keys: the :class:`GNNConfig` fields (``hidden``, ``n_layers``, ``conv``, ...).
    """

    def setup(self) -> None:
        undo_rllib_deterministic_flag()
        known = set(GNNConfig.__dataclass_fields__)
        # RLlib adds its own defaults (e.g. ``vf_share_layers``) to model_config: keep ours only
        cfg = {k: v for k, v in dict(self.model_config or {}).items() if k in known}
        self.gnn = GraphActorCritic(graph_spec_of(self.observation_space), GNNConfig.from_dict(cfg))

    # RLlib's TorchRLModule switches the module to eval() before, and back to train() after, every
    # sampling forward: two walks over the module tree per env step, as costly as the forward itself on
    # small graphs. This module has no layer that behaves differently in training (no dropout, no batch
    # norm), so sampling runs it as it is (still without gradients).
    def forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._forward_exploration(batch, **kwargs)

    def forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._forward_inference(batch, **kwargs)

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        logits, _ = self.gnn(batch[Columns.OBS])
        return {Columns.ACTION_DIST_INPUTS: logits}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        logits, values = self.gnn(batch[Columns.OBS])
        return {Columns.ACTION_DIST_INPUTS: logits, Columns.EMBEDDINGS: values}

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        """The values: the ``embeddings`` of ``_forward_train`` in the PPO loss (with gradients); without
        them (the learner's GAE connector, which only reads the values as targets) a forward pass without
        gradients, so no autograd graph is built over the whole train batch."""
        if embeddings is not None:
            return embeddings
        obs = batch[Columns.OBS]
        chunk = self.gnn.config.micro_batch
        if not chunk and obs["n_nodes"].device.type == "cpu":  # chunks pay on the CPU's caches, not on a GPU
            chunk = VALUE_PASS_CHUNK
        with torch.no_grad():  # the same values in chunks, at a quarter of the cost on a 1,024-graph CPU batch
            return self.gnn.value(obs, micro_batch=chunk)


def _create_env(env_id: str, env_config: dict[str, Any]) -> Any:
    import gymnasium as gym

    import schedgym.envs  # noqa: F401 - registers the ids in this worker

    return gym.make(env_id, **dict(env_config))


def register_rllib_env(env_id: str) -> str:
    """Register ``env_id`` with Ray Tune's registry (visible to every worker); returns the Ray name."""
    from functools import partial

    from ray.tune.registry import register_env

    name = RLLIB_ENV_PREFIX + env_id
    from ray.tune import registry

    # Tune's registry keys its entries by the Ray job id, which it caches on first use; a process that
    # joins a cluster again (a resume after a run in the same process) is a new job, whose workers would
    # not find the env under the old id: forget the cached id so the entry goes under the current job's
    reg = getattr(registry, "_global_registry", None)
    if reg is not None and hasattr(reg, "_prefix"):
        reg._prefix = None
    register_env(name, partial(_create_env, env_id))
    return name


def module_state_to_gnn(state: dict[str, Any], module: GraphActorCritic) -> GraphActorCritic:
    """Load an RLModule state dict (keys ``gnn.*``, tensors or arrays) into a plain module."""
    sd = {k[len("gnn."):]: torch.as_tensor(v) for k, v in state.items() if k.startswith("gnn.")}
    module.load_state_dict(sd)
    return module
