"""Workloads: request arrays, synthetic generators and trace loaders.

A :class:`Workload` is a struct of arrays (one row per request, sorted by arrival): arrival time,
prompt and output lengths, SLO class and the class's TTFT / TPOT targets. Sources:

* :func:`synthetic` — Poisson (``cv=1``) or gamma (any ``cv``) inter-arrival times at a given rate;
  prompt / output lengths log-normal with parameters fitted (maximum likelihood on log lengths) to
  the Azure LLM inference trace 2023 (:data:`LENGTH_DISTRIBUTIONS`, ``"azure-conv"`` /
  ``"azure-code"``), or fixed lengths.
* :func:`load_trace` — replay of the Azure LLM inference trace 2023 in its original layout
  (``TIMESTAMP,ContextTokens,GeneratedTokens`` with wall-clock timestamps) or its processed layout
  (``arrived_at,num_prefill_tokens,num_decode_tokens`` in seconds, as in Vidur's copy), and of
  BurstGPT's layout (``Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type``).
  A malformed row raises :class:`TraceFormatError` naming the file and line; a file that is not UTF-8
  CSV text (binary, latin-1, UTF-16, a broken gzip) raises it naming the file.

SLO classes (:data:`SLO_CLASSES`) carry the targets a request is judged by: time to first token
(TTFT) and mean time per output token after the first (TPOT).
"""

from __future__ import annotations

import csv
import gzip
import zlib
from importlib import resources
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Sequence

import numpy as np

#: name -> (TTFT target s, TPOT target s). "interactive" is in the range of DistServe's chatbot
#: targets (TTFT 0.25 s, TPOT 0.1 s for a 13B model) tightened on TPOT for a 7B model; "standard" is
#: a relaxed interactive class; "batch" a loose background class.
SLO_CLASSES: dict[str, tuple[float, float]] = {
    "interactive": (0.5, 0.05),
    "standard": (2.0, 0.10),
    "batch": (20.0, 0.50),
}
SLO_CLASS_NAMES: tuple[str, ...] = tuple(SLO_CLASSES)

#: log-normal (mu, sigma) of prompt and output lengths and their clipping ranges, fitted to the
#: processed Azure LLM inference trace 2023 (conv: 19,366 requests; code: 8,819 requests)
LENGTH_DISTRIBUTIONS: dict[str, dict[str, tuple[float, float] | tuple[int, int]]] = {
    "azure-conv": {"prompt": (6.6333, 0.9852), "output": (5.0190, 0.8590),
                   "prompt_range": (2, 14050), "output_range": (7, 1000)},
    "azure-code": {"prompt": (6.9986, 1.3602), "output": (2.7882, 0.8472),
                   "prompt_range": (3, 7437), "output_range": (6, 1899)},
    # not fitted to a trace: conv prompts with long answers (median 1,000 tokens, log-sd 0.3), a
    # memory-heavy decode load that makes KV preemption (swap vs recompute) frequent
    "long-output": {"prompt": (6.6333, 0.9852), "output": (6.9078, 0.3),
                    "prompt_range": (2, 2048), "output_range": (256, 2048)},
}


class TraceFormatError(ValueError):
    """A trace file that cannot be read; the message names the file and the line."""


