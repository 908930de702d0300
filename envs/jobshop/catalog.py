"""Job-shop instances by name: the one name resolver, the catalog of bounds, and loading.

:func:`resolve_name` is the only place a user's instance name becomes a canonical one (``LA1`` ->
``la01``, ``tai5`` -> ``ta05``); the env, :func:`load_instance` and the suites' reference lookup
(:func:`suite_reference`) all go through it, so a name that runs also finds its bound.

:func:`load_instance` returns ``ta01``-``ta80`` from Taillard's generator (nothing to download) and the
other classic instances (abz, ft, la, orb, swv, yn) from a local mirror (``mirror=``, the
``SCHEDGYM_JSPLIB_MIRROR`` environment variable, or ``$SCHEDGYM_DATA_MIRROR/jsplib``: a folder holding
``instances/<name>``), from the cache (``~/.cache/schedgym/jsplib``), or once from the pinned public
JSPLIB URL, checking each file's sha256.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import urllib.request
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from .formats import decode_text, parse_standard
from .instance import JobShopInstance, UnknownInstanceError
from .taillard import _canonical_ta, taillard_instance

#: Pinned public source of the non-Taillard instances (JSPLIB); each file is checked by sha256.
JSPLIB_URL = "https://raw.githubusercontent.com/tamy0612/JSPLIB/876c560d0c4f262bf38064443cc4ff304588c252/{path}"
MIRROR_ENV = "SCHEDGYM_JSPLIB_MIRROR"
CACHE_ENV = "SCHEDGYM_CACHE"


def jsplib_mirror() -> str | None:
    """The local JSPLIB folder: ``$SCHEDGYM_JSPLIB_MIRROR``, else ``$SCHEDGYM_DATA_MIRROR/jsplib`` (the
    project-wide data mirror, see :mod:`schedgym.envs.data`), else None."""
    from ..data import mirror_folder

    explicit = os.environ.get(MIRROR_ENV)
    if explicit:
        return explicit
    folder = mirror_folder("jsplib")
    return str(folder) if folder is not None else None


@lru_cache(maxsize=1)
def _catalog() -> dict[str, dict[str, Any]]:
    """Known instances: size, sha256 of the file, and bounds with source and date."""
    text = resources.files("schedgym.envs.jobshop").joinpath("data/catalog.json").read_text()
    return json.loads(text)["instances"]


def instance_names() -> list[str]:
    """Every instance name :func:`load_instance` knows."""
    return sorted(_catalog())


def resolve_name(name: str) -> str:
    """The canonical catalog name of a user's instance name (``"LA1"`` -> ``"la01"``, ``"tai5"`` ->
    ``"ta05"``); raises :class:`UnknownInstanceError` listing close names. The one resolver every caller
    uses (env, loader, references)."""
    key = _canonical_ta(name) or _canonical_name(name)
    if key not in _catalog():
        raise UnknownInstanceError(_unknown_message(name))
    return key


def best_known(name: str) -> dict[str, Any]:
    """Bounds of a named instance: ``{"lower", "upper", "optimal", "source", "date"}``."""
    return dict(_catalog()[resolve_name(name)]["bounds"])


def case_instance_name(case: dict[str, Any]) -> str | None:
    """The canonical instance name of a suite case (its ``env_kwargs["instance"]``), or None when the
    case names no known instance."""
    name = (case.get("env_kwargs") or {}).get("instance")
    if not isinstance(name, str):
        return None
    try:
        return resolve_name(name)
    except UnknownInstanceError:
        return None


def suite_reference(case: dict[str, Any]) -> dict[str, Any] | None:
    """Evaluation-suite hook: the best-known upper bound of a case's named instance (None if unnamed)."""
    name = case_instance_name(case)
    if name is None:
        return None
    try:
        b = best_known(name)
    except UnknownInstanceError:
        return None
    kind = "optimum" if b["optimal"] else "best known upper bound"
    return {"value": float(b["upper"]), "source": f"{kind}; {b['source']}; {b['date']}"}


def _canonical_name(name: str) -> str:
    """Lower-case, and pad a family's number to the catalog's width when that name exists (``la1`` -> ``la01``)."""
    key = name.strip().lower()
    match = re.fullmatch(r"([a-z]+)0*(\d+)", key)
    if match and key not in _catalog():
        for width in (2, 1, 3):
            cand = f"{match.group(1)}{int(match.group(2)):0{width}d}"
            if cand in _catalog():
                return cand
    return key


def _unknown_message(name: str) -> str:
    close = difflib.get_close_matches(name.strip().lower(), list(_catalog()), n=5, cutoff=0.5)
    hint = f" Close names: {', '.join(close)}." if close else ""
    return f"unknown job-shop instance {name!r}.{hint} Known families: abz, ft, la, orb, swv, yn, ta01-ta80."


def _cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "schedgym")
    return Path(root) / "jsplib"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_instance(name: str, mirror: str | os.PathLike[str] | None = None, download: bool = True) -> JobShopInstance:
    """An instance by name (``"ta01"``, ``"ft06"``, ``"la01"``, ...).

    Taillard instances come from the generator. Others are read, in order, from ``mirror`` (or the
    ``SCHEDGYM_JSPLIB_MIRROR`` folder), the cache, or the pinned JSPLIB URL (when ``download``);
    every file is checked against its pinned sha256.
    """
    key = _canonical_ta(name)
    if key is not None:
        return taillard_instance(key)
    key = resolve_name(name)
    entry = _catalog()[key]
    mirror = mirror if mirror is not None else jsplib_mirror()
    candidates = []
    if mirror:
        candidates.append(Path(mirror) / entry["path"])
    cached = _cache_dir() / entry["path"]
    candidates.append(cached)
    for path in candidates:
        if path.is_file():
            data = path.read_bytes()
            if _sha256(data) != entry["sha256"]:
                raise ValueError(
                    f"{path}: sha256 {_sha256(data)[:16]}... does not match the pinned {entry['sha256'][:16]}... "
                    f"for instance {key!r}; the file differs from the published one"
                )
            return parse_standard(decode_text(data, str(path)), str(path), key)
    if not download:
        raise FileNotFoundError(
            f"instance {key!r} is not in the mirror ({mirror or 'unset'}) or the cache ({cached}) and download=False"
        )
    url = JSPLIB_URL.format(path=entry["path"])
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - pinned https URL
            data = resp.read()
    except OSError as exc:
        raise OSError(
            f"could not download instance {key!r} from {url} ({exc}). Set SCHEDGYM_DATA_MIRROR to a folder "
            f"holding jsplib/instances/ (or {MIRROR_ENV} to one holding instances/) to work offline."
        ) from exc
    if _sha256(data) != entry["sha256"]:
        raise ValueError(f"{url}: downloaded file fails the pinned sha256 check for {key!r}; not cached")
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(data)
    return parse_standard(decode_text(data, url), url, key)
