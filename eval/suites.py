"""Evaluation suites: named sets of cases (env constructions) with default policies and seeds.

A suite is a YAML file in ``configs/suites/<name>.yaml`` (shipped with the package) or any path::

    name: taillard-15x15
    env_id: schedgym/<Id>-v0               # a registered id (schedgym-eval show=true)
    env_kwargs: {}                       # common kwargs of every case
    cases:                               # or  cases_from: "module:function"  returning this list
      - {name: ta01, group: "", env_kwargs: {instance: ta01}}
    reference: "module:function"         # optional: case dict -> {"value": float, "source": str} | None
    policies: [mwkr:nondelay, cpsat:10]  # default policies
    seeds: [0]
    leaderboard_metrics: [makespan]      # metrics shown on the leaderboard
    plot: "module:function"              # optional: (results DataFrame, out dir) -> list of written paths
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import yaml

_SUITE_KEYS = {
    "name", "env_id", "env_kwargs", "cases", "cases_from", "reference", "policies", "seeds",
    "leaderboard_metrics", "plot", "description",
}


@dataclass
class Case:
    name: str
    env_kwargs: dict[str, Any]
    group: str = ""


@dataclass
class Suite:
    name: str
    env_id: str
    cases: list[Case]
    policies: list[str]
    seeds: list[int]
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    reference: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None
    leaderboard_metrics: list[str] = field(default_factory=list)
    plot: Callable[..., list[Path]] | None = None
    source: str = ""


def load_callable(path: str, where: str) -> Callable[..., Any]:
    """Import ``"package.module:function"``; errors name ``where`` it was configured."""
    module_name, sep, attr = path.partition(":")
    if not sep or not attr:
        raise ValueError(f"{where}: {path!r} must look like 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{where}: cannot import {module_name!r} ({exc})") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"{where}: {module_name!r} has no attribute {attr!r}") from None


def _domain_reference(env_id: str, where: str) -> Callable[[dict[str, Any]], dict[str, Any] | None] | None:
    """The reference lookup of the env's domain (from its manifest) when a suite names none."""
    from ..envs.domains import domain_of

    try:
        return domain_of(env_id).reference_function()
    except KeyError:
        raise ValueError(f"{where}: env_id {env_id!r} is not declared by any domain") from None


def _suites_dir() -> Path:
    return Path(str(resources.files("schedgym.configs").joinpath("suites")))


def suite_names() -> list[str]:
    """Names of the suites shipped with the package."""
    return sorted(p.stem for p in _suites_dir().glob("*.yaml"))


def load_suite(name_or_path: str) -> Suite:
    """A shipped suite by name, or a suite YAML file by path."""
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = _suites_dir() / f"{name_or_path}.yaml"
        if not path.is_file():
            names = suite_names()
            close = difflib.get_close_matches(name_or_path, names, n=5, cutoff=0.4)
            raise KeyError(f"unknown suite {name_or_path!r}; close: {close}; known suites: {names}")
    where = str(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{where}: invalid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a suite must be a YAML mapping")
    unknown = set(raw) - _SUITE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown suite key(s) {sorted(unknown)}; allowed: {sorted(_SUITE_KEYS)}")
    for key in ("name", "env_id"):
        if key not in raw:
            raise ValueError(f"{where}: missing required key {key!r}")
    if "cases_from" in raw:
        cases_raw = load_callable(str(raw["cases_from"]), f"{where}: cases_from")()
    else:
        cases_raw = raw.get("cases") or []
    if not isinstance(cases_raw, list):
        raise ValueError(f"{where}: 'cases' must be a list of mappings, got {type(cases_raw).__name__} {cases_raw!r:.60}")
    if not cases_raw:
        raise ValueError(f"{where}: the suite has no cases")
    for key, kind in (("policies", list), ("seeds", list), ("leaderboard_metrics", list), ("env_kwargs", dict),
                      ("name", str), ("env_id", str)):
        if raw.get(key) is not None and not isinstance(raw[key], kind):
            raise ValueError(f"{where}: {key!r} must be a {kind.__name__}, got {type(raw[key]).__name__} {raw[key]!r:.60}")
    try:
        seeds = [int(s) for s in raw.get("seeds") or [0]]
    except (TypeError, ValueError):
        raise ValueError(f"{where}: 'seeds' must be a list of integers, got {raw['seeds']!r:.60}") from None
    cases = []
    for i, c in enumerate(cases_raw):
        if not isinstance(c, dict) or "name" not in c:
            raise ValueError(f"{where}: case #{i} must be a mapping with a 'name'")
        if not isinstance(c.get("env_kwargs") or {}, dict):
            raise ValueError(f"{where}: case #{i} ({c['name']!r}): 'env_kwargs' must be a mapping")
        cases.append(Case(name=str(c["name"]), env_kwargs=dict(c.get("env_kwargs") or {}), group=str(c.get("group", ""))))
    names = [c.name + "|" + c.group for c in cases]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: case names must be unique within a group")
    return Suite(
        name=str(raw["name"]),
        env_id=str(raw["env_id"]),
        cases=cases,
        policies=[str(p) for p in raw.get("policies") or []],
        seeds=seeds,
        env_kwargs=dict(raw.get("env_kwargs") or {}),
        reference=(load_callable(raw["reference"], f"{where}: reference") if raw.get("reference")
                   else _domain_reference(str(raw["env_id"]), where)),
        leaderboard_metrics=[str(m) for m in raw.get("leaderboard_metrics") or []],
        plot=load_callable(raw["plot"], f"{where}: plot") if raw.get("plot") else None,
        source=where,
    )
