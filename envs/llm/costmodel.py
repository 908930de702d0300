"""Iteration latency of a (mixed prefill + decode) batch from a calibrated roofline.

For one iteration of a batch on a ``tp``-way tensor-parallel group::

    FLOPs   = 2 * (matmul params - LM head) * T  +  2 * LM head * S          (linear layers)
            + 4 * layers * heads * head_dim * (prefill pairs + decode context) (attention)
    bytes   = weights / tp  +  KV bytes per token per GPU * (KV tokens read + written)
    t       = overhead + per-sequence cost * S + [prefill in batch] * layers * prefill-layer cost
            + max(FLOPs / tp / (peak * eta_c),  bytes / (bandwidth * eta_m))
            + [tp > 1] * 2 * layers * (alpha + 2 (tp-1)/tp * T * hidden * 2 B / NVLink)

with ``T`` the tokens of the batch, ``S`` the sequences that sample a token, "prefill pairs" the
causal (query, key) pairs of the prefill chunks and "decode context" the context lengths of the
decoding requests. ``eta_c``, ``eta_m`` and ``overhead`` (per GPU generation), the per-sequence and
per-prefill-layer costs and ``alpha`` (the latency of one all-reduce) are the calibration
(:data:`DEFAULT_CALIBRATION`), fitted by least squares on log latency to the 36 published
measurements in :data:`CALIBRATION_POINTS` (NVIDIA NeMo / TensorRT-LLM Llama-2-7B end-to-end
latencies on A100 and H100 at TP 1-8 and batch 1-8, and TensorRT-LLM first-token latencies of
Llama-2-7B and Llama-2-70B (TP 4) on A100 for 128- and 2048-token prompts); see
:func:`calibration_table`. Every point is reproduced within 10 %.
"""

from __future__ import annotations

from dataclasses import dataclass

from .profiles import HardwareProfile, ModelProfile, get_hardware, get_model


@dataclass(frozen=True)
class Calibration:
    """Efficiency factors of the roofline (fractions of the data-sheet peaks, per GPU generation) and
    fixed costs. ``hardware_family`` maps a hardware name to the key of its efficiency factors (the
    H200 shares the H100's Hopper factors; it has no published point of its own here)."""

    eta_compute: dict
    eta_memory: dict
    overhead_s: dict  #: per-iteration fixed cost (kernel launches, scheduling), per family
    seq_overhead_s: float  #: per-sequence per-iteration cost (sampling, metadata, per-request kernels)
    allreduce_latency_s: float  #: latency of one tensor-parallel all-reduce
    prefill_layer_overhead_s: float = 0.0  #: per-layer fixed cost of an iteration that runs prefill work

    def family(self, hardware: str) -> str:
        fam = {"a100-80gb": "ampere", "h100-80gb": "hopper", "h200": "hopper"}
        if hardware not in fam:
            raise KeyError(f"no calibrated efficiency for hardware {hardware!r}; calibrated: {sorted(fam)}")
        return fam[hardware]


#: fitted by :func:`fit_calibration` on :data:`CALIBRATION_POINTS` (log-latency least squares)
#: (rounded output of ``fit_calibration()``; ``tests/test_llm_sim.py`` re-checks every point within 15 %)
DEFAULT_CALIBRATION = Calibration(
    eta_compute={"ampere": 0.710, "hopper": 0.85},
    eta_memory={"ampere": 0.9, "hopper": 0.9},
    overhead_s={"ampere": 3.96e-3, "hopper": 2.67e-3},
    seq_overhead_s=2.00e-4,
    allreduce_latency_s=1.75e-5,
    prefill_layer_overhead_s=1.83e-4,
)


@dataclass(frozen=True)
class CalibrationPoint:
    """One published measurement of a request-level latency the cost model must reproduce."""

    source: str
    model: str
    hardware: str
    tp: int
    batch: int
    input_len: int
    output_len: int
    latency_s: float  #: published end-to-end latency of the batch


_NEMO = (
    "NVIDIA NeMo Framework user guide, 'Llama-2 Results / Inference Performance' "
    "(TensorRT-LLM; docs.nvidia.com/nemo-framework/user-guide/latest/performance/llama.html), "
    "average latency, input 128, output 20"
)

