"""Memory baselines: all-slow, XLA-like greedy, first-/best-fit under the usual orders, the online
lowest-offset greedy, the CP-SAT exact model (both modes), a canonical search (allocation) and, with the
optional omnimalloc package, its allocators as allocation references (``mem-omni``)."""

from __future__ import annotations

from schedgym.agents.spec import PolicyEntry, PolicyError

from .heuristics import ORDERS, AllSlowPolicy, FitPolicy, LowestOffsetPolicy, XLAPolicy

MAP_ID = "schedgym/MemoryMap-v0"
ALLOC_ID = "schedgym/MemoryAlloc-v0"
BOTH = (MAP_ID, ALLOC_ID)


def _order(option: str | None, name: str) -> str:
    order = option or "size"
    if order not in ORDERS:
        raise PolicyError(f"policy {name}: unknown order {order!r}; known: {list(ORDERS)}")
    return order


def _seconds(option: str | None, name: str) -> float:
    try:
        seconds = float(option) if option else 10.0
    except ValueError:
        raise PolicyError(f"policy {name}: option must be a time limit in seconds, got {option!r}") from None
    if not seconds > 0:
        raise PolicyError(f"policy {name}: time limit must be > 0, got {seconds}")
    return seconds


def _search(option: str | None):
    from .search import CanonicalSearchPolicy

    return CanonicalSearchPolicy(time_limit=_seconds(option, "mem-search"))


def _omni(option: str | None):
    from .omni import make_omni_policy  # imports omnimalloc, or names the extra that installs it

    return make_omni_policy(option)


def _cpsat(option: str | None):
    from .exact import CPSatMemoryPolicy

    try:
        seconds = float(option) if option else 10.0
    except ValueError:
        raise PolicyError(f"policy mem-cpsat: option must be a time limit in seconds, got {option!r}") from None
    if not seconds > 0:
        raise PolicyError(f"policy mem-cpsat: time limit must be > 0, got {seconds}")
    return CPSatMemoryPolicy(time_limit=seconds)


POLICIES: dict[str, PolicyEntry] = {
    "mem-all-slow": PolicyEntry(
        make=lambda option: AllSlowPolicy(),
        summary="mapping: every buffer stays in slow memory (the reference of every speed-up)",
        env_ids=(MAP_ID,),
    ),
    "mem-xla": PolicyEntry(
        make=lambda option: XLAPolicy(),
        summary="mapping: XLA memory-space-assignment-like greedy by benefit density, best-fit offsets",
        env_ids=(MAP_ID,),
    ),
    "mem-first-fit": PolicyEntry(
        make=lambda option: FitPolicy(best=False, order=_order(option, "mem-first-fit")),
        summary="first-fit under an order (TelaMalloc/MiniMalloc papers' baseline); mapping: buffers with a benefit only",
        env_ids=BOTH,
        options=f"buffer order, one of {', '.join(ORDERS)} (default size)",
        examples=("mem-first-fit:size", "mem-first-fit:lifetime"),
    ),
    "mem-best-fit": PolicyEntry(
        make=lambda option: FitPolicy(best=True, order=_order(option, "mem-best-fit")),
        summary="best-fit under an order (TelaMalloc/MiniMalloc papers' baseline); mapping: buffers with a benefit only",
        env_ids=BOTH,
        options=f"buffer order, one of {', '.join(ORDERS)} (default size)",
        examples=("mem-best-fit:size", "mem-best-fit:conflict"),
    ),
    "mem-lowest-offset": PolicyEntry(
        make=lambda option: LowestOffsetPolicy(),
        summary="online greedy: the legal buffer with the lowest canonical offset (mapping: with a benefit, then stop)",
        env_ids=BOTH,
    ),
    "mem-search": PolicyEntry(
        make=_search,
        summary="allocation: complete depth-first search over canonical allocations (MiniMalloc's idea, NumPy), replayed",
        env_ids=(ALLOC_ID,),
        options="time limit in seconds (default 10)",
        kind="exact",
        examples=("mem-search:10",),
    ),
    "mem-cpsat": PolicyEntry(
        make=_cpsat,
        summary="CP-SAT 2-D no-overlap model (allocation: feasibility with proof; mapping: roofline time), solved at reset and replayed",
        env_ids=BOTH,
        options="time limit in seconds (default 10; one worker)",
        kind="exact",
        examples=("mem-cpsat:10", "mem-cpsat:60"),
    ),
    "mem-omni": PolicyEntry(
        make=_omni,
        summary="allocation: an omnimalloc allocator (SuperMalloc, TelaMalloc-style, greedy variants; peak-minimising), "
                "the part under the capacity replayed, the rest placed greedily (needs the 'peers' extra)",
        env_ids=(ALLOC_ID,),
        options="an omnimalloc allocator name (default omni), then optionally :<s> (its wall-clock timeout in s) "
                "or :<key>=<value>,... (constructor keywords; timeout=none; threads=<n>, default 1)",
        kind="exact",  # a compiled solver package (optional), like the exact solvers: not loaded by a light install
        examples=("mem-omni:supermalloc:10", "mem-omni:telamalloc:timeout=none", "mem-omni:omni",
                  "mem-omni:greedy_by_size"),
    ),
}

__all__ = ["POLICIES"]
