"""Policies by name, discovered from the domain modules of :mod:`schedgym.agents`.

Each domain module listed in :data:`POLICY_MODULES` exposes ``POLICIES: dict[str, factory]`` where a
factory takes keyword options and returns a :class:`~schedgym.agents.base.Policy`. Names are global
(``"mwkr"``, ``"cpsat"``, ``"vllm-fcfs"``...); a name may take options after a colon, e.g.
``"mwkr:active"`` (see :func:`make_policy`). A module that does not exist yet is skipped; a module
that fails to import raises.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from .base import Policy, RandomPolicy

#: modules that contribute policies (a missing one is skipped)
POLICY_MODULES: tuple[str, ...] = (
    "schedgym.agents.jobshop",
    "schedgym.agents.isbjobshop",
    "schedgym.agents.llm",
    "schedgym.agents.gnn",
)

PolicyFactory = Callable[..., Policy]
_CACHE: dict[str, PolicyFactory] | None = None


def policy_factories() -> dict[str, PolicyFactory]:
    """Every known policy name and its factory."""
    global _CACHE
    if _CACHE is None:
        found: dict[str, PolicyFactory] = {"random": lambda **kw: RandomPolicy(**kw)}
        for mod_name in POLICY_MODULES:
            try:
                mod = importlib.import_module(mod_name)
            except ModuleNotFoundError as exc:
                if exc.name is not None and mod_name.startswith(exc.name):
                    continue  # the domain module does not exist (yet)
                raise
            for name, factory in getattr(mod, "POLICIES", {}).items():
                if name in found:
                    raise ValueError(f"policy name {name!r} is defined twice (again in {mod_name})")
                found[name] = factory
        _CACHE = found
    return _CACHE


def make_policy(spec: str, **options: Any) -> Policy:
    """Build a policy from ``"name"`` or ``"name:arg"`` (the arg is passed as ``variant=``).

    ``options`` are passed to the factory as keywords. Unknown names raise with the close names.
    """
    name, _, variant = spec.partition(":")
    factories = policy_factories()
    if name not in factories:
        import difflib

        close = difflib.get_close_matches(name, list(factories), n=5)
        raise KeyError(f"unknown policy {name!r}; close: {close}; known: {sorted(factories)}")
    if variant:
        options = {**options, "variant": variant}
    return factories[name](**options)
