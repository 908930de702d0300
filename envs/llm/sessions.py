"""Multi-turn agent sessions and KV time-to-live (Continuum-like pinning between turns).

An **agent session** is a program that alternates LLM calls and tool calls (ReAct): turn ``k`` of a
session is one request whose prompt is the session's whole context so far (the previous turn's prompt
and output plus the tool's observation); after the turn the agent runs a tool call for a while and
then sends turn ``k + 1``. Arrivals are therefore **closed-loop**: a follow-up turn arrives
``tool_time`` seconds after the previous turn *finished*, so a slow server also delays the session's
later turns.

KV time-to-live (Li et al. 2025, "Continuum: Efficient and Robust Multi-Turn LLM Agent Scheduling
with KV Cache Time-to-Live", arXiv 2511.02230): when a turn that ends in a tool call finishes, the
engine may **pin** its KV blocks on the GPU for a TTL instead of freeing them. If the next turn arrives
before the TTL expires it **adopts** the pinned KV (it only prefills the tool observation), otherwise
the pin expires and the blocks are freed (and the next turn recomputes its whole prompt, or hits the
prefix cache when that is on). Pinned blocks count against the KV capacity. The rules
(``ServingConfig.kv_ttl``):

* ``"none"`` — no pinning (vLLM: a finished request's KV is freed at once);
* ``"fixed"`` — every turn that ends in a tool call is pinned for ``kv_ttl_s`` seconds;
* ``"tool-aware"`` (Continuum-like) — the engine keeps the durations it has observed for each tool
  kind (a turn's tool kind is visible in its output, as Continuum parses the tool call); with fewer
  than :data:`MIN_HISTORY` observations it pins for ``kv_ttl_s`` (cold start); otherwise it pins for
  the :data:`TTL_QUANTILE` quantile of the observed durations of that kind if that is at most
  ``kv_ttl_s``, and does not pin tool kinds that usually run longer (Continuum's preview code pins by
  a per-tool moving average against a fixed threshold; the paper chooses the TTL by weighing the
  reload cost against the memory held).

**Memory pressure**: pinned KV is evicted before a running request would be preempted for KV blocks,
and when the engine would idle with requests waiting (an empty iteration launched while requests
wait); victims: pins whose turn has not arrived, the latest expiry first, then arrived turns still
queued with adopted KV (newest first; their KV is dropped and they re-prefill, logged as a recompute
preemption). Program-level FCFS (Continuum's admission order: the turn of the earliest-started
session first) is an admission policy, :func:`choose_turn`.

The workload (:func:`agent_sessions`) is synthetic: public agent traces with tool timings (SWE-bench,
BFCL runs) are not shipped here. Its parameters are documented assumptions (see
:data:`TOOL_KINDS` and docs/llm.md, "Agent sessions and KV time-to-live").
"""

from __future__ import annotations

import bisect
import heapq
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .workload import Workload, _assign_classes

if TYPE_CHECKING:
    from .simulator import ServingSimulator

#: tool kind -> (median duration s, log-normal sigma, share of tool calls). Assumed, not fitted: a coding
#: / function-calling agent mixes fast file and shell operations (sub-second), edits, remote API or
#: search calls (seconds) and test or build runs (tens of seconds); Continuum reports tool calls "from
#: milliseconds to tens of seconds" on SWE-bench and BFCL.
TOOL_KINDS: dict[str, tuple[float, float, float]] = {
    "read": (0.3, 0.6, 0.45),  # ls / cat / grep-like file reads
    "edit": (0.8, 0.5, 0.25),  # file edits, small scripts
    "api": (2.5, 0.7, 0.20),  # web search, remote API (function calling)
    "test": (15.0, 0.7, 0.10),  # test suites, builds
}
TOOL_KIND_NAMES: tuple[str, ...] = tuple(TOOL_KINDS)
#: (median tokens, log-normal sigma, clip range) of the agent's message sizes (assumed): the task
#: description of turn 1, the tool observation appended before each later turn, and each turn's output
#: (the agent's reasoning + tool call, or its final answer)
TASK_TOKENS = (200.0, 0.6, (20, 1000))
OBSERVATION_TOKENS = (150.0, 1.0, (5, 2000))
ACTION_TOKENS = (80.0, 0.7, (8, 800))

