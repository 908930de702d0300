"""Iteration-level discrete-event simulation of one LLM serving instance (no Gymnasium).

The instance runs *iterations* (one forward pass of a batch) back to back. At each iteration
boundary the batch is composed in two parts:

1. **What continues by default** — every running request that has finished its prefill decodes one
   token; every running request in the middle of a chunked prefill gets its next chunk (up to the
   remaining token budget and free KV blocks). When the decodes need KV blocks that are not free,
   running requests are preempted (victim: the worst under ``preempt_order``, vLLM's "newest" under
   FCFS) by *recompute* (KV dropped; later re-prefilled with prompt + generated tokens) or by *swap*
   (KV copied to host memory over PCIe, paying the copy time; swapped back in before decoding again).
2. **The decision** — which queued (new or recompute-preempted) or swapped requests to admit, one at
   a time, while they fit the token budget, ``max_num_seqs`` and the KV capacity (minus a watermark).
   :meth:`ServingSimulator.candidates` lists the admissible requests; :meth:`admit` adds one;
   :meth:`launch` runs the iteration. A decision is only asked when a candidate exists: stretches of
   pure-decode iterations with nobody to admit are simulated in closed form (vectorized over the
   iterations up to the next arrival, completion or KV exhaustion), so an hour of traffic takes
   tens of thousands of events, not millions of Python steps.

``batching="mixed"`` (Orca / Sarathi-Serve): admitted prefills share the iteration with the decodes,
all within ``token_budget`` tokens; with ``chunked_prefill=True`` a prompt is split into chunks that
fill the leftover budget (Sarathi-Serve's stall-free batching). ``batching="prefill-first"`` (vLLM v0's
default scheduler): an iteration that admits a new prompt is a prefill-only iteration; the running
decodes wait (this is what produces long TBT tails).

Token accounting: a request with prompt ``P`` and output ``O`` is prefilled (``P`` tokens, in one or
more chunks); the iteration that finishes the prefill samples output token 1; each later decode
iteration processes the previous token and samples the next, so ``O - 1`` decodes follow and the KV
cache ends at ``P + O - 1`` tokens. After a recompute preemption with ``g`` tokens generated the
request re-prefills ``P + g`` tokens and the last chunk samples token ``g + 1``.

Every iteration is recorded (when ``record=True``) for the independent validator
(:mod:`schedgym.envs.llm.validate`); metrics come from :mod:`schedgym.envs.llm.metrics`.
"""

from __future__ import annotations

import bisect
import math
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

if TYPE_CHECKING:
    from .types import LLMRunSolution

from . import layered
from .costmodel import DEFAULT_CALIBRATION, Calibration, CostModel
from .profiles import GIB, HardwareProfile, ModelProfile, get_hardware, get_model
from .workload import Workload

# request phases
NOT_ARRIVED, QUEUED, RUNNING, SWAPPED, FINISHED, REJECTED = 0, 1, 2, 3, 4, 5
PHASE_NAMES = ("not-arrived", "queued", "running", "swapped", "finished", "rejected")
# kinds of work in an iteration record
K_PREFILL, K_DECODE, K_SWAPIN = 0, 1, 2


class ModelDoesNotFitError(ValueError):
    """The model's weights (plus the activation reserve) leave no room for a KV cache."""


@dataclass
class ServingConfig:
    """How one serving instance is built and scheduled (vLLM's engine arguments, roughly)."""

    model: str | ModelProfile = "llama-2-7b"
    hardware: str | HardwareProfile = "a100-80gb"
    tp: int = 1
    block_size: int = 16
    gpu_memory_utilization: float = 0.9  #: fraction of HBM the engine may use (vLLM's default)
    activation_reserve_gib: float = 1.0  #: per GPU, for activations / CUDA graphs, taken from the KV budget
    max_kv_blocks: int | None = None  #: cap the KV blocks (small test instances); None: from memory
    token_budget: int | None = 2048  #: max tokens per iteration; None: max(2048, context limit)
    chunked_prefill: bool = True
    batching: str = "mixed"  #: "mixed" or "prefill-first"
    max_num_seqs: int = 256
    preemption: str = "recompute"  #: "recompute" or "swap"
    #: host swap space per GPU: 32 GiB (a serving host has hundreds of GB of DRAM; vLLM's default of
    #: 4 GiB holds only ~8k tokens of Llama-2-7B KV, so swap falls back to recompute almost at once)
    swap_space_gib: float = 32.0
    #: copy/compute overlap of swaps (FastSwitch-like): copies run on the copy engine, pipelined layer by
    #: layer with the iteration, which then takes max(compute, copies) instead of compute + copies
    swap_overlap: bool = False
    #: KV blocks per copy call: 1 = vLLM's per-block cudaMemcpyAsync; larger = FastSwitch-style
    #: block groups (fewer, larger copies)
    swap_block_group: int = 1
    #: fixed cost of one copy call (launch + PCIe transaction setup; an assumed 10 us, not calibrated)
    swap_copy_latency_s: float = 10e-6
    preempt_order: str = "fcfs"  #: victim = the running request that is last under this order
    #: FastServe-style proactive preemption (needs ``preempt_order="mlfq"``): at each boundary, while
    #: the highest-priority waiting request does not fit and a running request sits in a strictly
    #: lower MLFQ level, that running request is preempted (swap or recompute, per ``preemption``);
    #: with agent sessions, KV pinned between turns is evicted first
    proactive_preemption: bool = False
    watermark: float = 0.01  #: fraction of KV blocks kept free when admitting (vLLM's default)
    #: vLLM-style automatic prefix caching: full KV blocks are keyed by their content (the workload's
    #: shared system prompts and conversation histories), shared by reference between requests,
    #: and kept after release as evictable cached blocks (LRU) that a later request can hit
    prefix_caching: bool = False
    #: KV time-to-live between the turns of agent sessions (Continuum-like; :mod:`.sessions`): "none" (free
    #: a finished turn's KV at once), "fixed" (pin it for ``kv_ttl_s``) or "tool-aware" (pin for a quantile
    #: of the observed durations of the turn's tool kind, if that is at most ``kv_ttl_s``)
    kv_ttl: str = "none"
    kv_ttl_s: float = 5.0  #: the fixed TTL; with "tool-aware", the cold-start TTL and the cap
    overlength: str = "reject"  #: prompt+output over the context limit: "reject", "truncate" or "error"
    record: bool = True  #: keep the iteration log for the validator
    calibration: Calibration = DEFAULT_CALIBRATION
    #: kernel set of the cost model: "vllm" (Vidur's profiled kernels) or "trt-llm" (faster compute)
    engine: str = "vllm"
    #: "chunked" (prefill chunks of tokens through all layers) or "layered" (layered prefill: whole
    #: prompts through one of ``layer_groups`` contiguous layer groups per iteration; see :mod:`.layered`)
    prefill_mode: str = "chunked"
    layer_groups: int = 4  #: layer groups of layered prefill (1 .. the model's layers)

    def validated(self) -> "ServingConfig":
        from ..core import check_number

        for name, lo, excl in (("gpu_memory_utilization", 0.0, True), ("activation_reserve_gib", 0.0, False),
                               ("swap_space_gib", 0.0, False), ("watermark", 0.0, False),
                               ("swap_copy_latency_s", 0.0, False)):
            check_number(name, getattr(self, name), minimum=lo, exclusive=excl)
        for name in ("tp", "block_size", "max_num_seqs", "swap_block_group"):
            check_number(name, getattr(self, name), minimum=1, integer=True)
        for name in ("token_budget", "max_kv_blocks"):
            check_number(name, getattr(self, name), minimum=1, integer=True, allow_none=True)
        if self.batching not in ("mixed", "prefill-first"):
            raise ValueError(f"batching must be 'mixed' or 'prefill-first', got {self.batching!r}")
        if self.chunked_prefill and self.batching != "mixed":
            raise ValueError("chunked_prefill=True needs batching='mixed' (chunks share iterations with decodes)")
        if self.preemption not in ("recompute", "swap"):
            raise ValueError(f"preemption must be 'recompute' or 'swap', got {self.preemption!r}")
        if self.overlength not in ("reject", "truncate", "error"):
            raise ValueError(f"overlength must be 'reject', 'truncate' or 'error', got {self.overlength!r}")
        if self.block_size < 1 or self.max_num_seqs < 1:
            raise ValueError("block_size and max_num_seqs must be >= 1")
        if not 0.0 < self.gpu_memory_utilization <= 1.0:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization}")
        if not 0.0 <= self.watermark < 1.0:
            raise ValueError(f"watermark must be in [0, 1), got {self.watermark}")
        if self.preempt_order not in ORDERS:
            raise ValueError(f"preempt_order must be one of {sorted(ORDERS)}, got {self.preempt_order!r}")
        if self.kv_ttl not in ("none", "fixed", "tool-aware"):
            raise ValueError(f"kv_ttl must be 'none', 'fixed' or 'tool-aware', got {self.kv_ttl!r}")
        check_number("kv_ttl_s", self.kv_ttl_s, minimum=0.0, exclusive=True)
        if self.proactive_preemption and self.preempt_order != "mlfq":
            raise ValueError("proactive_preemption=True needs preempt_order='mlfq' (it compares MLFQ levels)")
        if self.prefill_mode not in layered.PREFILL_MODES:
            raise ValueError(f"prefill_mode must be one of {layered.PREFILL_MODES}, got {self.prefill_mode!r}")
        check_number("layer_groups", self.layer_groups, minimum=1, integer=True)
        if self.prefill_mode == "layered" and (self.batching != "mixed" or not self.chunked_prefill or self.prefix_caching):
            raise ValueError("prefill_mode='layered' needs batching='mixed' and chunked_prefill=True (a prompt longer "
                             "than a pass is prefilled in several passes), and does not support prefix_caching")
        return self


