"""``schedgym/LLMCluster-v0``: dispatching requests to N serving instances, with live migration."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..core import GraphSchedulingEnv, GraphSpec, Objective, check_number
from .cluster import Cluster
from .episode import REWARDS, ServingEpisode
from .simulator import ORDERS, REJECTED, ServingConfig
from .validate import validate_cluster
from .workload import Workload
from .types import LLMClusterSolution

NODE_FEATURES: tuple[str, ...] = (
    "is_noop",  # the global "no (more) migration now" node
    "is_instance",
    "is_new_request",  # the request being dispatched
    "is_running_request",  # a migration candidate
    "load",  # instance: Llumnix virtual usage (KV held + needed by its queue) / capacity, clipped to 4
    "kv_util",  # instance: KV blocks in use / capacity; request: its KV tokens / context limit
    "queue",  # instance: queued requests / max_num_seqs
    "running",  # instance: running requests / max_num_seqs
    "prompt",  # request: log1p(prompt) / log1p(context limit)
    "generated",  # request: log1p(generated) / log1p(context limit)
    "slo",  # request: TTFT target of its class / 10 s
    "migration_gain",  # candidate: load(source) - load(destination)
    "legal",
)
#: the opt-in instance identity column (``instance_index_feature=True``), appended after :data:`NODE_FEATURES`:
#: instance ``k`` of ``n`` carries ``k / (n - 1)`` (0 for a single instance), every other node 0
INSTANCE_INDEX_FEATURE = "instance_index"
GLOBAL_FEATURES: tuple[str, ...] = ("dispatch_event", "migrate_event", "mean_load", "load_spread",
                                    "arrived_share", "finished_share")
NT_NOOP, NT_INSTANCE, NT_REQUEST = 0, 1, 2
ET_REQ_TO_INST, ET_INST_TO_REQ, ET_NEW_TO_INST, ET_INST_TO_NEW, ET_NOOP = 0, 1, 2, 3, 4
NOOP = 0
#: ``rate`` (req/s) when neither ``rate`` nor ``rate_range`` is given
DEFAULT_RATE = 30.0
#: reward modes of ``schedgym/LLMCluster-v0``: the serving ones plus ``"ttft"`` (a tail-weighted TTFT penalty)
CLUSTER_REWARDS: tuple[str, ...] = (*REWARDS, "ttft")
#: ``ttft_normalize`` choices (besides None): the reference dispatcher whose TTFT penalty on the episode's own
#: workload divides the ``"ttft"`` reward (``"kv-jsq"``: join the lowest Llumnix virtual usage, no migration)
TTFT_NORMALIZERS: tuple[str, ...] = ("kv-jsq",)
#: ``objective`` choices: the metric that validation (the trainer's ``best.pt``) ranks episodes on, with its
#: direction; :func:`~schedgym.envs.llm.validate.validate_cluster` recomputes each from the run's solution
CLUSTER_OBJECTIVES: dict[str, Objective] = {"slo_attainment": Objective("slo_attainment", "max"),
                                            "ttft_p99": Objective("ttft_p99", "min")}


class ClusterHistory:
    """What :meth:`LLMClusterEnv.render` draws: per-instance load and KV use at every cluster event,
    the dispatches ``(time, instance)`` and the migrations ``(time, source, destination)``."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.loads: list[np.ndarray] = []
        self.kv: list[np.ndarray] = []
        self.dispatches: list[tuple[float, int]] = []
        self.migrations: list[tuple[float, int, int]] = []

    def record(self, now: float, loads: np.ndarray, instances: list) -> None:
        self.times.append(now)
        self.loads.append(np.asarray(loads, np.float64).copy())
        self.kv.append(np.array([(i.total_blocks - i.free_blocks) / i.total_blocks for i in instances]))


