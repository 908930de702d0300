"""Published measurements the cost model is fitted on and checked against (facts re-entered by hand,
with their sources; nothing is downloaded).

Three kinds:

* **Vidur operator profiles** (GPU time only): the per-layer operator times that Vidur (Agrawal et
  al., MLSys 2024) publishes for Llama-2-7B on one A100 (TP1) in its repository
  (github.com/microsoft/vidur, ``data/profiling/compute/a100/meta-llama/Llama-2-7b-hf/``:
  ``mlp.csv`` for the linear layers and the norms / rotary / activation / residual kernels by token
  count, ``attention.csv`` for FlashAttention prefill by chunk size and cached prefix and for paged
  decode attention by batch size and KV length). We keep the ``mean`` column, in ms per layer.
* **End-to-end latencies** (GPU + CPU): NVIDIA NeMo / TensorRT-LLM static-batch latencies
  (Llama-2-7B, A100 / H100, TP 1-8, batch 1-8, input 128, output 20), TensorRT-LLM first-token
  latencies at batch 1 (A100, FP16) and TensorRT-LLM peak-throughput rows (A100, FP16, batch 52-384).
* Every point is marked ``fit`` (used by :func:`..costmodel.fit_calibration`) or ``held-out`` (never
  used by the fit; only compared).
"""

from __future__ import annotations

VIDUR_SRC = ("Vidur (MLSys 2024) profile, github.com/microsoft/vidur data/profiling/compute/a100/"
             "meta-llama/Llama-2-7b-hf")

#: mlp.csv rows (TP1): tokens -> (GEMM ms per layer: attn_pre_proj + attn_post_proj + mlp_up_proj +
#: mlp_down_proj, other kernels ms per layer: input_layernorm + attn_rope + post_attention_layernorm +
#: mlp_act + 2 x add), and whether the row is used by the fit
VIDUR_MLP: dict[int, tuple[float, float, bool]] = {
    1: (0.2664, 0.0265, True),
    8: (0.2610, 0.0257, True),
    16: (0.2642, 0.0264, False),
    32: (0.2728, 0.0269, True),
    64: (0.2779, 0.0277, True),
    96: (0.3414, 0.0304, False),
    128: (0.3522, 0.0341, True),
    136: (0.5150, 0.0389, False),
    160: (0.5212, 0.0415, True),
    896: (1.6973, 0.1633, False),
    960: (1.7569, 0.1658, False),
    1024: (1.9524, 0.1773, True),
    1056: (2.0481, 0.1807, False),
    3456: (6.3811, 0.6215, False),
    3584: (6.5993, 0.6457, True),
    3840: (6.9788, 0.6957, False),
    4096: (7.2977, 0.7229, True),
}

#: attention.csv decode rows (TP1, block 16): (batch, KV tokens per request) -> (attn_decode ms per
#: layer, used by the fit)
VIDUR_DECODE: dict[tuple[int, int], tuple[float, bool]] = {
    (1, 32): (0.0090, True), (8, 32): (0.0180, False), (16, 32): (0.0278, True), (32, 32): (0.0480, False),
    (64, 32): (0.0970, True), (86, 32): (0.1278, False),
    (31, 576): (0.1896, True), (40, 576): (0.2374, False), (64, 576): (0.3554, False),
    (100, 576): (0.5120, True), (112, 576): (0.5656, False), (116, 576): (0.5808, False),
    (102, 2496): (2.1686, False), (110, 2496): (2.3130, False), (128, 2496): (2.6148, True),
    (1, 2560): (0.0388, True), (2, 2560): (0.0654, False), (4, 2560): (0.1314, True), (8, 2560): (0.2632, False),
    (16, 2560): (0.4220, True), (32, 2560): (0.7864, False), (48, 2560): (1.1522, True), (62, 2560): (1.4514, False),
}

