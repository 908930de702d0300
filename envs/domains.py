"""The list of domains. One line per domain; every shared list (registered ids, policies, suites,
benchmarks, the README's domain table) is derived from it.

Packages outside schedgym add domains the same way through the entry-point group ``schedgym.domains``
(each entry point names a :class:`~schedgym.envs.domain.Domain` object).
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from importlib.metadata import entry_points

from .domain import Domain

#: module of each built-in domain's manifest (``DOMAIN`` in the domain's ``__init__``)
DOMAIN_MODULES: tuple[str, ...] = (
    "schedgym.envs.jobshop",
    "schedgym.envs.isbjobshop",
    "schedgym.envs.llm",
    "schedgym.envs.soc",
    "schedgym.envs.vm",
    "schedgym.envs.memory",
)

ENTRY_POINT_GROUP = "schedgym.domains"


@lru_cache(maxsize=1)
def domains() -> tuple[Domain, ...]:
    """Every domain: the built-in ones, then those of installed plug-in packages.

    Raises ``ValueError`` if two domains share a name or an env id.
    """
    found: list[Domain] = []
    for module_name in DOMAIN_MODULES:
        found.append(_manifest(importlib.import_module(module_name), module_name))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.append(_manifest(ep.load(), f"entry point {ep.name!r} ({ep.value})"))
    names: dict[str, str] = {}
    ids: dict[str, str] = {}
    for d in found:
        if d.name in names:
            raise ValueError(f"two domains are named {d.name!r}")
        names[d.name] = d.name
        for env_id in d.env_ids:
            if env_id in ids:
                raise ValueError(f"env id {env_id!r} is declared by both {ids[env_id]!r} and {d.name!r}")
            ids[env_id] = d.name
    return tuple(found)


def _manifest(obj: object, where: str) -> Domain:
    domain = getattr(obj, "DOMAIN", obj)
    if not isinstance(domain, Domain):
        raise TypeError(f"{where} does not define a schedgym Domain (found {type(domain).__name__})")
    return domain


def domain(name: str) -> Domain:
    """One domain by name."""
    for d in domains():
        if d.name == name:
            return d
    raise KeyError(f"unknown domain {name!r}; known: {[d.name for d in domains()]}")


def domain_of(env_id: str) -> Domain:
    """The domain that declares ``env_id``."""
    for d in domains():
        if env_id in d.env_ids:
            return d
    raise KeyError(f"no domain declares env id {env_id!r}; known ids: {sorted(env_ids())}")


def env_ids() -> dict[str, str]:
    """Every declared env id -> its domain's name."""
    return {env_id: d.name for d in domains() for env_id in d.env_ids}
