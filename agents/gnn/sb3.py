"""sb3-contrib MaskablePPO policy on the graph actor-critic.

:class:`GNNMaskablePolicy` keeps SB3's ``MaskableActorCriticPolicy`` interface (``forward``,
``evaluate_actions``, ``get_distribution``, ``predict_values``) but replaces the features extractor /
MLP / ``action_net`` path with :class:`~schedgym.agents.gnn.model.GraphActorCritic`: the action
distribution's logits ARE the per-node logits (no flattening into an MLP), so one set of weights
handles any number of nodes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from sb3_contrib.common.maskable.distributions import MaskableDistribution
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from ...envs.core import graph_spec_of
from .model import GNNConfig, GraphActorCritic


class PassThroughExtractor(BaseFeaturesExtractor):
    """SB3 insists on a features extractor; the graph module reads the observation dict itself."""

    def __init__(self, observation_space: spaces.Dict) -> None:
        super().__init__(observation_space, features_dim=1)

    def forward(self, observations: Any) -> Any:  # pragma: no cover - never called
        return observations


class GNNMaskablePolicy(MaskableActorCriticPolicy):
    """MaskablePPO policy whose logits are the per-node logits of :class:`GraphActorCritic`.

    ``model`` (a dict of :class:`GNNConfig` fields) is passed through ``policy_kwargs``.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.Discrete,
        lr_schedule: Any,
        model: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.gnn_config = GNNConfig.from_dict(model)
        kwargs.pop("features_extractor_class", None)
        kwargs.setdefault("ortho_init", False)
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            features_extractor_class=PassThroughExtractor,
            **kwargs,
        )

    def _build(self, lr_schedule: Any) -> None:
        self.gnn = GraphActorCritic(graph_spec_of(self.observation_space), self.gnn_config)
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["model"] = self.gnn_config.to_dict()
        return data

    def _dist(self, logits: torch.Tensor, action_masks: np.ndarray | torch.Tensor | None) -> MaskableDistribution:
        dist = self.action_dist.proba_distribution(action_logits=logits)
        if action_masks is not None:
            dist.apply_masking(action_masks)
        return dist

    def forward(
        self, obs: Any, deterministic: bool = False, action_masks: np.ndarray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, values = self.gnn(obs)
        dist = self._dist(logits, action_masks)
        actions = dist.get_actions(deterministic=deterministic)
        return actions.reshape(-1), values.unsqueeze(-1), dist.log_prob(actions)

    def evaluate_actions(
        self, obs: Any, actions: torch.Tensor, action_masks: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        logits, values = self.gnn(obs)
        dist = self._dist(logits, action_masks)
        return values.unsqueeze(-1), dist.log_prob(actions), dist.entropy()

    def get_distribution(self, obs: Any, action_masks: np.ndarray | None = None) -> MaskableDistribution:
        logits, _ = self.gnn(obs)
        return self._dist(logits, action_masks)

    def predict_values(self, obs: Any) -> torch.Tensor:
        return self.gnn.value(obs).unsqueeze(-1)