class LLMClusterEnv(ServingEpisode, GraphSchedulingEnv):
    """Request dispatching (and optional Llumnix-style live migration) over ``n_instances`` identical
    LLM serving instances, each scheduled by a built-in local policy (``local_order``).

    ## Action Space
    ``Discrete(max_nodes)``. Node 0 is the *no-op* node, nodes ``1..n_instances`` the instances, node
    ``n_instances + 1`` the arriving request (never legal), the rest migration candidates. At a
    *dispatch* event (a request arrives) exactly the instance nodes are legal: pick where it goes. At
    a *migration check* (every ``migration_interval`` s, when set) the candidates are legal (running,
    decoding requests with a less loaded destination with room; picking one migrates it to the least
    loaded such instance and the check continues) and so is no-op (end the check).

    ## Observation Space
    The contract's padded graph: the no-op node (type 0), instance nodes (type 1) and request nodes
    (type 2: the arriving request, or the migration candidates). Edges: candidate -> its instance (0)
    and back (1), arriving request -> every instance (2) and back (3), no-op -> every instance (4).
    Features :data:`NODE_FEATURES`, globals :data:`GLOBAL_FEATURES`, all ratios. With
    ``instance_index_feature=True`` one more node feature, ``"instance_index"``
    (:data:`INSTANCE_INDEX_FEATURE`), follows them: instance ``k`` (node ``1 + k``) of ``n_instances``
    carries ``k / (n_instances - 1)`` (0 with one instance), every other node 0. It gives the instances an
    identity, so a policy can treat them differently (e.g. reserve some for long prompts); the default
    (False) keeps the observation of earlier versions.

    ## Rewards
    As ``schedgym/LLMServe-v0``: ``"goodput"`` (+1/N per request finished within its SLOs; the return is
    the SLO attainment) or ``"latency"`` (-latency / (N * latency_scale) per finished request); or
    ``"ttft"``: a TTFT penalty whose return is -mean over requests of (TTFT / latency_scale)^ttft_power,
    paid as it accrues: each step costs the growth of the sum of (wait / latency_scale)^ttft_power / N
    over the dispatched requests, a request's wait being its age until its first token is out, then its
    TTFT (``ttft_power`` 2, the default, weights the tail; 1 is the mean TTFT).

    ``ttft_normalize="kv-jsq"`` (opt-in; default None: the ``"ttft"`` reward as above) weights every episode
    evenly, whatever its load: at reset the env replays the episode's workload on a copy of the cluster
    dispatched by ``kv-jsq`` (each request to the instance with the lowest Llumnix virtual usage, the lowest
    index on ties; no migration) and divides every ``"ttft"`` reward by that reference's mean over requests of
    (TTFT / latency_scale)^ttft_power. The return is then minus the ratio of the policy's penalty to the
    reference's on the same requests (about -1 at every load, where the plain return grows several-fold with
    the rate). ``info["metrics"]["ttft_reference"]`` reports the divisor. A reference whose penalty is 0 (every
    request rejected) leaves the reward unscaled. It costs one dispatch-only simulation per reset.

    ## Starting State
    Idle instances at time 0; the first observation is the first request's dispatch.

    ## Episode End
    Terminates when every request has finished or been rejected. ``info["metrics"]``: cluster TTFT /
    TBT / latency tails, SLO attainment, migrations, dispatch imbalance; ``info["solution"]``: every
    instance's iteration log and the dispatch, checked by
    :func:`schedgym.envs.llm.validate.validate_cluster`.

    ## Arguments
    ``n_instances`` (4), ``local_order`` (``"fcfs"``), ``migration_interval`` (s; default 1.0; None:
    dispatch only),
    ``network_bandwidth`` (bytes/s, 12.5e9 = 100 Gb/s), ``max_candidates`` (migration candidates shown,
    by source load then KV size), engine arguments as ``schedgym/LLMServe-v0`` (``model``, ``hardware``,
    ``tp``, ``token_budget``, ``chunked_prefill``, ``batching``, ``max_kv_blocks``...), workload
    arguments (``workload``, ``n_requests``, ``rate`` (req/s; default 30), ``cv``, ``lengths``, ``class_mix``,
    ``rate_scale``, ``load``),
    ``rate_range`` (``(low, high)`` req/s, synthetic workloads only: each episode draws its rate uniformly
    from it, with the episode's generator; giving ``rate`` too is an error),
    ``instance_index_feature`` (bool, default False: the ``"instance_index"`` node feature above),
    ``reward``, ``latency_scale``, ``ttft_power`` (>= 1, the ``"ttft"`` reward's exponent),
    ``ttft_normalize`` (None or ``"kv-jsq"``, with ``reward="ttft"`` only; see Rewards),
    ``objective`` (``"slo_attainment"``, the default, maximised; or ``"ttft_p99"``, the p99 TTFT in s of the
    finished requests, minimised: the env's :attr:`objective`, which the trainer's validation ranks ``best.pt``
    on and the cluster validator recomputes; it changes neither the reward nor the observation), ``max_steps``,
    ``render_mode`` (``"rgb_array"`` or None).

    ## Rendering
    ``render_mode="rgb_array"``: :meth:`render` returns a picture of the episode so far (an RGB array):
    each instance's load (Llumnix virtual usage) and KV use over time, and every dispatch (which
    instance each request went to, when) and migration. The history is recorded only in that mode.
    """

    objective = Objective("slo_attainment", "max")

    def __init__(
        self,
        n_instances: int = 4,
        local_order: str = "fcfs",
        migration_interval: float | None = 1.0,
        network_bandwidth: float = 12.5e9,
        max_candidates: int = 16,
        model: str = "llama-2-7b",
        hardware: str = "a100-80gb",
        tp: int = 1,
        token_budget: int | None = 512,
        chunked_prefill: bool = True,
        batching: str = "mixed",
        max_num_seqs: int = 256,
        preemption: str = "recompute",
        max_kv_blocks: int | None = None,
        overlength: str = "reject",
        workload: Workload | str | os.PathLike[str] | None = None,
        n_requests: int = 120,
        rate: float | None = None,
        cv: float = 2.0,
        lengths: str = "azure-conv",
        class_mix: dict[str, float] | str | None = None,
        rate_scale: float = 1.0,
        load: float | None = None,
        reward: str = "goodput",
        latency_scale: float = 10.0,
        max_steps: int | None = None,
        render_mode: str | None = None,
        rate_range: tuple[float, float] | list[float] | None = None,
        ttft_power: float = 2.0,
        instance_index_feature: bool = False,
        ttft_normalize: str | None = None,
        objective: str = "slo_attainment",
    ) -> None:
        self._init_render(render_mode)
        if local_order not in ORDERS:
            raise ValueError(f"local_order must be one of {sorted(ORDERS)}, got {local_order!r}")
        if not isinstance(objective, str) or objective not in CLUSTER_OBJECTIVES:
            raise ValueError(f"objective must be one of {sorted(CLUSTER_OBJECTIVES)}, got {objective!r}")
        self.objective = CLUSTER_OBJECTIVES[objective]
        if reward not in CLUSTER_REWARDS:
            raise ValueError(f"reward must be one of {CLUSTER_REWARDS}, got {reward!r}")
        max_candidates = check_number("max_candidates", max_candidates, minimum=1, integer=True)
        self.rate_range = _check_rate_range(rate_range, workload)
        if self.rate_range is not None and rate is not None:
            raise ValueError(f"give rate or rate_range, not both: rate={rate!r} would be ignored, since "
                             f"rate_range={rate_range!r} draws each episode's rate")
        if not isinstance(instance_index_feature, (bool, np.bool_)):
            raise ValueError(f"instance_index_feature must be True or False, got {instance_index_feature!r}")
        self.instance_index_feature = bool(instance_index_feature)
        self.ttft_power = float(check_number("ttft_power", ttft_power, minimum=1.0))
        self.ttft_normalize = _check_ttft_normalize(ttft_normalize, reward)
        config = ServingConfig(model=model, hardware=hardware, tp=tp, token_budget=token_budget,
                               chunked_prefill=chunked_prefill, batching=batching, max_num_seqs=max_num_seqs,
                               preemption=preemption, max_kv_blocks=max_kv_blocks, overlength=overlength,
                               preempt_order=local_order)
        self.cluster = Cluster(config, n_instances, local_order, migration_interval, network_bandwidth)
        # the dispatch-only copy that ttft_normalize replays each episode's workload on (no logs kept)
        self._reference = (Cluster(config, n_instances, local_order, None, network_bandwidth, record=False)
                           if self.ttft_normalize is not None else None)
        self._ttft_scale = 1.0
        self.n_instances = int(n_instances)
        self.max_candidates = int(max_candidates)
        # the serving episode knows goodput / latency; "ttft" is this env's own (see _ttft_penalty)
        self._init_episode(workload, n_requests, DEFAULT_RATE if rate is None else rate, cv, lengths, class_mix,
                           rate_scale, "latency" if reward == "ttft" else reward, latency_scale, max_steps)
        self.reward_mode = reward
        self._set_load(load)
        self._ttft_paid = 0.0
        n = 2 + self.n_instances + self.max_candidates
        self.max_nodes = n
        self.new_node = 1 + self.n_instances
        names = (*NODE_FEATURES, INSTANCE_INDEX_FEATURE) if self.instance_index_feature else NODE_FEATURES
        self._init_graph(GraphSpec(max_nodes=n, max_edges=4 * self.n_instances + 2 * self.max_candidates,
                                   node_features=len(names), n_node_types=3, n_edge_types=5,
                                   global_features=len(GLOBAL_FEATURES), node_feature_names=names,
                                   global_feature_names=GLOBAL_FEATURES))
        self.candidates: list[tuple[int, int, int]] = []
        self.event: str | None = None
        self.history: ClusterHistory | None = None

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self.history is None:
            return None
        from .render import render_cluster

        return render_cluster(self.history, self.n_instances)

    # ------------------------------------------------------------------ episode
    def _reset_state(self, options: dict[str, Any] | None) -> None:
        if self.rate_range is not None:
            self.rate = float(self.np_random.uniform(*self.rate_range))
        workload = self._draw_workload(options)
        self.cluster.reset(workload)
        self._ttft_paid = 0.0
        self._ttft_scale = self._reference_ttft(workload) if self._reference is not None else 1.0
        self.history = ClusterHistory() if self.render_mode == "rgb_array" else None
        self.event = self.cluster.advance_to_event()
        self._build_obs()

    def _reference_ttft(self, workload: Workload) -> float:
        """``ttft_normalize``'s divisor: the mean over requests of (TTFT / latency_scale)^ttft_power when
        ``workload`` is dispatched by ``kv-jsq`` (lowest Llumnix virtual usage, lowest index on ties) with no
        migration; 1.0 if that penalty is 0 (nothing to compare with)."""
        ref = self._reference
        assert ref is not None
        ref.reset(workload)
        while ref.advance_to_event() == "dispatch":
            ref.dispatch(int(np.argmin([inst.load() for inst in ref.instances])))
        mean = self._ttft_penalty(True, ref) / max(ref.n, 1)
        return mean if mean > 0.0 else 1.0

    def _ttft_penalty(self, final: bool, cluster: Cluster | None = None) -> float:
        """Sum over the dispatched, not rejected requests of (wait / latency_scale)^ttft_power, where a
        request's wait is its TTFT once its first token is out by now (every request's at the end,
        ``final``) and its age otherwise. Read from each request's current instance (a migrated request
        carries its first-token time). ``cluster``: the env's own unless given."""
        c = self.cluster if cluster is None else cluster
        now = float(c.now)
        arrival = self.workload.arrival
        total = 0.0
        for k, inst in enumerate(c.instances):
            mine = np.flatnonzero(c.assigned == k)
            if mine.size == 0:
                continue
            mine = mine[inst.phase[mine] != REJECTED]  # a rejected request never waits for a token
            first = inst.first_token_t[mine]
            end = np.where(np.isnan(first), now, first if final else np.minimum(first, now))
            wait = np.nan_to_num(end - arrival[mine]) / self.latency_scale
            total += float(np.sum(wait ** self.ttft_power))
        return total

    def _apply(self, action: int) -> tuple[float, bool, bool]:
        c = self.cluster
        h = self.history
        if self.event == "dispatch":
            if h is not None:
                h.dispatches.append((float(c.now), action - 1))
            c.dispatch(action - 1)
            self.event = c.advance_to_event()
        else:  # migration check
            if action == NOOP:
                c.end_migration_check()
                self.event = c.advance_to_event()
            else:
                src, r, dst = self.candidates[action - self.new_node - 1]
                if h is not None:
                    h.migrations.append((float(c.now), src, dst))
                c.migrate(src, r, dst)
                if not c.migration_options():
                    c.end_migration_check()
                    self.event = c.advance_to_event()
        good, lat = c.good_and_latency()
        terminated = self.event is None
        reward, truncated = self._reward(c.n, good, lat, terminated)
        if self.reward_mode == "ttft":
            paid = self._ttft_penalty(terminated)
            reward = -(paid - self._ttft_paid) / (max(c.n, 1) * self._ttft_scale)
            self._ttft_paid = paid
        self._build_obs()
        return reward, terminated, truncated

    def _episode_metrics(self) -> dict[str, float]:
        m = self.cluster.metrics()
        m["steps"] = float(self._steps)
        if self.rate_range is not None:
            m["rate_drawn"] = self.rate
        if self.ttft_normalize is not None:
            m["ttft_reference"] = self._ttft_scale
        return m

    def _episode_solution(self) -> LLMClusterSolution:
        return self.cluster.solution()

    def validate_solution(self, solution: dict[str, Any]) -> float:
        return validate_cluster(solution, objective=self.objective.name)

    def _describe_illegal(self, action: int) -> str:
        if self.event == "dispatch":
            return "a request is arriving: pick an instance node (1..n_instances)"
        return "a migration check: pick a migration candidate or the no-op node 0"

    def _step_info(self) -> dict[str, Any]:
        return {"event": self.event, "time": float(self.cluster.now)}

    # ------------------------------------------------------------------ observation
    def _build_obs(self) -> None:
        g = self.graph
        c = self.cluster
        g.clear()
        x = g.nodes
        ni = self.n_instances
        x[NOOP, 0] = 1
        g.node_type[NOOP] = NT_NOOP
        inst_nodes = np.arange(1, 1 + ni)
        g.node_type[inst_nodes] = NT_INSTANCE
        loads = np.array([i.load() for i in c.instances])
        if self.history is not None:
            self.history.record(float(c.now), loads, c.instances)
        for k, inst in enumerate(c.instances):
            row = x[1 + k]
            row[1] = 1
            row[4] = min(loads[k], 4.0)
            row[5] = (inst.total_blocks - inst.free_blocks) / inst.total_blocks
            row[6] = min(len(inst.queue) / inst.config.max_num_seqs, 4.0)
            row[7] = len(inst.running) / inst.config.max_num_seqs
        if self.instance_index_feature:
            x[inst_nodes, len(NODE_FEATURES)] = np.arange(ni) / max(ni - 1, 1)
        g.n_nodes = 1 + ni
        g.add_edges(np.zeros(ni, np.int64), inst_nodes, ET_NOOP)
        log_ctx = np.log1p(c.instances[0].max_context)
        self.candidates = []
        if self.event == "dispatch":
            r = c.next_req
            w = self.workload
            nn = self.new_node
            g.n_nodes = nn + 1
            g.node_type[nn] = NT_REQUEST
            x[nn, 2] = 1
            x[nn, 8] = np.log1p(w.prompt[r]) / log_ctx
            x[nn, 10] = min(w.ttft_slo[r] / 10.0, 4.0)
            g.add_edges(np.full(ni, nn), inst_nodes, ET_NEW_TO_INST)
            g.add_edges(inst_nodes, np.full(ni, nn), ET_INST_TO_NEW)
            x[inst_nodes, 12] = 1
            g.action_mask[inst_nodes] = 1
        elif self.event == "migrate":
            opts = c.migration_options()
            # most loaded sources first, then the cheapest (smallest KV) requests, as Llumnix prefers
            opts.sort(key=lambda o: (-loads[o[0]], int(c.instances[o[0]].kv[o[1]])))
            self.candidates = opts[: self.max_candidates]
            base = self.new_node + 1
            g.n_nodes = base + len(self.candidates)
            for j, (src, r, dst) in enumerate(self.candidates):
                inst = c.instances[src]
                node = base + j
                g.node_type[node] = NT_REQUEST
                row = x[node]
                row[3] = 1
                row[5] = inst.kv[r] / inst.max_context
                row[8] = np.log1p(inst.prompt[r]) / log_ctx
                row[9] = np.log1p(inst.generated[r]) / log_ctx
                row[10] = min(inst.ttft_slo[r] / 10.0, 4.0)
                row[11] = min(loads[src] - loads[dst], 4.0)
                row[12] = 1
                g.action_mask[node] = 1
                g.add_edges(node, 1 + src, ET_REQ_TO_INST)
                g.add_edges(1 + src, node, ET_INST_TO_REQ)
            x[NOOP, 12] = 1
            g.action_mask[NOOP] = 1
        else:  # terminal observation
            g.action_mask[NOOP] = 1
        gl = g.globals
        gl[0] = float(self.event == "dispatch")
        gl[1] = float(self.event == "migrate")
        gl[2] = min(float(loads.mean()), 4.0)
        gl[3] = min(float(loads.max() - loads.min()), 4.0)
        gl[4] = c.next_req / max(c.n, 1)
        gl[5] = sum(i.n_finished for i in c.instances) / max(c.n, 1)


