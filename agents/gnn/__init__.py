"""GNN-PPO agents: one graph actor-critic (:mod:`.model`), trained with sb3-contrib MaskablePPO
(:mod:`.sb3`) or Ray RLlib (:mod:`.rllib`), saved as a backend-independent checkpoint
(:mod:`.checkpoint`) and evaluated as a :class:`~schedgym.agents.base.Policy` (:mod:`.policy`).

``make_policy("gnn:<checkpoint .pt or run folder>")`` builds a greedy policy; append ``#sample`` or
``#k=16`` (best of 16 sampled schedules) for the stochastic variants.
"""

from __future__ import annotations

from .checkpoint import load_checkpoint, save_checkpoint
from .graph import stack_observations, to_pyg, to_pyg_batch
from .model import GNNConfig, GraphActorCritic
from .policy import GNNPolicy, make_gnn_policy


__all__ = ["GNNConfig", "GNNPolicy", "GraphActorCritic", "load_checkpoint", "make_gnn_policy", "save_checkpoint",
           "stack_observations", "to_pyg", "to_pyg_batch"]
