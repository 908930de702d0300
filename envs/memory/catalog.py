"""Instances by name: the traced real-model programs shipped in ``data/models/``, MiniMalloc's
5-buffer example, and MiniMalloc's challenging benchmark read from a local copy.

* ``"gpt2-block-b1-s128"`` etc.: programs traced from PyTorch models with ``torch.fx`` by
  :mod:`schedgym.envs.memory.trace_torch` (run offline; the results ship as JSON). :func:`model_names`
  lists them.
* ``"minimalloc-example"``: the 5-buffer example of MiniMalloc's README (capacity 12), re-entered.
* ``"minimalloc/A"`` ... ``"minimalloc/K"``: MiniMalloc's 11 "challenging" instances (capacity
  1,048,576), read from ``$SCHEDGYM_MINIMALLOC_DIR``, ``$SCHEDGYM_DATA_MIRROR/minimalloc`` or
  ``../shared/data/minimalloc`` beside the repository. They are not shipped with the package.
"""

from __future__ import annotations

import difflib
import json
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..data import mirror_folder
from .instance import MemoryInstance, parse_instance_json, read_minimalloc_csv

#: MiniMalloc's README example ("input.12.csv"; google/minimalloc, Apache-2.0): five buffers, capacity 12.
#: Re-entered as numbers: (id, lower, upper, size).
MINIMALLOC_EXAMPLE = (("b1", 0, 3, 4), ("b2", 3, 9, 4), ("b3", 0, 9, 4), ("b4", 9, 21, 4), ("b5", 0, 21, 4))
MINIMALLOC_CHALLENGING = tuple("ABCDEFGHIJK")
MINIMALLOC_CAPACITY = 1_048_576
#: MiniMalloc's published solve times on the challenging instances (seconds; Moffitt, "MiniMalloc: A
#: Lightweight Memory Allocator for Hardware-Accelerated Machine Learning", ASPLOS 2023) are reported in
#: docs/memory.md as a range (0.6-5.4 s per instance), not per instance.


def minimalloc_example() -> MemoryInstance:
    ids, lo, up, sz = zip(*MINIMALLOC_EXAMPLE)
    return MemoryInstance("minimalloc-example", 12, lo, up, sz, ids=ids,
                          source="MiniMalloc README example (google/minimalloc, Apache-2.0), re-entered")


def minimalloc_dir() -> Path | None:
    """Where MiniMalloc's benchmark CSVs are: ``$SCHEDGYM_MINIMALLOC_DIR``, else
    ``$SCHEDGYM_DATA_MIRROR/minimalloc``, else ``shared/data/minimalloc`` beside the checkout; or None."""
    env = os.environ.get("SCHEDGYM_MINIMALLOC_DIR")
    candidates = [Path(env)] if env else []
    mirror = mirror_folder("minimalloc")
    if mirror is not None:
        candidates.append(mirror)
    here = Path(__file__).resolve()
    for parent in here.parents[:5]:
        candidates.append(parent / "shared" / "data" / "minimalloc")
        candidates.append(parent.parent / "shared" / "data" / "minimalloc")
    for c in candidates:
        if (c / f"A.{MINIMALLOC_CAPACITY}.csv").is_file():
            return c
    return None


def minimalloc_instance(letter: str) -> MemoryInstance:
    """One of MiniMalloc's challenging instances (``"A"`` .. ``"K"``) from the local copy."""
    letter = letter.upper()
    if letter not in MINIMALLOC_CHALLENGING:
        raise KeyError(f"unknown MiniMalloc instance {letter!r}; known: {list(MINIMALLOC_CHALLENGING)}")
    d = minimalloc_dir()
    if d is None:
        raise FileNotFoundError(
            "MiniMalloc's benchmark CSVs were not found: set SCHEDGYM_MINIMALLOC_DIR (or SCHEDGYM_DATA_MIRROR, with a minimalloc/ sub-folder) to the folder holding "
            f"A.{MINIMALLOC_CAPACITY}.csv ... K.{MINIMALLOC_CAPACITY}.csv (google/minimalloc's benchmarks/challenging)"
        )
    inst, _ = read_minimalloc_csv(d / f"{letter}.{MINIMALLOC_CAPACITY}.csv", name=f"minimalloc/{letter}")
    return inst


def _models_dir():
    return resources.files("schedgym.envs.memory").joinpath("data").joinpath("models")


@lru_cache(maxsize=1)
def model_names() -> tuple[str, ...]:
    """Names of the shipped traced-model instances."""
    return tuple(sorted(p.name[: -len(".json")] for p in _models_dir().iterdir() if p.name.endswith(".json")))


@lru_cache(maxsize=64)
def _model(name: str) -> MemoryInstance:
    path = _models_dir().joinpath(f"{name}.json")
    return parse_instance_json(json.loads(path.read_text()), f"data/models/{name}.json")


def instance_names() -> list[str]:
    return ["minimalloc-example", *[f"minimalloc/{c}" for c in MINIMALLOC_CHALLENGING], *model_names()]


def load_instance(name: str) -> MemoryInstance:
    """An instance by name (see the module docstring)."""
    if name == "minimalloc-example":
        return minimalloc_example()
    if name.startswith("minimalloc/"):
        return minimalloc_instance(name.split("/", 1)[1])
    if name in model_names():
        return _model(name)
    close = difflib.get_close_matches(name, instance_names(), n=5, cutoff=0.4)
    raise KeyError(f"unknown memory instance {name!r}; close: {close}; known: {instance_names()}")
