"""Evaluation-suite helpers of the memory domain: case lists, reference values, the speed-up plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .catalog import MINIMALLOC_CHALLENGING, load_instance, minimalloc_dir, model_names

#: traced models of the mapping suite and the share of their largest live total given as capacity
TIGHT_SHARE = 0.25


def model_cases() -> list[dict[str, Any]]:
    """Mapping suite: every shipped traced model on its A100 profile (40 MiB, group ``a100-l2``), and
    with a capacity of a quarter of its largest live total (group ``tight``), where the choice matters more."""
    cases: list[dict[str, Any]] = []
    for name in model_names():
        cases.append({"name": name, "group": "a100-l2", "env_kwargs": {"instance": name}})
    for name in model_names():
        inst = load_instance(name)
        cap = max(int(inst.size.max()), int(TIGHT_SHARE * inst.max_load()))
        cases.append({"name": name, "group": "tight", "env_kwargs": {"instance": name, "capacity": cap}})
    return cases


def minimalloc_cases() -> list[dict[str, Any]]:
    """Allocation suite: MiniMalloc's example and, where the local copy exists, its 11 challenging instances."""
    cases = [{"name": "minimalloc-example", "group": "example", "env_kwargs": {"instance": "minimalloc-example"}}]
    if minimalloc_dir() is not None:
        for c in MINIMALLOC_CHALLENGING:
            cases.append({"name": f"minimalloc/{c}", "group": "challenging", "env_kwargs": {"instance": f"minimalloc/{c}"}})
    return cases


def suite_reference(case: dict[str, Any]) -> dict[str, Any] | None:
    """Reference value of a case: MiniMalloc's instances are all feasible (``solved = 1``): MiniMalloc
    solves each of the 11 challenging ones and the example has a known allocation; tiled instances are
    feasible by construction. Mapping cases have none (gap to the best policy of the run)."""
    kwargs = case.get("env_kwargs") or {}
    inst = str(kwargs.get("instance", ""))
    if inst == "minimalloc-example" or inst.startswith("minimalloc/"):
        return {"value": 1.0, "source": "feasible: solved by MiniMalloc (Moffitt, ASPLOS 2023)"}
    if not inst and kwargs.get("generator") == "tiled":
        return {"value": 1.0, "source": "feasible by construction (TiledAllocation)"}
    return None


def plot_speedup(results: Any, out_dir: Path) -> list[Path]:
    """Bar chart of the mean speed-up over all-slow per policy and group (mapping suites)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    df = results
    if "m.speedup" not in df:
        return []
    df = df[df["error"].fillna("") == ""] if "error" in df else df
    piv = df.groupby(["group", "policy"])["m.speedup"].mean().unstack("group")
    fig, ax = plt.subplots(figsize=(8, 4))
    piv.plot.bar(ax=ax)
    ax.set_ylabel("speed-up over all-slow")
    ax.axhline(1.0, color="black", linewidth=0.5)
    fig.tight_layout()
    path = Path(out_dir) / "memory_speedup.png"
    fig.savefig(path)
    plt.close(fig)
    return [path]
