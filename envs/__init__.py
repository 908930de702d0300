"""schedgym environments. Importing this package registers every environment id with Gymnasium.

Every environment follows one contract (:mod:`schedgym.envs.core`): a padded graph observation, an
action that picks a node, the mask given three ways, metrics and a checkable solution at episode end.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from .core import (
    EpisodeOverError,
    GraphSchedulingEnv,
    GraphSpec,
    IllegalActionError,
    Objective,
    graph_observation_space,
    graph_spec_of,
)

#: every id this package registers: id -> (entry point, default kwargs). Each domain adds its own lines.
ENV_IDS: dict[str, tuple[str, dict]] = {
    "schedgym/JobShop-v0": ("schedgym.envs.jobshop.env:JobShopEnv", {}),
    "schedgym/LLMServe-v0": ("schedgym.envs.llm.env:LLMServeEnv", {}),
    "schedgym/LLMCluster-v0": ("schedgym.envs.llm.cluster_env:LLMClusterEnv", {}),
    "schedgym/ISBJobShop-v0": ("schedgym.envs.isbjobshop.env:ISBJobShopEnv", {"shutdown_prob": 0.05}),
    "schedgym/BlockingJobShop-v0": ("schedgym.envs.isbjobshop.env:ISBJobShopEnv", {"shutdown_prob": 0.0}),
    "schedgym/InterruptJobShop-v0": ("schedgym.envs.isbjobshop.env:ISBJobShopEnv", {"blocking": False, "shutdown_prob": 0.05}),
}

for _env_id, (_entry, _kwargs) in ENV_IDS.items():
    if _env_id not in registry:
        register(id=_env_id, entry_point=_entry, kwargs=dict(_kwargs))

__all__ = [
    "ENV_IDS",
    "EpisodeOverError",
    "GraphSchedulingEnv",
    "GraphSpec",
    "IllegalActionError",
    "Objective",
    "graph_observation_space",
    "graph_spec_of",
]
