"""Policies by name, from the domain manifests, plug-in packages and ``module:factory`` specs.

Where names come from:

* each domain's manifest names its policy module (``Domain.policies``), which exposes
  ``POLICIES: dict[str, PolicyEntry]``;
* domain-independent policies: ``random`` and the learned ``gnn`` (:data:`GENERAL_POLICIES`);
* installed packages, through the entry-point group ``schedgym.policies`` (each entry point names a
  ``PolicyEntry``, or a ``dict[str, PolicyEntry]``);
* a user's own ``"pkg.module:factory"`` or ``"pkg.module:factory:option"`` spec, where ``factory(option)``
  returns a :class:`~schedgym.agents.base.Policy` (nothing to register).

A spec is parsed once into a :class:`~schedgym.agents.spec.PolicySpec`; each entry documents its option.
Building a rule imports neither torch nor OR-Tools: those load only with ``gnn`` / exact solvers.
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from typing import Any

from .base import Policy, RandomPolicy
from .spec import PolicyEntry, PolicyError, PolicySpec, UnknownPolicyError

ENTRY_POINT_GROUP = "schedgym.policies"
#: ``env_ids`` value of a policy that serves every env id
ANY_ENV: tuple[str, ...] = ("*",)


def _make_gnn(option: str | None) -> Policy:
    try:
        from .gnn.policy import make_gnn_policy
    except ImportError as exc:  # the light install: no torch / torch-geometric
        raise PolicyError(f"policy 'gnn' needs the training extra (torch, torch-geometric): "
                          f"pip install 'schedgym[train]' ({exc})") from None

    if not option:
        raise PolicyError("policy 'gnn' needs a checkpoint: gnn:<file.pt | run folder | released name>[#k=8]")
    return make_gnn_policy(variant=option)


#: policies that serve every domain
GENERAL_POLICIES: dict[str, PolicyEntry] = {
    "random": PolicyEntry(lambda option: RandomPolicy(), "uniformly random legal node (seeded by reset)", ANY_ENV,
                          kind="random"),
    "gnn": PolicyEntry(_make_gnn, "a trained GNN-PPO checkpoint (greedy; #sample or #k=<n> best of n)", ANY_ENV,
                       options="checkpoint .pt, run folder or released name, then #sample / #k=<n> / #threads=<n>",
                       kind="learned", examples=("gnn:jobshop-10x10", "gnn:runs/x/best.pt#k=8")),
}

_CACHE: dict[str, PolicyEntry] | None = None


def policy_modules() -> list[str]:
    """The policy module of every domain, in manifest order."""
    from ..envs.domains import domains

    return [d.policies for d in domains()]


def policy_entries() -> dict[str, PolicyEntry]:
    """Every registered policy name and its entry (domain modules, general policies, plug-ins)."""
    global _CACHE
    if _CACHE is None:
        found: dict[str, PolicyEntry] = dict(GENERAL_POLICIES)
        sources = {name: "schedgym.agents.registry" for name in found}

        def add(entries: Any, where: str) -> None:
            if isinstance(entries, PolicyEntry):
                raise TypeError(f"{where}: give a dict name -> PolicyEntry, not a bare PolicyEntry")
            for name, entry in dict(entries).items():
                if not isinstance(entry, PolicyEntry):
                    raise TypeError(f"{where}: policy {name!r} is a {type(entry).__name__}, not a PolicyEntry")
                if name in found:
                    raise ValueError(f"policy name {name!r} is defined twice ({sources[name]} and {where})")
                found[name], sources[name] = entry, where

        for module_name in policy_modules():
            add(getattr(importlib.import_module(module_name), "POLICIES"), module_name)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            loaded = ep.load()
            add(loaded if not isinstance(loaded, PolicyEntry) else {ep.name: loaded}, f"entry point {ep.value}")
        _CACHE = found
    return _CACHE


def policy_factories() -> dict[str, PolicyEntry]:
    """Alias of :func:`policy_entries` (the name earlier releases used)."""
    return policy_entries()


def serves(entry: PolicyEntry, env_id: str) -> bool:
    """Whether ``entry`` claims ``env_id``."""
    return entry.env_ids == ANY_ENV or env_id in entry.env_ids


def resolve(spec: str | PolicySpec) -> tuple[PolicySpec, PolicyEntry | None]:
    """The parsed spec and its registry entry (None for a user's ``module:factory``)."""
    parsed = spec if isinstance(spec, PolicySpec) else PolicySpec.parse(spec)
    if parsed.is_module_factory:
        return parsed, None
    entries = policy_entries()
    if parsed.name not in entries:
        close = difflib.get_close_matches(parsed.name, list(entries), n=5)
        raise UnknownPolicyError(f"unknown policy {parsed.name!r}; close: {close}; known: {sorted(entries)}; "
                          "or give your own as 'pkg.module:factory'")
    return parsed, entries[parsed.name]


def make_policy(spec: str | PolicySpec, env_id: str | None = None) -> Policy:
    """Build a policy from a spec (``"mwkr"``, ``"mwkr:active"``, ``"cpsat:10"``, ``"pkg.mod:factory"``).

    With ``env_id``, a policy that does not serve that id is refused before anything runs. Errors are
    :class:`~schedgym.agents.spec.PolicyError` naming the policy (a ``ValueError``; unknown names are
    also a ``KeyError`` subclass for older callers).
    """
    parsed, entry = resolve(spec)
    if entry is None:
        from ..envs.domain import load_reference

        try:
            factory = load_reference(parsed.name, where=f"policy {parsed.name!r}")
        except ValueError as exc:
            raise PolicyError(str(exc)) from None
        policy = factory(parsed.option)
        if not isinstance(policy, Policy):
            raise PolicyError(f"policy {parsed.name!r}: the factory returned a {type(policy).__name__}, which lacks "
                              "the Policy protocol (name, env_kwargs, reset(env, seed), act(obs, info))")
        return policy
    if env_id is not None and not serves(entry, env_id):
        raise PolicyError(f"policy {parsed.name!r} does not serve {env_id!r}; it serves {list(entry.env_ids)}")
    return entry.build(parsed.name, parsed.option)