KV_TTL_MODES: tuple[str, ...] = ("none", "fixed", "tool-aware")
MIN_HISTORY = 3  #: tool-aware TTL: observations of a tool kind before its own durations are used
TTL_QUANTILE = 0.9  #: tool-aware TTL: quantile of the observed durations of the kind
HISTORY_WINDOW = 64  #: tool-aware TTL: most recent durations kept per tool kind

# reasons a pin ends
PIN_EXPIRED, PIN_EVICTED, PIN_ADOPTED = 0, 1, 2


@dataclass
class AgentWorkload(Workload):
    """A :class:`Workload` of agent sessions, one request per turn, ids in session-major order (a
    session's turns are consecutive ids; sessions by start time). ``arrival`` holds each turn's
    **session start** (turn 1's real arrival); a later turn's real arrival is closed-loop (the previous
    turn's finish + its ``tool_time``) and is set by the simulator."""

    session: np.ndarray = field(default=None)  # type: ignore[assignment]
    turn: np.ndarray = field(default=None)  # type: ignore[assignment]  #: 0-based turn index
    next_turn: np.ndarray = field(default=None)  # type: ignore[assignment]  #: id of the next turn, -1: last
    tool_time: np.ndarray = field(default=None)  # type: ignore[assignment]  #: s of tool call after the turn (NaN: last)
    tool_kind: np.ndarray = field(default=None)  # type: ignore[assignment]  #: index into TOOL_KIND_NAMES (-1: last)

    def __post_init__(self) -> None:
        super().__post_init__()
        n = len(self)
        for name, dtype in (("session", np.int64), ("turn", np.int64), ("next_turn", np.int64),
                            ("tool_time", np.float64), ("tool_kind", np.int64)):
            value = getattr(self, name)
            if value is None:
                raise ValueError(f"AgentWorkload.{name} is required")
            arr = np.asarray(value, dtype)
            if arr.shape != (n,):
                raise ValueError(f"AgentWorkload.{name} has shape {arr.shape}, expected ({n},)")
            setattr(self, name, arr)
        nxt = self.next_turn
        has_next = nxt >= 0
        if np.any(nxt >= n) or np.any(has_next & (nxt <= np.arange(n))):
            raise ValueError("AgentWorkload.next_turn must point to a later request id (or -1)")
        if np.any(has_next & ~(np.isfinite(self.tool_time) & (self.tool_time >= 0))):
            raise ValueError("AgentWorkload.tool_time must be finite and >= 0 for every turn with a next turn")
        if np.any(has_next & ((self.session[np.maximum(nxt, 0)] != self.session) | (self.turn[np.maximum(nxt, 0)] != self.turn + 1))):
            raise ValueError("AgentWorkload.next_turn must point to the next turn of the same session")

    def select(self, idx: np.ndarray) -> Workload:
        raise NotImplementedError("an AgentWorkload cannot be cut into windows (turns depend on earlier turns); "
                                  "generate the size you need with agent_sessions(n_requests=...)")


def _lognormal_tokens(rng: np.random.Generator, spec: tuple[float, float, tuple[int, int]]) -> int:
    median, sigma, (lo, hi) = spec
    return int(np.clip(round(rng.lognormal(math.log(median), sigma)), lo, hi))