#: attention.csv prefill rows (TP1, batch 1): (chunk tokens, cached prefix tokens) -> (attn_prefill ms
#: per layer, used by the fit)
VIDUR_PREFILL: dict[tuple[int, int], tuple[float, bool]] = {
    (448, 0): (0.0864, True), (448, 512): (0.1412, False), (448, 1024): (0.1780, True),
    (448, 2048): (0.2366, False), (448, 3072): (0.3010, True), (448, 3392): (0.3214, False),
    (416, 3072): (0.2976, False), (416, 3648): (0.3356, False),
    (3008, 0): (1.5308, True), (3008, 512): (1.6850, False), (3008, 1088): (1.9152, True),
    (3072, 0): (1.6092, False), (3072, 512): (1.7620, False), (3072, 1024): (1.9243, False),
    (3136, 0): (1.6776, True), (3136, 256): (1.7584, False),
}

NEMO_SRC = (
    "NVIDIA NeMo Framework user guide, 'Llama-2 Results / Inference Performance' "
    "(TensorRT-LLM; docs.nvidia.com/nemo-framework/user-guide/latest/performance/llama.html), "
    "average latency, input 128, output 20"
)

#: (hardware, tp, batch, published ms) for Llama-2-7B, input 128, output 20 (batch 2 and 4 held out)
NEMO_7B = [
    ("a100-80gb", 1, 1, 234.0), ("a100-80gb", 1, 2, 249.6), ("a100-80gb", 1, 4, 272.6), ("a100-80gb", 1, 8, 329.5),
    ("h100-80gb", 1, 1, 153.8), ("h100-80gb", 1, 2, 160.8), ("h100-80gb", 1, 4, 174.8), ("h100-80gb", 1, 8, 199.2),
    ("a100-80gb", 2, 1, 171.7), ("a100-80gb", 2, 2, 180.3), ("a100-80gb", 2, 4, 202.9), ("a100-80gb", 2, 8, 237.6),
    ("h100-80gb", 2, 1, 128.6), ("h100-80gb", 2, 2, 132.0), ("h100-80gb", 2, 4, 137.9), ("h100-80gb", 2, 8, 156.2),
    ("a100-80gb", 4, 1, 143.7), ("a100-80gb", 4, 2, 149.9), ("a100-80gb", 4, 4, 165.2), ("a100-80gb", 4, 8, 196.4),
    ("h100-80gb", 4, 1, 107.4), ("h100-80gb", 4, 2, 114.0), ("h100-80gb", 4, 4, 120.4), ("h100-80gb", 4, 8, 134.6),
    ("a100-80gb", 8, 1, 136.5), ("a100-80gb", 8, 2, 143.3), ("a100-80gb", 8, 4, 158.6), ("a100-80gb", 8, 8, 181.9),
    ("h100-80gb", 8, 1, 97.6), ("h100-80gb", 8, 2, 109.1), ("h100-80gb", 8, 4, 116.2), ("h100-80gb", 8, 8, 129.1),
]
NEMO_FIT_BATCHES = (1, 8)

TRT_TTFT_SRC = (
    "TensorRT-LLM docs/source/performance.md (v0.5 rows), 'Low Latency / A100 GPUs (FP16)' "
    "(github.com/NVIDIA/TensorRT-LLM), 1st token latency at batch 1"
)
#: (model, tp, input length, published ms, used by the fit)
TRT_TTFT = [
    ("llama-2-7b", 1, 128, 16.0, True), ("llama-2-7b", 1, 2048, 133.0, True),
    ("llama-2-70b", 4, 128, 47.0, False), ("llama-2-70b", 4, 2048, 377.0, False),
]

TRT_TPUT_SRC = (
    "TensorRT-LLM docs/source/performance.md (v0.6.1), 'Peak Throughput / A100 GPUs (FP16)' "
    "(github.com/NVIDIA/TensorRT-LLM), output tokens/s of a static batch; latency = batch x output / throughput"
)
#: (model, tp, batch, input, output, published output tokens/s, used by the fit)
TRT_TPUT = [
    ("llama-2-7b", 1, 384, 128, 128, 5586.0, True),
    ("llama-2-7b", 1, 60, 128, 2048, 1928.0, True),
    ("llama-2-7b", 1, 52, 2048, 128, 591.0, False),
]
