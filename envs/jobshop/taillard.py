"""Taillard's published job-shop generator (EJOR 64(2), 1993) and ta01-ta80.

A Lehmer generator (a=16807, m=2^31-1, Schrage's method) draws durations uniformly in 1..99 and
shuffles each job's machine order. With the published seeds (:data:`TAILLARD_SEEDS`) it reproduces
ta01-ta80, so there is nothing to download.
"""

from __future__ import annotations

import re

import numpy as np

from .instance import JobShopInstance, UnknownInstanceError

#: Published (n_jobs, n_machines, time seed, machine seed) of ta01..ta80 (Taillard 1993).
TAILLARD_SEEDS: dict[str, tuple[int, int, int, int]] = {}
_TA_SEEDS = [
    (15, 15, [(840612802, 398197754), (1314640371, 386720536), (1227221349, 316176388), (342269428, 1806358582),
              (1603221416, 1501949241), (1357584978, 1734077082), (44531661, 1374316395), (302545136, 2092186050),
              (1153780144, 1393392374), (73896786, 1544979948)]),
    (20, 15, [(533484900, 317419073), (1894307698, 1474268163), (874340513, 509669280), (1124986343, 1209573668),
              (1463788335, 529048107), (1056908795, 25321885), (195672285, 1717580117), (961965583, 1353003786),
              (1610169733, 1734469503), (532794656, 998486810)]),
    (20, 20, [(1035939303, 773961798), (5997802, 1872541150), (1357503601, 722225039), (806159563, 1166962073),
              (1902815253, 1879990068), (1503184031, 1850351876), (1032645967, 99711329), (229894219, 1158117804),
              (823349822, 108033225), (1297900341, 489486403)]),
    (30, 15, [(98640593, 1981283465), (1839268120, 248890888), (573875290, 2081512253), (1670898570, 788294565),
              (1118914567, 1074349202), (178750207, 294279708), (1549372605, 596993084), (798174738, 151685779),
              (553410952, 1329272528), (1661531649, 1173386294)]),
    (30, 20, [(1841414609, 1357882888), (2116959593, 1546338557), (796392706, 1230864158), (532496463, 254174057),
              (2020525633, 978943053), (524444252, 185526083), (1569394691, 487269855), (1460267840, 1631446539),
              (198324822, 1937476577), (38071822, 1541985579)]),
    (50, 15, [(17271, 718939), (660481279, 449650254), (352229765, 949737911), (1197518780, 166840558),
              (1376020303, 483922052), (2106639239, 955932362), (1765352082, 1209982549), (1105092880, 1349003108),
              (907248070, 919544535), (2011630757, 1845447001)]),
    (50, 20, [(8493988, 2738939), (1991925010, 709517751), (342093237, 786960785), (1634043183, 973178279),
              (341706507, 286513148), (320167954, 1411193018), (1089696753, 298068750), (433032965, 1589656152),
              (615974477, 331205412), (236150141, 592292984)]),
    (100, 20, [(302034063, 1203569070), (1437643198, 1692025209), (1792475497, 1039908559), (1647273132, 1012841433),
               (696480901, 1689682358), (1785569423, 1092647459), (117806902, 739059626), (1639154709, 1319962509),
               (2007423389, 749368241), (682761130, 262763021)]),
]
for _block, (_n, _m, _pairs) in enumerate(_TA_SEEDS):
    for _i, (_ts, _ms) in enumerate(_pairs):
        TAILLARD_SEEDS[f"ta{_block * 10 + _i + 1:02d}"] = (_n, _m, _ts, _ms)
del _block, _n, _m, _pairs, _i, _ts, _ms

#: Taillard sizes and the instances of each, e.g. ``TAILLARD_SIZES["15x15"] == ["ta01", ..., "ta10"]``.
TAILLARD_SIZES: dict[str, list[str]] = {}
for _name, (_n, _m, _, _) in TAILLARD_SEEDS.items():
    TAILLARD_SIZES.setdefault(f"{_n}x{_m}", []).append(_name)
del _name, _n, _m


class _TaillardRandom:
    """Taillard's Lehmer generator: seed' = 16807 * seed mod (2^31 - 1), by Schrage's method."""

    M, A, B, C = 2147483647, 16807, 127773, 2836

    def __init__(self, seed: int) -> None:
        if not 0 < seed < self.M:
            raise ValueError(f"Taillard seed must be in 1..{self.M - 1}, got {seed}")
        self.seed = seed

    def unif(self, low: int, high: int) -> int:
        k = self.seed // self.B
        self.seed = self.A * (self.seed % self.B) - k * self.C
        if self.seed < 0:
            self.seed += self.M
        return low + int(self.seed / self.M * (high - low + 1))


def taillard_generate(
    n_jobs: int, n_machines: int, time_seed: int, machine_seed: int, name: str = "taillard"
) -> JobShopInstance:
    """Taillard's published job-shop generator: durations uniform in 1..99, shuffled machine orders."""
    t_rng, m_rng = _TaillardRandom(time_seed), _TaillardRandom(machine_seed)
    durations = np.array([[t_rng.unif(1, 99) for _ in range(n_machines)] for _ in range(n_jobs)], np.int64)
    machines = np.tile(np.arange(n_machines, dtype=np.int64), (n_jobs, 1))
    for j in range(n_jobs):
        for k in range(n_machines):
            r = m_rng.unif(k, n_machines - 1)
            machines[j, k], machines[j, r] = machines[j, r], machines[j, k]
    meta = {"time_seed": time_seed, "machine_seed": machine_seed}
    return JobShopInstance(machines, durations, name=name, metadata=meta)


def taillard_instance(name: str) -> JobShopInstance:
    """``ta01`` .. ``ta80`` from the generator and the published seeds."""
    key = _canonical_ta(name)
    if key is None:
        raise UnknownInstanceError(f"{name!r} is not a Taillard instance (ta01..ta80)")
    n, m, ts, ms = TAILLARD_SEEDS[key]
    return taillard_generate(n, m, ts, ms, name=key)


def _canonical_ta(name: str) -> str | None:
    match = re.fullmatch(r"(?:ta|tai)0*(\d+)", name.strip().lower())
    if not match:
        return None
    key = f"ta{int(match.group(1)):02d}"
    return key if key in TAILLARD_SEEDS else None
