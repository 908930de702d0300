"""The domain manifest: everything the shared rooms (registration, policy registry, ``schedgym-eval``,
``schedgym-bench``, the README's domain table, the tests) need to know about one domain, in one place.

Each domain folder ``envs/<domain>/__init__.py`` defines ``DOMAIN = Domain(...)``; the list of domains is
:data:`schedgym.envs.domains.DOMAIN_MODULES` (plus any package that declares an entry point in the group
``schedgym.domains``). Everything in a manifest is a plain string or a ``"module:attribute"`` reference,
so reading the manifests imports no simulator, no policy and no heavy library::

    DOMAIN = Domain(
        name="jobshop",
        title="classic job shop (disjunctive graph)",
        env_ids={"schedgym/JobShop-v0": EnvEntry("schedgym.envs.jobshop.env:JobShopEnv",
                                                 summary="pick the next operation ...")},
        policies="schedgym.agents.jobshop",        # module exposing POLICIES = {name: PolicyEntry}
        suites=("taillard-15x15", "ft06"),          # configs/suites/<name>.yaml
        bench="schedgym.envs.jobshop.bench:bench_rows",
        references="schedgym.envs.jobshop.catalog:suite_reference",
        docs="docs/jobshop.md",
        gallery=Gallery("schedgym/JobShop-v0", "mwkr:nondelay", "schedgym.envs.jobshop.render:env_figure",
                        env_kwargs={"n_jobs": 6, "n_machines": 6}),
    )

Adding a domain = a folder in ``envs/``, a folder in ``agents/``, one line in
:data:`schedgym.envs.domains.DOMAIN_MODULES`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


@dataclass(frozen=True)
class EnvEntry:
    """One registered environment id of a domain.

    Attributes:
        entry_point: ``"module:Class"`` of the :class:`~schedgym.envs.core.GraphSchedulingEnv` subclass.
        kwargs: default keyword arguments registered with the id (``gym.make`` kwargs override them).
        summary: one line for the README's domain table and ``schedgym-eval show=true``.
    """

    entry_point: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    summary: str = ""

    def env_class(self) -> type:
        """Import and return the environment class."""
        return load_reference(self.entry_point, where=f"entry point {self.entry_point!r}")


@dataclass(frozen=True)
class Gallery:
    """A domain's picture in the README's gallery: one seeded episode of a baseline, then the env's paper
    figure (``python -m schedgym.eval.gallery`` runs it; the manifest stays plain data).

    Attributes:
        env_id: the env to run (one of the domain's ids).
        policy: a policy spec the registry builds for ``env_id`` (``"etf"``, ``"mwkr:nondelay"``).
        figure: ``"module:function"``, ``function(env, size)`` -> a matplotlib Figure of the finished
            episode (each domain's ``render.env_figure``).
        env_kwargs: kwargs of ``gym.make(env_id, ...)``.
        seed: the episode's reset seed.
        caption: one line saying what the picture shows.
    """

    env_id: str
    policy: str
    figure: str
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    caption: str = ""


@dataclass(frozen=True)
class Domain:
    """A domain's manifest (see the module docstring).

    Attributes:
        name: short name, also the folder name under ``envs/`` and ``agents/``.
        title: one-line description of the scheduling problem.
        env_ids: every Gymnasium id the domain registers.
        policies: module (``schedgym.agents.<name>``) exposing ``POLICIES: dict[str, PolicyEntry]``.
        suites: names of its evaluation suites (``configs/suites/<suite>.yaml``).
        bench: ``"module:function"`` returning ``schedgym-bench`` rows (``dict(benchmark, measure, value,
            unit)``); the function takes a keyword ``quick: bool`` (small sizes for tests).
        references: ``"module:function"``: suite case -> ``{"value", "source"}`` or None (best known or
            exact value of a case), or None if the domain has no reference values.
        docs: the domain's documentation page, relative to the repository root.
        gallery: the episode and figure of the domain's picture in the README's gallery
            (:class:`Gallery`, drawn by ``python -m schedgym.eval.gallery``), or None.
        folders: the domain's folders, relative to the repository root.
    """

    name: str
    title: str
    env_ids: Mapping[str, EnvEntry]
    policies: str
    suites: tuple[str, ...] = ()
    bench: str | None = None
    references: str | None = None
    docs: str = ""
    folders: tuple[str, ...] = ()
    gallery: Gallery | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"Domain.name must be an identifier, got {self.name!r}")
        if not self.env_ids:
            raise ValueError(f"domain {self.name!r} declares no env ids")
        for env_id in self.env_ids:
            if not env_id.startswith("schedgym/"):
                raise ValueError(f"domain {self.name!r}: env id {env_id!r} must start with 'schedgym/'")
        if not self.folders:
            object.__setattr__(self, "folders", (f"envs/{self.name}", f"agents/{self.name}"))

    def bench_rows(self, **kwargs: Any) -> list[dict[str, Any]]:
        """Run the domain's speed benchmark (empty when it declares none)."""
        if self.bench is None:
            return []
        return list(load_reference(self.bench, where=f"domain {self.name!r} bench")(**kwargs))

    def reference_function(self) -> Callable[[dict[str, Any]], dict[str, Any] | None] | None:
        """The domain's reference-value lookup, or None."""
        if self.references is None:
            return None
        return load_reference(self.references, where=f"domain {self.name!r} references")


def load_reference(path: str, where: str = "") -> Any:
    """Import ``"package.module:attribute"`` (dots in the attribute walk into it); errors name ``where``."""
    module_name, sep, attr = path.partition(":")
    prefix = f"{where}: " if where else ""
    if not sep or not attr or not module_name:
        raise ValueError(f"{prefix}{path!r} must look like 'package.module:attribute'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{prefix}cannot import {module_name!r} ({exc})") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"{prefix}{module_name!r} has no attribute {attr!r}") from None
    return obj
