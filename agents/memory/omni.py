"""omnimalloc's allocators as allocation-mode reference baselines: ``mem-omni:<allocator>[:<params>]``.

`omnimalloc <https://pypi.org/project/omnimalloc/>`_ (Apache-2.0, a C++ extension with a Python API)
collects static memory allocators behind one call: SuperMalloc (its own portfolio branch-and-bound),
a TelaMalloc-style allocator (Maas et al., ASPLOS 2023; no reference implementation is public, so this is
omnimalloc's adaptation), a wrapper of Google's MiniMalloc (Moffitt, ASPLOS 2023), greedy first-fit
variants under several orders (``greedy_by_size``, ``greedy_by_conflict``, ... and the ``omni``
portfolio of them) and local searches. They are not reimplemented here: this module only converts an
instance to omnimalloc's ``Allocation`` objects and back.

**What they optimise.** Every omnimalloc allocator places *all* buffers and minimises the peak address;
none takes a capacity (except the MiniMalloc wrapper, which is given ours). An allocation instance is
solved when the peak is at most the capacity. When it is not, the buffers whose top lies under the
capacity form a feasible partial plan: the policy replays it through the env by increasing offset (each
buffer lands at or below its planned offset, ``docs/memory.md``), then places the others greedily by
decreasing size while any fits, as the first-/best-fit baselines do. The env's validator checks the
result like every other policy's.

**Option.** None: omnimalloc's default allocator, ``omni``. ``<allocator>`` alone uses omnimalloc's defaults (its wall-clock ``timeout`` is 3 s).
``<allocator>:<seconds>`` sets ``timeout``. ``<allocator>:<key>=<value>,...`` sets any keyword of the
allocator's constructor (``timeout=none`` removes the wall-clock limit, e.g.
``telamalloc:timeout=none,max_backtracks=10000`` is bounded by its backtrack count alone, so it is
deterministic). omnimalloc's worker threads are capped at one for the call (``threads=<n>`` to change),
as the CP-SAT baseline runs one worker.

omnimalloc is an optional dependency (the ``peers`` extra) and is imported only when a policy is built.
Without it, building the policy raises a :class:`~schedgym.agents.spec.PolicyError` that names the extra.
"""

from __future__ import annotations

import importlib
import inspect
import time
from contextlib import contextmanager
from types import ModuleType
from typing import Any, Iterator

import numpy as np
from schedgym.agents.spec import PolicyError
from schedgym.envs.memory.instance import MemoryInstance

from .heuristics import PlanReplayPolicy

POLICY_NAME = "mem-omni"
#: the pyproject extra that installs omnimalloc
EXTRA = "peers"
INSTALL_HINT = f"pip install 'schedgym[{EXTRA}]' (or: pip install omnimalloc)"
#: the allocators shown in ``schedgym-eval show=true`` and the docs (any registered name is accepted)
EXAMPLE_ALLOCATORS: tuple[str, ...] = ("supermalloc", "telamalloc", "omni", "greedy_by_size", "minimalloc")
#: ``mem-omni`` without an option: omnimalloc's own default (``omni``, its deterministic greedy portfolio)
DEFAULT_ALLOCATOR = "omni"


def import_omnimalloc() -> ModuleType:
    """The ``omnimalloc`` module, or a :class:`PolicyError` naming the extra that installs it."""
    try:
        return importlib.import_module("omnimalloc")
    except ImportError as exc:
        raise PolicyError(f"policy {POLICY_NAME} needs the omnimalloc package, which is not installed: "
                          f"{INSTALL_HINT} ({exc})") from None


def _parse_value(text: str) -> Any:
    """``none`` -> None, ``true``/``false`` -> bool, then int, then float, else the text itself."""
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def parse_option(option: str | None) -> tuple[str, dict[str, Any]]:
    """Split ``"<allocator>[:<seconds> | :<key>=<value>,...]"`` into the allocator name and its keywords
    (no option: :data:`DEFAULT_ALLOCATOR`)."""
    if not option:
        return DEFAULT_ALLOCATOR, {}
    name, _, rest = option.partition(":")
    if not name.strip():
        raise PolicyError(f"policy {POLICY_NAME}:{option}: no allocator name before the colon, e.g. "
                          f"{', '.join(f'{POLICY_NAME}:{a}' for a in EXAMPLE_ALLOCATORS[:3])}")
    name, rest = name.strip(), rest.strip()
    params: dict[str, Any] = {}
    if not rest:
        return name, params
    if "=" not in rest:
        seconds = _parse_value(rest)
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not seconds > 0:
            raise PolicyError(f"policy {POLICY_NAME}:{option}: {rest!r} is neither a time limit in seconds (> 0) "
                              f"nor <key>=<value> pairs")
        return name, {"timeout": float(seconds)}
    for item in rest.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise PolicyError(f"policy {POLICY_NAME}:{option}: parameter {item!r} is not <key>=<value>")
        params[key.strip()] = _parse_value(value)
    return name, params


