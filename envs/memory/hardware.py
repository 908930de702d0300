"""Hardware profiles: a fast on-chip memory of limited capacity, an unbounded slow memory, a roofline.

The numbers are re-entered from public accelerator specifications into ``data/hardware.json``; every
profile carries its sources, and figures the vendors do not publish (on-chip bandwidths, copy-engine
bandwidth) are marked there as *assumed* with the ratio used. Units: bytes, bytes/s, FLOP/s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Hardware:
    """One accelerator's memory hierarchy and compute roof.

    Attributes:
        name: profile name (key in ``data/hardware.json``).
        peak_flops: compute roof in FLOP/s.
        fast_bw: bandwidth of the fast (on-chip) memory, bytes/s.
        slow_bw: bandwidth of the slow (off-chip) memory, bytes/s.
        copy_bw: bandwidth of the copy engine that prefetches into and evicts from fast memory, bytes/s
            (0 disables copies: a prefetched buffer is then available at once).
        fast_capacity: capacity of the fast memory, bytes.
        source: where the numbers come from (and which are assumed).
    """

    name: str
    peak_flops: float
    fast_bw: float
    slow_bw: float
    copy_bw: float
    fast_capacity: int
    source: str = ""

    def __post_init__(self) -> None:
        for key in ("peak_flops", "fast_bw", "slow_bw"):
            if not float(getattr(self, key)) > 0:
                raise ValueError(f"Hardware {self.name!r}: {key} must be > 0, got {getattr(self, key)!r}")
        if float(self.copy_bw) < 0:
            raise ValueError(f"Hardware {self.name!r}: copy_bw must be >= 0, got {self.copy_bw!r}")
        if int(self.fast_capacity) < 1:
            raise ValueError(f"Hardware {self.name!r}: fast_capacity must be >= 1, got {self.fast_capacity!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "peak_flops": self.peak_flops, "fast_bw": self.fast_bw, "slow_bw": self.slow_bw,
            "copy_bw": self.copy_bw, "fast_capacity": int(self.fast_capacity), "source": self.source,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], where: str = "hardware") -> Hardware:
        missing = [k for k in ("name", "peak_flops", "fast_bw", "slow_bw", "fast_capacity") if k not in d]
        if missing:
            raise ValueError(f"{where}: hardware profile lacks {missing}")
        return cls(
            name=str(d["name"]), peak_flops=float(d["peak_flops"]), fast_bw=float(d["fast_bw"]),
            slow_bw=float(d["slow_bw"]), copy_bw=float(d.get("copy_bw", 0.0)),
            fast_capacity=int(d["fast_capacity"]), source=str(d.get("source", "")),
        )


@lru_cache(maxsize=1)
def _profiles() -> dict[str, Hardware]:
    text = resources.files("schedgym.envs.memory").joinpath("data").joinpath("hardware.json").read_text()
    raw = json.loads(text)
    return {name: Hardware.from_json({"name": name, **d}, f"hardware.json[{name}]") for name, d in raw["profiles"].items()}


def hardware_names() -> list[str]:
    """Names of the shipped hardware profiles."""
    return sorted(_profiles())


def get_hardware(name: str | Hardware) -> Hardware:
    """A shipped hardware profile by name (a :class:`Hardware` is returned as is)."""
    if isinstance(name, Hardware):
        return name
    profiles = _profiles()
    if name not in profiles:
        raise KeyError(f"unknown hardware profile {name!r}; known: {sorted(profiles)}")
    return profiles[name]
