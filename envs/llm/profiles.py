"""Model and hardware profiles from public architecture facts and public spec sheets.

Model numbers are the published architecture configurations (the ``config.json`` of each model on
the Hugging Face Hub: layers, hidden size, attention heads, KV heads, head dimension, MLP width,
vocabulary, context length) and the parameter counts their model cards state. Hardware numbers are
the vendor data-sheet peaks (dense BF16 tensor-core FLOP/s without sparsity, HBM bandwidth, memory
size, NVLink bandwidth per GPU) and the nominal host link (PCIe Gen4 x16 for A100, Gen5 x16 for
H100/H200). Efficiency factors are not here: they live in :mod:`schedgym.envs.llm.costmodel` and are
calibrated against published measurements.
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3


@dataclass(frozen=True)
class ModelProfile:
    """A decoder-only transformer, as far as serving cost is concerned."""

    name: str
    n_layers: int
    hidden: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    n_params: float  #: total parameters (embeddings included)
    max_context: int  #: prompt + output tokens the model accepts
    dtype_bytes: int = 2  #: bf16 / fp16 weights and KV cache
    #: mixture of experts: routed experts per layer (0: a dense model); each expert is a SwiGLU MLP of
    #: width ``intermediate`` (gate, up and down projections)
    n_experts: int = 0
    experts_per_token: int = 0  #: top-k routing: experts each token goes through, per layer

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 0

    @property
    def expert_params(self) -> float:
        """Parameters of one expert of one layer (0 for a dense model)."""
        return 3.0 * self.hidden * self.intermediate if self.is_moe else 0.0

    @property
    def active_params(self) -> float:
        """Parameters a token touches (the model card's "active" count; all of them for a dense model)."""
        return self.n_params - (self.n_experts - self.experts_per_token) * self.n_layers * self.expert_params

    @property
    def weight_bytes(self) -> float:
        return self.n_params * self.dtype_bytes

    @property
    def matmul_params(self) -> float:
        """Parameters touched by matrix multiplies per token (the input embedding is a lookup)."""
        return self.n_params - self.vocab * self.hidden

    def kv_bytes_per_token(self, tp: int = 1) -> float:
        """KV-cache bytes of one token on one GPU of a ``tp``-way tensor-parallel group."""
        kv_heads = -(-self.n_kv_heads // tp)  # KV heads are split across GPUs (replicated below tp)
        return 2.0 * self.n_layers * kv_heads * self.head_dim * self.dtype_bytes


@dataclass(frozen=True)
class HardwareProfile:
    """One GPU, from its data sheet."""

    name: str
    peak_flops: float  #: dense BF16 tensor-core FLOP/s
    hbm_bandwidth: float  #: bytes/s
    memory_bytes: float  #: HBM capacity in bytes
    nvlink_bandwidth: float  #: bytes/s per direction per GPU (intra-node, used by tensor parallelism)
    pcie_bandwidth: float  #: bytes/s host link per direction (used by swapping)


MODELS: dict[str, ModelProfile] = {
    # meta-llama/Llama-2-7b-hf config.json; 6.74 B parameters
    "llama-2-7b": ModelProfile("llama-2-7b", 32, 4096, 32, 32, 128, 11008, 32000, 6.74e9, 4096),
    # meta-llama/Meta-Llama-3-8B config.json (GQA, 8 KV heads); 8.03 B parameters
    "llama-3-8b": ModelProfile("llama-3-8b", 32, 4096, 32, 8, 128, 14336, 128256, 8.03e9, 8192),
    # mistralai/Mistral-7B-v0.1 config.json (GQA, 8 KV heads; the 4096-token sliding window is not
    # modelled: attention cost uses the full context, an upper bound); 7.24 B parameters
    "mistral-7b": ModelProfile("mistral-7b", 32, 4096, 32, 8, 128, 14336, 32000, 7.24e9, 32768),
    # meta-llama/Llama-2-13b-hf config.json; 13.0 B parameters
    "llama-2-13b": ModelProfile("llama-2-13b", 40, 5120, 40, 40, 128, 13824, 32000, 13.0e9, 4096),
    # meta-llama/Llama-2-70b-hf config.json (GQA, 8 KV heads); 68.98 B parameters
    "llama-2-70b": ModelProfile("llama-2-70b", 80, 8192, 64, 8, 128, 28672, 32000, 68.98e9, 4096),
    # Mixture of experts. mistralai/Mixtral-8x7B-v0.1 config.json: 32 layers, hidden 4096, 32 heads, 8 KV
    # heads (GQA), expert width 14336, 8 local experts, 2 per token, vocabulary 32000, 32k context;
    # 46.7 B parameters of which 12.9 B active (Mistral AI's announcement; Jiang et al., "Mixtral of
    # Experts", arXiv:2401.04088: 47 B / 13 B). 93 GB of bf16 weights: serve it on 2 x A100-80GB
    # (tp=2) or one H200 (MOE_DEPLOYMENTS below).
    "mixtral-8x7b": ModelProfile("mixtral-8x7b", 32, 4096, 32, 8, 128, 14336, 32000, 46.7e9, 32768,
                                 n_experts=8, experts_per_token=2),
    # A fine-grained MoE. Qwen/Qwen3-30B-A3B config.json: 48 layers, hidden 2048, 32 heads, 4 KV heads,
    # head dim 128, expert width 768, 128 experts, 8 per token, vocabulary 151936, 40,960 positions;
    # 30.5 B parameters of which 3.3 B active (model card). 61 GB of bf16 weights: fits one 80 GB GPU.
    "qwen3-30b-a3b": ModelProfile("qwen3-30b-a3b", 48, 2048, 32, 4, 128, 768, 151936, 30.5e9, 40960,
                                  n_experts=128, experts_per_token=8),
}

#: where each mixture-of-experts profile is served (its bf16 weights plus a KV cache must fit): the
#: ``hardware`` / ``tp`` the suite ``llm-moe`` and the tests use
MOE_DEPLOYMENTS: dict[str, dict[str, str | int]] = {
    "mixtral-8x7b": {"hardware": "a100-80gb", "tp": 2},  # 93 GB of weights over 2 x 80 GB
    "qwen3-30b-a3b": {"hardware": "a100-80gb", "tp": 1},  # 61 GB of weights on one 80 GB GPU
}

HARDWARE: dict[str, HardwareProfile] = {
    # NVIDIA A100 80GB SXM data sheet: 312 TFLOP/s BF16 dense, 2,039 GB/s, NVLink 600 GB/s
    # (bidirectional; 300 GB/s per direction), PCIe Gen4 x16 (~25 GB/s achievable per direction)
    "a100-80gb": HardwareProfile("a100-80gb", 312e12, 2.039e12, 80e9, 300e9, 25e9),
    # NVIDIA H100 SXM5 80GB data sheet: 989 TFLOP/s BF16 dense, 3.35 TB/s, NVLink 900 GB/s
    # (450 GB/s per direction), PCIe Gen5 x16 (~50 GB/s achievable per direction)
    "h100-80gb": HardwareProfile("h100-80gb", 989e12, 3.35e12, 80e9, 450e9, 50e9),
    # NVIDIA H200 SXM data sheet: same compute as H100, 4.8 TB/s, 141 GB HBM3e
    "h200": HardwareProfile("h200", 989e12, 4.8e12, 141e9, 450e9, 50e9),
}


def get_model(model: str | ModelProfile) -> ModelProfile:
    """A :class:`ModelProfile` from a name (case-insensitive) or the profile itself."""
    if isinstance(model, ModelProfile):
        return model
    key = str(model).lower()
    if key not in MODELS:
        raise KeyError(f"unknown model {model!r}; known models: {sorted(MODELS)}")
    return MODELS[key]


def get_hardware(hardware: str | HardwareProfile) -> HardwareProfile:
    """A :class:`HardwareProfile` from a name (case-insensitive) or the profile itself."""
    if isinstance(hardware, HardwareProfile):
        return hardware
    key = str(hardware).lower()
    if key not in HARDWARE:
        raise KeyError(f"unknown hardware {hardware!r}; known hardware: {sorted(HARDWARE)}")
    return HARDWARE[key]