def _check_ttft_normalize(ttft_normalize: Any, reward: str) -> str | None:
    """``ttft_normalize``: None, or one of :data:`TTFT_NORMALIZERS`, and only with ``reward="ttft"``."""
    if ttft_normalize is None:
        return None
    if not isinstance(ttft_normalize, str) or ttft_normalize not in TTFT_NORMALIZERS:
        raise ValueError(f"ttft_normalize must be None or one of {TTFT_NORMALIZERS}, got {ttft_normalize!r}")
    if reward != "ttft":
        raise ValueError(f"ttft_normalize={ttft_normalize!r} scales the 'ttft' reward, but reward={reward!r}")
    return ttft_normalize


def _check_rate_range(rate_range: Any, workload: Any) -> tuple[float, float] | None:
    """``rate_range``: None, or two finite rates ``0 < low <= high`` (req/s) for a synthetic workload."""
    if rate_range is None:
        return None
    if isinstance(rate_range, (str, bytes)) or not hasattr(rate_range, "__len__") or len(rate_range) != 2:
        raise ValueError(f"rate_range must be (low, high) in req/s, got {rate_range!r}")
    low = check_number("rate_range[0]", rate_range[0], minimum=0.0, exclusive=True)
    high = check_number("rate_range[1]", rate_range[1], minimum=0.0, exclusive=True)
    if low > high:
        raise ValueError(f"rate_range must have low <= high, got {rate_range!r}")
    if workload is not None:
        raise ValueError(f"rate_range applies to synthetic workloads (workload=None), got workload={workload!r}")
    return float(low), float(high)