# ---------------------------------------------------------------------------------- priority orders
def _key_fcfs(sim: "ServingSimulator", r: np.ndarray) -> np.ndarray:
    return sim.arrival[r]


def _key_spf(sim: "ServingSimulator", r: np.ndarray) -> np.ndarray:
    return (sim.target[r] - sim.prefilled[r]) + sim.arrival[r] * 1e-9


def _key_srpt_oracle(sim: "ServingSimulator", r: np.ndarray) -> np.ndarray:
    # ORACLE: uses the true output length, unknown to a real scheduler
    return (sim.target[r] - sim.prefilled[r]) + (sim.output[r] - sim.generated[r]) + sim.arrival[r] * 1e-9


def _key_edf(sim: "ServingSimulator", r: np.ndarray) -> np.ndarray:
    # deadline of the request's next token: TTFT target, then one TPOT target per generated token
    return sim.arrival[r] + sim.ttft_slo[r] + sim.tpot_slo[r] * sim.generated[r]


MLFQ_BASE_QUANTUM = 16  #: tokens of service in the top queue; each lower queue doubles it
MLFQ_LEVELS = 8
#: livelock guard: a request preempted this many times in a row without generating a token in between
#: stops the run with an error (the worst seen in legitimate runs, 400 KV blocks with proactive MLFQ
#: preemption, is about 240)
MAX_PREEMPTS_WITHOUT_PROGRESS = 10_000


def mlfq_level(sim: "ServingSimulator", r: np.ndarray) -> np.ndarray:
    """FastServe-style skip-join MLFQ level: a request joins the queue whose quantum covers its prompt
    (``log2(prompt / (4 * base quantum))``, prompts being ~4x cheaper per token than decodes) and is
    demoted one level each time its generated tokens pass a doubled quantum."""
    join = np.floor(np.log2(np.maximum(sim.prompt[r] / (4.0 * MLFQ_BASE_QUANTUM), 1.0)))
    served = np.floor(np.log2(1.0 + sim.generated[r] / MLFQ_BASE_QUANTUM))
    return np.minimum(join + served, MLFQ_LEVELS - 1)


def _key_mlfq(sim: "ServingSimulator", r: np.ndarray) -> np.ndarray:
    return mlfq_level(sim, r) * 1e7 + sim.arrival[r]


def _key_lpm(sim: "ServingSimulator", r: np.ndarray) -> np.ndarray:
    # SGLang's longest-prefix-match: the request with the most cached prompt blocks first, then FCFS
    hits = np.fromiter((sim.cached_prefix_blocks(int(x)) for x in r), np.float64, len(r))
    return -hits * 1e7 + sim.arrival[r]


#: name -> key(sim, request ids) (lower runs first). Used for admission by the built-in scheduler and
#: the baselines, and for choosing preemption victims (the highest key is preempted first).
ORDERS: dict[str, Callable[["ServingSimulator", np.ndarray], np.ndarray]] = {
    "fcfs": _key_fcfs,
    "spf": _key_spf,
    "srpt-oracle": _key_srpt_oracle,
    "edf": _key_edf,
    "mlfq": _key_mlfq,
    "lpm": _key_lpm,
}


@dataclass
class IterationLog:
    """What ran, for the validator: one row per recorded iteration group (``repeat`` identical pure-decode
    iterations share a row), members flattened in ``rid`` / ``tokens`` / ``kind`` (``offsets`` index them)."""

    start: list = field(default_factory=list)
    repeat: list = field(default_factory=list)
    offsets: list = field(default_factory=lambda: [0])
    rid: list = field(default_factory=list)
    tokens: list = field(default_factory=list)
    kind: list = field(default_factory=list)
    ends: list = field(default_factory=list)  #: end time of every iteration (sum(repeat) entries)
    preempt_t: list = field(default_factory=list)
    preempt_rid: list = field(default_factory=list)
    preempt_mode: list = field(default_factory=list)  #: 0 recompute, 1 swap, 2 migrated out (cluster)
    #: requests migrated in (cluster): time they land, id, KV tokens, tokens generated so far, first token time
    mig_in: list = field(default_factory=list)
    #: prefix-cache hits at admission: time, request, prompt tokens served from the cache
    hit_t: list = field(default_factory=list)
    hit_rid: list = field(default_factory=list)
    hit_tokens: list = field(default_factory=list)

    def to_arrays(self) -> dict[str, np.ndarray]:
        def cat(parts: list, dtype: Any) -> np.ndarray:
            arrs = [np.atleast_1d(np.asarray(p, dtype)) for p in parts]
            return np.concatenate(arrs) if arrs else np.zeros(0, dtype)

        return {
            "start": np.asarray(self.start, np.float64),
            "repeat": np.asarray(self.repeat, np.int64),
            "offsets": np.asarray(self.offsets, np.int64),
            "rid": cat(self.rid, np.int64),
            "tokens": cat(self.tokens, np.int64),
            "kind": cat(self.kind, np.int64),
            "ends": cat(self.ends, np.float64),
            "preempt_t": np.asarray(self.preempt_t, np.float64),
            "preempt_rid": np.asarray(self.preempt_rid, np.int64),
            "preempt_mode": np.asarray(self.preempt_mode, np.int64),
            "mig_in": np.asarray(self.mig_in, np.float64).reshape(-1, 5),
            "hit_t": np.asarray(self.hit_t, np.float64),
            "hit_rid": np.asarray(self.hit_rid, np.int64),
            "hit_tokens": np.asarray(self.hit_tokens, np.int64),
        }