@dataclass
class Workload:
    """Requests as arrays sorted by arrival (seconds from the start of the workload)."""

    arrival: np.ndarray  #: float64 seconds
    prompt: np.ndarray  #: int64 prompt tokens (>= 1)
    output: np.ndarray  #: int64 output tokens to generate (>= 1)
    slo_class: np.ndarray  #: int64 index into ``class_names``
    class_names: tuple[str, ...] = SLO_CLASS_NAMES
    ttft_slo: np.ndarray = field(default=None)  # type: ignore[assignment]
    tpot_slo: np.ndarray = field(default=None)  # type: ignore[assignment]
    name: str = "workload"
    #: shared-prefix structure (None: no sharing): ``sys_id`` the system prompt a request starts with
    #: (-1: none) and ``sys_len`` its tokens; ``conv_id`` the conversation it is a turn of (-1: none):
    #: turns of one conversation are one growing text (a turn's prompt = the previous turn's prompt and
    #: output + a new message), so a turn's tokens equal the earlier turns' at the same positions
    sys_id: np.ndarray = field(default=None)  # type: ignore[assignment]
    sys_len: np.ndarray = field(default=None)  # type: ignore[assignment]
    conv_id: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.arrival = np.asarray(self.arrival, np.float64)
        self.prompt = np.asarray(self.prompt, np.int64)
        self.output = np.asarray(self.output, np.int64)
        self.slo_class = np.asarray(self.slo_class, np.int64)
        n = self.arrival.shape[0]
        for name in ("prompt", "output", "slo_class"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"Workload.{name} has shape {getattr(self, name).shape}, expected ({n},)")
        if n and not np.isfinite(self.arrival).all():
            bad = int(np.flatnonzero(~np.isfinite(self.arrival))[0])
            raise ValueError(f"Workload.arrival must be finite, request {bad} arrives at {self.arrival[bad]}")
        if n and (self.prompt.min() < 1 or self.output.min() < 1):
            raise ValueError("Workload: every request needs >= 1 prompt token and >= 1 output token")
        self.sys_id = np.full(n, -1, np.int64) if self.sys_id is None else np.asarray(self.sys_id, np.int64)
        self.sys_len = np.zeros(n, np.int64) if self.sys_len is None else np.asarray(self.sys_len, np.int64)
        self.conv_id = np.full(n, -1, np.int64) if self.conv_id is None else np.asarray(self.conv_id, np.int64)
        for name in ("sys_id", "sys_len", "conv_id"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"Workload.{name} has shape {getattr(self, name).shape}, expected ({n},)")
        if n and (np.any(self.sys_len < 0) or np.any(self.sys_len > self.prompt) or np.any((self.sys_id < 0) & (self.sys_len > 0))):
            raise ValueError("Workload.sys_len must be in [0, prompt] and 0 where sys_id is -1")
        if n and np.any(np.diff(self.arrival) < 0):
            order = np.argsort(self.arrival, kind="stable")
            self.sys_id, self.sys_len, self.conv_id = self.sys_id[order], self.sys_len[order], self.conv_id[order]
            self.arrival, self.prompt, self.output, self.slo_class = (
                self.arrival[order], self.prompt[order], self.output[order], self.slo_class[order])
            if self.ttft_slo is not None:
                self.ttft_slo = np.asarray(self.ttft_slo, np.float64)[order]
            if self.tpot_slo is not None:
                self.tpot_slo = np.asarray(self.tpot_slo, np.float64)[order]
        if n and (self.slo_class.min() < 0 or self.slo_class.max() >= len(self.class_names)):
            raise ValueError(f"Workload.slo_class must index class_names {self.class_names}")
        targets = np.array([SLO_CLASSES.get(c, (np.inf, np.inf)) for c in self.class_names], np.float64).reshape(-1, 2)
        if self.ttft_slo is None:
            self.ttft_slo = targets[self.slo_class, 0] if n else np.zeros(0)
        if self.tpot_slo is None:
            self.tpot_slo = targets[self.slo_class, 1] if n else np.zeros(0)
        self.ttft_slo = np.asarray(self.ttft_slo, np.float64)
        self.tpot_slo = np.asarray(self.tpot_slo, np.float64)
        for name in ("ttft_slo", "tpot_slo"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"Workload.{name} has shape {getattr(self, name).shape}, expected ({n},)")
            if n and not (getattr(self, name) > 0).all():  # inf (no target) is allowed, NaN is not
                raise ValueError(f"Workload.{name} must be > 0 (inf: no target), got {getattr(self, name)}")

    def __len__(self) -> int:
        return int(self.arrival.shape[0])

    @property
    def duration(self) -> float:
        return float(self.arrival[-1] - self.arrival[0]) if len(self) > 1 else 0.0

    def head(self, n: int) -> "Workload":
        """The first ``n`` requests."""
        return self.select(np.arange(min(n, len(self))))

    def select(self, idx: np.ndarray) -> "Workload":
        return Workload(self.arrival[idx], self.prompt[idx], self.output[idx], self.slo_class[idx],
                        self.class_names, self.ttft_slo[idx], self.tpot_slo[idx], self.name,
                        self.sys_id[idx], self.sys_len[idx], self.conv_id[idx])

    @property
    def has_shared_prefixes(self) -> bool:
        return bool(len(self) and ((self.sys_id >= 0).any() or (self.conv_id >= 0).any()))

    def window(self, start_s: float, duration_s: float) -> "Workload":
        """Requests arriving in ``[start_s, start_s + duration_s)``, times shifted to start at 0."""
        idx = np.flatnonzero((self.arrival >= start_s) & (self.arrival < start_s + duration_s))
        w = self.select(idx)
        w.arrival = w.arrival - start_s
        return w

    def scaled_rate(self, factor: float) -> "Workload":
        """The same requests arriving ``factor`` times faster (inter-arrival times divided by ``factor``)."""
        if not (np.isfinite(factor) and factor > 0):
            raise ValueError(f"rate factor (rate_scale) must be finite and > 0, got {factor}")
        w = self.select(np.arange(len(self)))
        w.arrival = (w.arrival - w.arrival[0]) / factor if len(w) else w.arrival
        return w