DISAGG_NODE_FEATURES: tuple[str, ...] = (
    "serves_prefill",  # instance: a prefill instance, or a co-located one
    "serves_decode",  # instance: a decode instance, or a co-located one
    "is_request",  # the arriving request (dispatch) or the finished prefill to route
    "load",  # instance: Llumnix virtual usage (KV held or reserved + needed by its queue) / capacity, clipped to 4
    "kv_util",  # instance: KV blocks in use (held, reserved or being sent) / capacity
    "queue",  # instance: queued requests / max_num_seqs, clipped to 4
    "running",  # instance: running requests / max_num_seqs
    "in_transit",  # prefill instance: KV blocks held for handoffs, parked requests and transfers; decode: blocks reserved for landings (/ capacity)
    "prompt",  # request: log1p(prompt) / log1p(context limit)
    "transfer",  # request being routed: its KV transfer time / 0.1 s, clipped to 4
    "slo",  # request: TTFT target of its class / 10 s
    "legal",
)
DISAGG_GLOBAL_FEATURES: tuple[str, ...] = ("dispatch_event", "route_event", "prefill_load", "decode_load",
                                           "arrived_share", "finished_share")
NT_PREFILL, NT_DECODE, NT_REQ = 0, 1, 2
ET_REQ_TO_INST, ET_INST_TO_REQ, ET_SRC_TO_REQ, ET_REQ_TO_SRC = 0, 1, 2, 3


