"""Job-shop instances: the dataclass, file formats, generators and instances by name.

Formats
-------
* **Standard** (OR-Library / JSPLIB): optional ``#`` comment lines, a header ``n_jobs n_machines``,
  then one line per job of ``machine time`` pairs, machines numbered from 0.
* **Taillard's layout**: a header line ``Nb of jobs, Nb of Machines, ...``, a line of numbers
  (jobs, machines, and optionally time seed, machine seed, upper and lower bound), then a ``Times``
  block (one row of durations per job) and a ``Machines`` block (one row of 1-based machines per job).

Generators
----------
* :func:`taillard_generate` is Taillard's published generator (EJOR 64(2), 1993): a Lehmer
  generator (a=16807, m=2^31-1, Schrage's method) drawing durations uniformly in 1..99 and shuffling
  each job's machine order. With the published seeds (:data:`TAILLARD_SEEDS`) it reproduces ta01-ta80.
* :func:`generate_random` draws a training instance (uniform durations ``low..high``, a random
  permutation of machines per job) from a NumPy generator, as Taillard and L2D do.

Instances by name
-----------------
:func:`load_instance` returns ``ta01``-``ta80`` from the generator (nothing to download) and the
other classic instances (abz, ft, la, orb, swv, yn) from a local mirror (``mirror=`` or the
``SCHEDGYM_JSPLIB_MIRROR`` environment variable: a folder holding ``instances/<name>``), from the
cache (``~/.cache/schedgym/jsplib``), or on demand from the pinned public JSPLIB URL, checking each
file's sha256.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import urllib.request
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np


class InstanceFormatError(ValueError):
    """A malformed instance file; the message names the file (or source) and the line."""


class UnknownInstanceError(KeyError):
    """No instance of that name; the message lists close names."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


