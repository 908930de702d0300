"""LLM request scheduling: a calibrated iteration-level serving simulator and its environments.

* :mod:`.profiles` — model and GPU profiles from public facts;
* :mod:`.costmodel` — roofline iteration latency, calibrated (:func:`.costmodel.calibration_table`);
* :mod:`.workload` — synthetic workloads and Azure / BurstGPT trace loaders;
* :mod:`.simulator` — one serving instance (KV blocks, chunked prefill, preemption by recompute / swap);
* :mod:`.metrics` — TTFT / TBT / latency tails, SLO attainment, goodput;
* :mod:`.validate` — the independent run checker;
* :mod:`.env` — ``schedgym/LLMServe-v0``; :mod:`.cluster_env` — ``schedgym/LLMCluster-v0``.
"""

from ..domain import Domain, EnvEntry, Gallery
from .costmodel import CostModel, calibration_table
from .profiles import HARDWARE, MODELS, get_hardware, get_model
from .simulator import ORDERS, ServingConfig, ServingSimulator
from .types import ClusterView, LLMClusterSolution, LLMRunSolution, ServeView
from .workload import Workload, load_trace, synthetic

DOMAIN = Domain(
    name="llm",
    title="LLM request scheduling: continuous batching, chunked prefill, KV blocks, preemption, SLOs",
    env_ids={
        "schedgym/LLMServe-v0": EnvEntry(
            "schedgym.envs.llm.env:LLMServeEnv",
            summary="one serving instance: admit waiting requests into the next iteration, or launch it",
        ),
        "schedgym/LLMCluster-v0": EnvEntry(
            "schedgym.envs.llm.cluster_env:LLMClusterEnv",
            summary="a cluster of instances: dispatch each arriving request, Llumnix-style live migration",
        ),
        "schedgym/LLMDisagg-v0": EnvEntry(
            "schedgym.envs.llm.cluster_env:LLMDisaggEnv",
            summary="prefill/decode disaggregation (DistServe): dispatch to prefill instances, route KV to decode ones",
        ),
    },
    policies="schedgym.agents.llm",
    suites=("llm-azure-conv", "llm-azure-code", "llm-gamma-bursts", "llm-cluster", "llm-prefix", "llm-swap", "llm-moe", "llm-disagg",
            "llm-sessions"),
    bench="schedgym.envs.llm.bench:bench_rows",
    docs="docs/llm.md",
    gallery=Gallery(
        "schedgym/LLMServe-v0", "sarathi", "schedgym.envs.llm.render:env_figure",
        env_kwargs={"n_requests": 60, "rate": 20.0, "max_kv_blocks": 400},
        seed=0, caption="Sarathi on 60 requests at 20 req/s: prefill / decode tokens, KV use, queue",
    ),
)

__all__ = [
    "DOMAIN",
    "ClusterView",
    "CostModel",
    "LLMClusterSolution",
    "LLMRunSolution",
    "ServeView",
    "HARDWARE",
    "MODELS",
    "ORDERS",
    "ServingConfig",
    "ServingSimulator",
    "Workload",
    "calibration_table",
    "get_hardware",
    "get_model",
    "load_trace",
    "synthetic",
]