def agent_sessions(
    n_requests: int,
    rate: float,
    rng: np.random.Generator,
    turns_mean: float = 6.0,
    max_turns: int = 20,
    system_prompt_len: int = 600,
    n_system_prompts: int = 4,
    max_context: int = 4096,
    class_mix: dict[str, float] | str | None = None,
    name: str | None = None,
) -> AgentWorkload:
    """``n_requests`` turns of synthetic agent sessions, about ``rate`` turns/s offered (sessions start as
    a Poisson process at ``rate / turns_mean`` sessions/s; the realized turn rate also depends on the
    server, since later turns are closed-loop).

    Each session picks one of ``n_system_prompts`` agent system prompts (``system_prompt_len`` tokens,
    uniform popularity) and runs a geometric number of turns (mean ``turns_mean``, at most
    ``max_turns``). Turn 1's prompt = system prompt + task description; turn ``k + 1``'s prompt = turn
    ``k``'s prompt + output + the tool's observation; every turn but the last ends in a tool call of a
    kind drawn from :data:`TOOL_KINDS` (log-normal duration). Token sizes: :data:`TASK_TOKENS`,
    :data:`OBSERVATION_TOKENS`, :data:`ACTION_TOKENS`. A session ends early when its next turn would
    pass ``max_context`` tokens; the last session is cut at ``n_requests`` turns.
    """
    from ..core import check_number

    n_requests = check_number("n_requests", n_requests, minimum=1, integer=True)
    for label, value in (("rate", rate), ("turns_mean", turns_mean)):
        check_number(label, value, minimum=0.0, exclusive=True)
    if turns_mean < 1:
        raise ValueError(f"turns_mean must be >= 1, got {turns_mean}")
    max_turns = check_number("max_turns", max_turns, minimum=1, integer=True)
    n_system_prompts = check_number("n_system_prompts", n_system_prompts, minimum=1, integer=True)
    if not 0 <= system_prompt_len < max_context // 2:
        raise ValueError(f"system_prompt_len must be in [0, max_context / 2), got {system_prompt_len}")
    shares = np.array([s for _, _, s in TOOL_KINDS.values()])
    shares = shares / shares.sum()
    rows: list[tuple] = []  # start, prompt, output, sys_id, sys_len, session, turn, tool_time, tool_kind
    t, s = 0.0, 0
    while len(rows) < n_requests:
        t += rng.exponential(turns_mean / rate)
        sys_k = int(rng.integers(n_system_prompts))
        turns = min(int(rng.geometric(1.0 / turns_mean)), max_turns)
        context = system_prompt_len + _lognormal_tokens(rng, TASK_TOKENS)
        session_rows: list[list] = []
        for k in range(turns):
            out = _lognormal_tokens(rng, ACTION_TOKENS)
            if context + out > max_context:
                break
            kind = int(rng.choice(len(shares), p=shares))
            median, sigma, _ = TOOL_KINDS[TOOL_KIND_NAMES[kind]]
            session_rows.append([t, context, out, sys_k if system_prompt_len else -1, system_prompt_len, s, k,
                                 float(rng.lognormal(math.log(median), sigma)), kind])
            context += out + _lognormal_tokens(rng, OBSERVATION_TOKENS)
        if not session_rows:
            continue
        session_rows = session_rows[: n_requests - len(rows)]
        session_rows[-1][7], session_rows[-1][8] = math.nan, -1  # the last turn: a final answer, no tool call
        rows.extend(tuple(x) for x in session_rows)
        s += 1
    a = np.array(rows, np.float64)
    n = a.shape[0]
    session = a[:, 5].astype(np.int64)
    nxt = np.where(np.isnan(a[:, 7]), -1, np.arange(n) + 1)
    start = a[:, 0] - a[0, 0]
    classes = _assign_classes(n, rng, class_mix)
    return AgentWorkload(start, a[:, 1].astype(np.int64), a[:, 2].astype(np.int64), classes,
                         name=name or f"agent-sessions-rate{rate:g}", sys_id=a[:, 3].astype(np.int64),
                         sys_len=a[:, 4].astype(np.int64), conv_id=session, session=session,
                         turn=a[:, 6].astype(np.int64), next_turn=nxt, tool_time=a[:, 7],
                         tool_kind=a[:, 8].astype(np.int64))


# ------------------------------------------------------------------------------------- the simulator side
@dataclass
class Pin:
    """KV of a finished turn held on the GPU for its session's next turn."""

    prev: int  #: the finished turn
    nxt: int  #: the turn that may adopt it
    blocks: int
    tokens: int
    pinned_t: float
    expire_t: float
    adopted: bool = False  #: the next turn arrived and holds the blocks (queued, not admitted yet)
    refs: list = field(default_factory=list)  #: prefix-cache references (caching on)
    pooled: int = 0
    reg_upto: int = 0