def _assign_classes(n: int, rng: np.random.Generator, class_mix: dict[str, float] | str | None) -> np.ndarray:
    if class_mix is None or isinstance(class_mix, str):
        name = class_mix or "standard"
        if name not in SLO_CLASS_NAMES:
            raise KeyError(f"unknown SLO class {name!r}; known: {SLO_CLASS_NAMES}")
        return np.full(n, SLO_CLASS_NAMES.index(name), np.int64)
    names = list(class_mix)
    unknown = [c for c in names if c not in SLO_CLASS_NAMES]
    if unknown:
        raise KeyError(f"unknown SLO classes {unknown}; known: {SLO_CLASS_NAMES}")
    p = np.array([class_mix[c] for c in names], np.float64)
    if not np.isfinite(p).all() or np.any(p < 0) or p.sum() <= 0:
        raise ValueError(f"class_mix weights must be >= 0 with a positive sum, got {class_mix}")
    ids = np.array([SLO_CLASS_NAMES.index(c) for c in names])
    return ids[rng.choice(len(names), size=n, p=p / p.sum())]


def synthetic(
    n_requests: int,
    rate: float,
    rng: np.random.Generator,
    cv: float = 1.0,
    lengths: str = "azure-conv",
    prompt_len: int | None = None,
    output_len: int | None = None,
    class_mix: dict[str, float] | str | None = None,
    name: str | None = None,
) -> Workload:
    """``n_requests`` requests at ``rate`` requests/s with gamma inter-arrivals of coefficient of
    variation ``cv`` (``cv=1`` is Poisson). Lengths log-normal from :data:`LENGTH_DISTRIBUTIONS`
    unless fixed by ``prompt_len`` / ``output_len``."""
    if n_requests < 1:
        raise ValueError(f"n_requests must be >= 1, got {n_requests}")
    for label, value in (("rate", rate), ("cv", cv)):
        if not (np.isfinite(value) and value > 0):  # NaN passes ``<= 0`` and would stop the clock
            raise ValueError(f"{label} must be finite and > 0, got {value}")
    if lengths not in LENGTH_DISTRIBUTIONS:
        raise KeyError(f"unknown length distribution {lengths!r}; known: {sorted(LENGTH_DISTRIBUTIONS)}")
    shape = 1.0 / (cv * cv)
    gaps = rng.gamma(shape, 1.0 / (rate * shape), size=n_requests)
    gaps[0] = 0.0
    arrival = np.cumsum(gaps)
    dist = LENGTH_DISTRIBUTIONS[lengths]

    def draw(kind: str, fixed: int | None) -> np.ndarray:
        if fixed is not None:
            if fixed < 1:
                raise ValueError(f"{kind}_len must be >= 1, got {fixed}")
            return np.full(n_requests, int(fixed), np.int64)
        mu, sigma = dist[kind]
        lo, hi = dist[f"{kind}_range"]
        return np.clip(np.round(rng.lognormal(mu, sigma, size=n_requests)), lo, hi).astype(np.int64)

    prompt = draw("prompt", prompt_len)
    output = draw("output", output_len)
    classes = _assign_classes(n_requests, rng, class_mix)
    return Workload(arrival, prompt, output, classes, name=name or f"{lengths}-rate{rate:g}-cv{cv:g}")


