"""One command-line grammar for ``schedgym-eval``, ``schedgym-train`` and ``schedgym-bench``.

Every argument is an OmegaConf ``key=value`` override of a typed schema (a dataclass), lists in
brackets (``policies=[mwkr,cpsat:10]``), nested keys with dots (``env_kwargs.reward=sparse``). Besides:

* ``-h`` / ``--help`` lists every key with its type, default, meaning and an example;
* ``--version`` prints the package version;
* a usage error (an argument that is not ``key=value``, an unknown key, a value of the wrong type, a bad
  policy option, a missing checkpoint) prints one line ``<prog>: error: ...`` naming the key and exits 2.

Help text comes from the schema's source: the ``#`` comment after a field, or ``#:`` lines above it.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence

EXIT_USAGE = 2


class UsageError(Exception):
    """A command-line mistake; the message is one line that names the key."""


@dataclass(frozen=True)
class KeyHelp:
    """One documented key of a CLI schema."""

    key: str
    type: str
    default: str
    help: str


def package_version() -> str:
    """The installed schedgym version (``"unknown"`` when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("schedgym")
    except PackageNotFoundError:
        return "unknown"


def _field_comments(cls: type) -> dict[str, str]:
    """``field name -> comment`` from the class source (trailing ``# ...`` or preceding ``#:`` lines)."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    pending: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = re.match(r"^\s+(\w+)\s*:\s*[^#]+?(?:#\s*(.*))?$", line)
        if match and not stripped.startswith(("def ", "@", '"', "'")):
            name, trailing = match.group(1), match.group(2)
            text = " ".join(pending + ([trailing.strip()] if trailing else []))
            if text:
                out[name] = text
        pending = [] if not stripped.startswith("#") else pending
    return out


def _type_name(tp: Any) -> str:
    """A readable type: ``Optional[list[str]]`` -> ``list[str] | None``."""
    text = str(tp if isinstance(tp, str) else getattr(tp, "__name__", repr(tp))).replace("typing.", "")
    if text.startswith("Optional[") and text.endswith("]"):
        text = text[len("Optional["):-1] + " | None"
    return text


def schema_keys(schema: type, prefix: str = "") -> list[KeyHelp]:
    """Every key of a dataclass schema, nested dataclasses flattened to dotted keys."""
    comments = _field_comments(schema)
    keys: list[KeyHelp] = []
    for f in dataclasses.fields(schema):
        name = f"{prefix}{f.name}"
        default: Any
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = "(required)"
        if dataclasses.is_dataclass(default):
            keys.extend(schema_keys(type(default), prefix=f"{name}."))
            continue
        text = "(required)" if str(default) == "???" else repr(default) if isinstance(default, str) else str(default)
        keys.append(KeyHelp(name, _type_name(f.type), text, comments.get(f.name, "")))
    return keys


def format_help(prog: str, summary: str, keys: Sequence[KeyHelp], examples: Sequence[str]) -> str:
    """The ``--help`` text: usage, the keys table, examples."""
    width = max((len(k.key) for k in keys), default=10)
    tw = max((len(k.type) for k in keys), default=4)
    lines = [f"usage: {prog} [key=value ...] | -h | --version", "", summary, "", "keys (type, default):"]
    for k in keys:
        lines.append(f"  {k.key:<{width}}  {k.type:<{tw}}  default {k.default}")
        if k.help:
            lines.append(f"  {'':<{width}}  {k.help}")
    if examples:
        lines += ["", "examples:"] + [f"  {prog} {e}" for e in examples]
    return "\n".join(lines)


def parse_overrides(prog: str, argv: Sequence[str], schema: type, summary: str, examples: Sequence[str] = (),
                    extra_keys: Sequence[KeyHelp] = ()) -> Any:
    """``key=value`` arguments merged onto the structured ``schema`` (an OmegaConf DictConfig).

    Handles ``-h``/``--help`` and ``--version`` (print, then ``SystemExit(0)``); raises
    :class:`UsageError` naming the key for anything else that is wrong.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    args = list(argv)
    if any(a in ("-h", "--help") for a in args):
        print(format_help(prog, summary, [*extra_keys, *schema_keys(schema)], examples))
        raise SystemExit(0)
    if "--version" in args:
        print(f"{prog} (schedgym {package_version()})")
        raise SystemExit(0)
    bad = [a for a in args if "=" not in a or a.startswith("-")]
    if bad:
        raise UsageError(f"argument {bad[0]!r} is not key=value (see {prog} --help)")
    try:
        return OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.from_dotlist(args))
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "?"
        msg = str(exc).split("\n")[0]
        raise UsageError(f"key {key!r}: {msg} (see {prog} --help)") from None


def run_cli(prog: str, body: Callable[[], int], usage_errors: tuple[type[BaseException], ...] = ()) -> int:
    """Run a CLI body; a :class:`UsageError` (or one of ``usage_errors``, e.g. a policy error) becomes one
    line on stderr and exit code 2."""
    try:
        return body()
    except (UsageError, *usage_errors) as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
        print(f"{prog}: error: {message.splitlines()[0] if message else type(exc).__name__}", file=sys.stderr)
        return EXIT_USAGE
