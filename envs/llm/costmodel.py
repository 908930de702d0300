"""Iteration latency of a (mixed prefill + decode) batch: separate, documented terms, calibrated on
published measurements (:mod:`.calibration_data`).

For one iteration of a batch on a ``tp``-way tensor-parallel group, with ``T`` new tokens (prefill
chunks + one per decode), ``S`` sequences that sample a token and ``R`` sequences in the batch::

    t = cpu_iter + cpu_req R                                             (CPU: scheduling, sampling)
      + L [ gemm(T) + elem(T) ]                                          (linear layers, other kernels)
      + L [ [prefill] attn_p0 + QK / (peak eta_attn) ]                  (prefill attention ~ context^2)
      + L [ [decode] (attn_d0 + attn_dreq n + KV bytes / (BW kv_eff) f(n)) ]   (decode attention)
      + head(S) + [tp > 1] 2 L (allreduce latency + 2 (tp-1)/tp T hidden 2 B / NVLink)

* ``gemm(T) = sqrt(m^2 + c^2)`` per layer: ``m`` = the layer's weight shard / (HBM bandwidth x
  eta_m), ``c`` = 2 x params x ceil(T / 64) x 64 / (tp x peak x eta_c) (a smooth roofline with the
  GEMM tile quantization); ``head(S)`` is the same for the LM head on ``S`` rows;
* ``elem(T) = elem_fixed + passes x hidden x 2 B x T / BW`` per layer (norms, rotary, activation,
  residual adds);
* prefill attention: ``QK = sum over chunks of c (p + c)`` query-key products for a chunk of ``c``
  tokens after ``p`` cached ones, each ``4 x heads x head_dim / tp`` FLOPs;
* decode attention: ``KV bytes`` = (sum of the decoding contexts) x KV bytes per token per layer,
  ``f(n) = 1 + beta / (1 + n / n0)`` (small batches do not reach the bandwidth);
* ``cpu_iter`` / ``cpu_req``: the per-iteration and per-request CPU overheads of the serving engine
  (absent from GPU operator profiles, present in end-to-end measurements).

Mixture-of-experts models (``ModelProfile.n_experts > 0``) add one term per layer for the routed
experts, and ``gemm`` then covers only the dense part of the layer (attention projections, router)::

    experts(T) = max(D(T) x expert bytes / (HBM BW eta_m), 2 k expert params T / (peak eta_c))   per layer
    D(T) = E (1 - (1 - k / E)^T)

``D(T)`` is the expected number of distinct experts that ``T`` tokens touch under top-``k`` routing,
uniform and independent over the ``E`` experts (a token's ``k`` experts are distinct; the closed form
treats each expert as picked with probability ``k / E`` per token). Each touched expert's weights are
streamed from HBM once per iteration per layer; compute is ``k`` experts per token; the two combine by a
roofline max (no tile quantization: the experts' token counts vary). Dense models have no such term
and their costs are unchanged. :meth:`CostModel.layered_iteration_time` costs an iteration in which
prefill work covers only some layer groups (layered prefill, :mod:`.layered`).

The GPU terms are fitted (log least squares) on Vidur's per-operator profiles of Llama-2-7B on an
A100 (batches 1-128, prompts up to 4,096 tokens); the CPU terms, the Hopper efficiencies and the
all-reduce latency on end-to-end TensorRT-LLM / NeMo latencies (batches 1-384, TP 1-8). Points marked
held-out are never used by the fit; :func:`calibration_table` lists all of them (docs/llm.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from . import calibration_data as cd
from .profiles import HardwareProfile, ModelProfile, get_hardware, get_model

#: Vidur's profiled model and GPU (the GPU terms' units: Llama-2-7B on an A100-80GB)
_REF_BW = 2.039e12
#: kernel sets: "vllm" (the kernels Vidur profiled; the simulator's default) or "trt-llm"
ENGINES = ("vllm", "trt-llm")


@dataclass(frozen=True)
class Calibration:
    """Fitted parameters of the cost model (see the module docstring). Per-family entries are keyed
    by GPU generation (:meth:`family`)."""

    gemm_eta_compute: dict  #: fraction of peak FLOP/s the GEMMs reach, per family
    gemm_eta_memory: dict  #: fraction of HBM bandwidth the weight streaming reaches, per family
    elem_fixed_s: float  #: per layer: launch-bound cost of the norm / rotary / activation / add kernels
    elem_passes: float  #: per layer: activation bytes moved per token, in units of hidden x 2 B
    attn_prefill_eta: float  #: fraction of peak FLOP/s of prefill attention (per query-key product)
    attn_prefill_fixed_s: float  #: per layer of an iteration with prefill work
    attn_decode_fixed_s: float  #: per layer of an iteration with decodes
    attn_decode_req_s: float  #: per layer per decoding request
    attn_decode_kv_eff: float  #: KV read rate at large batch, as a multiple of the data-sheet bandwidth
    attn_decode_beta: float  #: small-batch slowdown of the KV read: f(n) = 1 + beta / (1 + n / n0)
    attn_decode_n0: float
    cpu_iter_s: dict  #: per-iteration CPU overhead, per family (host machines differ)
    cpu_req_s: float  #: per-request CPU overhead per iteration
    allreduce_latency_s: float  #: latency of one tensor-parallel all-reduce
    gemm_tile: int = 64  #: token granularity of the GEMM tiles
    #: ``engine="trt-llm"``: TensorRT-LLM's fused kernels run the compute-bound work (GEMMs, prefill
    #: attention) this many times faster than the vLLM kernels Vidur profiled
    trt_compute_speedup: float = 1.0

    def family(self, hardware: str) -> str:
        fam = {"a100-80gb": "ampere", "h100-80gb": "hopper", "h200": "hopper"}
        if hardware not in fam:
            raise KeyError(f"no calibrated efficiency for hardware {hardware!r}; calibrated: {sorted(fam)}")
        return fam[hardware]


#: rounded output of :func:`fit_calibration` (``tests/test_llm_sim.py`` re-checks every point of
#: :func:`calibration_table` and, marked slow, that a refit reproduces these values)
DEFAULT_CALIBRATION = Calibration(
    gemm_eta_compute={"ampere": 0.704, "hopper": 0.310},
    gemm_eta_memory={"ampere": 0.95, "hopper": 0.95},
    elem_fixed_s=55.5e-6,
    elem_passes=46.4,
    attn_prefill_eta=0.328,
    attn_prefill_fixed_s=57.6e-6,
    attn_decode_fixed_s=7.43e-6,
    attn_decode_req_s=1.05e-6,
    attn_decode_kv_eff=1.184,
    attn_decode_beta=0.823,
    attn_decode_n0=18.3,
    cpu_iter_s={"ampere": 2.47e-3, "hopper": 0.873e-3},
    cpu_req_s=0.0,
    allreduce_latency_s=22.3e-6,
    trt_compute_speedup=1.281,
)


class CostModel:
    """Latency of one iteration of a given batch on ``tp`` GPUs of one kind."""

    def __init__(
        self,
        model: str | ModelProfile,
        hardware: str | HardwareProfile,
        tp: int = 1,
        calibration: Calibration | None = None,
        engine: str = "vllm",
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        if tp < 1 or tp & (tp - 1):
            raise ValueError(f"tensor parallel degree must be a power of two >= 1, got {tp}")
        c = DEFAULT_CALIBRATION if calibration is None else calibration
        self.model = get_model(model)
        self.hardware = get_hardware(hardware)
        self.tp = int(tp)
        self.calibration = c
        m, hw = self.model, self.hardware
        fam = c.family(hw.name)
        L = m.n_layers
        self.n_layers = L
        head = m.vocab * m.hidden
        layer_params = (m.matmul_params - head) / L
        self.is_moe = m.is_moe
        if m.is_moe:
            layer_params = layer_params - m.n_experts * m.expert_params  # the dense part: attention, router
        self.engine = engine
        speed = c.trt_compute_speedup if engine == "trt-llm" else 1.0
        rate_c = hw.peak_flops * c.gemm_eta_compute[fam] * tp * speed
        rate_m = hw.hbm_bandwidth * c.gemm_eta_memory[fam] * tp
        self._tile = int(c.gemm_tile)
        # per layer: weight streaming time, compute time per (padded) token
        self._g_mem = layer_params * m.dtype_bytes / rate_m
        self._g_tok = 2.0 * layer_params / rate_c
        self._h_mem = head * m.dtype_bytes / rate_m
        self._h_tok = 2.0 * head / rate_c
        #: bytes of one expert of one layer (the whole tensor-parallel group's shards together)
        self.expert_bytes = m.expert_params * m.dtype_bytes
        self._n_exp, self._top_k = float(m.n_experts), float(m.experts_per_token)
        self._x_mem = self.expert_bytes / rate_m  # streaming one expert's weights
        self._x_tok = 2.0 * m.experts_per_token * m.expert_params / rate_c  # one token through its k experts
        self._e_fixed = c.elem_fixed_s
        # rotary and the activation (57 % of those kernels' time in Vidur's profile) are split by TP
        self._e_tok = c.elem_passes * m.hidden * m.dtype_bytes / hw.hbm_bandwidth * (0.43 + 0.57 / tp)
        heads_local = m.n_heads / tp
        self._p_fixed = c.attn_prefill_fixed_s
        self._p_qk = 4.0 * heads_local * m.head_dim / (hw.peak_flops * c.attn_prefill_eta * speed)
        self.kv_bytes_per_token = m.kv_bytes_per_token(tp)
        self._d_fixed = c.attn_decode_fixed_s
        self._d_req = c.attn_decode_req_s
        self._d_kv = (self.kv_bytes_per_token / L) / (hw.hbm_bandwidth * c.attn_decode_kv_eff)
        self._beta, self._n0 = c.attn_decode_beta, c.attn_decode_n0
        self._cpu_iter = c.cpu_iter_s[fam]
        self._cpu_req = c.cpu_req_s
        if tp > 1:
            self._comm_fixed = 2 * L * c.allreduce_latency_s
            self._comm_token = 2 * L * 2.0 * (tp - 1) / tp * m.hidden * m.dtype_bytes / hw.nvlink_bandwidth
        else:
            self._comm_fixed = self._comm_token = 0.0

    # ------------------------------------------------------------------ terms (seconds)
    def gemm_time(self, tokens: float) -> float:
        """Linear layers of all layers for ``tokens`` tokens (weights streamed once)."""
        if tokens <= 0:
            return 0.0
        tile = self._tile
        c = self._g_tok * (-(-tokens // tile) * tile)
        return self.n_layers * math.sqrt(self._g_mem * self._g_mem + c * c)

    def elementwise_time(self, tokens: float) -> float:
        """Norm / rotary / activation / residual kernels of all layers."""
        return self.n_layers * (self._e_fixed + self._e_tok * tokens) if tokens > 0 else 0.0

    def head_time(self, seqs: float) -> float:
        """LM head on the ``seqs`` rows that sample a token."""
        if seqs <= 0:
            return 0.0
        tile = self._tile
        c = self._h_tok * (-(-seqs // tile) * tile)
        return math.sqrt(self._h_mem * self._h_mem + c * c)

    def prefill_attention_time(self, qk: float) -> float:
        """Prefill attention of all layers: ``qk = sum c (p + c)`` over the chunks."""
        return self.n_layers * (self._p_fixed + self._p_qk * qk) if qk > 0 else 0.0

    def _kv_rate(self, n_decode: float) -> float:
        return self._d_kv * (1.0 + self._beta / (1.0 + n_decode / self._n0))

    def decode_attention_time(self, n_decode: float, decode_context: float) -> float:
        """Decode attention of all layers: ``n_decode`` requests reading ``decode_context`` KV tokens."""
        if n_decode <= 0:
            return 0.0
        return self.n_layers * (self._d_fixed + self._d_req * n_decode + self._kv_rate(n_decode) * decode_context)

    def experts_touched(self, tokens: float) -> float:
        """Expected distinct experts per layer that ``tokens`` tokens touch: ``E (1 - (1 - k/E)^T)``
        (uniform top-``k`` routing; 0 for a dense model)."""
        if not self.is_moe or tokens <= 0:
            return 0.0
        return self._n_exp * (1.0 - (1.0 - self._top_k / self._n_exp) ** tokens)

    def expert_layer_time(self, tokens: float) -> float:
        """Routed experts of one layer for ``tokens`` tokens: max(weight streaming of the touched experts,
        compute of ``k`` experts per token) (0 for a dense model)."""
        if not self.is_moe or tokens <= 0:
            return 0.0
        return max(self.experts_touched(tokens) * self._x_mem, self._x_tok * tokens)

    def expert_bytes_loaded(self, layer_tokens: float, n_layers: float | None = None) -> float:
        """Expert weight bytes streamed from HBM by ``n_layers`` layers (default: all) that each see
        ``layer_tokens`` tokens in one iteration."""
        layers = self.n_layers if n_layers is None else n_layers
        return layers * self.experts_touched(layer_tokens) * self.expert_bytes

    def cpu_time(self, seqs_in_batch: float) -> float:
        """CPU overhead of an iteration with ``seqs_in_batch`` sequences (chunks + decodes)."""
        return self._cpu_iter + self._cpu_req * seqs_in_batch

    def comm_time(self, tokens: float) -> float:
        return self._comm_fixed + self._comm_token * tokens if tokens > 0 else 0.0

    # ------------------------------------------------------------------ costs
    def iteration_time(
        self,
        prefill_tokens: float,
        prefill_qk: float,
        prefill_chunks: float,
        prefill_seqs: float,
        n_decode: float,
        decode_context: float,
    ) -> float:
        """Seconds of one iteration.

        ``prefill_tokens``: new prompt tokens (all chunks); ``prefill_qk``: query-key products of the
        chunks (``sum c * (p + c)`` for a chunk of ``c`` tokens after ``p`` cached ones);
        ``prefill_chunks``: prefill chunks in the batch; ``prefill_seqs``: chunks that end their prompt
        (and so sample a token); ``n_decode``: decoding requests; ``decode_context``: the sum of their
        context lengths (KV tokens read, the new one included).
        """
        tokens = prefill_tokens + n_decode
        if tokens <= 0:
            return 0.0
        t = self._cpu_iter + self._cpu_req * (prefill_chunks + n_decode)
        tile = self._tile
        c = self._g_tok * (-(-tokens // tile) * tile)
        t += self.n_layers * (math.sqrt(self._g_mem * self._g_mem + c * c) + self._e_fixed + self._e_tok * tokens)
        s = prefill_seqs + n_decode
        if s > 0:
            ch = self._h_tok * (-(-s // tile) * tile)
            t += math.sqrt(self._h_mem * self._h_mem + ch * ch)
        if prefill_tokens > 0:
            t += self.n_layers * (self._p_fixed + self._p_qk * prefill_qk)
        if n_decode > 0:
            t += self.n_layers * (self._d_fixed + self._d_req * n_decode + self._kv_rate(n_decode) * decode_context)
        if self._comm_fixed:
            t += self._comm_fixed + self._comm_token * tokens
        if self.is_moe:
            t += self.n_layers * self.expert_layer_time(tokens)
        return t

    def _layers_time(self, n_layers: float, tokens: float) -> float:
        """Linear layers, other kernels, routed experts and all-reduces of ``n_layers`` layers that each
        see ``tokens`` tokens (attention and the LM head excluded)."""
        if tokens <= 0 or n_layers <= 0:
            return 0.0
        tile = self._tile
        c = self._g_tok * (-(-tokens // tile) * tile)
        t = n_layers * (math.sqrt(self._g_mem * self._g_mem + c * c) + self._e_fixed + self._e_tok * tokens)
        if self.is_moe:
            t += n_layers * self.expert_layer_time(tokens)
        if self._comm_fixed:
            t += n_layers / self.n_layers * (self._comm_fixed + self._comm_token * tokens)
        return t

    def layered_iteration_time(
        self,
        group_work: list[tuple[int, float, float]],
        n_decode: float,
        decode_context: float,
        prefill_chunks: float = 0,
        prefill_seqs: float = 0,
    ) -> float:
        """Seconds of one iteration of layered prefill: every layer runs the ``n_decode`` decodes; the
        layers of a group in ``group_work`` (``(layers, prefill tokens, query-key products)`` per layer
        group with prefill work) also run those prompts' tokens. With one group of all layers this is
        :meth:`iteration_time`. ``prefill_seqs``: prompts whose last group runs and that sample a token."""
        L = self.n_layers
        busy = sum(layers for layers, p, _ in group_work if p > 0)
        if busy > L:
            raise ValueError(f"layer groups with prefill work cover {busy} layers, the model has {L}")
        ptoks = sum(p for _, p, _ in group_work if p > 0)
        if ptoks + n_decode <= 0:
            return 0.0
        t = self._cpu_iter + self._cpu_req * (prefill_chunks + n_decode)
        for layers, p, qk in group_work:
            if p > 0:
                t += self._layers_time(layers, p + n_decode) + layers * (self._p_fixed + self._p_qk * qk)
        t += self._layers_time(L - busy, n_decode)
        s = prefill_seqs + n_decode
        if s > 0:
            t += self.head_time(s)
        if n_decode > 0:
            t += self.decode_attention_time(n_decode, decode_context)
        return t

    def layered_expert_bytes(self, group_work: list[tuple[int, float, float]], n_decode: float) -> float:
        """Expert weight bytes streamed by one layered-prefill iteration (see :meth:`layered_iteration_time`)."""
        if not self.is_moe:
            return 0.0
        busy = sum(layers for layers, p, _ in group_work if p > 0)
        b = sum(self.expert_bytes_loaded(p + n_decode, layers) for layers, p, _ in group_work if p > 0)
        return b + self.expert_bytes_loaded(n_decode, self.n_layers - busy)

    def decode_block_coefficients(self, n_decode: int, decode_context: float) -> tuple[float, float, float, float, float]:
        """Coefficients of the ``k``-th pure-decode iteration time of a fixed batch whose contexts all grow
        by one per iteration: ``t_k = fixed + max(a_c + b_c k, a_m + b_m k)``; returns
        ``(fixed, a_c, b_c, a_m, b_m)`` (``k = 0`` is the next iteration); equal to :meth:`iteration_time`.
        Only the KV read grows with ``k`` (``a_c = b_c = 0``)."""
        n = float(n_decode)
        fixed = self.iteration_time(0, 0.0, 0, 0, n, 0.0)
        rate = self.n_layers * self._kv_rate(n)
        return fixed, 0.0, 0.0, rate * decode_context, rate * n

    def swap_time(self, kv_tokens: float) -> float:
        """Seconds to copy the KV cache of ``kv_tokens`` tokens between GPU and host over PCIe (each GPU
        of the group copies its shard in parallel)."""
        return kv_tokens * self.kv_bytes_per_token / self.hardware.pcie_bandwidth

    # ------------------------------------------------------------------ request-level latency
    def static_batch_latency(self, batch: int, input_len: int, output_len: int) -> float:
        """End-to-end latency of a static batch: one prefill of ``batch`` prompts, then ``output_len - 1``
        decode iterations (the prefill samples the first output token)."""
        c = input_len
        t = self.iteration_time(batch * c, batch * c * c, batch, batch, 0, 0.0)
        if output_len > 1:
            fixed, _, _, a_m, b_m = self.decode_block_coefficients(batch, batch * (c + 1))
            k = output_len - 1
            t += k * (fixed + a_m) + b_m * k * (k - 1) / 2.0
        return t


# ---------------------------------------------------------------------------------- calibration table
@dataclass(frozen=True)
class CalibrationPoint:
    """One published measurement: ``kind`` is ``vidur-gemm`` (linear layers + other kernels of one
    layer), ``vidur-prefill-attn`` / ``vidur-decode-attn`` (attention of one layer), ``e2e`` (a static
    batch end to end); ``fit`` says whether the fit used it."""

    source: str
    kind: str
    model: str
    hardware: str
    tp: int
    batch: int
    input_len: int  #: tokens (gemm), chunk (prefill attention), KV per request (decode), prompt (e2e)
    output_len: int  #: cached prefix (prefill attention), output tokens (e2e); else 0
    latency_s: float
    fit: bool

    @property
    def engine(self) -> str:
        return "vllm" if self.kind.startswith("vidur") else "trt-llm"

    @property
    def setting(self) -> str:
        base = f"{self.model} {self.hardware} TP{self.tp}"
        if self.kind == "vidur-gemm":
            return f"{base} linear+other kernels, 1 layer, {self.input_len} tokens"
        if self.kind == "vidur-prefill-attn":
            return f"{base} prefill attention, 1 layer, chunk {self.input_len} after {self.output_len} cached"
        if self.kind == "vidur-decode-attn":
            return f"{base} decode attention, 1 layer, batch {self.batch} x {self.input_len} KV tokens"
        return f"{base} batch {self.batch} in {self.input_len} out {self.output_len}"


def _points() -> tuple[CalibrationPoint, ...]:
    pts = []
    for t, (g, e, fit) in cd.VIDUR_MLP.items():
        pts.append(CalibrationPoint(cd.VIDUR_SRC, "vidur-gemm", "llama-2-7b", "a100-80gb", 1, t, t, 0, (g + e) / 1e3, fit))
    for (c, p), (ms, fit) in cd.VIDUR_PREFILL.items():
        pts.append(CalibrationPoint(cd.VIDUR_SRC, "vidur-prefill-attn", "llama-2-7b", "a100-80gb", 1, 1, c, p, ms / 1e3, fit))
    for (b, k), (ms, fit) in cd.VIDUR_DECODE.items():
        pts.append(CalibrationPoint(cd.VIDUR_SRC, "vidur-decode-attn", "llama-2-7b", "a100-80gb", 1, b, k, 0, ms / 1e3, fit))
    for hw, tp, b, ms in cd.NEMO_7B:
        pts.append(CalibrationPoint(cd.NEMO_SRC, "e2e", "llama-2-7b", hw, tp, b, 128, 20, ms / 1e3, b in cd.NEMO_FIT_BATCHES))
    for model, tp, n_in, ms, fit in cd.TRT_TTFT:
        pts.append(CalibrationPoint(cd.TRT_TTFT_SRC, "e2e", model, "a100-80gb", tp, 1, n_in, 1, ms / 1e3, fit))
    for model, tp, b, n_in, n_out, tput, fit in cd.TRT_TPUT:
        pts.append(CalibrationPoint(cd.TRT_TPUT_SRC, "e2e", model, "a100-80gb", tp, b, n_in, n_out, b * n_out / tput, fit))
    return tuple(pts)


CALIBRATION_POINTS: tuple[CalibrationPoint, ...] = _points()


def predict(p: CalibrationPoint, calibration: Calibration | None = None) -> float:
    """What the cost model says for calibration point ``p`` (seconds)."""
    cm = CostModel(p.model, p.hardware, p.tp, calibration, engine=p.engine)
    L = cm.n_layers
    if p.kind == "vidur-gemm":
        return (cm.gemm_time(p.input_len) + cm.elementwise_time(p.input_len)) / L
    if p.kind == "vidur-prefill-attn":
        c, q = p.input_len, p.output_len
        return cm.prefill_attention_time(c * (q + c)) / L
    if p.kind == "vidur-decode-attn":
        return cm.decode_attention_time(p.batch, p.batch * p.input_len) / L
    return cm.static_batch_latency(p.batch, p.input_len, p.output_len)


def calibration_table(calibration: Calibration | None = None) -> list[dict]:
    """Rows ``source, kind, setting, role (fit / held-out), published_ms, ours_ms, error``."""
    rows = []
    for p in CALIBRATION_POINTS:
        ours = predict(p, calibration)
        rows.append({"source": p.source, "kind": p.kind, "setting": p.setting, "role": "fit" if p.fit else "held-out",
                     "batch": p.batch, "published_ms": p.latency_s * 1e3, "ours_ms": ours * 1e3,
                     "error": ours / p.latency_s - 1.0})
    return rows


# ---------------------------------------------------------------------------------- fitting
_GPU_FIELDS = ("elem_fixed_s", "elem_passes", "attn_prefill_eta", "attn_prefill_fixed_s", "attn_decode_fixed_s",
               "attn_decode_req_s", "attn_decode_kv_eff", "attn_decode_beta", "attn_decode_n0")


def fit_calibration(points: tuple[CalibrationPoint, ...] = CALIBRATION_POINTS) -> Calibration:
    """Two-stage least squares on log latency over the ``fit`` points only (needs SciPy): (1) the GPU
    terms on Vidur's operator profiles (vLLM kernels, A100: GEMM efficiencies, kernel costs, attention);
    (2) with those fixed, the CPU overheads, the Hopper efficiencies, the all-reduce latency and the
    TensorRT-LLM compute speed-up on the end-to-end TensorRT-LLM / NeMo points."""
    import numpy as np
    from scipy.optimize import least_squares

    fit_pts = [p for p in points if p.fit]
    gpu_pts = [p for p in fit_pts if p.kind != "e2e"]
    e2e_pts = [p for p in fit_pts if p.kind == "e2e"]
    base = DEFAULT_CALIBRATION

    def stage1(x: "np.ndarray") -> Calibration:
        return replace(base, gemm_eta_compute={**base.gemm_eta_compute, "ampere": float(x[0])},
                       gemm_eta_memory={**base.gemm_eta_memory, "ampere": float(x[1])},
                       elem_fixed_s=float(x[2]) * 1e-6, elem_passes=float(x[3]), attn_prefill_eta=float(x[4]),
                       attn_prefill_fixed_s=float(x[5]) * 1e-6, attn_decode_fixed_s=float(x[6]) * 1e-6,
                       attn_decode_req_s=float(x[7]) * 1e-6, attn_decode_kv_eff=float(x[8]),
                       attn_decode_beta=float(x[9]), attn_decode_n0=float(x[10]))

    def res(make, pts):  # noqa: ANN001, ANN202
        return lambda x: np.array([math.log(predict(p, make(x)) / p.latency_s) for p in pts])

    r1 = least_squares(res(stage1, gpu_pts), x0=[0.7, 0.8, 30, 20, 0.3, 30, 5, 1, 1.0, 0.5, 10],
                       bounds=([0.2, 0.2, 0, 0, 0.05, 0, 0, 0, 0.3, 0, 0.5],
                               [0.95, 0.95, 200, 200, 0.95, 500, 100, 20, 1.5, 5, 500]))
    cal1 = stage1(r1.x)

    def stage2(x: "np.ndarray") -> Calibration:
        return replace(cal1, gemm_eta_compute={"ampere": cal1.gemm_eta_compute["ampere"], "hopper": float(x[0])},
                       gemm_eta_memory={"ampere": cal1.gemm_eta_memory["ampere"], "hopper": float(x[1])},
                       cpu_iter_s={"ampere": float(x[2]) * 1e-3, "hopper": float(x[3]) * 1e-3},
                       cpu_req_s=float(x[4]) * 1e-3, allreduce_latency_s=float(x[5]) * 1e-6,
                       trt_compute_speedup=float(x[6]))

    r2 = least_squares(res(stage2, e2e_pts), x0=[0.6, 0.8, 1.0, 1.0, 0.01, 20.0, 1.1],
                       bounds=([0.2, 0.2, 0, 0, 0, 0, 0.8], [0.95, 0.95, 20, 20, 2, 500, 2.0]))
    return stage2(r2.x)