@dataclass(frozen=True, eq=False)
class JobShopInstance:
    """A job-shop instance: job ``j`` visits ``machines[j, k]`` for ``durations[j, k]`` time units.

    Every job visits every machine exactly once (the classic JSSP). Arrays are int64 of shape
    ``(n_jobs, n_machines)``; machines are numbered from 0.
    """

    machines: np.ndarray
    durations: np.ndarray
    name: str = "unnamed"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        m = np.asarray(self.machines, dtype=np.int64)
        d = np.asarray(self.durations, dtype=np.int64)
        object.__setattr__(self, "machines", m)
        object.__setattr__(self, "durations", d)
        if m.ndim != 2 or m.shape != d.shape or m.size == 0:
            raise ValueError(
                f"instance {self.name!r}: machines {m.shape} and durations {d.shape} must be equal, "
                "non-empty (n_jobs, n_machines) arrays"
            )
        n_m = m.shape[1]
        expected = np.arange(n_m)
        for j in range(m.shape[0]):
            if not np.array_equal(np.sort(m[j]), expected):
                raise ValueError(
                    f"instance {self.name!r}: job {j} must visit each machine 0..{n_m - 1} exactly once, "
                    f"got {m[j].tolist()}"
                )
        if (d < 0).any():
            j, k = np.argwhere(d < 0)[0]
            raise ValueError(f"instance {self.name!r}: negative duration {d[j, k]} at job {j} op {k}")
        m.setflags(write=False)
        d.setflags(write=False)

    @property
    def n_jobs(self) -> int:
        return int(self.machines.shape[0])

    @property
    def n_machines(self) -> int:
        return int(self.machines.shape[1])

    @property
    def n_operations(self) -> int:
        return int(self.machines.size)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_jobs, self.n_machines)

    def lower_bound(self) -> int:
        """Trivial makespan lower bound: the longest job or the most loaded machine."""
        job_len = int(self.durations.sum(axis=1).max())
        load = np.zeros(self.n_machines, np.int64)
        np.add.at(load, self.machines.ravel(), self.durations.ravel())
        return max(job_len, int(load.max()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JobShopInstance):
            return NotImplemented
        return np.array_equal(self.machines, other.machines) and np.array_equal(self.durations, other.durations)

    def __hash__(self) -> int:
        return hash((self.machines.tobytes(), self.durations.tobytes()))

    def __repr__(self) -> str:
        return f"JobShopInstance(name={self.name!r}, n_jobs={self.n_jobs}, n_machines={self.n_machines})"


# --------------------------------------------------------------------------- parsing / writing
def _ints(tokens: list[str], source: str, lineno: int) -> list[int]:
    out = []
    for t in tokens:
        try:
            out.append(int(t))
        except ValueError:
            raise InstanceFormatError(f"{source}, line {lineno}: {t!r} is not an integer") from None
    return out


def parse_standard(text: str, source: str = "<string>", name: str | None = None) -> JobShopInstance:
    """Parse the standard format (``n m`` header, then ``machine time`` pairs per job, ``#`` comments)."""
    lines = [(i + 1, ln.split("#", 1)[0].split()) for i, ln in enumerate(text.splitlines())]
    lines = [(i, toks) for i, toks in lines if toks]
    if not lines:
        raise InstanceFormatError(f"{source}: no data (empty file or only comments)")
    hdr_line, hdr = lines[0]
    header = _ints(hdr, source, hdr_line)
    if len(header) != 2:
        raise InstanceFormatError(
            f"{source}, line {hdr_line}: header must be 'n_jobs n_machines', got {len(header)} numbers"
        )
    n_jobs, n_machines = header
    if n_jobs < 1 or n_machines < 1:
        raise InstanceFormatError(f"{source}, line {hdr_line}: n_jobs and n_machines must be >= 1")
    rows = lines[1:]
    if len(rows) != n_jobs:
        where = rows[n_jobs][0] if len(rows) > n_jobs else (rows[-1][0] if rows else hdr_line)
        raise InstanceFormatError(
            f"{source}, line {where}: header says {n_jobs} jobs but the file has {len(rows)} job lines"
        )
    machines = np.zeros((n_jobs, n_machines), np.int64)
    durations = np.zeros((n_jobs, n_machines), np.int64)
    for j, (lineno, toks) in enumerate(rows):
        vals = _ints(toks, source, lineno)
        if len(vals) != 2 * n_machines:
            raise InstanceFormatError(
                f"{source}, line {lineno}: job {j} has {len(vals)} numbers, expected {2 * n_machines} "
                f"({n_machines} 'machine time' pairs)"
            )
        ms, ds = vals[0::2], vals[1::2]
        for k, (mach, dur) in enumerate(zip(ms, ds)):
            if not 0 <= mach < n_machines:
                raise InstanceFormatError(
                    f"{source}, line {lineno}: job {j} operation {k}: machine {mach} out of range "
                    f"0..{n_machines - 1}"
                )
            if dur < 0:
                raise InstanceFormatError(f"{source}, line {lineno}: job {j} operation {k}: negative time {dur}")
        missing = sorted(set(range(n_machines)) - set(ms))
        if missing:
            raise InstanceFormatError(
                f"{source}, line {lineno}: job {j} does not visit machine(s) {missing} "
                "(each job must visit every machine once)"
            )
        machines[j], durations[j] = ms, ds
    return JobShopInstance(machines, durations, name=name or Path(source).name)


def parse_taillard(text: str, source: str = "<string>", name: str | None = None) -> JobShopInstance:
    """Parse Taillard's own layout (``Times`` block, then ``Machines`` block with 1-based machines)."""
    lines = [(i + 1, ln.strip()) for i, ln in enumerate(text.splitlines())]
    lines = [(i, ln) for i, ln in lines if ln]
    t_pos = next((p for p, (_, ln) in enumerate(lines) if ln.lower().startswith("times")), None)
    m_pos = next((p for p, (_, ln) in enumerate(lines) if ln.lower().startswith("machines")), None)
    if t_pos is None or m_pos is None or m_pos < t_pos:
        raise InstanceFormatError(f"{source}: Taillard layout needs a 'Times' block followed by a 'Machines' block")
    numbers = [(i, ln) for i, ln in lines[:t_pos] if re.match(r"^[\d\s,.+-]+$", ln)]
    if not numbers:
        raise InstanceFormatError(f"{source}: Taillard layout needs a line with 'n_jobs n_machines ...' before 'Times'")
    h_line, h = numbers[0]
    header = _ints(h.replace(",", " ").split(), source, h_line)
    if len(header) < 2:
        raise InstanceFormatError(f"{source}, line {h_line}: header needs at least 'n_jobs n_machines', got {header}")
    n_jobs, n_machines = header[0], header[1]
    if n_jobs < 1 or n_machines < 1:
        raise InstanceFormatError(f"{source}, line {h_line}: n_jobs and n_machines must be >= 1, got {n_jobs} {n_machines}")
    times_rows = lines[t_pos + 1 : m_pos]
    mach_rows = lines[m_pos + 1 :]
    for block, rows, marker in (("Times", times_rows, lines[t_pos][0]), ("Machines", mach_rows, lines[m_pos][0])):
        if len(rows) != n_jobs:
            where = rows[n_jobs][0] if len(rows) > n_jobs else (rows[-1][0] if rows else marker)
            raise InstanceFormatError(
                f"{source}, line {where}: the {block} block (from line {marker}) has {len(rows)} rows, "
                f"expected {n_jobs} (one per job)"
            )
    durations = np.zeros((n_jobs, n_machines), np.int64)
    machines = np.zeros((n_jobs, n_machines), np.int64)
    for j, ((lt, t), (lm, mrow)) in enumerate(zip(times_rows, mach_rows)):
        dv = _ints(t.split(), source, lt)
        mv = _ints(mrow.split(), source, lm)
        if len(dv) != n_machines:
            raise InstanceFormatError(f"{source}, line {lt}: job {j} has {len(dv)} times, expected {n_machines}")
        if len(mv) != n_machines:
            raise InstanceFormatError(f"{source}, line {lm}: job {j} has {len(mv)} machines, expected {n_machines}")
        for k, dur in enumerate(dv):
            if dur < 0:
                raise InstanceFormatError(f"{source}, line {lt}: job {j} operation {k}: negative time {dur}")
        for k, mach in enumerate(mv):
            if not 1 <= mach <= n_machines:
                raise InstanceFormatError(
                    f"{source}, line {lm}: job {j} operation {k}: machine {mach} out of range 1..{n_machines}"
                )
        missing = sorted(set(range(1, n_machines + 1)) - set(mv))
        if missing:
            raise InstanceFormatError(f"{source}, line {lm}: job {j} does not visit machine(s) {missing}")
        durations[j], machines[j] = dv, np.asarray(mv) - 1
    meta = {}
    if len(header) >= 6:
        meta = {"time_seed": header[2], "machine_seed": header[3], "upper_bound": header[4], "lower_bound": header[5]}
    return JobShopInstance(machines, durations, name=name or Path(source).name, metadata=meta)


def parse_instance(text: str, source: str = "<string>", name: str | None = None) -> JobShopInstance:
    """Parse either format, detecting Taillard's layout by its ``Times`` block."""
    if re.search(r"^\s*times\b", text, flags=re.IGNORECASE | re.MULTILINE):
        return parse_taillard(text, source, name)
    return parse_standard(text, source, name)


def read_instance(path: str | os.PathLike[str], name: str | None = None) -> JobShopInstance:
    """Read an instance file in either format."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(f"instance file not found: {p}") from None
    return parse_instance(text, str(p), name or p.name)


def format_standard(inst: JobShopInstance) -> str:
    lines = [f"# instance {inst.name}", f"{inst.n_jobs} {inst.n_machines}"]
    for j in range(inst.n_jobs):
        lines.append(" ".join(f"{m} {d}" for m, d in zip(inst.machines[j], inst.durations[j])))
    return "\n".join(lines) + "\n"


def format_taillard(inst: JobShopInstance) -> str:
    meta = inst.metadata
    extra = [meta.get(k, 0) for k in ("time_seed", "machine_seed", "upper_bound", "lower_bound")]
    lines = [
        "Nb of jobs, Nb of Machines, Time seed, Machine seed, Upper bound, Lower bound",
        " ".join(str(x) for x in [inst.n_jobs, inst.n_machines, *extra]),
        "Times",
        *(" ".join(str(int(d)) for d in row) for row in inst.durations),
        "Machines",
        *(" ".join(str(int(m) + 1) for m in row) for row in inst.machines),
    ]
    return "\n".join(lines) + "\n"


def write_instance(inst: JobShopInstance, path: str | os.PathLike[str], fmt: str = "standard") -> None:
    """Write ``inst`` in ``"standard"`` or ``"taillard"`` format."""
    if fmt == "standard":
        text = format_standard(inst)
    elif fmt == "taillard":
        text = format_taillard(inst)
    else:
        raise ValueError(f"unknown instance format {fmt!r}; use 'standard' or 'taillard'")
    Path(path).write_text(text)


# --------------------------------------------------------------------------- generators
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


def generate_random(
    n_jobs: int,
    n_machines: int,
    rng: np.random.Generator | int | None = None,
    low: int = 1,
    high: int = 99,
    name: str | None = None,
) -> JobShopInstance:
    """A random instance: durations uniform in ``low..high``, a random machine permutation per job."""
    if n_jobs < 1 or n_machines < 1:
        raise ValueError(f"n_jobs and n_machines must be >= 1, got {n_jobs}x{n_machines}")
    if not 0 <= low <= high:
        raise ValueError(f"need 0 <= low <= high for durations, got low={low}, high={high}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    durations = gen.integers(low, high + 1, size=(n_jobs, n_machines), dtype=np.int64)
    machines = np.argsort(gen.random((n_jobs, n_machines)), axis=1).astype(np.int64)
    return JobShopInstance(machines, durations, name=name or f"random-{n_jobs}x{n_machines}")


# --------------------------------------------------------------------------- named instances + bounds
#: Pinned public source of the non-Taillard instances (JSPLIB); each file is checked by sha256.
JSPLIB_URL = "https://raw.githubusercontent.com/tamy0612/JSPLIB/876c560d0c4f262bf38064443cc4ff304588c252/{path}"
MIRROR_ENV = "SCHEDGYM_JSPLIB_MIRROR"
CACHE_ENV = "SCHEDGYM_CACHE"


@lru_cache(maxsize=1)
def _catalog() -> dict[str, dict[str, Any]]:
    """Known instances: size, sha256 of the file, and bounds with source and date."""
    text = resources.files("schedgym.envs.jobshop").joinpath("data/catalog.json").read_text()
    return json.loads(text)["instances"]


def instance_names() -> list[str]:
    """Every instance name :func:`load_instance` knows."""
    return sorted(_catalog())


def best_known(name: str) -> dict[str, Any]:
    """Bounds of a named instance: ``{"lower", "upper", "optimal", "source", "date"}``."""
    cat = _catalog()
    key = _canonical_ta(name) or _canonical_name(name)
    if key not in cat:
        raise UnknownInstanceError(_unknown_message(name))
    return dict(cat[key]["bounds"])


def suite_reference(case: dict[str, Any]) -> dict[str, Any] | None:
    """Evaluation-suite hook: the best-known upper bound of a case's named instance (None if unnamed)."""
    name = (case.get("env_kwargs") or {}).get("instance")
    if not isinstance(name, str):
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
    key = _canonical_name(name)
    cat = _catalog()
    if key not in cat:
        raise UnknownInstanceError(_unknown_message(name))
    entry = cat[key]
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV)
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
            return parse_standard(data.decode(), str(path), key)
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
            f"could not download instance {key!r} from {url} ({exc}). Set {MIRROR_ENV} to a folder "
            "holding JSPLIB's instances/ to work offline."
        ) from exc
    if _sha256(data) != entry["sha256"]:
        raise ValueError(f"{url}: downloaded file fails the pinned sha256 check for {key!r}; not cached")
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(data)
    return parse_standard(data.decode(), url, key)
