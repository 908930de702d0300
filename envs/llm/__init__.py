"""LLM request scheduling: a calibrated iteration-level serving simulator and its environments.

* :mod:`.profiles` — model and GPU profiles from public facts;
* :mod:`.costmodel` — roofline iteration latency, calibrated (:func:`.costmodel.calibration_table`);
* :mod:`.workload` — synthetic workloads and Azure / BurstGPT trace loaders;
* :mod:`.simulator` — one serving instance (KV blocks, chunked prefill, preemption by recompute / swap);
* :mod:`.metrics` — TTFT / TBT / latency tails, SLO attainment, goodput;
* :mod:`.validate` — the independent run checker;
* :mod:`.env` — ``schedgym/LLMServe-v0``; :mod:`.cluster_env` — ``schedgym/LLMCluster-v0``.
"""

from .costmodel import CostModel, calibration_table
from .profiles import HARDWARE, MODELS, get_hardware, get_model
from .simulator import ORDERS, ServingConfig, ServingSimulator
from .workload import Workload, load_trace, synthetic

__all__ = [
    "CostModel",
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