class ServingSimulator:
    """One serving instance replaying a :class:`Workload`. See the module docstring."""

    def __init__(self, config: ServingConfig | None = None, **overrides: Any) -> None:
        cfg = replace(config or ServingConfig(), **overrides).validated()
        self.config = cfg
        self.model = get_model(cfg.model)
        self.hardware = get_hardware(cfg.hardware)
        self.cost = CostModel(self.model, self.hardware, cfg.tp, cfg.calibration, engine=cfg.engine)
        self.block_size = int(cfg.block_size)
        per_gpu_bytes = (
            self.hardware.memory_bytes * cfg.gpu_memory_utilization
            - self.model.weight_bytes / cfg.tp
            - cfg.activation_reserve_gib * GIB
        )
        block_bytes = self.cost.kv_bytes_per_token * self.block_size
        blocks = int(per_gpu_bytes // block_bytes) if per_gpu_bytes > 0 else 0
        if blocks < 1:
            raise ModelDoesNotFitError(
                f"{self.model.name} ({self.model.weight_bytes / 1e9:.1f} GB of weights) does not fit "
                f"{cfg.tp} x {self.hardware.name} ({self.hardware.memory_bytes / 1e9:.0f} GB, utilization "
                f"{cfg.gpu_memory_utilization}, reserve {cfg.activation_reserve_gib} GiB): no room for a KV cache; "
                "use a larger tensor-parallel degree (tp=...) or a larger GPU")
        if cfg.max_kv_blocks is not None:
            if cfg.max_kv_blocks < 1:
                raise ValueError(f"max_kv_blocks must be >= 1, got {cfg.max_kv_blocks}")
            blocks = min(blocks, int(cfg.max_kv_blocks))
        self.total_blocks = blocks
        self.watermark_blocks = int(cfg.watermark * blocks)
        self.swap_blocks_total = int(cfg.swap_space_gib * GIB // block_bytes)
        self.max_context = self.model.max_context
        if cfg.token_budget is None:
            self.token_budget = max(2048, self.max_context)
        else:
            self.token_budget = int(cfg.token_budget)
        if self.token_budget < 1:
            raise ValueError(f"token_budget must be >= 1, got {self.token_budget}")
        if not cfg.chunked_prefill and self.token_budget < self.max_context:
            raise ValueError(
                f"without chunked prefill the token budget ({self.token_budget}) must cover the context limit "
                f"of {self.model.name} ({self.max_context}), as in vLLM; pass token_budget=None or chunked_prefill=True")
        self._order_key = ORDERS[cfg.preempt_order]
        self._layered = cfg.prefill_mode == "layered"
        self.layer_sizes = layered.group_sizes(self.model.n_layers, int(cfg.layer_groups)) if self._layered else None
        self.workload: Workload | None = None

    # ================================================================== setup
    def reset(self, workload: Workload, start: bool = True) -> None:
        """Start replaying ``workload`` at time 0 with an empty instance (``start=False``: set up the
        state only, without simulating to the first decision point; used by the cluster)."""
        cfg = self.config
        n = len(workload)
        self.workload = workload
        self.n = n
        self.arrival = workload.arrival.astype(np.float64)
        self.prompt = workload.prompt.astype(np.int64).copy()
        self.output = workload.output.astype(np.int64).copy()
        self.ttft_slo = workload.ttft_slo.astype(np.float64)
        self.tpot_slo = workload.tpot_slo.astype(np.float64)
        self.slo_class = workload.slo_class.astype(np.int64)
        self.truncated = np.zeros(n, bool)
        self.prompt_requested = self.prompt.copy()  # before any truncation (for the validator)
        self.output_requested = self.output.copy()
        self.reject_reason = np.zeros(n, np.int8)  # 0 none, 1 context limit, 2 KV capacity
        limit = self.max_context
        over = self.prompt + self.output > limit
        if over.any():
            if cfg.overlength == "error":
                i = int(np.flatnonzero(over)[0])
                raise ValueError(
                    f"request {i}: prompt {self.prompt[i]} + output {self.output[i]} tokens exceed the context limit "
                    f"{limit} of {self.model.name} ({int(over.sum())} such requests); pass overlength='reject' or 'truncate'")
            if cfg.overlength == "truncate":
                # keep the output (up to half the window), cut the prompt to what is left, then fill
                keep_out = np.minimum(self.output[over], limit // 2)
                self.prompt[over] = np.minimum(self.prompt[over], limit - keep_out)
                self.output[over] = np.minimum(self.output[over], limit - self.prompt[over])
                self.truncated[over] = True
            else:
                self.reject_reason[over] = 1
        usable = self.total_blocks - self.watermark_blocks
        need = -(-(self.prompt + self.output - 1) // self.block_size)
        self.reject_reason[(self.reject_reason == 0) & (need > usable)] = 2

        self.sys_id = workload.sys_id.astype(np.int64)
        self.sys_len = np.minimum(workload.sys_len.astype(np.int64), self.prompt)  # after any truncation
        self.conv_id = workload.conv_id.astype(np.int64)
        # prefix cache: key -> references of running requests; evictable (ref 0) keys in LRU order
        self._pool: dict[int, int] = {}
        self._evictable: OrderedDict[int, None] = OrderedDict()
        self.pooled = np.zeros(n, np.int64)  # of blocks[r], those that are pool entries (shared)
        self._refs: list[list[int]] = [[] for _ in range(n)] if cfg.prefix_caching else []
        self._reg_upto = np.zeros(n, np.int64)  # blocks of r already offered to the pool
        self.prefix_hit_tokens = np.zeros(n, np.int64)  # prompt tokens served from the cache (all admissions)
        self.prefix_lookup_tokens = 0  # tokens to prefill at fresh admissions (denominator of the hit rate)
        self.n_evicted_blocks = 0
        self.phase = np.zeros(n, np.int8)
        self.target = self.prompt.copy()  # tokens to prefill before decoding
        self.prefilled = np.zeros(n, np.int64)
        self.kv = np.zeros(n, np.int64)  # tokens whose KV is cached (GPU or host)
        self.blocks = np.zeros(n, np.int64)  # GPU blocks held
        self.host_blocks = np.zeros(n, np.int64)
        self.generated = np.zeros(n, np.int64)
        self.first_token_t = np.full(n, np.nan)
        self.last_token_t = np.full(n, np.nan)
        self.finish_t = np.full(n, np.nan)
        self.max_tbt = np.zeros(n)
        self.n_preempt = np.zeros(n, np.int64)
        self._stalled_preempts = np.zeros(n, np.int64)  # preemptions in a row without a new token
        self._generated_at_preempt = np.full(n, -1, np.int64)
        self.migrated_out = np.zeros(n, bool)
        self.now = 0.0
        self.free_blocks = self.total_blocks
        self.swap_free = self.swap_blocks_total
        self.next_arrival = 0  # index of the next request not yet arrived
        self.queue: list[int] = []  # QUEUED requests (new or recompute-preempted)
        self._qdirty = True
        self._qmin = 0
        self.swapped: list[int] = []
        self.running: list[int] = []  # RUNNING (admission order)
        self.n_finished = 0
        self.n_good = 0  # finished within both SLOs
        self.sum_latency = 0.0
        self.n_rejected = 0
        self.n_iterations = 0
        self.n_preempt_recompute = 0
        self.n_preempt_swap = 0
        self.n_swap_blocks = 0  # KV blocks copied over PCIe (out + in)
        self.kv_block_seconds = 0.0
        self.busy_time = 0.0
        self.max_blocks_used = 0
        self.tbt_values: list[np.ndarray] = []  #: TBT samples, in groups
        self.tbt_weights: list[float] = []  #: how many tokens each sample of the group stands for
        self.log = IterationLog() if cfg.record else None
        self.done = False
        self._pending_overhead = 0.0
        self._finished_log: list[int] = []
        self._dec = np.zeros(0, np.int64)
        self._dec_blocks = 0
        self._chunks = []
        self._swapins = []
        self._prefill_admitted = False
        self.budget_left = self.token_budget
        layered.reset_state(self)
        #: agent sessions (closed-loop turns, KV pins between turns); None for other workloads
        self.sessions = None
        if getattr(workload, "tool_time", None) is not None:
            if not start:
                raise ValueError("an agent-sessions workload (closed-loop turns) runs on one instance "
                                 "(schedgym/LLMServe-v0); the cluster and disaggregated envs do not support it")
            from .sessions import SessionState

            self.sessions = SessionState(self, workload)
        if start:
            self._advance()

    # ================================================================== batch composition
    def _arrive(self) -> None:
        """Move requests with ``arrival <= now`` into the queue (or reject them)."""
        i, n, now = self.next_arrival, self.n, self.now
        arrival, reason = self.arrival, self.reject_reason
        while i < n and arrival[i] <= now:
            if reason[i]:
                self.phase[i] = REJECTED
                self.n_rejected += 1
            else:
                self.phase[i] = QUEUED
                self.queue.append(i)
                self._qdirty = True
            i += 1
        self.next_arrival = i
        if self.sessions is not None:
            self.sessions.arrive(self)

    def _next_arrival_time(self) -> float:
        """Time of the next arrival (or agent-session event: a turn arriving, a KV pin expiring); inf: none."""
        t = float(self.arrival[self.next_arrival]) if self.next_arrival < self.n else math.inf
        return t if self.sessions is None else min(t, self.sessions.next_event())

    def _preempt(self, r: int) -> None:
        """Preempt running request ``r`` (swap if configured and room, else recompute)."""
        self._check_livelock(r)
        self.running.remove(r)
        swap = (self.config.preemption == "swap" and self.prefilled[r] >= self.target[r]
                and self.blocks[r] <= self.swap_free)
        self._drop_gpu_blocks(r, register=not swap)
        self.n_preempt[r] += 1
        if swap:
            self.host_blocks[r] = self.blocks[r]
            self.swap_free -= int(self.blocks[r])
            self._pending_overhead += self.swap_copy_time(int(self.kv[r]))
            self.n_swap_blocks += int(self.host_blocks[r])
            self.phase[r] = SWAPPED
            bisect.insort(self.swapped, r)
            self.n_preempt_swap += 1
        else:
            if self._layered:
                layered.abort_pass(self, r)
            self.kv[r] = 0
            self.prefilled[r] = 0
            self.target[r] = self.prompt[r] + self.generated[r]
            self.phase[r] = QUEUED
            bisect.insort(self.queue, r)  # the queue stays in arrival (= id) order
            self._qdirty = True
            self.n_preempt_recompute += 1
        self.blocks[r] = 0
        if self.log is not None:
            self.log.preempt_t.append(self.now)
            self.log.preempt_rid.append(r)
            self.log.preempt_mode.append(1 if swap else 0)

    def _check_livelock(self, r: int) -> None:
        """Raise if request ``r`` keeps being preempted without generating a token in between (a
        preemption rule that cannot make room would otherwise thrash forever)."""
        if self._generated_at_preempt[r] == self.generated[r]:
            self._stalled_preempts[r] += 1
        else:
            self._generated_at_preempt[r] = self.generated[r]
            self._stalled_preempts[r] = 1
        if self._stalled_preempts[r] > MAX_PREEMPTS_WITHOUT_PROGRESS:
            raise RuntimeError(
                f"livelock: request {r} was preempted {int(self._stalled_preempts[r])} times in a row without "
                f"generating a token (t={self.now:.3f} s, {self.free_blocks} free KV blocks, "
                f"{len(self.running)} running, {len(self.queue) + len(self.swapped)} waiting); the preemption "
                "rule cannot make room for the request it preempts for")

    # ================================================================== prefix cache
    def block_key(self, r: int, i: int) -> int:
        """Content key of block ``i`` (tokens ``[i bs, (i + 1) bs)``) of request ``r``: the system prompt's
        block if it lies inside it, else the conversation's block, else a key only ``r`` has."""
        if self.sys_id[r] >= 0 and (i + 1) * self.block_size <= self.sys_len[r]:
            return (int(self.sys_id[r]) << 24) | i
        if self.conv_id[r] >= 0:
            return (1 << 56) | (int(self.conv_id[r]) << 24) | i
        return (2 << 56) | (int(r) << 24) | i

    def cached_prefix_blocks(self, r: int) -> int:
        """Leading full blocks of ``r``'s remaining prefill found in the prefix cache now (0 when caching
        is off or ``r`` has started its prefill); at most ``(tokens to prefill - 1) // block size`` (the
        last token is always computed)."""
        if not self.config.prefix_caching or self.prefilled[r] > 0 or self.phase[r] != QUEUED:
            return 0
        self._trim_cache()
        pool = self._pool
        h, limit = 0, int((self.target[r] - 1) // self.block_size)
        while h < limit and self.block_key(r, h) in pool:
            h += 1
        return h

    def _trim_cache(self) -> None:
        """Evict LRU cached blocks until the evictable ones fit the free blocks (a block taken from the
        free pool is first taken from the truly free ones, then by evicting a cached one)."""
        ev = self._evictable
        while len(ev) > self.free_blocks:
            k, _ = ev.popitem(last=False)
            del self._pool[k]
            self.n_evicted_blocks += 1

    def _register(self, r: int, upto: int) -> None:
        """Offer ``r``'s computed full blocks ``[reg_upto, upto)`` to the pool (a block whose content is
        already cached, computed twice by a race, stays private)."""
        self._trim_cache()
        pool, refs = self._pool, self._refs[r]
        for i in range(int(self._reg_upto[r]), upto):
            k = self.block_key(r, i)
            if k not in pool:
                pool[k] = 1
                refs.append(k)
                self.pooled[r] += 1
        self._reg_upto[r] = max(int(self._reg_upto[r]), upto)

    def swap_copy_time(self, kv_tokens: int) -> float:
        """Seconds to copy ``kv_tokens`` tokens of KV between GPU and host: the bytes over PCIe plus one
        fixed cost per copy call (``swap_block_group`` blocks per call)."""
        blocks = -(-int(kv_tokens) // self.block_size)
        calls = -(-blocks // int(self.config.swap_block_group))
        return self.cost.swap_time(float(kv_tokens)) + calls * self.config.swap_copy_latency_s

    def _shareable_blocks(self, r: int, full: int) -> int:
        """Of ``r``'s first ``full`` blocks, how many lead blocks other requests may share."""
        if self.conv_id[r] >= 0:
            return full
        if self.sys_id[r] >= 0:
            return min(full, int(self.sys_len[r] // self.block_size))
        return 0

    def _drop_gpu_blocks(self, r: int, register: bool, finished: bool = False) -> None:
        """Release ``r``'s GPU blocks: private ones to the free pool; pool references dropped (a block
        nobody references stays cached, evictable, counted as free)."""
        if not self.config.prefix_caching:
            self.free_blocks += int(self.blocks[r])
            return
        if register:
            # a recompute-preempted request may hit all its own blocks later; once finished, only the
            # blocks another request can share (system prompt, conversation) are worth caching
            full = min(int(self.kv[r] // self.block_size), int(self.blocks[r]))
            self._register(r, self._shareable_blocks(r, full) if finished else full)
        pool, ev = self._pool, self._evictable
        for k in self._refs[r]:
            c = pool[k] - 1
            pool[k] = c
            if c == 0:
                ev[k] = None
                ev.move_to_end(k)
        self.free_blocks += int(self.blocks[r] - self.pooled[r]) + sum(1 for k in self._refs[r] if pool[k] == 0)
        self._refs[r] = []
        self.pooled[r] = 0
        self._reg_upto[r] = 0

    def _take_hits(self, r: int) -> None:
        """At a fresh admission (prefix caching on): reference the cached leading blocks of ``r``, as long
        as the blocks they take from the free pool (evictable ones) and the first chunk still fit."""
        h = self.cached_prefix_blocks(r)
        rem0 = int(self.target[r] - self.prefilled[r])
        self.prefix_lookup_tokens += rem0
        if h == 0:
            return
        bs = self.block_size
        keys = [self.block_key(r, i) for i in range(h)]
        avail = self.free_blocks - self.watermark_blocks
        while h > 0:
            e = sum(1 for k in keys[:h] if self._pool[k] == 0)
            rem = rem0 - h * bs
            c = min(rem, self.budget_left) if self.config.chunked_prefill else rem
            if e + -(-c // bs) <= avail or (self.config.chunked_prefill and avail - e >= 1):
                break
            h -= 1
        if h == 0:
            return
        pool, ev = self._pool, self._evictable
        for k in keys[:h]:
            if pool[k] == 0:
                del ev[k]
                self.free_blocks -= 1
            pool[k] += 1
        self._refs[r] = keys[:h]
        self.pooled[r] = h
        self._reg_upto[r] = h
        self.blocks[r] = h
        self.kv[r] = self.prefilled[r] = h * bs
        self.prefix_hit_tokens[r] += h * bs
        if self.log is not None:
            self.log.hit_t.append(self.now)
            self.log.hit_rid.append(r)
            self.log.hit_tokens.append(h * bs)

    def _victim(self) -> int:
        run = np.fromiter(self.running, np.int64, len(self.running))
        keys = self._order_key(self, run)
        return int(run[int(np.argmax(keys))])

    def _proactive_preempt(self) -> None:
        """FastServe-style: make room for the best waiting request by preempting running requests of a
        strictly lower MLFQ level (see :attr:`ServingConfig.proactive_preemption`)."""
        bs = self.block_size
        while self.running and (self.queue or self.swapped):
            waiting = self.queue + self.swapped
            w = np.fromiter(waiting, np.int64, len(waiting))
            best = int(w[int(np.argmin(_key_mlfq(self, w)))])
            run = np.fromiter(self.running, np.int64, len(self.running))
            lv_run = mlfq_level(self, run)
            worst_i = int(np.argmax(_key_mlfq(self, run)))
            if lv_run[worst_i] <= mlfq_level(self, np.array([best]))[0]:
                return
            if self.phase[best] == SWAPPED:
                need = int(self.host_blocks[best]) + 1
            else:
                need = -(-min(int(self.target[best] - self.prefilled[best]), self.token_budget) // bs)
            dec = run[(self.target[run] - self.prefilled[run]) <= 0]
            growth = int(np.count_nonzero(self.kv[dec] % bs == 0))
            short = need + growth - (self.free_blocks - self.watermark_blocks)  # KV blocks missing
            if short <= 0 and len(self.running) < self.config.max_num_seqs:
                return
            if short > 0 and self.sessions is not None and self.sessions.evict(self, short):
                continue  # pinned KV between agent turns goes before a running request is preempted
            self._preempt(int(run[worst_i]))

    def _compose(self) -> None:
        """Build the default part of the batch at an iteration boundary (see the module docstring)."""
        bs = self.block_size
        if self.config.proactive_preemption:
            self._proactive_preempt()
        while True:
            run = np.fromiter(self.running, np.int64, len(self.running))
            rem = self.target[run] - self.prefilled[run]
            is_dec = rem <= 0
            d = run[is_dec]
            need = int(np.count_nonzero(self.kv[d] % bs == 0))  # decodes that open a new block
            if need <= self.free_blocks:
                break
            if self.sessions is not None and self.sessions.evict(self, need - self.free_blocks):
                continue  # pinned KV between agent turns goes before a running request is preempted
            self._preempt(self._victim())
        self.free_blocks -= need
        self._dec = d
        self._dec_blocks = need
        self.budget_left = self.token_budget - (len(d) if self.config.batching == "mixed" else 0)
        self._chunks: list[tuple[int, int]] = []  # (rid, tokens) of prefill chunks
        self._lwork = []  # layered prefill: (rid, pass tokens, group) run this iteration
        self._swapins: list[int] = []
        self._prefill_admitted = False
        if len(d) < len(run):
            # ongoing chunked prefills continue, in admission order
            if self._layered:
                layered.continue_prefills(self, run[~is_dec].tolist(), rem[~is_dec].tolist())
            for r, left in zip(run[~is_dec].tolist(), rem[~is_dec].tolist()) if not self._layered else ():
                c = min(left, self.budget_left, self._chunk_room(r))
                if c > 0:
                    self._take_chunk(r, c)
            if not len(d) and not self._chunks and not self._lwork:
                # stuck: nothing can progress (every running request waits for KV) -> free room and retry
                # (KV pinned between agent turns is evicted first)
                if self.sessions is None or not self.sessions.evict(self, 1):
                    self._preempt(self._victim())
                self._compose()

    def _chunk_room(self, r: int) -> int:
        """Most new tokens request ``r`` can add to its KV with the free blocks."""
        return int(self.blocks[r] * self.block_size - self.kv[r] + self.free_blocks * self.block_size)

    def _take_chunk(self, r: int, c: int) -> None:
        new_kv = int(self.kv[r]) + c
        nb = -(-new_kv // self.block_size) - int(self.blocks[r])
        if nb > 0:
            self.free_blocks -= nb
            self.blocks[r] += nb
        self.kv[r] = new_kv
        self.budget_left -= c
        self._chunks.append((r, c))

    # ================================================================== the decision
    def is_candidate(self, r: int) -> bool:
        """Whether queued / swapped request ``r`` can be admitted into the iteration being composed."""
        ph = self.phase[r]
        if len(self.running) >= self.config.max_num_seqs:
            return False
        avail = self.free_blocks - self.watermark_blocks
        if ph == QUEUED:
            if self.config.batching == "prefill-first" and self._swapins:
                return False
            rem = int(self.target[r] - self.prefilled[r])
            cap = self._admit_cap()
            c = rem if not self.config.chunked_prefill else min(rem, cap)
            if c < 1 or c > cap:
                return False
            return -(-c // self.block_size) <= avail
        if ph == SWAPPED:
            if self.config.batching == "prefill-first" and self._prefill_admitted:
                return False
            if self.budget_left < 1:
                return False
            grow = 1 if self.kv[r] % self.block_size == 0 else 0
            return int(self.host_blocks[r]) + grow <= avail
        return False

    def _candidate_mask(self, ids: list[int]) -> np.ndarray:
        """Vectorized :meth:`is_candidate` over queued / swapped request ids."""
        if not ids:
            return np.zeros(0, bool)
        if len(self.running) >= self.config.max_num_seqs or self.budget_left < 1:
            return np.zeros(len(ids), bool)
        r = np.fromiter(ids, np.int64, len(ids))
        avail = self.free_blocks - self.watermark_blocks
        bs = self.block_size
        queued = self.phase[r] == QUEUED
        rem = self.target[r] - self.prefilled[r]
        cap = self._admit_cap()
        c = np.minimum(rem, cap) if self.config.chunked_prefill else rem
        ok_q = queued & (c >= 1) & (c <= cap) & (-(-c // bs) <= avail)
        grow = (self.kv[r] % bs == 0).astype(np.int64)
        ok_s = ~queued & (self.host_blocks[r] + grow <= avail)
        if self.config.batching == "prefill-first":
            if self._swapins:
                ok_q[:] = False
            if self._prefill_admitted:
                ok_s[:] = False
        return ok_q | ok_s

    def candidates(self) -> np.ndarray:
        """Request ids that can be admitted now (queued first, then swapped; each in arrival order)."""
        if self.done:
            return np.zeros(0, np.int64)
        ids = self.queue + self.swapped
        m = self._candidate_mask(ids)
        return np.asarray(ids, np.int64)[m] if len(ids) else np.zeros(0, np.int64)

    def has_candidate(self) -> bool:
        """Whether any queued / swapped request can be admitted now (scalar fast path of :meth:`candidates`)."""
        if len(self.running) >= self.config.max_num_seqs or self.budget_left < 1:
            return False
        avail = self.free_blocks - self.watermark_blocks
        pf = self.config.batching == "prefill-first"
        if self.queue and not (pf and self._swapins):
            if self._qdirty:
                q = np.fromiter(self.queue, np.int64, len(self.queue))
                self._qmin = int((self.target[q] - self.prefilled[q]).min())
                self._qdirty = False
            cap = self._admit_cap()
            c = min(self._qmin, cap) if self.config.chunked_prefill else self._qmin
            if 1 <= c <= cap and -(-c // self.block_size) <= avail:
                return True
        if self.swapped and not (pf and self._prefill_admitted):
            return bool(self._candidate_mask(self.swapped).any())
        return False

    def _admit_cap(self) -> int:
        """Most prompt tokens a newly admitted prefill may take now: the token budget left (layered
        prefill: a pass of up to about ``layer_groups`` x the budget left, :func:`.layered.pass_cap`)."""
        return layered.pass_cap(self) if self._layered else self.budget_left

    def admit(self, r: int) -> None:
        """Admit queued or swapped request ``r`` into the iteration being composed."""
        r = int(r)
        if not (0 <= r < self.n) or not self.is_candidate(r):
            phase = PHASE_NAMES[self.phase[r]] if 0 <= r < self.n else "unknown"
            raise ValueError(f"request {r} ({phase}) cannot be admitted now (token budget, KV capacity or seq limit)")
        if self.phase[r] == QUEUED:
            self.queue.remove(r)
            self._qdirty = True
            if self.sessions is not None:
                self.sessions.on_admit(r)
            if self.config.prefix_caching and self.prefilled[r] == 0:
                self._take_hits(r)
            rem = int(self.target[r] - self.prefilled[r])
            c = min(rem, self._admit_cap()) if self.config.chunked_prefill else rem
            if self.config.prefix_caching and self.config.chunked_prefill:
                # after the hits (which may take evictable blocks), the chunk takes what is left
                c = min(c, (self.free_blocks - self.watermark_blocks) * self.block_size)
            self.phase[r] = RUNNING
            self.running.append(r)
            if self._layered:
                layered.start_pass(self, r, c)
            else:
                self._take_chunk(r, c)
            self._prefill_admitted = True
        else:
            self.swapped.remove(r)
            hb = int(self.host_blocks[r])
            self.swap_free += hb
            self.host_blocks[r] = 0
            self.blocks[r] = hb
            self.free_blocks -= hb
            grow = 1 if self.kv[r] % self.block_size == 0 else 0
            self.free_blocks -= grow
            self.blocks[r] += grow
            self._pending_overhead += self.swap_copy_time(int(self.kv[r]))
            self.n_swap_blocks += hb
            self.phase[r] = RUNNING
            self.running.append(r)
            self._swapins.append(r)
            self.budget_left -= 1

    def launch(self) -> None:
        """Run the composed iteration, then simulate on to the next decision point (or the end)."""
        if self.done:
            raise RuntimeError("the simulation is over")
        if not self.can_launch():
            raise ValueError("nothing to run and no future arrival: admit a request instead of launching")
        self._run_iteration()
        self._advance()

    def can_launch(self) -> bool:
        """False only when the batch is empty and no request will ever arrive (launching would idle forever)."""
        if self.sessions is not None:
            return bool(len(self._dec) or self._chunks or self._lwork or self._swapins or self._next_arrival_time() < math.inf
                        or (self.sessions.has_pins() and (self.queue or self.swapped)))
        return bool(len(self._dec) or self._chunks or self._lwork or self._swapins or self.next_arrival < self.n)

    # ================================================================== running
    def _advance(self) -> None:
        """Simulate until a decision point (a candidate exists at a boundary) or the end."""
        while True:
            self._arrive()
            if not self.running and not self.queue and not self.swapped:
                t_next = self._next_arrival_time()
                if t_next == math.inf:
                    self.done = True
                    return
                self.now = max(self.now, t_next)
                continue
            self._compose()
            if self.has_candidate():
                return
            if self._chunks or self._lwork or self._swapins or not len(self._dec):
                if not len(self._dec) and not self._chunks and not self._lwork:
                    # nothing runs and nobody fits: wait for the next arrival (cannot happen without one)
                    if self.sessions is not None and self.sessions.evict(self, 1):
                        continue  # memory pressure: KV pinned between agent turns is evicted first
                    t_next = self._next_arrival_time()
                    if t_next == math.inf:
                        raise RuntimeError("simulator stalled: queued requests that can never be admitted")
                    self.now = max(self.now, t_next)
                    continue
                self._run_iteration()
            else:
                self._run_decode_block()

    def _release(self, done_ids: list[int]) -> None:
        for r in done_ids:
            self.running.remove(r)
            if self.sessions is None or not self.sessions.pin_on_finish(self, r):
                self._drop_gpu_blocks(r, register=True, finished=True)
            self.blocks[r] = 0
            self.phase[r] = FINISHED
            self.finish_t[r] = self.last_token_t[r]
            self.n_finished += 1
            lat = self.finish_t[r] - self.arrival[r]
            self.sum_latency += lat
            if self._meets_slo(r):
                self.n_good += 1
            self._finished_log.append(r)

    def _meets_slo(self, r: int) -> bool:
        ttft = self.first_token_t[r] - self.arrival[r]
        o = self.output[r]
        tpot = (self.finish_t[r] - self.first_token_t[r]) / (o - 1) if o > 1 else 0.0
        return bool(ttft <= self.ttft_slo[r] + 1e-12 and tpot <= self.tpot_slo[r] + 1e-12)

    def _run_iteration(self) -> None:
        """Run one iteration of the composed batch (possibly empty: then idle to the next arrival)."""
        d = self._dec
        chunks = self._chunks
        swapins = self._swapins
        prefill_only = self.config.batching == "prefill-first" and self._prefill_admitted
        if prefill_only and len(d):
            # the decodes sit this iteration out: give back the blocks reserved for them
            self.free_blocks += self._dec_blocks
            d = np.zeros(0, np.int64)
        if not len(d) and not chunks and not swapins and not self._lwork:
            if self.sessions is not None and (self.queue or self.swapped) and self.sessions.evict(self, 1):
                return  # idling with requests waiting is memory pressure: evict pinned KV, compose again
            self.now = max(self.now, self._next_arrival_time())
            return
        kv, target = self.kv, self.target
        ptoks = qk = pseqs = 0.0
        for r, c in chunks:
            k_r = int(kv[r])
            ptoks += c
            qk += c * k_r  # c new tokens attend to the p = k_r - c cached ones and to themselves
            if k_r >= target[r]:
                pseqs += 1
        dec_all = np.concatenate([d, np.asarray(swapins, np.int64)]) if swapins else d
        n_dec = len(dec_all)
        if n_dec:
            kv_d = kv[dec_all]
            dctx = float(kv_d.sum() + n_dec)
        else:
            dctx = 0.0
        if self._lwork:  # layered prefill: cost by layer group; passes completing now finish as chunks
            dt, chunks = layered.run_groups(self, n_dec, dctx)
        else:
            dt = self.cost.iteration_time(ptoks, qk, len(chunks), pseqs, n_dec, dctx)
            if self.cost.is_moe:
                self.expert_bytes_total += self.cost.expert_bytes_loaded(ptoks + n_dec)
        if self._pending_overhead:
            # swap copies: serialized with the iteration (vLLM v0) or overlapped with it (FastSwitch-like)
            dt = max(dt, self._pending_overhead) if self.config.swap_overlap else dt + self._pending_overhead
            self._pending_overhead = 0.0
        start = self.now
        end = start + dt
        used_before = self.total_blocks - self.free_blocks
        # tokens
        done_ids: list[int] = []
        if n_dec:
            kv_d += 1
            kv[dec_all] = kv_d
            self.blocks[dec_all] = -(-kv_d // self.block_size)  # reserved in _compose / admit
            gen_d = self.generated[dec_all] + 1
            self.generated[dec_all] = gen_d
            gaps = end - self.last_token_t[dec_all]
            self.tbt_values.append(gaps)
            self.tbt_weights.append(1.0)
            self.max_tbt[dec_all] = np.maximum(self.max_tbt[dec_all], gaps)  # ids are unique
            self.last_token_t[dec_all] = end
            fin = gen_d >= self.output[dec_all]
            if fin.any():
                done_ids.extend(dec_all[fin].tolist())
        caching = self.config.prefix_caching
        for r, c in chunks:
            self.prefilled[r] += c
            if caching:
                self._register(r, self._shareable_blocks(r, int(kv[r] // self.block_size)))
            if self.prefilled[r] >= target[r]:
                g = int(self.generated[r])
                if g == 0:
                    self.first_token_t[r] = end
                else:
                    gap = end - self.last_token_t[r]
                    self.tbt_values.append(np.array([gap]))
                    self.tbt_weights.append(1.0)
                    self.max_tbt[r] = max(self.max_tbt[r], gap)
                self.generated[r] = g + 1
                self.last_token_t[r] = end
                if g + 1 >= self.output[r]:
                    done_ids.append(r)
        if self.log is not None:
            lg = self.log
            lg.start.append(start)
            lg.repeat.append(1)
            if chunks:
                nc = len(chunks)
                lg.rid.append(np.concatenate([np.fromiter((r for r, _ in chunks), np.int64, nc), dec_all]))
                lg.tokens.append(np.concatenate([np.fromiter((c for _, c in chunks), np.int64, nc),
                                                 np.ones(n_dec, np.int64)]))
                lg.kind.append(np.concatenate([np.full(nc, K_PREFILL, np.int64), np.full(len(d), K_DECODE, np.int64),
                                               np.full(len(swapins), K_SWAPIN, np.int64)]))
            else:
                lg.rid.append(dec_all.copy())
                lg.tokens.append(np.ones(n_dec, np.int64))
                lg.kind.append(np.concatenate([np.full(len(d), K_DECODE, np.int64),
                                               np.full(len(swapins), K_SWAPIN, np.int64)]) if swapins
                               else np.full(n_dec, K_DECODE, np.int64))
            lg.offsets.append(lg.offsets[-1] + len(chunks) + n_dec)
            lg.ends.append(end)
        used_after = self.total_blocks - self.free_blocks
        if used_after > self.max_blocks_used:
            self.max_blocks_used = used_after
        self.kv_block_seconds += dt * 0.5 * (used_before + used_after)
        self.busy_time += dt
        self.n_iterations += 1
        self.now = end
        if done_ids:
            self._release(done_ids)

    def _run_decode_block(self, horizon: float = math.inf, stop_at_arrival: bool = True) -> None:
        """Run ``K >= 1`` identical pure-decode iterations in closed form (no candidate can appear before
        the next arrival, completion or KV exhaustion); also stop at the first iteration ending at or
        after ``horizon`` (an outside event)."""
        d = self._dec
        n = len(d)
        bs = self.block_size
        kv0 = self.kv[d]
        remaining = self.output[d] - self.generated[d]
        K = int(remaining.min())
        if self.config.proactive_preemption and (self.queue or self.swapped):
            # MLFQ levels of running requests change as they generate tokens, and a waiting request may
            # then preempt one at the next boundary: that check must run at every iteration
            K = 1
        # KV: blocks needed after k iterations beyond those held (the first iteration's are reserved)
        held = self.blocks[d]
        free_after_first = self.free_blocks  # first iteration's blocks were taken in _compose

        def extra(k: int) -> int:  # new blocks for iterations 2..k, beyond the first
            return int((-(-(kv0 + k) // bs)).sum() - held.sum()) - self._dec_blocks

        if K > 1 and extra(K) > free_after_first:
            lo, hi = 1, K  # extra(lo) <= free, extra(hi) > free
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if extra(mid) <= free_after_first:
                    lo = mid
                else:
                    hi = mid
            K = lo
        dctx0 = float(kv0.sum() + n)
        fixed, a_c, b_c, a_m, b_m = self.cost.decode_block_coefficients(n, dctx0)
        ks = np.arange(K, dtype=np.float64)
        dur = fixed + np.maximum(a_c + b_c * ks, a_m + b_m * ks)
        if self._pending_overhead:
            p = self._pending_overhead
            dur[0] = max(dur[0], p) if self.config.swap_overlap else dur[0] + p
            self._pending_overhead = 0.0
        ends = self.now + np.cumsum(dur)
        a = float(self.arrival[self.next_arrival]) if stop_at_arrival and self.next_arrival < self.n else math.inf
        if self.sessions is not None:  # turns arriving, pins expiring (a pin expiring frees KV even for a blocked head)
            a = min(a, self.sessions.next_event())
        a = min(a, horizon)
        if a < math.inf:
            k_arr = int(np.searchsorted(ends, a, side="left"))  # first iteration ending at/after the arrival
            if k_arr < K:
                K = k_arr + 1
                dur = dur[:K]
                ends = ends[:K]
        start = self.now
        end = float(ends[-1])
        used_before = self.total_blocks - self.free_blocks
        # apply K decodes
        new_kv = kv0 + K
        new_blocks = -(-new_kv // bs)
        add = int(new_blocks.sum() - held.sum()) - self._dec_blocks
        self.blocks[d] = new_blocks
        self.free_blocks -= add
        self.kv[d] = new_kv
        self.generated[d] += K
        if self.cost.is_moe:
            self.expert_bytes_total += K * self.cost.expert_bytes_loaded(n)
        first_gaps = float(ends[0]) - self.last_token_t[d]
        self.tbt_values.append(first_gaps)
        self.tbt_weights.append(1.0)
        block_max = first_gaps
        if K > 1:
            self.tbt_values.append(dur[1:])
            self.tbt_weights.append(float(n))
            block_max = np.maximum(first_gaps, float(dur[1:].max()))
        self.max_tbt[d] = np.maximum(self.max_tbt[d], block_max)
        self.last_token_t[d] = end
        if self.log is not None:
            lg = self.log
            lg.start.append(start)
            lg.repeat.append(K)
            lg.rid.append(d.copy())
            lg.tokens.append(np.ones(n, np.int64))
            lg.kind.append(np.full(n, K_DECODE, np.int64))
            lg.offsets.append(lg.offsets[-1] + n)
            lg.ends.append(ends.copy())
        used_after = self.total_blocks - self.free_blocks
        self.max_blocks_used = max(self.max_blocks_used, used_after)
        self.kv_block_seconds += (end - start) * 0.5 * (used_before + used_after)
        self.busy_time += end - start
        self.n_iterations += K
        self.now = end
        fin = self.generated[d] >= self.output[d]
        if fin.any():
            self._release(d[fin].tolist())

    # ================================================================== built-in scheduling
    def run(self, order: str = "fcfs", strict: bool | None = None) -> None:
        """Run to the end admitting candidates by ``order`` (:data:`ORDERS`). ``strict`` (default: True for
        FCFS, as vLLM) stops admitting at the first queued request, in order, that does not fit."""
        if order not in ORDERS:
            raise KeyError(f"unknown order {order!r}; known: {sorted(ORDERS)}")
        strict = (order == "fcfs") if strict is None else strict
        while not self.done:
            pick = self.choose(order, strict)
            if pick is None:
                if (strict and not self._chunks and not self._lwork and not self._swapins and len(self._dec)
                        and not self._prefill_admitted):
                    # strict FCFS with a blocked head: until a completion frees room nothing can be
                    # admitted (arrivals queue behind the head and KV only shrinks), so the decode
                    # iterations up to the next completion run as one block, arrivals included
                    self._run_decode_block(stop_at_arrival=False)
                    self._advance()
                else:
                    self.launch()
            else:
                self.admit(pick)
                if not self.has_candidate():
                    self.launch()

    def choose(self, order: str, strict: bool) -> int | None:
        """The request the built-in ``order`` admits next, or None (launch)."""
        if not self.has_candidate():
            return None
        if order == "fcfs" and strict:
            # queue and swapped lists are kept in arrival (= id) order: the head is the oldest
            heads = [x[0] for x in (self.queue, self.swapped) if x]
            r = min(heads)
            return r if self.is_candidate(r) else None
        waiting = self.queue + self.swapped
        w = np.fromiter(waiting, np.int64, len(waiting))
        keys = ORDERS[order](self, w)
        if strict:
            r = int(w[int(np.argmin(keys))])
            return r if self.is_candidate(r) else None
        ok = self._candidate_mask(waiting)
        keys = np.where(ok, keys, np.inf)
        return int(w[int(np.argmin(keys))])

    # ================================================================== results
    def drain_finished(self) -> list[int]:
        """Requests finished since the last call (for rewards)."""
        out = self._finished_log
        self._finished_log = []
        return out

    def solution(self) -> "LLMRunSolution":
        """A plain record of the episode for :func:`schedgym.envs.llm.validate.validate_run`."""
        rec = self.log.to_arrays() if self.log is not None else None
        return {
            "arrival": self.arrival.copy(),
            "prompt": self.prompt.copy(),
            "output": self.output.copy(),
            "ttft_slo": self.ttft_slo.copy(),
            "tpot_slo": self.tpot_slo.copy(),
            "rejected": self.phase == REJECTED,
            "expected": (self.phase != REJECTED) & np.isfinite(self.arrival) & ~self.migrated_out,
            "token_budget": self.token_budget,
            "max_context": int(self.max_context),
            "watermark_blocks": int(self.watermark_blocks),
            "prompt_requested": self.prompt_requested.copy(),
            "output_requested": self.output_requested.copy(),
            "truncated": self.truncated.copy(),
            "kv_blocks": self.total_blocks,
            "block_size": self.block_size,
            "batching": self.config.batching,
            "log": rec,
            "reported_first_token_t": self.first_token_t.copy(),
            "reported_finish_t": self.finish_t.copy(),
            "prefix_caching": bool(self.config.prefix_caching),
            "sys_id": self.sys_id.copy(),
            "sys_len": self.sys_len.copy(),
            "conv_id": self.conv_id.copy(),
            **layered.solution_fields(self),
            **(self.sessions.solution_fields(self) if self.sessions is not None else {}),
        }