@contextmanager
def _thread_cap(om: ModuleType, threads: int) -> Iterator[None]:
    """Cap omnimalloc's native and pooled workers for the duration of a call, then restore the cap."""
    before = om.max_threads()
    om.set_max_threads(threads)
    try:
        yield
    finally:
        om.set_max_threads(before)


class OmniAllocPolicy(PlanReplayPolicy):
    """An omnimalloc allocator, run at reset on the whole instance and replayed by offset (allocation mode).

    ``episode_extra`` reports the allocator's own peak (``omni_peak_bytes``), whether that peak fits the
    capacity (``omni_fits``), its wall time (``omni_time_s``) and how many buffers of its plan lie under
    the capacity (``planned``).
    """

    modes = ("allocation",)

    def __init__(self, allocator: str, params: dict[str, Any] | None = None, threads: int = 1) -> None:
        self.om = import_omnimalloc()
        params = dict(params or {})
        registry = self.om.allocators.BaseAllocator.registry()
        if allocator not in registry:
            raise PolicyError(f"policy {POLICY_NAME}: unknown omnimalloc allocator {allocator!r}; "
                              f"known: {sorted(registry)}")
        if not isinstance(threads, int) or threads < 1:
            raise PolicyError(f"policy {POLICY_NAME}:{allocator}: threads must be an integer >= 1, got {threads!r}")
        self.allocator_cls = registry[allocator]
        self.accepted = self._constructor_keywords()
        unknown = sorted(set(params) - self.accepted)
        if unknown:
            raise PolicyError(f"policy {POLICY_NAME}:{allocator}: unknown parameter(s) {unknown}; "
                              f"{allocator} takes {sorted(self.accepted) or 'none'}")
        if "num_threads" in self.accepted:
            params.setdefault("num_threads", threads)
        self.params, self.threads = params, threads
        self._build({})  # fail now, not at the first reset: bad values, a missing MiniMalloc module
        label = ",".join(f"{k}={v}" for k, v in params.items() if k != "num_threads")
        super().__init__(name=f"{POLICY_NAME}:{allocator}" + (f":{label}" if label else ""))
        self.allocator = allocator
        self.peak_bytes = 0
        self.solve_time_s = 0.0

    def _constructor_keywords(self) -> set[str]:
        """Keyword parameters of the allocator's constructor (none for the parameterless greedy ones)."""
        sig = inspect.signature(self.allocator_cls.__init__)
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return {n for n, p in sig.parameters.items() if n != "self" and p.kind in kinds}

    def _build(self, extra: dict[str, Any]) -> Any:
        """An allocator object with ``self.params`` (plus ``extra`` where accepted); errors name the policy."""
        kwargs = {**self.params, **{k: v for k, v in extra.items() if k in self.accepted}}
        try:
            return self.allocator_cls(**kwargs)
        except ImportError as exc:  # the MiniMalloc wrapper without Google's module
            raise PolicyError(f"policy {POLICY_NAME}:{self.allocator_cls.name()}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise PolicyError(f"policy {POLICY_NAME}:{self.allocator_cls.name()}: bad parameters {kwargs}: {exc}") from None

    def allocate(self, instance: MemoryInstance) -> np.ndarray:
        """omnimalloc's offset for every buffer (all placed, peak minimised; no capacity enforced)."""
        om = self.om
        allocations = tuple(
            om.Allocation(id=b, size=int(instance.size[b]), start=int(instance.lower[b]), end=int(instance.upper[b]))
            for b in range(instance.n_buffers)
        )
        allocator = self._build({"capacity": int(instance.capacity)})
        start = time.perf_counter()
        with _thread_cap(om, self.threads):
            placed = allocator.allocate(allocations)
        self.solve_time_s = time.perf_counter() - start
        offsets = np.full(instance.n_buffers, -1, np.int64)
        for alloc in placed:
            offsets[int(alloc.id)] = int(alloc.offset)
        if (offsets < 0).any():
            raise RuntimeError(f"{self.name}: omnimalloc left buffers {np.flatnonzero(offsets < 0).tolist()} unplaced")
        return offsets

    def plan(self, instance: MemoryInstance, mode: str) -> np.ndarray:
        """The allocator's offsets, keeping only the buffers whose top fits under the capacity."""
        offsets = self.allocate(instance)
        tops = offsets + instance.size
        self.peak_bytes = int(tops.max()) if tops.size else 0
        return np.where(tops <= instance.capacity, offsets, -1)

    def reset(self, env: Any, seed: int | None = None) -> None:
        super().reset(env, seed)
        self.episode_extra.update({
            "omni_peak_bytes": self.peak_bytes,
            "omni_fits": int(self.peak_bytes <= self.view.instance.capacity),
            "omni_time_s": self.solve_time_s,
        })


def make_omni_policy(option: str | None) -> OmniAllocPolicy:
    """``mem-omni:<allocator>[:<seconds> | :<key>=<value>,...]`` (``threads=<n>`` caps omnimalloc's workers)."""
    allocator, params = parse_option(option)
    threads = params.pop("threads", 1)
    return OmniAllocPolicy(allocator, params, threads=threads)


__all__ = ["EXTRA", "OmniAllocPolicy", "import_omnimalloc", "make_omni_policy", "parse_option"]
