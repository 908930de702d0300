"""Policy specs and registry entries: the typed doors between a policy name and a policy object.

A **policy spec** is the text a user writes (``"mwkr:nondelay"``, ``"cpsat:10"``,
``"gnn:runs/x/best.pt#k=8"``, ``"my_pkg.policies:make_mine:opt"``). It is parsed once into a
:class:`PolicySpec`: the registry ``name`` and the ``option`` after the first colon. A name that
contains a dot is a user's ``module:factory`` (the factory takes the option, or None).

Each domain's ``agents/<domain>/__init__.py`` exposes ``POLICIES: dict[str, PolicyEntry]``. A
:class:`PolicyEntry` says how to build the policy from its option, what the option means (shown by
``schedgym-eval show=true`` and in errors), and which env ids it serves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping

if TYPE_CHECKING:
    from .base import Policy

PolicyKind = Literal["baseline", "exact", "oracle", "learned", "random"]


class PolicyError(ValueError):
    """A policy spec that cannot be built: unknown name, bad option, missing checkpoint, wrong env."""


class UnknownPolicyError(PolicyError, KeyError):
    """No policy of that name (also a ``KeyError``, as a failed lookup)."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


@dataclass(frozen=True)
class PolicySpec:
    """A parsed policy spec: ``name`` and the ``option`` after the first colon (None if absent)."""

    name: str
    option: str | None = None

    @classmethod
    def parse(cls, text: str) -> "PolicySpec":
        """``"name"`` / ``"name:option"``; for a user's ``"pkg.module:factory[:option]"`` the name is
        ``"pkg.module:factory"``."""
        text = str(text).strip()
        if not text:
            raise PolicyError("empty policy spec")
        head, sep, rest = text.partition(":")
        if "." in head and sep:  # a user's module:factory
            factory, sep2, option = rest.partition(":")
            if not factory:
                raise PolicyError(f"policy spec {text!r}: 'module:factory' needs a factory name after the colon")
            return cls(f"{head}:{factory}", option if sep2 and option else None)
        return cls(head, rest if sep and rest else None)

    @property
    def is_module_factory(self) -> bool:
        return ":" in self.name

    def __str__(self) -> str:
        return self.name if self.option is None else f"{self.name}:{self.option}"


@dataclass(frozen=True)
class PolicyEntry:
    """How a registry name becomes a policy.

    Attributes:
        make: ``make(option) -> Policy``; ``option`` is the text after the colon, or None. Raise
            :class:`PolicyError` (or ``ValueError``) naming the policy for a bad option.
        summary: one line: what the policy does (and whose method it is).
        options: what the option after the colon means, with the default (``""``: takes none).
        env_ids: the env ids it serves (evaluation refuses others before running anything).
        kind: ``baseline`` (a field's heuristic), ``exact`` (a solver: needs ortools or similar),
            ``oracle`` (reads information a real scheduler lacks), ``learned`` or ``random``.
        examples: spec examples for the docs and ``show=true``.
    """

    make: Callable[[str | None], "Policy"]
    summary: str
    env_ids: tuple[str, ...]
    options: str = ""
    kind: PolicyKind = "baseline"
    examples: tuple[str, ...] = field(default_factory=tuple)

    def build(self, name: str, option: str | None) -> "Policy":
        """Build the policy; an option given to a policy that takes none is an error."""
        if option is not None and not self.options:
            raise PolicyError(f"policy {name!r} takes no option, got {option!r}")
        try:
            return self.make(option)
        except PolicyError:
            raise
        except (ValueError, TypeError, KeyError, FileNotFoundError) as exc:
            msg = exc.args[0] if exc.args else exc
            raise PolicyError(f"policy {name}:{option}: {msg} (options: {self.options or 'none'})") from exc


def check_env_kwargs(policy_name: str, required: Mapping[str, Any], given: Mapping[str, Any],
                     given_by: str = "env_kwargs") -> dict[str, Any]:
    """Merge a policy's required env kwargs into ``given``; a conflicting value is an error naming both.

    Returns the merged kwargs. ``given_by`` names where ``given`` came from (e.g. ``"suite taillard"``).
    """
    merged = dict(given)
    for key, value in required.items():
        if key in merged and merged[key] != value:
            raise PolicyError(
                f"policy {policy_name!r} needs env kwarg {key}={value!r} but {given_by} sets {key}={merged[key]!r}; "
                f"drop one of them"
            )
        merged[key] = value
    return merged