class LLMDisaggEnv(ServingEpisode, GraphSchedulingEnv):
    """Prefill/decode disaggregation (DistServe): dispatch each arriving request to one of ``n_prefill``
    prefill instances, and route each finished prefill's KV cache to one of ``n_decode`` decode instances
    (:class:`~schedgym.envs.llm.disagg.DisaggCluster`; transfer cost: bytes / interconnect bandwidth +
    latency). With ``disaggregated=False`` the same ``n_prefill + n_decode`` GPUs serve co-located (every
    instance prefills and decodes; dispatch only): the comparison at equal GPU count. With ``semi_pd=f``
    (semi-PD) each of those GPUs runs a prefill worker on a fraction ``f`` of its compute and a decode
    worker on the rest, the KV staying on its GPU (dispatch only: a finished prefill goes to its GPU's
    decode worker).

    ## Action Space
    ``Discrete(n_prefill + n_decode + 1)``. Nodes ``0..n_prefill-1`` are the prefill instances, the next
    ``n_decode`` the decode instances, the last one the request (never legal). At a *dispatch* event the
    prefill instances are legal (co-located: every instance); at a *route* event the decode instances
    with room for the request's KV (plus one block) and a sequence slot.

    ## Observation Space
    The contract's padded graph: instance nodes (type 0 prefill or co-located, 1 decode) and the request
    node (type 2; legal only in the terminal observation). Edges: request -> every legal instance (0) and back (1); at a route, its prefill
    instance -> request (2) and back (3). Features :data:`DISAGG_NODE_FEATURES`, globals
    :data:`DISAGG_GLOBAL_FEATURES`, all ratios.

    ## Rewards
    As ``schedgym/LLMServe-v0``: ``"goodput"`` (+1/N per request finished within its SLOs; the return is
    the SLO attainment) or ``"latency"`` (-latency / (N * latency_scale) per finished request).

    ## Starting State
    Idle instances at time 0; the first observation is the first request's dispatch.

    ## Episode End
    Terminates when every request has finished or been rejected. ``info["metrics"]``: TTFT / TBT /
    latency tails, SLO attainment, KV transfers and their mean / p99 time (ms); ``info["solution"]``:
    every instance's iteration log, the dispatch and the transfers, checked by
    :func:`schedgym.envs.llm.validate.validate_disagg` (co-located: ``validate_cluster``).

    ## Arguments
    ``n_prefill`` (2), ``n_decode`` (2), ``disaggregated`` (True), ``interconnect`` (``"nvlink"``, see
    :data:`schedgym.envs.llm.disagg.INTERCONNECTS`), ``bandwidth`` (bytes/s; overrides the preset's),
    ``semi_pd`` (None, or the prefill workers' compute fraction in (0, 1); then ``n_prefill + n_decode``
    GPUs give as many prefill and decode workers, nodes in that order),
    ``local_order`` (``"fcfs"``), engine arguments as ``schedgym/LLMServe-v0`` (``model``, ``hardware``,
    ``tp``, ``token_budget``, ``chunked_prefill``, ``batching``, ``max_kv_blocks``...; the same for every
    instance), workload arguments (``workload``, ``n_requests``, ``rate``, ``cv``, ``lengths``,
    ``class_mix``, ``rate_scale``, ``load``), ``reward``, ``latency_scale``, ``max_steps``, ``render_mode``.

    ## Rendering
    ``render_mode="rgb_array"``: the cluster picture of ``schedgym/LLMCluster-v0`` (load and KV use of
    every instance over time, the dispatches, and the KV transfers drawn as migrations).
    """

    objective = Objective("slo_attainment", "max")

    def __init__(
        self,
        n_prefill: int = 2,
        n_decode: int = 2,
        disaggregated: bool = True,
        interconnect: str = "nvlink",
        bandwidth: float | None = None,
        semi_pd: float | None = None,
        local_order: str = "fcfs",
        model: str = "llama-2-7b",
        hardware: str = "a100-80gb",
        tp: int = 1,
        token_budget: int | None = 512,
        chunked_prefill: bool = True,
        batching: str = "mixed",
        max_num_seqs: int = 256,
        preemption: str = "recompute",
        max_kv_blocks: int | None = None,
        overlength: str = "reject",
        workload: Workload | str | os.PathLike[str] | None = None,
        n_requests: int = 100,
        rate: float = 10.0,
        cv: float = 2.0,
        lengths: str = "azure-conv",
        class_mix: dict[str, float] | str | None = None,
        rate_scale: float = 1.0,
        load: float | None = None,
        reward: str = "goodput",
        latency_scale: float = 10.0,
        max_steps: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        from .disagg import DisaggCluster

        self._init_render(render_mode)
        if local_order not in ORDERS:
            raise ValueError(f"local_order must be one of {sorted(ORDERS)}, got {local_order!r}")
        if not isinstance(disaggregated, (bool, np.bool_)):
            raise ValueError(f"disaggregated must be True or False, got {disaggregated!r}")
        n_prefill = check_number("n_prefill", n_prefill, minimum=1, integer=True)
        n_decode = check_number("n_decode", n_decode, minimum=1, integer=True)
        config = ServingConfig(model=model, hardware=hardware, tp=tp, token_budget=token_budget,
                               chunked_prefill=chunked_prefill, batching=batching, max_num_seqs=max_num_seqs,
                               preemption=preemption, max_kv_blocks=max_kv_blocks, overlength=overlength,
                               preempt_order=local_order)
        self.disaggregated = bool(disaggregated)
        self.semi_pd = semi_pd
        self.n_prefill, self.n_decode = int(n_prefill), int(n_decode)
        if semi_pd is not None:
            if not self.disaggregated:
                raise ValueError("semi_pd needs disaggregated=True (it splits each GPU between the two phases)")
            # the same n_prefill + n_decode GPUs, each split into a prefill and a decode worker
            self.n_prefill = self.n_decode = int(n_prefill) + int(n_decode)
        self.n_instances = self.n_prefill + self.n_decode
        self.cluster: Cluster = (DisaggCluster(config, self.n_prefill, self.n_decode, local_order, interconnect,
                                               bandwidth, semi_pd=semi_pd)
                                 if self.disaggregated else Cluster(config, self.n_instances, local_order, None))
        self._init_episode(workload, n_requests, rate, cv, lengths, class_mix, rate_scale, reward, latency_scale,
                           max_steps)
        self._set_load(load)
        n = self.n_instances + 1
        self.max_nodes = n
        self.request_node = self.n_instances
        self._init_graph(GraphSpec(max_nodes=n, max_edges=2 * self.n_instances + 2,
                                   node_features=len(DISAGG_NODE_FEATURES), n_node_types=3, n_edge_types=4,
                                   global_features=len(DISAGG_GLOBAL_FEATURES),
                                   node_feature_names=DISAGG_NODE_FEATURES,
                                   global_feature_names=DISAGG_GLOBAL_FEATURES))
        self.event: str | None = None
        self.history: ClusterHistory | None = None

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self.history is None:
            return None
        from .render import render_cluster

        return render_cluster(self.history, self.n_instances)

    # ------------------------------------------------------------------ episode
    def _reset_state(self, options: dict[str, Any] | None) -> None:
        self.cluster.reset(self._draw_workload(options))
        self.history = ClusterHistory() if self.render_mode == "rgb_array" else None
        self.event = self.cluster.advance_to_event()
        self._build_obs()

    def _apply(self, action: int) -> tuple[float, bool, bool]:
        c = self.cluster
        h = self.history
        if self.event == "dispatch":
            if h is not None:
                h.dispatches.append((float(c.now), action))
            c.dispatch(action)
        else:  # route a finished prefill's KV to a decode instance
            if h is not None:
                h.migrations.append((float(c.now), c.pending[0], action))  # type: ignore[attr-defined]
            c.route(action - self.n_prefill)  # type: ignore[attr-defined]
        self.event = c.advance_to_event()
        good, lat = c.good_and_latency()
        terminated = self.event is None
        reward, truncated = self._reward(c.n, good, lat, terminated)
        self._build_obs()
        return reward, terminated, truncated

    def _episode_metrics(self) -> dict[str, float]:
        m = self.cluster.metrics()
        if not self.disaggregated:  # the same metric keys in both modes (leaderboards side by side)
            del m["migrations"]
            m.update(kv_transfers=0.0, transfer_ms_mean=0.0, transfer_ms_p99=0.0, handoff_wait_ms_mean=0.0,
                     parked_max=0.0)
        m["steps"] = float(self._steps)
        return m

    def _episode_solution(self) -> LLMClusterSolution:
        return self.cluster.solution()

    def validate_solution(self, solution: dict[str, Any]) -> float:
        from .validate import validate_disagg

        return validate_disagg(solution) if self.disaggregated else validate_cluster(solution)

    def _describe_illegal(self, action: int) -> str:
        if self.event == "dispatch":
            if self.disaggregated:
                return f"a request is arriving: pick a prefill instance node (0..{self.n_prefill - 1})"
            return f"a request is arriving: pick an instance node (0..{self.n_instances - 1})"
        return (f"a finished prefill waits for a decode instance: pick a decode instance node with room "
                f"({self.n_prefill}..{self.n_instances - 1})")

    def _step_info(self) -> dict[str, Any]:
        return {"event": self.event, "time": float(self.cluster.now)}

    # ------------------------------------------------------------------ observation
    def _build_obs(self) -> None:
        g = self.graph
        c = self.cluster
        g.clear()
        x = g.nodes
        ni, npf = self.n_instances, self.n_prefill
        insts = c.instances
        if self.disaggregated and self.event == "dispatch":
            c.sync_decode()  # type: ignore[attr-defined]
        loads = np.array([i.load() for i in insts])
        if self.history is not None:
            self.history.record(float(c.now), loads, insts)
        for k, inst in enumerate(insts):
            row = x[k]
            decode_role = k >= npf or not self.disaggregated
            prefill_role = k < npf or not self.disaggregated
            g.node_type[k] = NT_PREFILL if prefill_role else NT_DECODE
            row[0], row[1] = float(prefill_role), float(decode_role)
            cap = inst.total_blocks
            row[3] = min(loads[k], 4.0)
            row[4] = (cap - inst.free_blocks) / cap
            row[5] = min(len(inst.queue) / inst.config.max_num_seqs, 4.0)
            row[6] = len(inst.running) / inst.config.max_num_seqs
            if self.disaggregated:
                if k < npf:
                    held = sum(b for _, b in inst.sending.values()) + sum(
                        int(inst.blocks[r]) for r in (*inst.handoffs, *inst.parked))
                else:
                    held = sum(int(inst.blocks[r]) for r in inst.migrating_in)
                row[7] = held / cap
        rn = self.request_node
        g.n_nodes = ni + 1
        g.node_type[rn] = NT_REQ
        x[rn, 2] = 1
        log_ctx = np.log1p(insts[0].max_context)
        gl = g.globals
        if self.event is None:  # terminal observation: nothing is legal but the contract needs one action
            g.action_mask[rn] = 1
        else:
            if self.event == "dispatch":
                r = c.next_req
                legal = np.arange(npf if self.disaggregated else ni)
            else:
                p, r = c.pending  # type: ignore[attr-defined,misc]
                legal = npf + np.asarray(c.route_options(), np.int64)  # type: ignore[attr-defined]
                x[rn, 9] = min(c.transfer_time(int(insts[p].kv[r])) / 0.1, 4.0)  # type: ignore[attr-defined]
                g.add_edges(p, rn, ET_SRC_TO_REQ)
                g.add_edges(rn, p, ET_REQ_TO_SRC)
            w = self.workload
            x[rn, 8] = np.log1p(w.prompt[r]) / log_ctx
            x[rn, 10] = min(w.ttft_slo[r] / 10.0, 4.0)
            x[legal, 11] = 1
            g.action_mask[legal] = 1
            g.add_edges(np.full(legal.size, rn), legal, ET_REQ_TO_INST)
            g.add_edges(legal, np.full(legal.size, rn), ET_INST_TO_REQ)
        gl[0] = float(self.event == "dispatch")
        gl[1] = float(self.event == "route")
        gl[2] = min(float(loads[:npf].mean()), 4.0) if self.disaggregated else min(float(loads.mean()), 4.0)
        gl[3] = min(float(loads[npf:].mean()), 4.0) if self.disaggregated else min(float(loads.mean()), 4.0)
        gl[4] = c.next_req / max(c.n, 1)
        gl[5] = sum(i.n_finished for i in insts) / max(c.n, 1)