class SessionState:
    """Closed-loop arrivals and KV pins of one simulation of an :class:`AgentWorkload` (owned by
    :class:`~schedgym.envs.llm.simulator.ServingSimulator`, which calls its hooks)."""

    def __init__(self, sim: "ServingSimulator", wl: AgentWorkload) -> None:
        n = sim.n
        self.session, self.turn, self.next_turn = wl.session, wl.turn, wl.next_turn
        self.tool_time, self.tool_kind = wl.tool_time, wl.tool_kind
        self.prev_turn = np.full(n, -1, np.int64)
        has = self.next_turn >= 0
        self.prev_turn[self.next_turn[has]] = np.flatnonzero(has)
        self.mode = sim.config.kv_ttl
        self.ttl_s = float(sim.config.kv_ttl_s)
        first = self.turn == 0
        self.session_start = np.asarray(wl.arrival, np.float64).copy()
        sim.arrival[~first] = np.inf  # follow-up turns arrive when their previous turn's tool call returns
        self.pending: list[tuple[float, int]] = [(float(sim.arrival[r]), int(r)) for r in np.flatnonzero(first)]
        heapq.heapify(self.pending)
        sim.next_arrival = n  # the simulator's in-order arrival pointer is not used: arrivals come from here
        self.n_arrived = 0
        self.pins: dict[int, Pin] = {}  # next-turn id -> pin
        self._expiry: list[tuple[float, int]] = []  # (expire_t, next id), lazily cleaned
        self.history: dict[int, list[float]] = {k: [] for k in range(len(TOOL_KIND_NAMES))}
        self.pinned_blocks = 0  #: blocks held by pins (adopted ones included until their turn is admitted)
        self.log: list[tuple[float, float, float, int, int, int, int, int]] = []  # ended pins
        self.pinned_block_seconds = 0.0
        self.max_pinned_blocks = 0
        self._t_last = 0.0
        self.saved_tokens = 0  #: prompt tokens not recomputed thanks to adopted pins
        self.n_pins = self.n_adopted = self.n_expired = self.n_evicted = 0

    # ------------------------------------------------------------------ events
    def next_event(self) -> float:
        """Time of the next turn arrival or pin expiry (inf: none)."""
        t = self.pending[0][0] if self.pending else math.inf
        exp = self._expiry
        while exp and (exp[0][1] not in self.pins or self.pins[exp[0][1]].adopted
                       or self.pins[exp[0][1]].expire_t != exp[0][0]):
            heapq.heappop(exp)
        return min(t, exp[0][0]) if exp else t

    def has_pins(self) -> bool:
        return bool(self.pins)

    def _account(self, now: float) -> None:
        if now > self._t_last:
            self.pinned_block_seconds += self.pinned_blocks * (now - self._t_last)
            self._t_last = now

    def arrive(self, sim: "ServingSimulator") -> None:
        """Turns whose arrival time has come join the queue (adopting their pinned KV when it is still
        there); pins past their expiry are released."""
        from .simulator import QUEUED, REJECTED

        now = sim.now
        self._account(now)
        pending = self.pending
        while pending and pending[0][0] <= now:
            t, r = heapq.heappop(pending)
            sim.arrival[r] = t
            self.n_arrived += 1
            p = int(self.prev_turn[r])
            if p >= 0:
                self.history[int(self.tool_kind[p])].append(t - float(sim.last_token_t[p]))
            pin = self.pins.get(r)
            if sim.reject_reason[r]:
                sim.phase[r] = REJECTED
                sim.n_rejected += 1
                if pin is not None:
                    self._end(sim, pin, PIN_EVICTED)
                continue
            sim.phase[r] = QUEUED
            bisect.insort(sim.queue, r)
            sim._qdirty = True
            if pin is not None:
                if t <= pin.expire_t and pin.tokens < sim.target[r]:
                    self._adopt(sim, pin)
                else:
                    self._end(sim, pin, PIN_EXPIRED)
        exp = self._expiry
        while exp and exp[0][0] <= now:
            e, nxt = heapq.heappop(exp)
            pin = self.pins.get(nxt)
            if pin is not None and not pin.adopted and pin.expire_t == e:
                self._end(sim, pin, PIN_EXPIRED)

    def pin_on_finish(self, sim: "ServingSimulator", r: int) -> bool:
        """Turn ``r`` finished: schedule its next turn's arrival; pin its KV when the TTL rule says so
        (then the simulator keeps its blocks). Returns whether it pinned."""
        nxt = int(self.next_turn[r])
        if nxt < 0:
            return False
        finish = float(sim.last_token_t[r])
        heapq.heappush(self.pending, (finish + float(self.tool_time[r]), nxt))
        ttl = self.ttl_for(r)
        if ttl <= 0 or sim.blocks[r] <= 0:
            return False
        self._account(sim.now)
        pin = Pin(r, nxt, int(sim.blocks[r]), int(sim.kv[r]), sim.now, sim.now + ttl)
        if sim.config.prefix_caching:
            pin.refs, pin.pooled, pin.reg_upto = sim._refs[r], int(sim.pooled[r]), int(sim._reg_upto[r])
            sim._refs[r], sim.pooled[r], sim._reg_upto[r] = [], 0, 0
        self.pins[nxt] = pin
        heapq.heappush(self._expiry, (pin.expire_t, nxt))
        self.pinned_blocks += pin.blocks
        self.max_pinned_blocks = max(self.max_pinned_blocks, self.pinned_blocks)
        self.n_pins += 1
        return True

    def ttl_for(self, r: int) -> float:
        """The TTL (s) the configured rule gives turn ``r``'s KV (0: do not pin)."""
        if self.mode == "none":
            return 0.0
        if self.mode == "fixed":
            return self.ttl_s
        hist = self.history[int(self.tool_kind[r])]
        if len(hist) < MIN_HISTORY:
            return self.ttl_s
        q = float(np.quantile(hist[-HISTORY_WINDOW:], TTL_QUANTILE))
        return q if q <= self.ttl_s else 0.0

    def _adopt(self, sim: "ServingSimulator", pin: Pin) -> None:
        """The next turn arrived in time: it takes the pinned blocks (queued, holding KV)."""
        r = pin.nxt
        sim.blocks[r] = pin.blocks
        sim.kv[r] = sim.prefilled[r] = pin.tokens
        if sim.config.prefix_caching:
            sim._refs[r], sim.pooled[r], sim._reg_upto[r] = pin.refs, pin.pooled, pin.reg_upto
            pin.refs = []
        sim._qdirty = True
        pin.adopted = True
        self.saved_tokens += pin.tokens
        self.n_adopted += 1
        self.log.append((pin.pinned_t, pin.expire_t, sim.now, pin.prev, r, pin.blocks, pin.tokens, PIN_ADOPTED))

    def on_admit(self, r: int) -> None:
        """Turn ``r`` is admitted: its adopted KV is no longer pinned (it is the request's own)."""
        pin = self.pins.pop(r, None)
        if pin is not None:
            self.pinned_blocks -= pin.blocks

    def _end(self, sim: "ServingSimulator", pin: Pin, reason: int) -> None:
        """Release a pin that was not adopted (expired or evicted): its blocks are freed (with prefix
        caching, its shareable blocks stay cached and evictable)."""
        self._account(sim.now)
        del self.pins[pin.nxt]
        self.pinned_blocks -= pin.blocks
        prev = pin.prev
        if sim.config.prefix_caching:
            sim.blocks[prev], sim._refs[prev], sim.pooled[prev], sim._reg_upto[prev] = (
                pin.blocks, pin.refs, pin.pooled, pin.reg_upto)
            sim._drop_gpu_blocks(prev, register=True, finished=True)
            sim.blocks[prev] = 0
        else:
            sim.free_blocks += pin.blocks
        if reason == PIN_EXPIRED:
            self.n_expired += 1
        else:
            self.n_evicted += 1
        self.log.append((pin.pinned_t, pin.expire_t, sim.now, prev, pin.nxt, pin.blocks, pin.tokens, reason))

    def _evict_adopted(self, sim: "ServingSimulator", pin: Pin) -> None:
        """Drop the adopted KV of a queued turn (it will re-prefill its whole prompt)."""
        self._account(sim.now)
        r = pin.nxt
        del self.pins[r]
        self.pinned_blocks -= pin.blocks
        sim._drop_gpu_blocks(r, register=True)
        sim.blocks[r] = 0
        sim.kv[r] = sim.prefilled[r] = 0
        sim._qdirty = True
        self.saved_tokens -= pin.tokens
        self.n_evicted += 1
        if sim.log is not None:
            sim.log.preempt_t.append(sim.now)
            sim.log.preempt_rid.append(r)
            sim.log.preempt_mode.append(0)

    def evict(self, sim: "ServingSimulator", blocks: int) -> bool:
        """Memory pressure: evict pins until ``blocks`` blocks were freed or none is left (victims: pins
        still waiting for their turn, latest expiry first; then adopted KV of queued turns, newest first).
        Returns whether anything was evicted."""
        if not self.pins:
            return False
        freed = 0
        waiting = sorted((p for p in self.pins.values() if not p.adopted), key=lambda p: -p.expire_t)
        adopted = sorted((p for p in self.pins.values() if p.adopted), key=lambda p: -p.nxt)
        for pin in waiting + adopted:
            if freed >= blocks:
                break
            freed += pin.blocks
            if pin.adopted:
                self._evict_adopted(sim, pin)
            else:
                self._end(sim, pin, PIN_EVICTED)
        return True

    # ------------------------------------------------------------------ results
    def solution_fields(self, sim: "ServingSimulator") -> dict[str, Any]:
        """What the validator needs to check the sessions (see :func:`~.validate.validate_sessions`)."""
        log = np.asarray(self.log, np.float64).reshape(-1, 8)
        return {
            "session_next": self.next_turn.copy(),
            "session_tool_time": self.tool_time.copy(),
            "kv_ttl": self.mode,
            "kv_ttl_s": self.ttl_s,
            "kv_pins": log,  # pinned_t, expire_t, end_t, prev, next, blocks, tokens, reason
            "kv_pins_open": np.asarray([(p.pinned_t, p.expire_t, math.inf, p.prev, p.nxt, p.blocks, p.tokens, -1)
                                        for p in self.pins.values() if not p.adopted], np.float64).reshape(-1, 8),
        }