#: (hardware, tp, batch, published ms) for Llama-2-7B, input 128 tokens, output 20 tokens
_NEMO_7B = [
    ("a100-80gb", 1, 1, 234.0), ("a100-80gb", 1, 2, 249.6), ("a100-80gb", 1, 4, 272.6), ("a100-80gb", 1, 8, 329.5),
    ("h100-80gb", 1, 1, 153.8), ("h100-80gb", 1, 2, 160.8), ("h100-80gb", 1, 4, 174.8), ("h100-80gb", 1, 8, 199.2),
    ("a100-80gb", 2, 1, 171.7), ("a100-80gb", 2, 2, 180.3), ("a100-80gb", 2, 4, 202.9), ("a100-80gb", 2, 8, 237.6),
    ("h100-80gb", 2, 1, 128.6), ("h100-80gb", 2, 2, 132.0), ("h100-80gb", 2, 4, 137.9), ("h100-80gb", 2, 8, 156.2),
    ("a100-80gb", 4, 1, 143.7), ("a100-80gb", 4, 2, 149.9), ("a100-80gb", 4, 4, 165.2), ("a100-80gb", 4, 8, 196.4),
    ("h100-80gb", 4, 1, 107.4), ("h100-80gb", 4, 2, 114.0), ("h100-80gb", 4, 4, 120.4), ("h100-80gb", 4, 8, 134.6),
    ("a100-80gb", 8, 1, 136.5), ("a100-80gb", 8, 2, 143.3), ("a100-80gb", 8, 4, 158.6), ("a100-80gb", 8, 8, 181.9),
    ("h100-80gb", 8, 1, 97.6), ("h100-80gb", 8, 2, 109.1), ("h100-80gb", 8, 4, 116.2), ("h100-80gb", 8, 8, 129.1),
]

_TRTLLM = (
    "TensorRT-LLM v0.5 docs/source/performance.md, 'Low Latency / A100 GPUs (FP16)' "
    "(github.com/NVIDIA/TensorRT-LLM), 1st token latency at batch 1"
)

#: (model, tp, input length, published ms): time to first token = one prefill iteration (A100, FP16;
#: the H100 rows of that table are FP8 and are not used)
_TRTLLM_TTFT = [
    ("llama-2-7b", 1, 128, 16.0), ("llama-2-7b", 1, 2048, 133.0),
    ("llama-2-70b", 4, 128, 47.0), ("llama-2-70b", 4, 2048, 377.0),
]

CALIBRATION_POINTS: tuple[CalibrationPoint, ...] = tuple(
    CalibrationPoint(_NEMO, "llama-2-7b", hw, tp, b, 128, 20, ms / 1000.0) for hw, tp, b, ms in _NEMO_7B
) + tuple(
    CalibrationPoint(_TRTLLM, model, "a100-80gb", tp, 1, n_in, 1, ms / 1000.0) for model, tp, n_in, ms in _TRTLLM_TTFT
)


