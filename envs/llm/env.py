"""``schedgym/LLMServe-v0``: request scheduling on one LLM serving instance."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..core import GraphSchedulingEnv, GraphSpec, Objective, check_number
from .episode import ServingEpisode
from .layered import layer_progress, moe_metrics
from .metrics import summarize
from .sessions import agent_sessions, session_metrics
from .simulator import QUEUED, RUNNING, SWAPPED, ServingConfig, ServingSimulator
from .validate import validate_run
from .workload import Workload, azure_trace_path, load_trace, sessions, synthetic
from .types import LLMRunSolution

#: node feature columns
NODE_FEATURES: tuple[str, ...] = (
    "is_launch",  # 1 for the global "launch the iteration" node
    "queued_new",  # waiting, never run
    "queued_preempted",  # waiting after a recompute preemption (must re-prefill prompt + generated)
    "swapped",  # KV on the host, must be swapped in
    "running_decode",  # running, decoding (continues by default)
    "running_prefill",  # running, in the middle of a chunked prefill (continues by default)
    "in_batch",  # part of the iteration being composed (launch node: 1)
    "prompt",  # log1p(prompt) / log1p(context limit)
    "prefill_left",  # prompt tokens still to prefill / token budget (launch node: budget used share)
    "generated",  # log1p(generated) / log1p(context limit)
    "age",  # log1p((now - arrival) / TTFT target) (launch node: waiting requests / max_nodes)
    "slack",  # not started: (deadline - now) / TTFT target in [-5, 1]; started: TPOT so far / TPOT target
    "kv_held",  # KV tokens held / context limit (launch node: KV utilization)
    "kv_to_admit",  # blocks the admission needs / free blocks, in [0, 2] (launch node: running / max_num_seqs)
    "slo_class",  # class index / (classes - 1): 0 the tightest
    "legal",  # 1 where the action mask allows it
    "cached_prefix",  # prefix caching: waiting: prompt share found in the cache now; running: shared block share
    "session_turn",  # agent sessions: log1p(turn index) / log1p(32) (0: first turn or no sessions)
    "kv_pinned",  # agent sessions: waiting turn's prompt share already on the GPU from its pinned KV
    "layer_progress",  # layered prefill: layer groups the request's current pass has run / layer groups
)
GLOBAL_FEATURES: tuple[str, ...] = (
    "kv_utilization",
    "budget_used",
    "running_share",  # running / max_num_seqs
    "waiting_share",  # waiting / (max_nodes - 1), clipped to 4
    "arrived_share",  # requests arrived / requests in the episode
    "finished_share",
    "decode_context",  # mean context of the decodes / context limit
    "iteration_time",  # expected time of the default batch / tightest TPOT target
    "pinned_share",  # agent sessions: KV blocks pinned between turns / KV capacity
)
_LAYER_PROGRESS = NODE_FEATURES.index("layer_progress")
_SESSION_TURN, _KV_PINNED = NODE_FEATURES.index("session_turn"), NODE_FEATURES.index("kv_pinned")
_PINNED_SHARE = GLOBAL_FEATURES.index("pinned_share")
# node types
NT_LAUNCH, NT_WAITING, NT_RUNNING = 0, 1, 2
# edge types: request -> launch and launch -> request, by state; queue order between waiting requests
ET_RUN_TO_LAUNCH, ET_LAUNCH_TO_RUN, ET_WAIT_TO_LAUNCH, ET_LAUNCH_TO_WAIT, ET_QUEUE = 0, 1, 2, 3, 4

LAUNCH = 0  #: node index of the launch node


def make_workload(
    workload: Workload | str | os.PathLike[str] | None,
    rng: np.random.Generator,
    n_requests: int,
    rate: float,
    cv: float,
    lengths: str,
    class_mix: dict[str, float] | str | None,
    rate_scale: float = 1.0,
    load: float | None = None,
) -> Workload:
    """The workload of one episode.

    ``workload``: a :class:`Workload` (used as is); ``"azure-conv"`` / ``"azure-code"`` (a window of
    ``n_requests`` consecutive requests of the Azure 2023 trace starting at a random row, arrivals
    sped up ``rate_scale`` times; ``n_requests <= 0`` replays the whole trace); a path to a trace file
    (same windowing); or None (synthetic: gamma arrivals at ``rate`` with coefficient of variation
    ``cv``, lengths ``lengths``).

    ``load`` (traces only; overrides ``rate_scale``): the offered load relative to the **whole trace's
    average rate** (requests - 1 over its duration): the window is time-scaled so that its own average
    rate is ``load x`` that rate (its burst pattern kept). ``rate_scale`` instead speeds up the window's
    own timing, so "1x" is the window's local rate, which differs from the trace's average.
    """
    if isinstance(workload, Workload):
        return workload
    if workload is None:
        return synthetic(n_requests, rate, rng, cv=cv, lengths=lengths, class_mix=class_mix)
    text = os.fspath(workload)
    if text == "sessions":  # shared system prompts + multi-turn conversations (prefix caching)
        return sessions(n_requests, rate, rng, lengths=lengths, class_mix=class_mix)
    if text == "agent-sessions":  # multi-turn agent sessions with tool calls (closed-loop turns; KV TTL)
        return agent_sessions(n_requests, rate, rng, class_mix=class_mix)
    if text in ("azure-conv", "azure-code"):
        trace = _cached_trace(str(azure_trace_path(text.split("-")[1])))
    else:
        trace = _cached_trace(text)
    if n_requests > 0 and n_requests < len(trace):
        start = int(rng.integers(0, len(trace) - n_requests + 1))
        idx = np.arange(start, start + n_requests)
        w = trace.select(idx)
        w.arrival = w.arrival - w.arrival[0]
    else:
        w = trace.select(np.arange(len(trace)))
    if load is not None:
        load = float(load)
        if not (np.isfinite(load) and load > 0):
            raise ValueError(f"load must be finite and > 0, got {load}")
        if len(w) > 1 and w.duration > 0:
            target = load * trace_average_rate(trace)
            w = w.scaled_rate(target / ((len(w) - 1) / w.duration))
    elif rate_scale != 1.0:
        w = w.scaled_rate(rate_scale)
    if class_mix is not None:
        from .workload import _assign_classes

        w = Workload(w.arrival, w.prompt, w.output, _assign_classes(len(w), rng, class_mix), name=w.name,
                     sys_id=w.sys_id, sys_len=w.sys_len, conv_id=w.conv_id)
    return w


_TRACES: dict[str, Workload] = {}


def trace_average_rate(trace: Workload) -> float:
    """Requests per second over the whole trace: ``(requests - 1) / (last arrival - first arrival)``."""
    return (len(trace) - 1) / trace.duration if len(trace) > 1 and trace.duration > 0 else float("nan")


def _cached_trace(path: str) -> Workload:
    if path not in _TRACES:
        _TRACES[path] = load_trace(path)
    return _TRACES[path]


class LLMServeEnv(ServingEpisode, GraphSchedulingEnv):
    """Iteration-level request scheduling on one LLM serving instance (vLLM-like engine).

    Requests arrive over time (synthetic or a replayed trace); a simulated engine runs batches of
    prefill and decode work (:mod:`schedgym.envs.llm.simulator`, costed by a roofline calibrated
    against published latencies). Running requests continue by default; the agent decides, at each
    iteration boundary where a choice exists, which waiting request to admit next, or to launch the
    iteration as composed.

    ## Action Space
    ``Discrete(max_nodes)``: node 0 is the *launch* node (run the iteration now); nodes ``1..`` are
    requests. Picking a legal waiting request (new, recompute-preempted or swapped) admits it into the
    iteration being composed (a prefill chunk, a full prompt, or a swap-in); when nothing else can be
    admitted the iteration launches by itself. The mask enforces the token budget, ``max_num_seqs``
    and the KV capacity (minus vLLM's 1 % watermark); under ``batching="prefill-first"`` admitting a
    prompt makes the iteration prefill-only (vLLM v0). Launch is legal unless the batch is empty and
    no request will arrive any more.

    ## Observation Space
    The contract's padded graph (:mod:`schedgym.envs.core`): the launch node (type 0), waiting /
    swapped requests (type 1; admissible ones first, then by arrival) and running requests (type 2),
    at most ``max_nodes - 1`` requests. Edges: running -> launch (type 0) and back (1), waiting ->
    launch (2) and back (3), and waiting requests in arrival order (4). Node features
    :data:`NODE_FEATURES`, globals :data:`GLOBAL_FEATURES`; every feature is a ratio (to the context
    limit, the token budget, the SLO targets, the KV capacity), so it does not depend on the sizes.
    Output lengths are not observed (they are unknown to a real scheduler).

    ## Rewards
    ``reward="goodput"`` (default): +1/N for each request that finishes within its TTFT and TPOT
    targets (N requests in the episode), so the return is the SLO attainment.
    ``reward="latency"``: -(end-to-end latency in s) / (N * ``latency_scale``) for each finished request.

    ## Starting State
    An empty instance at time 0 and the workload of the episode (see :func:`make_workload`); the first
    observation is the first decision point.

    ## Episode End
    Terminates when every request has finished or been rejected (over the context limit or the KV
    capacity; counted in the metrics, never dropped silently); truncates after ``max_steps`` steps
    when set. When every request is rejected before the first decision (e.g. ``max_kv_blocks=1``, or
    prompts over the context limit), the first observation offers only the launch node and that step
    ends the episode, with metrics and a solution as any other. ``info["metrics"]`` holds :func:`schedgym.envs.llm.metrics.summarize` (TTFT / TBT /
    latency p50, p90, p99, SLO attainment, throughput, preemptions, KV utilization...),
    ``info["solution"]`` the iteration log checked by :func:`schedgym.envs.llm.validate.validate_run`.

    ## Arguments
    Engine: ``model`` (``"llama-2-7b"``...), ``hardware`` (``"a100-80gb"``...), ``tp``, ``token_budget``
    (None: the context limit), ``chunked_prefill``, ``batching``, ``max_num_seqs``, ``preemption``
    (``"recompute"``/``"swap"``), ``preempt_order`` (victim order), ``proactive_preemption``
    (FastServe-style, with ``preempt_order="mlfq"``), ``prefix_caching`` (vLLM-style automatic prefix
    caching), ``engine`` (cost-model kernels: ``"vllm"`` or ``"trt-llm"``), ``prefill_mode``
    (``"chunked"``, or ``"layered"``: layered prefill over ``layer_groups`` groups of layers,
    :mod:`~schedgym.envs.llm.layered`; with a mixture-of-experts ``model`` such as ``"mixtral-8x7b"``
    (``tp=2``) the metrics add the expert-weight traffic), ``swap_space_gib`` (host
    swap space, default 32), ``swap_overlap`` (FastSwitch-like copy/compute overlap),
    ``swap_block_group`` (KV blocks per copy call), ``max_kv_blocks`` (cap, for small instances),
    ``overlength``. Workload: ``workload``, ``n_requests``, ``rate``, ``cv``, ``lengths``,
    ``class_mix``, ``rate_scale``, ``load`` (traces: load relative to the whole trace's average rate);
    ``workload="sessions"``: shared system prompts and multi-turn conversations
    (:func:`~schedgym.envs.llm.workload.sessions`); ``workload="agent-sessions"``: multi-turn agent
    sessions with tool calls between turns (closed-loop turns, :func:`~schedgym.envs.llm.sessions.agent_sessions`),
    with ``kv_ttl`` (``"none"``, ``"fixed"``, ``"tool-aware"``) and ``kv_ttl_s`` pinning a turn's KV for
    the next turn (Continuum-like). Env: ``max_nodes``, ``reward``, ``latency_scale``, ``max_steps``.

    Defaults are small (100 synthetic Azure-conv-like requests at 12 req/s on Llama-2-7B / A100); the
    realistic setting is one kwarg away, e.g. ``workload="azure-conv", n_requests=0, max_nodes=256``.
    """

    objective = Objective("slo_attainment", "max")

    def __init__(
        self,
        model: str = "llama-2-7b",
        hardware: str = "a100-80gb",
        tp: int = 1,
        token_budget: int | None = 2048,
        chunked_prefill: bool = True,
        batching: str = "mixed",
        max_num_seqs: int = 256,
        preemption: str = "recompute",
        preempt_order: str = "fcfs",
        proactive_preemption: bool = False,
        prefix_caching: bool = False,
        kv_ttl: str = "none",
        kv_ttl_s: float = 5.0,
        engine: str = "vllm",
        prefill_mode: str = "chunked",
        layer_groups: int = 4,
        swap_space_gib: float = 32.0,
        swap_overlap: bool = False,
        swap_block_group: int = 1,
        max_kv_blocks: int | None = None,
        overlength: str = "reject",
        workload: Workload | str | os.PathLike[str] | None = None,
        n_requests: int = 100,
        rate: float = 12.0,
        cv: float = 1.0,
        lengths: str = "azure-conv",
        class_mix: dict[str, float] | str | None = None,
        rate_scale: float = 1.0,
        load: float | None = None,
        max_nodes: int = 64,
        reward: str = "goodput",
        latency_scale: float = 10.0,
        max_steps: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        max_nodes = check_number("max_nodes", max_nodes, minimum=2, integer=True)  # the launch node + a request
        self._init_render(render_mode)
        self.config = ServingConfig(
            model=model, hardware=hardware, tp=tp, token_budget=token_budget, chunked_prefill=chunked_prefill,
            batching=batching, max_num_seqs=max_num_seqs, preemption=preemption, preempt_order=preempt_order,
            proactive_preemption=proactive_preemption, max_kv_blocks=max_kv_blocks, overlength=overlength,
            prefix_caching=bool(prefix_caching), engine=engine, swap_space_gib=swap_space_gib,
            swap_overlap=bool(swap_overlap), swap_block_group=swap_block_group,
            kv_ttl=kv_ttl, kv_ttl_s=kv_ttl_s,
            prefill_mode=prefill_mode, layer_groups=layer_groups,
            record=True,
        )
        self.sim = ServingSimulator(self.config)  # validates the engine (and that the model fits) now
        self._init_episode(workload, n_requests, rate, cv, lengths, class_mix, rate_scale, reward, latency_scale,
                           max_steps)
        self._set_load(load)
        self.max_nodes = int(max_nodes)
        n = self.max_nodes
        self._init_graph(
            GraphSpec(
                max_nodes=n,
                max_edges=2 * (n - 1) + max(n - 2, 1),
                node_features=len(NODE_FEATURES),
                n_node_types=3,
                n_edge_types=5,
                global_features=len(GLOBAL_FEATURES),
                node_feature_names=NODE_FEATURES,
                global_feature_names=GLOBAL_FEATURES,
            )
        )
        self.node_rid = np.full(n, -1, np.int64)
        self._log_ctx = float(np.log1p(self.sim.max_context))

    # ------------------------------------------------------------------ episode
    def _reset_state(self, options: dict[str, Any] | None) -> None:
        self.sim.reset(self._draw_workload(options))
        self._build_obs()

    def _apply(self, action: int) -> tuple[float, bool, bool]:
        sim = self.sim
        if sim.done:
            # every request was rejected before the first decision (over the context limit or the KV
            # capacity): the one legal action, launch, ends the episode with its metrics
            pass
        elif action == LAUNCH:
            sim.launch()
        else:
            sim.admit(int(self.node_rid[action]))
            if not sim.has_candidate():
                sim.launch()
        terminated = sim.done
        reward, truncated = self._reward(sim.n, sim.n_good, sim.sum_latency, terminated)
        self._build_obs()
        return reward, terminated, truncated

    def _episode_metrics(self) -> dict[str, float]:
        m = summarize(self.sim)
        m.update(session_metrics(self.sim))
        m.update(moe_metrics(self.sim))
        m["steps"] = float(self._steps)
        return m

    def _episode_solution(self) -> LLMRunSolution:
        return self.sim.solution()

    def validate_solution(self, solution: dict[str, Any]) -> float:
        return validate_run(solution)

    def _describe_illegal(self, action: int) -> str:
        if action == LAUNCH:
            return "launching now would idle forever: the batch is empty and no request will arrive"
        r = int(self.node_rid[action])
        if r < 0:
            return "it is a padding node"
        phase = int(self.sim.phase[r])
        if phase == RUNNING:
            return f"request {r} is already running (running requests continue by default)"
        return (f"request {r} does not fit the iteration now (token budget left {self.sim.budget_left}, "
                f"free KV blocks {self.sim.free_blocks}, running {len(self.sim.running)}/{self.sim.config.max_num_seqs})")

    def _step_info(self) -> dict[str, Any]:
        return {"time": float(self.sim.now), "n_waiting": len(self.sim.queue) + len(self.sim.swapped),
                "n_running": len(self.sim.running)}

    # ------------------------------------------------------------------ observation
    def _build_obs(self) -> None:
        g = self.graph
        sim = self.sim
        g.clear()
        nmax = self.max_nodes
        g.n_nodes = 1
        x = g.nodes
        x[LAUNCH, 0] = 1.0
        x[LAUNCH, 6] = 1.0
        g.node_type[LAUNCH] = NT_LAUNCH
        self.node_rid.fill(-1)
        if sim.done:
            g.action_mask[LAUNCH] = 1  # terminal observation: never acted on
            return
        waiting = sim.queue + sim.swapped
        cand_mask = sim._candidate_mask(waiting)
        w = np.asarray(waiting, np.int64)
        # admissible first (arrival order), then the rest by arrival
        if w.size:
            order = np.lexsort((w, ~cand_mask))
            w, cand_mask = w[order], cand_mask[order]
        w = w[: nmax - 1]
        cand_mask = cand_mask[: w.size]
        run = np.asarray(sim.running, np.int64)[: nmax - 1 - w.size]
        nw, nr = w.size, run.size
        ids = np.concatenate([w, run])
        k = ids.size
        rows = slice(1, 1 + k)
        g.n_nodes = 1 + k
        self.node_rid[1:1 + k] = ids
        g.node_type[1:1 + nw] = NT_WAITING
        g.node_type[1 + nw:1 + k] = NT_RUNNING
        if k:
            ph = sim.phase[ids]
            gen = sim.generated[ids].astype(np.float64)
            rem = (sim.target[ids] - sim.prefilled[ids]).astype(np.float64)
            ttft = sim.ttft_slo[ids]
            tpot = sim.tpot_slo[ids]
            now = sim.now
            f = np.zeros((k, len(NODE_FEATURES)), np.float64)
            f[:, 1] = (ph == QUEUED) & (gen == 0)
            f[:, 2] = (ph == QUEUED) & (gen > 0)
            f[:, 3] = ph == SWAPPED
            running = ph == RUNNING
            f[:, 4] = running & (rem <= 0)
            f[:, 5] = running & (rem > 0)
            f[:, 6] = running
            f[:, 7] = np.log1p(sim.prompt[ids]) / self._log_ctx
            f[:, 8] = np.minimum(rem / sim.token_budget, 4.0)
            f[:, 9] = np.log1p(gen) / self._log_ctx
            f[:, 10] = np.log1p(np.maximum(now - sim.arrival[ids], 0.0) / ttft)
            started = gen > 0
            with np.errstate(invalid="ignore", divide="ignore"):
                tpot_now = np.where(started & (gen > 1), (now - sim.first_token_t[ids]) / np.maximum(gen - 1, 1) / tpot, 0.0)
            slack = np.clip((sim.arrival[ids] + ttft - now) / ttft, -5.0, 1.0)
            f[:, 11] = np.where(started, np.minimum(np.nan_to_num(tpot_now), 10.0), slack)
            f[:, 12] = sim.kv[ids] / sim.max_context
            # the most prompt tokens one admission takes: a chunk of the budget (layered: a pass, ~G x the budget)
            first = sim.token_budget if sim.layer_sizes is None else (
                sim.token_budget * sim.model.n_layers // int(sim.layer_sizes.max()))
            need_tok = np.where(ph == SWAPPED, sim.kv[ids], np.minimum(rem, first))
            need_blocks = -(-need_tok // sim.block_size)
            free = max(sim.free_blocks - sim.watermark_blocks, 1)
            f[:, 13] = np.where(running, 0.0, np.minimum(need_blocks / free, 2.0))
            f[:, 14] = sim.slo_class[ids] / max(len(self.workload.class_names) - 1, 1)
            legal = np.zeros(k, bool)
            legal[:nw] = cand_mask
            f[:, 15] = legal
            if sim.config.prefix_caching:
                bs = sim.block_size
                f[:nw, 16] = [sim.cached_prefix_blocks(int(r)) * bs / max(int(sim.target[r]), 1) for r in w]
                f[nw:, 16] = sim.pooled[run] / np.maximum(sim.blocks[run], 1)
            if sim.sessions is not None:
                f[:, _SESSION_TURN] = np.log1p(sim.sessions.turn[ids]) / np.log1p(32.0)
                adopted = np.flatnonzero((ph[:nw] == QUEUED) & (gen[:nw] == 0) & (sim.prefilled[w] > 0))
                f[adopted, _KV_PINNED] = sim.prefilled[w[adopted]] / np.maximum(sim.target[w[adopted]], 1)
            if sim.config.prefill_mode == "layered":
                f[:, _LAYER_PROGRESS] = layer_progress(sim, ids)
            x[rows] = f
            g.action_mask[1:1 + k] = legal
        # launch node + globals
        used = sim.total_blocks - sim.free_blocks
        budget_used = 1.0 - sim.budget_left / sim.token_budget
        x[LAUNCH, 8] = budget_used
        x[LAUNCH, 10] = min(len(waiting) / (nmax - 1), 4.0)
        x[LAUNCH, 12] = used / sim.total_blocks
        x[LAUNCH, 13] = len(sim.running) / sim.config.max_num_seqs
        launch_ok = sim.can_launch()
        x[LAUNCH, 15] = float(launch_ok)
        g.action_mask[LAUNCH] = 1 if launch_ok else 0
        d = sim._dec
        n_dec = len(d)
        dctx = float(sim.kv[d].sum() + n_dec) if n_dec else 0.0
        it = sim.cost.iteration_time(0, 0.0, 0, 0, n_dec, dctx) if n_dec else 0.0
        gl = g.globals
        gl[0] = used / sim.total_blocks
        gl[1] = budget_used
        gl[2] = len(sim.running) / sim.config.max_num_seqs
        gl[3] = min(len(waiting) / (nmax - 1), 4.0)
        gl[4] = (sim.sessions.n_arrived if sim.sessions is not None else sim.next_arrival) / max(sim.n, 1)
        gl[5] = sim.n_finished / max(sim.n, 1)
        gl[6] = (dctx / n_dec / sim.max_context) if n_dec else 0.0
        gl[7] = it / float(np.min(sim.tpot_slo)) if sim.n else 0.0
        gl[_PINNED_SHARE] = sim.sessions.pinned_blocks / sim.total_blocks if sim.sessions is not None else 0.0
        # edges
        if k:
            req = np.arange(1, 1 + k)
            wn, rn = req[:nw], req[nw:]
            if nr:
                g.add_edges(rn, np.zeros(nr, np.int64), ET_RUN_TO_LAUNCH)
                g.add_edges(np.zeros(nr, np.int64), rn, ET_LAUNCH_TO_RUN)
            if nw:
                g.add_edges(wn, np.zeros(nw, np.int64), ET_WAIT_TO_LAUNCH)
                g.add_edges(np.zeros(nw, np.int64), wn, ET_LAUNCH_TO_WAIT)
            if nw > 1:
                order = np.argsort(w, kind="stable")
                g.add_edges(wn[order[:-1]], wn[order[1:]], ET_QUEUE)

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        from .render import render_timeline

        return render_timeline(self.sim)