# ------------------------------------------------------------------------------------- scheduling, metrics
def choose_turn(sim: "ServingSimulator", program_fcfs: bool) -> int | None:
    """Strict FCFS admission for agent sessions: the head of the waiting turns is admitted if it fits,
    else nothing (launch). ``program_fcfs``: the head is the turn of the earliest-started session
    (Continuum's program-level FCFS; ids are session-major); else the earliest-arrived turn (vLLM)."""
    if not sim.has_candidate():
        return None
    waiting = sim.queue + sim.swapped
    if program_fcfs:
        r = min(waiting)
    else:
        w = np.fromiter(waiting, np.int64, len(waiting))
        r = int(w[np.lexsort((w, sim.arrival[w]))[0]])
    return r if sim.is_candidate(r) else None


def run_sessions(sim: "ServingSimulator", program_fcfs: bool, max_preemptions: int | None = None) -> None:
    """Run a reset simulator to the end admitting by :func:`choose_turn`; with ``max_preemptions``, stop
    early once the run has made more preemptions than that (a bound on thrashing that does not depend
    on time)."""
    while not sim.done and (max_preemptions is None
                            or sim.n_preempt_recompute + sim.n_preempt_swap <= max_preemptions):
        pick = choose_turn(sim, program_fcfs)
        if pick is None:
            sim.launch()
        else:
            sim.admit(pick)
            if not sim.has_candidate():
                sim.launch()


