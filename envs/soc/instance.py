"""Applications (task DAGs) and SoC descriptions: the dataclasses, the JSON format, the shipped catalog.

The format (version ``schedgym-soc/1``; the DS3 files of ``../shared/data/soc`` are its first version
and parse as they are):

* **Application** ``apps/<name>.json``::

      {"format": "schedgym-soc-app/1",                 # optional
       "name": str, "source": {"paper": str, "repo_file": str}, "notes": str,
       "tasks": [{"id": int, "name": str, "type": str}],  # ids 0..n-1, each once
       "edges": [{"src": int, "dst": int, "volume": number >= 0}]}   # src must finish before dst starts

  ``type`` keys the SoC's execution-time table. The graph must be acyclic; a job of the application
  is done when all its tasks are.

* **SoC** ``socs/<name>.json``::

      {"format": "schedgym-soc/1",                     # optional
       "name": str, "source": {...}, "notes": str,
       "pes": [{"id": int, "name": str, "kind": "cpu_little|cpu_big|accelerator|cpu", "cluster": str}],
       "exec_time_us": {task_type: {cluster: time_us >= 0}},   # only the clusters that can run the type
       "bandwidth": {"clusters": [cluster, ...], "matrix": [[number > 0, ...], ...]},
       "same_pe_comm": 0}

  A task of type ``t`` runs only on PEs whose cluster is listed in ``exec_time_us[t]``. An edge of
  volume ``V`` between tasks on PEs ``p != q`` costs ``floor(V / matrix[cluster(p)][cluster(q)])`` µs
  (the diagonal is for two different PEs of one cluster); on the same PE it is free.

Every malformed file raises :class:`SoCFormatError` naming the file and the field. The applications
and SoCs of DS3 (Arda et al., IEEE TC 2020) and the Topcuoglu et al. (2002) example ship in
``envs/soc/data`` (:func:`load_app`, :func:`load_soc`, :data:`APP_NAMES`, :data:`SOC_NAMES`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

FORMAT_APP = "schedgym-soc-app/1"
FORMAT_SOC = "schedgym-soc/1"
PE_KINDS: tuple[str, ...] = ("cpu_little", "cpu_big", "accelerator", "cpu")
DATA_DIR = Path(__file__).resolve().parent / "data"

#: the DS3 paper, cited by every shipped DS3 file
DS3_CITATION = (
    "S. E. Arda, A. NK, A. A. Goksoy, N. Kumbhare, J. Mack, A. L. Sartor, A. Akoglu, R. Marculescu, "
    "U. Y. Ogras, \"DS3: A System-Level Domain-Specific System-on-Chip Simulation Framework\", IEEE "
    "Transactions on Computers, 2020, DOI 10.1109/TC.2020.2986963"
)
TOPCUOGLU_CITATION = (
    "H. Topcuoglu, S. Hariri, M.-Y. Wu, \"Performance-effective and low-complexity task scheduling for "
    "heterogeneous computing\", IEEE Trans. Parallel and Distributed Systems 13(3):260-274, 2002, "
    "DOI 10.1109/71.993206"
)


class SoCFormatError(ValueError):
    """A malformed application or SoC description (the message names the file and the field)."""


class WorkloadError(ValueError):
    """A workload that cannot run on its SoC (e.g. a task type no PE supports)."""


# ---------------------------------------------------------------------------------------- dataclasses
@dataclass(frozen=True, eq=False)
class Application:
    """A task DAG. Task ``k`` has a ``type`` (the key into the SoC's execution times); edge ``i`` goes
    from ``edges[i, 0]`` to ``edges[i, 1]`` with data ``volumes[i]``."""

    name: str
    task_names: tuple[str, ...]
    task_types: tuple[str, ...]
    edges: np.ndarray  # (E, 2) int64
    volumes: np.ndarray  # (E,) float64
    source: Mapping[str, Any] = field(default_factory=dict)
    notes: str = ""
    #: where it was read from (a file path), for error messages
    origin: str = ""

    def __post_init__(self) -> None:
        n = len(self.task_types)
        preds: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        succs: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        for (u, v), vol in zip(self.edges.tolist(), self.volumes.tolist()):
            preds[v].append((u, vol))
            succs[u].append((v, vol))
        object.__setattr__(self, "preds", tuple(tuple(p) for p in preds))
        object.__setattr__(self, "succs", tuple(tuple(s) for s in succs))
        object.__setattr__(self, "topo_order", _topological_order(n, self.edges, f"application {self.name!r}", "edges"))

    preds: tuple[tuple[tuple[int, float], ...], ...] = field(init=False, repr=False)
    succs: tuple[tuple[tuple[int, float], ...], ...] = field(init=False, repr=False)
    topo_order: tuple[int, ...] = field(init=False, repr=False)

    @property
    def n_tasks(self) -> int:
        return len(self.task_types)

    @property
    def n_edges(self) -> int:
        return int(self.edges.shape[0])

    @property
    def sources(self) -> tuple[int, ...]:
        return tuple(k for k in range(self.n_tasks) if not self.preds[k])

    @property
    def sinks(self) -> tuple[int, ...]:
        return tuple(k for k in range(self.n_tasks) if not self.succs[k])

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_APP,
            "name": self.name,
            "source": dict(self.source),
            "tasks": [{"id": k, "name": n, "type": t} for k, (n, t) in enumerate(zip(self.task_names, self.task_types))],
            "edges": [{"src": int(u), "dst": int(v), "volume": _num(vol)}
                      for (u, v), vol in zip(self.edges.tolist(), self.volumes.tolist())],
            "notes": self.notes,
        }


@dataclass(frozen=True, eq=False)
class SoC:
    """Processing elements in clusters of one type, their execution times and link bandwidths."""

    name: str
    pe_names: tuple[str, ...]
    pe_kinds: tuple[str, ...]
    pe_clusters: tuple[str, ...]
    clusters: tuple[str, ...]
    exec_time: Mapping[str, Mapping[str, float]]  # task type -> cluster -> µs
    bandwidth: np.ndarray  # (C, C) per cluster pair
    source: Mapping[str, Any] = field(default_factory=dict)
    notes: str = ""
    #: where it was read from (a file path), for error messages
    origin: str = ""

    @property
    def n_pes(self) -> int:
        return len(self.pe_names)

    @property
    def pe_cluster_index(self) -> np.ndarray:
        """Cluster index of each PE, ``(P,)``."""
        index = {c: i for i, c in enumerate(self.clusters)}
        return np.array([index[c] for c in self.pe_clusters], np.int64)

    def exec_row(self, task_type: str) -> np.ndarray:
        """Execution time of ``task_type`` on each PE, ``(P,)``; ``inf`` where the PE cannot run it."""
        times = self.exec_time.get(task_type, {})
        return np.array([float(times.get(c, math.inf)) for c in self.pe_clusters], np.float64)

    def supports(self, task_type: str) -> bool:
        times = self.exec_time.get(task_type)
        return bool(times) and any(c in times for c in self.pe_clusters)

    def pe_bandwidth(self) -> np.ndarray:
        """Bandwidth between PEs ``(P, P)``; ``inf`` on the diagonal (same PE: no transfer)."""
        ci = self.pe_cluster_index
        bw = self.bandwidth[np.ix_(ci, ci)].astype(np.float64)
        np.fill_diagonal(bw, np.inf)
        return bw

    def comm_time(self, volume: float, p: int, q: int) -> float:
        """Transfer time of ``volume`` from PE ``p`` to PE ``q`` (0 on the same PE)."""
        if p == q:
            return 0.0
        ci = self.pe_cluster_index
        return float(math.floor(volume / float(self.bandwidth[ci[p], ci[q]])))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_SOC,
            "name": self.name,
            "source": dict(self.source),
            "pes": [{"id": i, "name": n, "kind": k, "cluster": c}
                    for i, (n, k, c) in enumerate(zip(self.pe_names, self.pe_kinds, self.pe_clusters))],
            "exec_time_us": {t: {c: _num(v) for c, v in row.items()} for t, row in self.exec_time.items()},
            "bandwidth": {"clusters": list(self.clusters), "matrix": [[_num(x) for x in r] for r in self.bandwidth.tolist()]},
            "same_pe_comm": 0,
            "notes": self.notes,
        }


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


# ---------------------------------------------------------------------------------------- parsing
def _fail(where: str, fld: str, problem: str) -> SoCFormatError:
    return SoCFormatError(f"{where}: {fld}: {problem}")


def _require(d: Mapping[str, Any], key: str, types: type | tuple[type, ...], where: str, fld: str) -> Any:
    if not isinstance(d, Mapping):
        raise _fail(where, fld, f"expected an object, got {type(d).__name__}")
    if key not in d:
        raise _fail(where, f"{fld}.{key}" if fld else key, "missing field")
    value = d[key]
    if types is float:
        types = (int, float)
    if not isinstance(value, types) or isinstance(value, bool):  # JSON true/false is never a number here
        name = types.__name__ if isinstance(types, type) else "/".join(t.__name__ for t in types)
        raise _fail(where, f"{fld}.{key}" if fld else key, f"expected {name}, got {value!r}")
    return value


def _number(value: Any, where: str, fld: str, minimum: float = 0.0, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise _fail(where, fld, f"expected a finite number, got {value!r}")
    x = float(value)
    if x < minimum or (strict and x <= minimum):
        raise _fail(where, fld, f"must be {'>' if strict else '>='} {minimum:g}, got {value!r}")
    return x


def _topological_order(n: int, edges: np.ndarray, where: str, fld: str) -> tuple[int, ...]:
    indeg = np.zeros(n, np.int64)
    succ: list[list[int]] = [[] for _ in range(n)]
    for u, v in edges.tolist():
        succ[u].append(v)
        indeg[v] += 1
    stack = [k for k in range(n) if indeg[k] == 0]
    order: list[int] = []
    while stack:
        u = stack.pop()
        order.append(u)
        for v in succ[u]:
            indeg[v] -= 1
            if indeg[v] == 0:
                stack.append(v)
    if len(order) != n:
        cyc = sorted(set(range(n)) - set(order))
        raise _fail(where, fld, f"the graph has a cycle through tasks {cyc[:10]}")
    return tuple(order)


def app_from_dict(d: Mapping[str, Any], where: str = "<application>") -> Application:
    """Parse (and check) an application; errors name ``where`` and the field."""
    if not isinstance(d, Mapping):
        raise _fail(where, "(top level)", "expected a JSON object")
    fmt = d.get("format", FORMAT_APP)
    if fmt != FORMAT_APP:
        raise _fail(where, "format", f"expected {FORMAT_APP!r}, got {fmt!r}")
    name = _require(d, "name", str, where, "")
    tasks = _require(d, "tasks", list, where, "")
    edges_raw = _require(d, "edges", list, where, "")
    if not tasks:
        raise _fail(where, "tasks", "an application needs at least one task")
    n = len(tasks)
    names: list[str | None] = [None] * n
    types: list[str | None] = [None] * n
    for i, t in enumerate(tasks):
        fld = f"tasks[{i}]"
        tid = _require(t, "id", int, where, fld)
        if not 0 <= tid < n:
            raise _fail(where, f"{fld}.id", f"ids must be 0..{n - 1}, got {tid}")
        if types[tid] is not None:
            raise _fail(where, f"{fld}.id", f"duplicate task id {tid}")
        types[tid] = _require(t, "type", str, where, fld)
        names[tid] = str(t.get("name", types[tid]))
        if not types[tid]:
            raise _fail(where, f"{fld}.type", "empty task type")
    edges = np.zeros((len(edges_raw), 2), np.int64)
    volumes = np.zeros(len(edges_raw), np.float64)
    seen: set[tuple[int, int]] = set()
    for i, e in enumerate(edges_raw):
        fld = f"edges[{i}]"
        u = _require(e, "src", int, where, fld)
        v = _require(e, "dst", int, where, fld)
        for key, x in (("src", u), ("dst", v)):
            if not 0 <= x < n:
                raise _fail(where, f"{fld}.{key}", f"unknown task id {x} (ids are 0..{n - 1})")
        if u == v:
            raise _fail(where, fld, f"self-loop on task {u} (a cycle)")
        if (u, v) in seen:
            raise _fail(where, fld, f"duplicate edge {u} -> {v}")
        seen.add((u, v))
        volumes[i] = _number(_require(e, "volume", float, where, fld), where, f"{fld}.volume")
        edges[i] = (u, v)
    _topological_order(n, edges, where, "edges")
    return Application(name=name, task_names=tuple(names), task_types=tuple(types), edges=edges, volumes=volumes,  # type: ignore[arg-type]
                       source=dict(d.get("source") or {}), notes=str(d.get("notes", "")), origin=where)


def soc_from_dict(d: Mapping[str, Any], where: str = "<soc>") -> SoC:
    """Parse (and check) an SoC description; errors name ``where`` and the field."""
    if not isinstance(d, Mapping):
        raise _fail(where, "(top level)", "expected a JSON object")
    fmt = d.get("format", FORMAT_SOC)
    if fmt != FORMAT_SOC:
        raise _fail(where, "format", f"expected {FORMAT_SOC!r}, got {fmt!r}")
    name = _require(d, "name", str, where, "")
    pes = _require(d, "pes", list, where, "")
    if not pes:
        raise _fail(where, "pes", "an SoC needs at least one PE")
    n = len(pes)
    pe_names: list[str | None] = [None] * n
    kinds: list[str | None] = [None] * n
    clusters_of: list[str | None] = [None] * n
    for i, p in enumerate(pes):
        fld = f"pes[{i}]"
        pid = _require(p, "id", int, where, fld)
        if not 0 <= pid < n or pe_names[pid] is not None:
            raise _fail(where, f"{fld}.id", f"PE ids must be 0..{n - 1}, each once; got {pid}")
        pe_names[pid] = str(p.get("name", f"PE{pid}"))
        kinds[pid] = _require(p, "kind", str, where, fld)
        if kinds[pid] not in PE_KINDS:
            raise _fail(where, f"{fld}.kind", f"must be one of {PE_KINDS}, got {kinds[pid]!r}")
        clusters_of[pid] = _require(p, "cluster", str, where, fld)
    bw = _require(d, "bandwidth", dict, where, "")
    cl = _require(bw, "clusters", list, where, "bandwidth")
    matrix = _require(bw, "matrix", list, where, "bandwidth")
    if len(set(cl)) != len(cl) or not all(isinstance(c, str) for c in cl):
        raise _fail(where, "bandwidth.clusters", "must be distinct cluster names")
    missing = sorted({c for c in clusters_of if c not in cl})  # type: ignore[misc]
    if missing:
        raise _fail(where, "bandwidth.clusters", f"lacks the PE clusters {missing}")
    if len(matrix) != len(cl) or any(not isinstance(r, list) or len(r) != len(cl) for r in matrix):
        raise _fail(where, "bandwidth.matrix", f"must be {len(cl)}x{len(cl)} (one row and column per cluster)")
    bw_arr = np.array([[_number(x, where, f"bandwidth.matrix[{i}][{j}]", 0.0, strict=True) for j, x in enumerate(r)]
                       for i, r in enumerate(matrix)], np.float64)
    et = _require(d, "exec_time_us", dict, where, "")
    exec_time: dict[str, dict[str, float]] = {}
    for t, row in et.items():
        if not isinstance(row, Mapping) or not row:
            raise _fail(where, f"exec_time_us.{t}", "expected a non-empty object {cluster: time_us}")
        exec_time[t] = {}
        for c, x in row.items():
            if c not in cl:
                raise _fail(where, f"exec_time_us.{t}.{c}", f"unknown cluster {c!r} (clusters: {cl})")
            exec_time[t][c] = _number(x, where, f"exec_time_us.{t}.{c}")
    same = d.get("same_pe_comm", 0)
    if same not in (0, 0.0):
        raise _fail(where, "same_pe_comm", f"only 0 is supported (transfers on one PE are free), got {same!r}")
    return SoC(name=name, pe_names=tuple(pe_names), pe_kinds=tuple(kinds), pe_clusters=tuple(clusters_of),  # type: ignore[arg-type]
               clusters=tuple(cl), exec_time=exec_time, bandwidth=bw_arr, source=dict(d.get("source") or {}),
               notes=str(d.get("notes", "")), origin=where)


def _read_json(path: str | os.PathLike[str]) -> Any:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise SoCFormatError(f"{p}: cannot read: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SoCFormatError(f"{p}: line {exc.lineno}: invalid JSON: {exc.msg}") from None


def read_app(path: str | os.PathLike[str]) -> Application:
    return app_from_dict(_read_json(path), str(path))


def read_soc(path: str | os.PathLike[str]) -> SoC:
    return soc_from_dict(_read_json(path), str(path))


def dumps(d: Mapping[str, Any]) -> str:
    """JSON text with one top-level key, list item or table row per line (diff-friendly)."""
    lines = ["{"]
    items = list(d.items())
    for i, (k, v) in enumerate(items):
        end = "," if i < len(items) - 1 else ""
        if isinstance(v, list) and v and all(isinstance(x, (dict, list)) for x in v):
            inner = ",\n".join(f"    {json.dumps(x)}" for x in v)
            lines.append(f"  {json.dumps(k)}: [\n{inner}\n  ]{end}")
        elif isinstance(v, dict) and v and all(isinstance(x, (dict, list)) for x in v.values()):
            inner = ",\n".join(f"    {json.dumps(kk)}: {json.dumps(x)}" for kk, x in v.items())
            lines.append(f"  {json.dumps(k)}: {{\n{inner}\n  }}{end}")
        else:
            lines.append(f"  {json.dumps(k)}: {json.dumps(v)}{end}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_app(app: Application, path: str | os.PathLike[str]) -> None:
    Path(path).write_text(dumps(app.to_dict()))


def write_soc(soc: SoC, path: str | os.PathLike[str]) -> None:
    Path(path).write_text(dumps(soc.to_dict()))


# ---------------------------------------------------------------------------------------- catalog
APP_NAMES: tuple[str, ...] = tuple(sorted(p.stem for p in (DATA_DIR / "apps").glob("*.json")))
SOC_NAMES: tuple[str, ...] = tuple(sorted(p.stem for p in (DATA_DIR / "socs").glob("*.json")))

#: job mixes by name (probabilities over applications); ``ds3`` is DS3's default ``config_file.ini``
#: workload, ``fig12a``..``fig12d`` the four mixes of the DS3 paper's Fig. 12 (on ``ds3_16pe_paper``)
MIXES: dict[str, dict[str, float]] = {
    "ds3": {"wifi_tx": 0.2, "wifi_rx": 0.2, "range_detection": 0.2, "sc_tx": 0.1, "sc_rx": 0.1, "temporal_mitigation": 0.2},
    "wifi": {"wifi_tx": 0.5, "wifi_rx": 0.5},
    "fig12a": {"wifi_tx": 0.2, "wifi_rx": 0.8},
    "fig12b": {"wifi_tx": 0.8, "wifi_rx": 0.2},
    "fig12c": {"range_detection": 0.8, "pulse_doppler": 0.2},
    "fig12d": {"wifi_tx": 0.3, "wifi_rx": 0.3, "range_detection": 0.3, "pulse_doppler": 0.1},
}


def _unknown(kind: str, name: str, known: Iterable[str]) -> KeyError:
    import difflib

    known = list(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
    return KeyError(f"unknown {kind} {name!r}; close: {close}; known: {known}")


@lru_cache(maxsize=None)
def _load_app_cached(name: str) -> Application:
    return read_app(DATA_DIR / "apps" / f"{name}.json")


@lru_cache(maxsize=None)
def _load_soc_cached(name: str) -> SoC:
    return read_soc(DATA_DIR / "socs" / f"{name}.json")


def load_app(app: Application | str | os.PathLike[str]) -> Application:
    """An :class:`Application`, a shipped name (``"wifi_tx"``) or a path to a JSON file."""
    if isinstance(app, Application):
        return app
    text = os.fspath(app)
    if text in APP_NAMES:
        return _load_app_cached(text)
    if text.endswith(".json") or os.path.sep in text:
        return read_app(text)
    raise _unknown("application", text, APP_NAMES)


def load_soc(soc: SoC | str | os.PathLike[str]) -> SoC:
    """An :class:`SoC`, a shipped name (``"ds3_16pe_head"``) or a path to a JSON file."""
    if isinstance(soc, SoC):
        return soc
    text = os.fspath(soc)
    if text in SOC_NAMES:
        return _load_soc_cached(text)
    if text.endswith(".json") or os.path.sep in text:
        return read_soc(text)
    raise _unknown("SoC", text, SOC_NAMES)


def resolve_mix(mix: Mapping[str, float] | str | Iterable[str]) -> dict[str, float]:
    """A job mix as ``{application: probability}`` (normalized): a mapping, a mix name of :data:`MIXES`,
    one application name, or a list of names (equal shares)."""
    if isinstance(mix, str):
        if mix in MIXES:
            return dict(MIXES[mix])
        return {mix: 1.0}
    if isinstance(mix, Mapping):
        out = {}
        for k, v in mix.items():
            p = float(v)
            if not math.isfinite(p) or p < 0:
                raise ValueError(f"mix: probability of {k!r} must be >= 0, got {v!r}")
            if p > 0:
                out[str(k)] = p
    else:
        names = [str(x) for x in mix]
        out = {n: 1.0 for n in names}
    total = sum(out.values())
    if not out or total <= 0:
        raise ValueError(f"mix {mix!r} gives no application a positive probability")
    return {k: v / total for k, v in out.items()}


def check_workload(soc: SoC, apps: Iterable[Application]) -> None:
    """Every task type of every application has a PE of ``soc`` that can run it, else :class:`WorkloadError`
    (so a job that could never finish is refused at reset, not found by a hang)."""
    for app in apps:
        for k, t in enumerate(app.task_types):
            if soc.supports(t):
                continue
            bad = sorted({u for u in app.task_types if not soc.supports(u)})
            where = app.origin or f"application {app.name!r}"
            soc_where = soc.origin or f"SoC {soc.name!r}"
            if t not in soc.exec_time:
                why = f"unknown task type {t!r}: {soc_where} has no exec_time_us.{t}"
            else:
                why = (f"no PE of {soc_where} supports task type {t!r} (exec_time_us.{t} lists clusters "
                       f"{sorted(soc.exec_time[t])}, the PEs are in {sorted(set(soc.pe_clusters))})")
            raise WorkloadError(
                f"{where}: tasks[{k}].type: {why}; jobs of {app.name!r} could never finish "
                f"(all unsupported types: {bad[:8]}{' ...' if len(bad) > 8 else ''})"
            )


def critical_path(app: Application, soc: SoC, how: str = "min") -> float:
    """Length of the longest path with each task at its ``min`` (or ``mean``) execution time over the PEs
    that support it and no communication: a lower bound on a job's latency when ``how="min"``."""
    w = np.array([_agg(soc.exec_row(t), how) for t in app.task_types])
    longest = np.zeros(app.n_tasks)
    for k in reversed(app.topo_order):
        longest[k] = w[k] + max((longest[s] for s, _ in app.succs[k]), default=0.0)
    return float(longest.max())


def _agg(row: np.ndarray, how: str) -> float:
    ok = row[np.isfinite(row)]
    if ok.size == 0:
        return math.inf
    return float(ok.min() if how == "min" else ok.mean())