class CostModel:
    """Latency of one iteration of a given batch on ``tp`` GPUs of one kind."""

    def __init__(
        self,
        model: str | ModelProfile,
        hardware: str | HardwareProfile,
        tp: int = 1,
        calibration: Calibration = DEFAULT_CALIBRATION,
    ) -> None:
        if tp < 1 or tp & (tp - 1):
            raise ValueError(f"tensor parallel degree must be a power of two >= 1, got {tp}")
        self.model = get_model(model)
        self.hardware = get_hardware(hardware)
        self.tp = int(tp)
        self.calibration = calibration
        m, hw, c = self.model, self.hardware, calibration
        head = m.vocab * m.hidden
        # per-token coefficients, already divided by the achieved rates
        fam = c.family(hw.name)
        rate_c = hw.peak_flops * c.eta_compute[fam] * tp
        rate_m = hw.hbm_bandwidth * c.eta_memory[fam]
        self._seq_overhead = c.seq_overhead_s
        self._c_token = 2.0 * (m.matmul_params - head) / rate_c  # s per token (linear layers)
        self._c_seq = 2.0 * head / rate_c  # s per sampled sequence (LM head)
        self._c_pair = 4.0 * m.n_layers * m.n_heads * m.head_dim / rate_c  # s per attention pair
        self._m_fixed = m.weight_bytes / tp / rate_m  # s to stream the weight shard
        self.kv_bytes_per_token = m.kv_bytes_per_token(tp)
        self._m_kv = self.kv_bytes_per_token / rate_m  # s per KV token read or written
        self._overhead = c.overhead_s[fam]
        self._prefill_fixed = c.prefill_layer_overhead_s * m.n_layers
        if tp > 1:
            self._comm_fixed = 2 * m.n_layers * c.allreduce_latency_s
            self._comm_token = 2 * m.n_layers * 2.0 * (tp - 1) / tp * m.hidden * m.dtype_bytes / hw.nvlink_bandwidth
        else:
            self._comm_fixed = self._comm_token = 0.0

    # ------------------------------------------------------------------ costs
    def iteration_time(
        self,
        prefill_tokens: float,
        prefill_pairs: float,
        prefill_kv_read: float,
        prefill_seqs: float,
        n_decode: float,
        decode_context: float,
    ) -> float:
        """Seconds of one iteration.

        ``prefill_tokens``: new prompt tokens (all chunks); ``prefill_pairs``: causal attention pairs of
        the chunks (``sum c * (p + (c + 1) / 2)`` for a chunk of ``c`` tokens after ``p`` cached ones);
        ``prefill_kv_read``: cached tokens the chunks attend to (``sum p``); ``prefill_seqs``: chunks that
        end their prompt (and so sample a token); ``n_decode``: decoding requests; ``decode_context``:
        the sum of their context lengths (KV tokens read, the new one included).
        """
        tokens = prefill_tokens + n_decode
        if tokens <= 0:
            return 0.0
        compute = (
            self._c_token * tokens
            + self._c_seq * (prefill_seqs + n_decode)
            + self._c_pair * (prefill_pairs + decode_context)
        )
        memory = self._m_fixed + self._m_kv * (prefill_kv_read + decode_context + tokens)
        comm = self._comm_fixed + self._comm_token * tokens
        seqs = self._seq_overhead * (prefill_seqs + n_decode)
        if prefill_tokens > 0:
            seqs += self._prefill_fixed
        return self._overhead + seqs + (compute if compute > memory else memory) + comm

    def decode_block_coefficients(self, n_decode: int, decode_context: float) -> tuple[float, float, float, float, float]:
        """Coefficients of the ``k``-th pure-decode iteration time of a fixed batch whose contexts all grow
        by one per iteration: ``t_k = fixed + max(a_c + b_c k, a_m + b_m k)``; returns
        ``(fixed, a_c, b_c, a_m, b_m)`` (``k = 0`` is the next iteration); equal to :meth:`iteration_time`."""
        n = float(n_decode)
        fixed = self._overhead + self._seq_overhead * n + self._comm_fixed + self._comm_token * n
        a_c = self._c_token * n + self._c_seq * n + self._c_pair * decode_context
        b_c = self._c_pair * n
        a_m = self._m_fixed + self._m_kv * (decode_context + n)
        b_m = self._m_kv * n
        return fixed, a_c, b_c, a_m, b_m

    def swap_time(self, kv_tokens: float) -> float:
        """Seconds to copy the KV cache of ``kv_tokens`` tokens between GPU and host over PCIe (each GPU
        of the group copies its shard in parallel)."""
        return kv_tokens * self.kv_bytes_per_token / self.hardware.pcie_bandwidth

    # ------------------------------------------------------------------ request-level latency
    def static_batch_latency(self, batch: int, input_len: int, output_len: int) -> float:
        """End-to-end latency of a static batch: one prefill of ``batch`` prompts, then ``output_len - 1``
        decode iterations (the prefill samples the first output token)."""
        c = input_len
        t = self.iteration_time(batch * c, batch * c * (c + 1) / 2.0, 0.0, batch, 0, 0.0)
        for k in range(1, output_len):
            t += self.iteration_time(0, 0.0, 0.0, 0, batch, batch * (c + k))
        return t


def calibration_table(calibration: Calibration = DEFAULT_CALIBRATION) -> list[dict]:
    """Rows ``source, setting, published_ms, ours_ms, error`` for every calibration point."""
    rows = []
    for p in CALIBRATION_POINTS:
        ours = CostModel(p.model, p.hardware, p.tp, calibration).static_batch_latency(p.batch, p.input_len, p.output_len)
        rows.append(
            {
                "source": p.source,
                "setting": f"{p.model} {p.hardware} TP{p.tp} batch {p.batch} in {p.input_len} out {p.output_len}",
                "published_ms": p.latency_s * 1e3,
                "ours_ms": ours * 1e3,
                "error": ours / p.latency_s - 1.0,
            }
        )
    return rows


def fit_calibration(points: tuple[CalibrationPoint, ...] = CALIBRATION_POINTS) -> Calibration:
    """Least-squares fit (on log latency) of the calibration parameters to ``points`` (needs SciPy)."""
    import numpy as np
    from scipy.optimize import least_squares

    def make(x: "np.ndarray") -> Calibration:
        return Calibration(
            {"ampere": float(x[0]), "hopper": float(x[1])},
            {"ampere": float(x[2]), "hopper": float(x[3])},
            {"ampere": float(x[4]) * 1e-3, "hopper": float(x[5]) * 1e-3},
            float(x[6]) * 1e-3,
            float(x[7]) * 1e-6,
            float(x[8]) * 1e-6,
        )

    def residuals(x: "np.ndarray") -> "np.ndarray":
        cal = make(x)
        return np.array(
            [
                np.log(CostModel(p.model, p.hardware, p.tp, cal).static_batch_latency(p.batch, p.input_len, p.output_len))
                - np.log(p.latency_s)
                for p in points
            ]
        )

    res = least_squares(
        residuals,
        x0=[0.5, 0.5, 0.6, 0.6, 1.0, 1.0, 0.1, 30.0, 50.0],
        # efficiencies kept to physically plausible fractions of the peaks
        bounds=([0.2, 0.2, 0.3, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0], [0.85, 0.85, 0.9, 0.9, 20.0, 20.0, 5.0, 500.0, 1000.0]),
    )
    return make(res.x)
