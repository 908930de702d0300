"""Job-shop file formats, read and written.

* **Standard** (OR-Library / JSPLIB): optional ``#`` comment lines, a header ``n_jobs n_machines``,
  then one line per job of ``machine time`` pairs, machines numbered from 0.
* Files are UTF-8 (or ASCII) text; anything else raises :class:`InstanceFormatError` naming the file.
  Times are integers in ``0..MAX_DURATION`` (10**9), checked as they are read.
* **Taillard's layout**: a header line ``Nb of jobs, Nb of Machines, ...``, a line of numbers
  (jobs, machines, and optionally time seed, machine seed, upper and lower bound), then a ``Times``
  block (one row of durations per job) and a ``Machines`` block (one row of 1-based machines per job).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from .instance import MAX_DURATION, InstanceFormatError, JobShopInstance


def decode_text(data: bytes, source: str) -> str:
    """The text of an instance file: UTF-8 (a byte-order mark is tolerated). Binary data, UTF-16 and
    other encodings (latin-1 ...) raise :class:`InstanceFormatError` naming ``source`` and the line."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InstanceFormatError(f"{source}: the file is UTF-16 text; instance files must be UTF-8 (or ASCII)")
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise InstanceFormatError(f"{source}, line {line}: a NUL byte; this is a binary file, not an instance text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InstanceFormatError(
            f"{source}, line {line}: byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8 "
            "(instance files must be UTF-8 or ASCII text)") from None


def _check_duration(dur: int, source: str, lineno: int, j: int, k: int) -> None:
    if dur < 0:
        raise InstanceFormatError(f"{source}, line {lineno}: job {j} operation {k}: negative time {dur}")
    if dur > MAX_DURATION:
        raise InstanceFormatError(
            f"{source}, line {lineno}: job {j} operation {k}: time {dur} exceeds the limit {MAX_DURATION:,}")


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
            _check_duration(dur, source, lineno, j, k)
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
            _check_duration(dur, source, lt, j, k)
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


def parse_instance(text: str | bytes, source: str = "<string>", name: str | None = None) -> JobShopInstance:
    """Parse either format, detecting Taillard's layout by its ``Times`` block (``bytes`` are decoded
    with :func:`decode_text`)."""
    if isinstance(text, bytes):
        text = decode_text(text, source)
    if re.search(r"^\s*times\b", text, flags=re.IGNORECASE | re.MULTILINE):
        return parse_taillard(text, source, name)
    return parse_standard(text, source, name)


def read_instance(path: str | os.PathLike[str], name: str | None = None) -> JobShopInstance:
    """Read an instance file in either format."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"instance file not found: {p}") from None
    return parse_instance(decode_text(data, str(p)), str(p), name or p.name)


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