def sessions(
    n_requests: int,
    rate: float,
    rng: np.random.Generator,
    n_system_prompts: int = 8,
    system_prompt_len: int = 1024,
    turns_mean: float = 3.0,
    think_time_s: float = 20.0,
    max_context: int = 4096,
    lengths: str = "azure-conv",
    class_mix: dict[str, float] | str | None = None,
    name: str | None = None,
) -> Workload:
    """A synthetic workload of shared system prompts and multi-turn conversations (documented in
    docs/llm.md, "Prefix caching").

    Sessions start as a Poisson process at ``rate / turns_mean`` sessions/s (so about ``rate``
    requests/s); each picks one of ``n_system_prompts`` system prompts with Zipf(1) popularity (prompt
    ``k`` with weight ``1 / (k + 1)``), of ``system_prompt_len`` tokens each (0: no system prompt), and
    runs a geometric number of turns (mean ``turns_mean``). Turn 1's prompt is the system prompt plus a
    user message; turn ``k + 1``'s prompt is turn ``k``'s prompt and output plus a new message, and
    arrives an exponential think time (mean ``think_time_s``) after turn ``k``. Message and output
    lengths are log-normal from :data:`LENGTH_DISTRIBUTIONS` (``lengths``; messages use the prompt
    distribution). A session ends early when its next turn would exceed ``max_context`` tokens.
    Returns the first ``n_requests`` requests by arrival. No public trace with this structure is
    shipped here, so the structure is synthetic."""
    if n_requests < 1:
        raise ValueError(f"n_requests must be >= 1, got {n_requests}")
    for label, value in (("rate", rate), ("turns_mean", turns_mean), ("think_time_s", think_time_s)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{label} must be finite and > 0, got {value}")
    if turns_mean < 1:
        raise ValueError(f"turns_mean must be >= 1, got {turns_mean}")
    if n_system_prompts < 1 or system_prompt_len < 0 or system_prompt_len >= max_context // 2:
        raise ValueError("need n_system_prompts >= 1 and 0 <= system_prompt_len < max_context / 2")
    dist = LENGTH_DISTRIBUTIONS[lengths]

    def draw(kind: str) -> int:
        mu, sigma = dist[kind]
        lo, hi = dist[f"{kind}_range"]
        return int(np.clip(round(rng.lognormal(mu, sigma)), lo, hi))

    popularity = 1.0 / np.arange(1, n_system_prompts + 1)
    popularity /= popularity.sum()
    rows: list[tuple[float, int, int, int, int, int]] = []  # arrival, prompt, output, sys, sys_len, conv
    t, conv = 0.0, 0
    while len(rows) < 4 * n_requests and (conv < n_requests):
        t += rng.exponential(turns_mean / rate)
        sys_k = int(rng.choice(n_system_prompts, p=popularity))
        sys_len = int(system_prompt_len)
        history, at = sys_len, t
        turns = int(rng.geometric(1.0 / turns_mean))
        for _ in range(turns):
            msg, out = draw("prompt"), draw("output")
            prompt = history + msg
            if prompt + out > max_context:
                break
            rows.append((at, prompt, out, sys_k if sys_len else -1, sys_len, conv))
            history = prompt + out
            at += rng.exponential(think_time_s)
        conv += 1
    rows.sort(key=lambda x: x[0])
    rows = rows[:n_requests]
    a = np.array(rows, np.float64).reshape(-1, 6)
    arrival = a[:, 0] - a[0, 0]
    classes = _assign_classes(len(rows), rng, class_mix)
    return Workload(arrival, a[:, 1].astype(np.int64), a[:, 2].astype(np.int64), classes,
                    name=name or f"sessions-rate{rate:g}", sys_id=a[:, 3].astype(np.int64),
                    sys_len=a[:, 4].astype(np.int64), conv_id=a[:, 5].astype(np.int64))


# ---------------------------------------------------------------------------------------------- traces
_LAYOUTS = {
    "azure-processed": ("arrived_at", "num_prefill_tokens", "num_decode_tokens"),
    "azure-original": ("TIMESTAMP", "ContextTokens", "GeneratedTokens"),
    "burstgpt": ("Timestamp", "Request tokens", "Response tokens"),
}


def _parse_time(text: str, layout: str, where: str) -> float:
    if layout == "azure-original":
        t = text.strip()
        # "2023-11-16 18:15:46.6805900": seven fractional digits, more than datetime parses
        if "." in t:
            head, frac = t.split(".", 1)
            t = f"{head}.{frac[:6]}"
        for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
            try:
                return datetime.strptime(t, fmt).timestamp()
            except ValueError:
                continue
        raise TraceFormatError(f"{where}: cannot parse timestamp {text!r} (expected 'YYYY-MM-DD HH:MM:SS.fffffff')")
    try:
        value = float(text)
    except ValueError:
        raise TraceFormatError(f"{where}: arrival time {text!r} is not a number") from None
    if not np.isfinite(value):
        raise TraceFormatError(f"{where}: arrival time {text!r} is not finite")
    return value


def _parse_count(text: str, column: str, where: str, minimum: int) -> int:
    try:
        value = float(text)
    except ValueError:
        raise TraceFormatError(f"{where}: {column} {text!r} is not a number") from None
    if not np.isfinite(value) or value != int(value) or value < minimum:
        raise TraceFormatError(f"{where}: {column} {text!r} must be an integer >= {minimum}")
    if value > _MAX_TOKENS:
        raise TraceFormatError(f"{where}: {column} {text!r} is larger than {_MAX_TOKENS:,} tokens")
    return int(value)


#: no request in a trace may claim more tokens than this (catches corrupted counts before int64 overflow)
_MAX_TOKENS = 100_000_000


def load_trace(
    path: str | os.PathLike[str],
    layout: str | None = None,
    limit: int | None = None,
    slo_class: str = "standard",
    burstgpt_model: str | None = None,
    zero_output: str = "error",
) -> Workload:
    """Read a trace file into a :class:`Workload` (arrivals shifted to start at 0).

    ``layout`` is detected from the header when None. ``limit`` keeps the first rows. BurstGPT rows
    with ``Response tokens == 0`` (failed requests in that trace) are an error unless
    ``zero_output="skip"`` (then they are left out and counted in ``Workload.name``); ``burstgpt_model``
    keeps only rows of one model (``"ChatGPT"``, ``"GPT-4"``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"trace file not found: {path}")
    if zero_output not in ("error", "skip"):
        raise ValueError(f"zero_output must be 'error' or 'skip', got {zero_output!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 (or None for the whole trace), got {limit}")
    try:
        return _read_rows(path, layout, limit, slo_class, burstgpt_model, zero_output)
    except UnicodeDecodeError as exc:
        raise TraceFormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start} of a block; a binary, "
                               "latin-1 or UTF-16 file?): traces must be UTF-8 CSV") from None
    except csv.Error as exc:  # e.g. "line contains NUL": a binary file
        raise TraceFormatError(f"{path}: not a CSV text file ({exc})") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise TraceFormatError(f"{path}: not a readable gzip file ({exc})") from None


def _read_rows(path: Path, layout: str | None, limit: int | None, slo_class: str, burstgpt_model: str | None,
               zero_output: str) -> Workload:
    arrivals: list[float] = []
    prompts: list[int] = []
    outputs: list[int] = []
    skipped = 0
    with open(path, "rb") as raw:
        head = raw.read(2)
    if path.suffix != ".gz" and head in (b"\xff\xfe", b"\xfe\xff"):
        raise TraceFormatError(f"{path}: the file is UTF-16 text; traces must be UTF-8 CSV")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8-sig") as fh:  # utf-8-sig: tolerate a byte-order mark
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise TraceFormatError(f"{path}:1: empty file (expected a CSV header)") from None
        if layout is None:
            layout = next((k for k, cols in _LAYOUTS.items() if all(c in header for c in cols)), None)
            if layout is None:
                raise TraceFormatError(
                    f"{path}:1: unknown header {header}; expected the columns of one layout: {_LAYOUTS}")
        if layout not in _LAYOUTS:
            raise ValueError(f"unknown trace layout {layout!r}; known: {sorted(_LAYOUTS)}")
        cols = _LAYOUTS[layout]
        missing = [c for c in cols if c not in header]
        if missing:
            raise TraceFormatError(f"{path}:1: header lacks columns {missing} of layout {layout!r}")
        it, ip, io = (header.index(c) for c in cols)
        im = header.index("Model") if layout == "burstgpt" and "Model" in header else None
        width = len(header)
        for row in reader:
            line = reader.line_num
            where = f"{path}:{line}"
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != width:
                raise TraceFormatError(f"{where}: {len(row)} fields, the header has {width}")
            if im is not None and burstgpt_model is not None and row[im].strip() != burstgpt_model:
                continue
            t = _parse_time(row[it], layout, where)
            p = _parse_count(row[ip], cols[1], where, 1)
            o = _parse_count(row[io], cols[2], where, 0)
            if o == 0:
                if zero_output == "skip":
                    skipped += 1
                    continue
                raise TraceFormatError(f"{where}: {cols[2]} is 0 (a request must generate >= 1 token; "
                                       "pass zero_output='skip' to leave such rows out)")
            if arrivals and t < arrivals[-1]:
                raise TraceFormatError(f"{where}: arrival {row[it]!r} is earlier than the previous row's")
            arrivals.append(t)
            prompts.append(p)
            outputs.append(o)
            if limit is not None and len(arrivals) >= limit:
                break
    if not arrivals:
        raise TraceFormatError(f"{path}: no request rows")
    a = np.asarray(arrivals, np.float64)
    a -= a[0]
    n = a.shape[0]
    if slo_class not in SLO_CLASS_NAMES:
        raise KeyError(f"unknown SLO class {slo_class!r}; known: {SLO_CLASS_NAMES}")
    cls = np.full(n, SLO_CLASS_NAMES.index(slo_class), np.int64)
    name = f"{path.stem}" + (f" ({skipped} zero-output rows skipped)" if skipped else "")
    return Workload(a, np.asarray(prompts), np.asarray(outputs), cls, name=name)


def azure_trace_path(kind: str = "conv", data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of the Azure LLM inference trace 2023 (``kind`` ``"conv"`` or ``"code"``, one hour each).

    Looked up in ``data_dir``, else ``$SCHEDGYM_AZURE_LLM_DIR``, else the data mirror
    (``$SCHEDGYM_DATA_MIRROR/azure-llm-2023``), each holding ``<kind>.csv``; else the gzipped copy the
    package ships (``envs/llm/data/azure-<kind>-2023.csv.gz``: the same rows, CC-BY 4.0, Azure Public
    Dataset; Patel et al., "Splitwise", ISCA 2024).
    """
    if kind not in ("conv", "code"):
        raise ValueError(f"Azure trace kind must be 'conv' or 'code', got {kind!r}")
    from ..data import mirror_folder

    base = data_dir or os.environ.get("SCHEDGYM_AZURE_LLM_DIR") or mirror_folder("azure-llm-2023")
    if base is not None:
        p = Path(base) / f"{kind}.csv"
        if not p.is_file():
            raise FileNotFoundError(f"Azure LLM trace not found at {p} (data_dir / SCHEDGYM_AZURE_LLM_DIR / "
                                    "SCHEDGYM_DATA_MIRROR point there)")
        return p
    packaged = Path(str(resources.files("schedgym.envs.llm").joinpath(f"data/azure-{kind}-2023.csv.gz")))
    if not packaged.is_file():
        raise FileNotFoundError(f"the packaged Azure trace {packaged} is missing (a broken install?)")
    return packaged


def concat(workloads: Sequence[Workload]) -> Workload:
    """Requests of several workloads merged by arrival."""
    return Workload(
        np.concatenate([w.arrival for w in workloads]), np.concatenate([w.prompt for w in workloads]),
        np.concatenate([w.output for w in workloads]), np.concatenate([w.slo_class for w in workloads]),
        ttft_slo=np.concatenate([w.ttft_slo for w in workloads]), tpot_slo=np.concatenate([w.tpot_slo for w in workloads]),
    )