def session_metrics(sim: "ServingSimulator") -> dict[str, float]:
    """Agent-session metrics: job (session) completion time from the first turn's arrival to the last
    turn's finish, over sessions whose turns all finished; TTFT of turns (all, and follow-ups only);
    pinned-KV occupancy (time-weighted mean and peak share of the KV blocks); pins made / adopted /
    expired / evicted, and the prompt tokens the adopted pins saved from recomputation."""
    st: SessionState | None = getattr(sim, "sessions", None)
    if st is None:
        return {}
    n_sessions = int(st.session.max()) + 1 if sim.n else 0
    fin = np.isfinite(sim.finish_t)
    done = np.bincount(st.session, weights=fin, minlength=n_sessions)
    size = np.bincount(st.session, minlength=n_sessions)
    complete = (done == size) & (size > 0)
    last = np.flatnonzero(st.next_turn < 0)
    firsts = np.flatnonzero(st.turn == 0)
    jct = np.full(n_sessions, np.nan)
    jct[st.session[last]] = sim.finish_t[last]
    jct[st.session[firsts]] -= sim.arrival[firsts]
    jct = jct[complete]
    ttft = (sim.first_token_t - sim.arrival)[fin]
    follow = (sim.first_token_t - sim.arrival)[fin & (st.turn > 0)]
    st._account(sim.now)
    span = max(sim.now - float(st.session_start[0]), 1e-12) if sim.n else 1.0

    def pct(v: np.ndarray, q: float) -> float:
        return float(np.percentile(v, q)) if v.size else float("nan")

    return {
        "n_sessions": float(n_sessions),
        "sessions_completed": float(complete.sum()),
        "session_jct_mean": float(jct.mean()) if jct.size else float("nan"),
        "session_jct_p50": pct(jct, 50),
        "session_jct_p99": pct(jct, 99),
        "turn_ttft_mean": float(ttft.mean()) if ttft.size else float("nan"),
        "turn_ttft_p99": pct(ttft, 99),
        "followup_ttft_mean": float(follow.mean()) if follow.size else float("nan"),
        "pinned_share_mean": st.pinned_block_seconds / span / sim.total_blocks,
        "pinned_share_max": st.max_pinned_blocks / sim.total_blocks,
        "kv_pins": float(st.n_pins),
        "kv_pins_adopted": float(st.n_adopted),
        "kv_pins_expired": float(st.n_expired),
        "kv_pins_evicted": float(st.n_evicted),
        "recompute_tokens_saved": float(st.saved_tokens),
    }
