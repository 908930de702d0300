"""Memory-mapping / static-allocation instances and their file formats.

A :class:`MemoryInstance` is a set of **buffers**, each with a size in bytes and a half-open live
interval ``[lower, upper)`` in instruction time, a fast-memory **capacity** in bytes and, for the
mapping mode, the :class:`Program` that uses the buffers: an ordered list of instructions, each with
a FLOP count and the bytes it reads or writes of each buffer (its *uses*), and a hardware profile
(:class:`~schedgym.envs.memory.hardware.Hardware`).

File formats:

* **MiniMalloc CSV** (Moffitt, ASPLOS 2023; ``google/minimalloc``): header ``id,lower,upper,size``,
  one buffer per line, lifetimes half-open; a solution adds an ``offset`` column. The capacity is not
  in the file; MiniMalloc's benchmark puts it in the file name (``A.1048576.csv``), which
  :func:`read_minimalloc_csv` reads when no capacity is given. Allocation only (no program).
* **schedgym memory JSON** (``format: "schedgym-memory/1"``): buffers, capacity and the optional
  program (see :meth:`MemoryInstance.to_json`); the traced real-model instances ship in this format.

Malformed files raise :class:`InstanceFormatError` naming the file and the line (CSV) or the field (JSON).
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .hardware import Hardware, get_hardware

JSON_FORMAT = "schedgym-memory/1"


class InstanceFormatError(ValueError):
    """A malformed instance or solution file; the message names the file and the line or field."""


@dataclass(eq=False)
class Program:
    """The instructions that use the buffers, for the mapping mode's program time.

    Attributes:
        flops: ``(n_instructions,)`` FLOPs of each instruction.
        use_instr, use_buffer: ``(n_uses,)`` each use's instruction and buffer.
        use_bytes: ``(n_uses,)`` bytes the instruction reads or writes of the buffer.
        hardware: the memory hierarchy and compute roof.
        op_names: a label per instruction (the traced operation), for reports.
    """

    flops: np.ndarray
    use_instr: np.ndarray
    use_buffer: np.ndarray
    use_bytes: np.ndarray
    hardware: Hardware
    op_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.flops = np.asarray(self.flops, np.float64).reshape(-1)
        self.use_instr = np.asarray(self.use_instr, np.int64).reshape(-1)
        self.use_buffer = np.asarray(self.use_buffer, np.int64).reshape(-1)
        self.use_bytes = np.asarray(self.use_bytes, np.float64).reshape(-1)
        if not (self.use_instr.shape == self.use_buffer.shape == self.use_bytes.shape):
            raise ValueError("Program: use_instr, use_buffer and use_bytes must have the same length")
        if self.op_names and len(self.op_names) != self.n_instructions:
            raise ValueError(f"Program: {len(self.op_names)} op_names for {self.n_instructions} instructions")
        if (self.flops < 0).any() or (self.use_bytes < 0).any():
            raise ValueError("Program: flops and use_bytes must be >= 0")

    @property
    def n_instructions(self) -> int:
        return int(self.flops.shape[0])

    def with_hardware(self, hardware: Hardware) -> Program:
        return Program(self.flops, self.use_instr, self.use_buffer, self.use_bytes, hardware, self.op_names)


@dataclass(eq=False)
class MemoryInstance:
    """Buffers with sizes and live intervals, a capacity, and optionally the program that uses them.

    Attributes:
        name: instance name.
        capacity: bytes of fast memory (mapping) / of the arena to allocate in (allocation).
        lower, upper: ``(n,)`` live interval ``[lower, upper)`` of each buffer, in instruction time.
        size: ``(n,)`` bytes.
        ids: the buffers' names (the CSV ``id`` column).
        prefetch: ``(n,)`` the buffer's contents exist in slow memory before ``lower`` (weights, program
            inputs): placing it in fast memory costs a copy at ``lower`` that its first use waits for.
        evict: ``(n,)`` the contents are needed after the program (outputs): placing it in fast memory
            costs a copy back after its last use, which the program's end waits for.
        program: the instructions, or None (allocation-only instances such as MiniMalloc's).
        source: where the instance comes from.
    """

    name: str
    capacity: int
    lower: np.ndarray
    upper: np.ndarray
    size: np.ndarray
    ids: tuple[str, ...] = ()
    prefetch: np.ndarray | None = None
    evict: np.ndarray | None = None
    program: Program | None = None
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lower = np.asarray(self.lower, np.int64).reshape(-1)
        self.upper = np.asarray(self.upper, np.int64).reshape(-1)
        self.size = np.asarray(self.size, np.int64).reshape(-1)
        n = self.lower.shape[0]
        if not (self.upper.shape[0] == self.size.shape[0] == n):
            raise ValueError(f"MemoryInstance {self.name!r}: lower, upper and size must have the same length")
        if n == 0:
            raise ValueError(f"MemoryInstance {self.name!r}: no buffers")
        self.capacity = int(self.capacity)
        if self.capacity < 1:
            raise ValueError(f"MemoryInstance {self.name!r}: capacity must be >= 1, got {self.capacity}")
        if not self.ids:
            self.ids = tuple(str(i) for i in range(n))
        self.ids = tuple(str(i) for i in self.ids)
        if len(self.ids) != n:
            raise ValueError(f"MemoryInstance {self.name!r}: {len(self.ids)} ids for {n} buffers")
        bad = np.flatnonzero(self.lower >= self.upper)
        if bad.size:
            b = int(bad[0])
            raise ValueError(f"MemoryInstance {self.name!r}: buffer {self.ids[b]!r} has lower {self.lower[b]} >= upper {self.upper[b]}")
        bad = np.flatnonzero((self.size < 0) | (self.lower < 0))
        if bad.size:
            b = int(bad[0])
            raise ValueError(f"MemoryInstance {self.name!r}: buffer {self.ids[b]!r} has a negative size or lower")
        self.prefetch = np.zeros(n, bool) if self.prefetch is None else np.asarray(self.prefetch, bool).reshape(-1)
        self.evict = np.zeros(n, bool) if self.evict is None else np.asarray(self.evict, bool).reshape(-1)
        if self.prefetch.shape[0] != n or self.evict.shape[0] != n:
            raise ValueError(f"MemoryInstance {self.name!r}: prefetch/evict must have one flag per buffer")
        if self.program is not None:
            p = self.program
            if p.use_buffer.size and (p.use_buffer.min() < 0 or p.use_buffer.max() >= n):
                raise ValueError(f"MemoryInstance {self.name!r}: a use names a buffer outside 0..{n - 1}")
            if p.use_instr.size and (p.use_instr.min() < 0 or p.use_instr.max() >= p.n_instructions):
                raise ValueError(f"MemoryInstance {self.name!r}: a use names an instruction outside the program")
            out = (p.use_instr < self.lower[p.use_buffer]) | (p.use_instr >= self.upper[p.use_buffer])
            if out.any():
                u = int(np.flatnonzero(out)[0])
                b = int(p.use_buffer[u])
                raise ValueError(
                    f"MemoryInstance {self.name!r}: buffer {self.ids[b]!r} is used by instruction {int(p.use_instr[u])} "
                    f"outside its live interval [{self.lower[b]}, {self.upper[b]})"
                )
            if self.upper.max() > p.n_instructions:
                raise ValueError(f"MemoryInstance {self.name!r}: a live interval ends after the program's last instruction")

    # ------------------------------------------------------------------ facts
    @property
    def n_buffers(self) -> int:
        return int(self.size.shape[0])

    @property
    def horizon(self) -> int:
        """One past the last instant any buffer is live."""
        return int(self.upper.max())

    def overlap_matrix(self) -> np.ndarray:
        """``(n, n)`` bool: buffers i != j live at a common instant (half-open intervals)."""
        lo, up = self.lower, self.upper
        m = (lo[:, None] < up[None, :]) & (lo[None, :] < up[:, None])
        np.fill_diagonal(m, False)
        return m

    def max_load(self) -> int:
        """The largest total size of buffers live at one instant: a lower bound on any allocation's peak."""
        events_t = np.concatenate([self.lower, self.upper])
        events_d = np.concatenate([self.size, -self.size])
        idx = np.lexsort((events_d, events_t))  # at equal times, frees (negative) before allocations
        return int(max(0, np.cumsum(events_d[idx]).max()))

    def check_allocatable(self, where: str | None = None) -> None:
        """Raise if some buffer alone exceeds the capacity (no allocation can exist)."""
        big = np.flatnonzero(self.size > self.capacity)
        if big.size:
            b = int(big[0])
            line = self.meta.get("lines", {}).get(b) if isinstance(self.meta.get("lines"), dict) else None
            at = f"{where or self.source or self.name}" + (f", line {line}" if line else "")
            raise InstanceFormatError(
                f"{at}: buffer {self.ids[b]!r} has size {int(self.size[b])} > capacity {self.capacity}: "
                "no allocation exists"
            )

    def with_capacity(self, capacity: int) -> MemoryInstance:
        return MemoryInstance(self.name, capacity, self.lower, self.upper, self.size, self.ids, self.prefetch,
                              self.evict, self.program, self.source, dict(self.meta))

    def with_hardware(self, hardware: Hardware | str, capacity: int | None = None) -> MemoryInstance:
        """The same program on another hardware profile (capacity: the profile's unless given)."""
        if self.program is None:
            raise ValueError(f"instance {self.name!r} has no program, so no hardware")
        hw = get_hardware(hardware)
        return MemoryInstance(self.name, capacity or hw.fast_capacity, self.lower, self.upper, self.size, self.ids,
                              self.prefetch, self.evict, self.program.with_hardware(hw), self.source, dict(self.meta))

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (``format: schedgym-memory/1``)."""
        d: dict[str, Any] = {
            "format": JSON_FORMAT,
            "name": self.name,
            "capacity": self.capacity,
            "source": self.source,
            "buffers": {
                "id": list(self.ids),
                "lower": self.lower.tolist(),
                "upper": self.upper.tolist(),
                "size": self.size.tolist(),
                "prefetch": self.prefetch.astype(int).tolist(),
                "evict": self.evict.astype(int).tolist(),
            },
            "meta": self.meta,
        }
        if self.program is not None:
            p = self.program
            d["program"] = {
                "hardware": p.hardware.name,
                "op_names": list(p.op_names),
                "flops": p.flops.tolist(),
                "uses": {"instr": p.use_instr.tolist(), "buffer": p.use_buffer.tolist(), "bytes": p.use_bytes.tolist()},
            }
        return d


# ---------------------------------------------------------------------- readers and writers
def parse_instance_json(data: dict[str, Any], where: str = "<json>") -> MemoryInstance:
    """Build an instance from :meth:`MemoryInstance.to_json`'s dict; errors name ``where`` and the field."""
    if not isinstance(data, dict):
        raise InstanceFormatError(f"{where}: expected a JSON object")
    if data.get("format") != JSON_FORMAT:
        raise InstanceFormatError(f"{where}: field 'format' must be {JSON_FORMAT!r}, got {data.get('format')!r}")
    for key in ("name", "capacity", "buffers"):
        if key not in data:
            raise InstanceFormatError(f"{where}: missing field {key!r}")
    b = data["buffers"]
    for key in ("lower", "upper", "size"):
        if key not in b:
            raise InstanceFormatError(f"{where}: missing field 'buffers.{key}'")
    program = None
    if data.get("program") is not None:
        p = data["program"]
        try:
            hw = get_hardware(p["hardware"]) if isinstance(p["hardware"], str) else Hardware.from_json(p["hardware"], where)
            uses = p["uses"]
            program = Program(p["flops"], uses["instr"], uses["buffer"], uses["bytes"], hw, tuple(p.get("op_names") or ()))
        except (KeyError, TypeError, ValueError) as exc:
            raise InstanceFormatError(f"{where}: field 'program': {exc}") from exc
    try:
        return MemoryInstance(
            name=str(data["name"]),
            capacity=int(data["capacity"]),
            lower=b["lower"],
            upper=b["upper"],
            size=b["size"],
            ids=tuple(b.get("id") or ()),
            prefetch=b.get("prefetch"),
            evict=b.get("evict"),
            program=program,
            source=str(data.get("source", "")),
            meta=dict(data.get("meta") or {}),
        )
    except (TypeError, ValueError) as exc:
        raise InstanceFormatError(f"{where}: {exc}") from exc


def read_instance_json(path: str | os.PathLike[str]) -> MemoryInstance:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InstanceFormatError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from exc
    return parse_instance_json(data, str(path))


def write_instance_json(path: str | os.PathLike[str], instance: MemoryInstance) -> None:
    Path(path).write_text(json.dumps(instance.to_json(), separators=(",", ":")))


_CAPACITY_IN_NAME = re.compile(r"\.(\d+)\.csv$")
CSV_COLUMNS = ("id", "lower", "upper", "size")


def capacity_from_filename(path: str | os.PathLike[str]) -> int | None:
    """MiniMalloc's benchmark names files ``<name>.<capacity>.csv``."""
    m = _CAPACITY_IN_NAME.search(os.fspath(path))
    return int(m.group(1)) if m else None


def read_minimalloc_csv(
    path: str | os.PathLike[str], capacity: int | None = None, name: str | None = None, check_capacity: bool = True
) -> tuple[MemoryInstance, np.ndarray | None]:
    """Read a MiniMalloc CSV (``id,lower,upper,size`` and an optional ``offset`` column).

    Returns the instance and the offsets (None if the file has no ``offset`` column). The capacity is
    ``capacity`` or the number in the file name (``A.1048576.csv``). Errors name the file and the line.
    """
    path = Path(path)
    cap = capacity if capacity is not None else capacity_from_filename(path)
    if cap is None:
        raise InstanceFormatError(f"{path}: no capacity given and none in the file name (expected '<name>.<capacity>.csv')")
    try:
        text = path.read_text()
    except OSError as exc:
        raise InstanceFormatError(f"{path}: cannot read ({exc})") from exc
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise InstanceFormatError(f"{path}: line 1: empty file (expected the header id,lower,upper,size)")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise InstanceFormatError(f"{path}: line 1: missing column(s) {missing} in header {header}")
    col = {c: header.index(c) for c in header}
    has_offset = "offset" in col
    ids, lo, up, sz, off = [], [], [], [], []
    lines: dict[int, int] = {}
    seen: dict[str, int] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < len(header):
            raise InstanceFormatError(f"{path}: line {lineno}: {len(row)} fields, expected {len(header)}")
        bid = row[col["id"]].strip()
        if bid in seen:
            raise InstanceFormatError(f"{path}: line {lineno}: duplicate id {bid!r} (first on line {seen[bid]})")
        seen[bid] = lineno
        try:
            vals = {c: int(row[col[c]].strip()) for c in ("lower", "upper", "size") + (("offset",) if has_offset else ())}
        except ValueError:
            raise InstanceFormatError(f"{path}: line {lineno}: lower, upper, size (and offset) must be integers: {row}") from None
        if vals["lower"] < 0:
            raise InstanceFormatError(f"{path}: line {lineno}: buffer {bid!r}: negative lower {vals['lower']}")
        if vals["lower"] >= vals["upper"]:
            raise InstanceFormatError(f"{path}: line {lineno}: buffer {bid!r}: lower {vals['lower']} >= upper {vals['upper']}")
        if vals["size"] < 0:
            raise InstanceFormatError(f"{path}: line {lineno}: buffer {bid!r}: negative size {vals['size']}")
        if check_capacity and vals["size"] > cap:
            raise InstanceFormatError(f"{path}: line {lineno}: buffer {bid!r}: size {vals['size']} > capacity {cap}")
        if has_offset and vals["offset"] < -1:
            raise InstanceFormatError(f"{path}: line {lineno}: buffer {bid!r}: negative offset {vals['offset']}")
        lines[len(ids)] = lineno
        ids.append(bid)
        lo.append(vals["lower"])
        up.append(vals["upper"])
        sz.append(vals["size"])
        if has_offset:
            off.append(vals["offset"])
    if not ids:
        raise InstanceFormatError(f"{path}: no buffers after the header")
    stem = path.name.removesuffix(".csv")
    stem = _CAPACITY_IN_NAME.sub("", path.name) if capacity_from_filename(path) is not None else stem
    inst = MemoryInstance(
        name=name or stem, capacity=cap, lower=lo, upper=up, size=sz, ids=tuple(ids), source=str(path),
        meta={"lines": lines},
    )
    return inst, (np.asarray(off, np.int64) if has_offset else None)


def write_minimalloc_csv(
    path: str | os.PathLike[str], instance: MemoryInstance, offsets: np.ndarray | list[int] | None = None
) -> None:
    """Write MiniMalloc's CSV; with ``offsets`` add the ``offset`` column (-1: not placed)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(CSV_COLUMNS + (("offset",) if offsets is not None else ()))
        for i in range(instance.n_buffers):
            row = [instance.ids[i], int(instance.lower[i]), int(instance.upper[i]), int(instance.size[i])]
            if offsets is not None:
                row.append(int(offsets[i]))
            w.writerow(row)


def read_instance(path: str | os.PathLike[str], capacity: int | None = None) -> MemoryInstance:
    """A ``.csv`` (MiniMalloc) or ``.json`` (schedgym) instance file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"memory instance file not found: {p}")
    if p.suffix == ".csv":
        return read_minimalloc_csv(p, capacity)[0]
    if p.suffix == ".json":
        inst = read_instance_json(p)
        return inst if capacity is None else inst.with_capacity(capacity)
    raise InstanceFormatError(f"{p}: unknown instance format (expected .csv or .json)")
