"""Typed doors of the LLM serving envs: what the serving and cluster baselines may read, and the
solution records that the validators check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypedDict, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from .cluster import Cluster
    from .simulator import ServingSimulator


@runtime_checkable
class ServeView(Protocol):
    """What a single-instance serving policy reads of ``schedgym/LLMServe-v0``: the simulator (to rank
    waiting requests the way its built-in scheduler would) and the request id shown at each node
    (``-1`` on nodes that show no request)."""

    sim: "ServingSimulator"
    node_rid: np.ndarray


@runtime_checkable
class ClusterView(Protocol):
    """What a cluster policy reads of ``schedgym/LLMCluster-v0``: the cluster, the current decision
    (``"dispatch"`` or ``"migrate"``), the instance count, the migration candidates
    ``(source, request, destination)`` in node order, and the index of the first candidate node minus one."""

    cluster: "Cluster"
    event: str | None
    n_instances: int
    candidates: list[tuple[int, int, int]]
    new_node: int


class LLMRunSolution(TypedDict):
    """``info["solution"]`` of ``schedgym/LLMServe-v0`` (one instance), checked by
    :func:`~schedgym.envs.llm.validate.validate_run`: per-request arrays (arrival, prompt, output,
    SLOs, rejection / truncation flags, reported first-token and finish times), the engine settings the
    run claims, and the iteration log."""

    arrival: np.ndarray
    prompt: np.ndarray
    output: np.ndarray
    ttft_slo: np.ndarray
    tpot_slo: np.ndarray
    rejected: np.ndarray
    expected: np.ndarray
    token_budget: int | None
    max_context: int
    watermark_blocks: int
    prompt_requested: np.ndarray
    output_requested: np.ndarray
    truncated: np.ndarray
    kv_blocks: int
    block_size: int
    batching: str
    log: dict[str, Any] | None
    reported_first_token_t: np.ndarray
    reported_finish_t: np.ndarray


class LLMClusterSolution(TypedDict):
    """``info["solution"]`` of ``schedgym/LLMCluster-v0``, checked by
    :func:`~schedgym.envs.llm.validate.validate_cluster`: the workload, the instance each request was
    dispatched to, and each instance's :class:`LLMRunSolution`."""

    arrival: np.ndarray
    output: np.ndarray
    ttft_slo: np.ndarray
    tpot_slo: np.ndarray
    assigned: np.ndarray
    instances: list[LLMRunSolution]
