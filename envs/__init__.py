"""schedgym environments. Importing this package registers every environment id with Gymnasium.

Every environment follows one contract (:mod:`schedgym.envs.core`): a padded graph observation, an
action that picks a node, the mask given three ways, metrics and a checkable solution at episode end.
The ids come from the domain manifests (:mod:`schedgym.envs.domains`); nothing here names a domain.
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
from .domain import Domain, EnvEntry
from .domains import domain, domain_of, domains


def _register_all() -> dict[str, tuple[str, dict]]:
    declared: dict[str, tuple[str, dict]] = {}
    for d in domains():
        for env_id, entry in d.env_ids.items():
            declared[env_id] = (entry.entry_point, dict(entry.kwargs))
            if env_id not in registry:
                register(id=env_id, entry_point=entry.entry_point, kwargs=dict(entry.kwargs))
    return declared


#: every id registered from the manifests: id -> (entry point, default kwargs)
ENV_IDS: dict[str, tuple[str, dict]] = _register_all()

__all__ = [
    "Domain",
    "ENV_IDS",
    "EnvEntry",
    "EpisodeOverError",
    "GraphSchedulingEnv",
    "GraphSpec",
    "IllegalActionError",
    "Objective",
    "domain",
    "domain_of",
    "domains",
    "graph_observation_space",
    "graph_spec_of",
]
