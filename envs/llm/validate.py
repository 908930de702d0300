"""Independent check of a finished serving run (``info["solution"]`` of the LLM environments).

Written from the rules of iteration-level serving, sharing no code with the simulator: it replays
the recorded iterations and preemptions with its own per-request bookkeeping and checks that

* iterations do not overlap in time and each ends after it starts;
* nothing runs before it arrives, and rejected requests never run;
* every iteration stays within its token budget (prefill chunk tokens + one per decode / swap-in)
  and, after it, the KV blocks held by GPU-resident requests stay within the KV capacity;
* a request's prompt is prefilled exactly once, in chunks that never run past it, except that a
  recompute preemption drops its KV and it must then re-prefill prompt + generated tokens; a
  swapped request must be swapped in before it decodes again;
* decodes only follow a complete prefill; every request generates exactly its output tokens;
* layered prefill: a pass holds its KV (on the GPU, against the capacity) from its first layer group on,
  and its prefill entry at its last group completes it (:func:`validate_layered` checks the layer log);
* the reported first-token and finish times equal the replayed ones.

It returns the SLO attainment it recomputes from the replayed token times (the LLM environments'
objective) or raises :class:`InvalidRunError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_PREFILL, _DECODE, _SWAPIN = 0, 1, 2


class InvalidRunError(AssertionError):
    """A serving run that breaks a rule; the message names the request and the iteration."""


def _ceil_div(a: np.ndarray | int, b: int) -> np.ndarray | int:
    return -(-a // b)


def _check_admission(solution: dict[str, Any], arrival: np.ndarray, prompt: np.ndarray, output: np.ndarray,
                     rejected: np.ndarray, capacity: int, bs: int) -> None:
    """Recompute which requests had to be rejected or truncated from the requested lengths, the context
    limit and the KV capacity, instead of trusting the simulator's flags."""
    ctx = int(solution["max_context"])
    wm = int(solution["watermark_blocks"])
    p0 = np.asarray(solution["prompt_requested"], np.int64)
    o0 = np.asarray(solution["output_requested"], np.int64)
    truncated = np.asarray(solution["truncated"], bool)
    here = np.isfinite(arrival)
    over = p0 + o0 > ctx
    if np.any(truncated & ~over):
        r = int(np.flatnonzero(truncated & ~over)[0])
        raise InvalidRunError(f"request {r} was truncated although {p0[r]}+{o0[r]} tokens fit the context {ctx}")
    keep = ~truncated
    if np.any((prompt != p0) & keep) or np.any((output != o0) & keep):
        r = int(np.flatnonzero(((prompt != p0) | (output != o0)) & keep)[0])
        raise InvalidRunError(f"request {r}: run lengths {prompt[r]}/{output[r]} differ from requested {p0[r]}/{o0[r]}")
    if np.any(truncated & ((prompt > p0) | (output > o0) | (prompt + output > ctx) | (output < 1))):
        r = int(np.flatnonzero(truncated & ((prompt > p0) | (output > o0) | (prompt + output > ctx)))[0])
        raise InvalidRunError(f"request {r}: truncated to {prompt[r]}+{output[r]} tokens, not within {p0[r]}+{o0[r]} and {ctx}")
    too_big = -(-(prompt + output - 1) // bs) > capacity - wm
    justified = (over & ~truncated) | too_big
    wrong = here & (rejected != justified)
    if np.any(wrong):
        r = int(np.flatnonzero(wrong)[0])
        what = "rejected without cause" if rejected[r] else "should have been rejected"
        raise InvalidRunError(
            f"request {r} ({prompt[r]}+{output[r]} tokens, context {ctx}, {capacity - wm} usable KV blocks) was {what}")
    if np.any(rejected & ~here):
        raise InvalidRunError(f"request {int(np.flatnonzero(rejected & ~here)[0])} was rejected without arriving here")


def validate_run(solution: dict[str, Any], atol: float = 1e-6) -> float:
    """Validate one instance's run; return its SLO attainment (see the module docstring)."""
    log = solution.get("log")
    if log is None:
        raise InvalidRunError("the run was not recorded (record=False): nothing to validate")
    arrival = np.asarray(solution["arrival"], np.float64)
    prompt = np.asarray(solution["prompt"], np.int64)
    output = np.asarray(solution["output"], np.int64)
    rejected = np.asarray(solution["rejected"], bool)
    #: requests that must finish on this instance (all non-rejected ones for a single instance)
    expected = np.asarray(solution.get("expected", ~rejected), bool)
    budget = int(solution["token_budget"])
    capacity = int(solution["kv_blocks"])
    bs = int(solution["block_size"])
    n = arrival.shape[0]
    if "max_context" in solution:
        _check_admission(solution, arrival, prompt, output, rejected, capacity, bs)

    kv = np.zeros(n, np.int64)  # KV tokens (GPU or host)
    done_prefill = np.zeros(n, np.int64)  # prompt tokens prefilled toward need
    need = prompt.copy()  # tokens to prefill before decoding
    gen = np.zeros(n, np.int64)
    where = np.zeros(n, np.int8)  # 0 nowhere, 1 GPU, 2 host
    started = np.zeros(n, bool)
    first_t = np.full(n, np.nan)
    last_t = np.full(n, np.nan)
    gpu_blocks = 0

    starts = log["start"]
    repeats = log["repeat"]
    offsets = log["offsets"]
    rids, toks, kinds, ends = log["rid"], log["tokens"], log["kind"], log["ends"]
    p_t, p_r, p_m = log["preempt_t"], log["preempt_rid"], log["preempt_mode"]
    mig_in = log.get("mig_in", np.zeros((0, 5)))
    left = np.zeros(n, bool)  # migrated away (cluster)
    mi = 0
    if offsets.shape[0] != starts.shape[0] + 1 or ends.shape[0] != int(repeats.sum()):
        raise InvalidRunError("malformed log: offsets / ends do not match the iteration groups")
    pi = 0
    e_idx = 0
    state = {"pi": 0, "mi": 0}
    # prefix caching: blocks are keyed by content (system prompt, conversation, else the request alone);
    # a hit may only serve blocks some request computed before
    caching = bool(solution.get("prefix_caching", False))
    hit_t = np.asarray(log.get("hit_t", np.zeros(0)), np.float64)
    hit_r = np.asarray(log.get("hit_rid", np.zeros(0)), np.int64)
    hit_k = np.asarray(log.get("hit_tokens", np.zeros(0)), np.int64)
    if hit_t.shape[0] and not caching:
        raise InvalidRunError("prefix-cache hits recorded although the run claims prefix caching is off")
    sys_id = np.asarray(solution.get("sys_id", np.full(n, -1)), np.int64)
    sys_len = np.asarray(solution.get("sys_len", np.zeros(n)), np.int64)
    conv_id = np.asarray(solution.get("conv_id", np.full(n, -1)), np.int64)
    computed: set[tuple[int, int, int]] = set()
    pins = _SessionPins(solution, n, bs) if "kv_pins" in solution else None  # agent sessions: KV pinned between turns
    # layered prefill: a pass takes its KV when it starts (its group-0 row in the layer log) and is one prefill
    # entry of its tokens when it completes (its last group); tokens of the pass in progress per request
    layered = solution.get("prefill_mode") == "layered"
    pass_rows = _layered_pass_starts(solution, starts.shape[0], n) if layered else None
    in_pass = np.zeros(n, np.int64)

    def start_passes(g: int) -> int:
        """The layered passes starting in iteration group ``g``: their requests go on the GPU with the
        pass's KV; return the blocks they add."""
        bounds, p_rid, p_tok = pass_rows
        added = 0
        for r, c in zip(p_rid[bounds[g]:bounds[g + 1]].tolist(), p_tok[bounds[g]:bounds[g + 1]].tolist()):
            if rejected[r]:
                raise InvalidRunError(f"iteration group {g}: rejected request {r} starts a layered pass")
            if where[r] == 2:
                raise InvalidRunError(f"request {r} starts a layered pass in iteration group {g} while swapped out")
            if in_pass[r]:
                raise InvalidRunError(f"request {r} starts a layered pass in iteration group {g} while its pass of "
                                      f"{in_pass[r]} tokens is in progress")
            if done_prefill[r] + c > need[r]:
                raise InvalidRunError(f"request {r}: a layered pass of {c} tokens in iteration group {g} runs past its "
                                      f"prefill ({done_prefill[r]}/{need[r]} done)")
            where[r] = 1
            old = -(-int(kv[r]) // bs)
            kv[r] += c
            in_pass[r] = c
            added += -(-int(kv[r]) // bs) - old
        return added

    def bkey(r: int, i: int) -> tuple[int, int, int]:
        if sys_id[r] >= 0 and (i + 1) * bs <= sys_len[r]:
            return (0, int(sys_id[r]), i)
        if conv_id[r] >= 0:
            return (1, int(conv_id[r]), i)
        return (2, r, i)

    def computed_upto(r: int, lo: int, hi: int) -> None:
        for i in range(lo, hi):
            computed.add(bkey(r, i))

    hstate = {"i": 0}

    def apply_hits(until: float) -> None:
        nonlocal gpu_blocks
        i = hstate["i"]
        while i < hit_t.shape[0] and hit_t[i] <= until:
            r, tok = int(hit_r[i]), int(hit_k[i])
            if not 0 <= r < n:
                raise InvalidRunError(f"prefix-cache hit of unknown request {r}")
            if where[r] != 0 or done_prefill[r] != 0:
                raise InvalidRunError(f"request {r}: a prefix-cache hit at t={hit_t[i]:.6f} while it holds KV")
            if tok < bs or tok % bs or tok >= need[r]:
                raise InvalidRunError(f"request {r}: a prefix-cache hit of {tok} tokens (not whole blocks below "
                                      f"its {need[r]} tokens to prefill)")
            missing = [b for b in range(tok // bs) if bkey(r, b) not in computed]
            if missing:
                raise InvalidRunError(f"request {r}: a prefix-cache hit on block {missing[0]}, which no request "
                                      "computed before")
            if arrival[r] > hit_t[i] + atol:
                raise InvalidRunError(f"request {r}: a prefix-cache hit before it arrives")
            done_prefill[r] = kv[r] = tok
            where[r] = 1
            gpu_blocks += tok // bs
            i += 1
        hstate["i"] = i

    def apply_events(until: float) -> None:
        """Preemptions and migrations landing up to ``until``, in time order (a landing first on ties:
        the simulator lands migrations before it composes, and preempts, at a boundary)."""
        nonlocal gpu_blocks
        pi, mi = state["pi"], state["mi"]
        while True:
            t_p = p_t[pi] if pi < p_t.shape[0] else np.inf
            t_m = mig_in[mi, 0] if mi < mig_in.shape[0] else np.inf
            if (pi >= p_t.shape[0] and mi >= mig_in.shape[0]) or min(t_p, t_m) > until:
                break
            if t_m <= t_p:
                t_in, r, kv_in, gen_in, first_in = mig_in[mi]
                r = int(r)
                if where[r] != 0:
                    raise InvalidRunError(f"request {r} migrated in at t={t_in:.6f} while already here")
                if gen_in < 1 or kv_in < 1 or t_in < arrival[r] - atol:
                    raise InvalidRunError(f"request {r} migrated in with an impossible state (kv {kv_in}, generated {gen_in})")
                where[r] = 1
                kv[r] = int(kv_in)
                gen[r] = int(gen_in)
                need[r] = done_prefill[r] = 0  # its prefill was done elsewhere
                first_t[r] = first_in
                left[r] = False
                gpu_blocks += int(_ceil_div(kv[r], bs))
                mi += 1
                continue
            r = int(p_r[pi])
            if where[r] != 1:
                raise InvalidRunError(f"request {r} preempted at t={p_t[pi]:.6f} while not running on the GPU")
            gpu_blocks -= int(_ceil_div(kv[r], bs))
            if p_m[pi] == 0:  # recompute: KV dropped, re-prefill prompt + generated (a layered pass with it)
                in_pass[r] = 0
                if caching:
                    computed_upto(r, 0, int(kv[r] // bs))
                kv[r] = 0
                done_prefill[r] = 0
                need[r] = prompt[r] + gen[r]
                where[r] = 0
            elif p_m[pi] == 2:  # migrated to another instance
                if done_prefill[r] < need[r]:
                    raise InvalidRunError(f"request {r} migrated in the middle of its prefill")
                where[r] = 0
                kv[r] = 0
                left[r] = True
            else:
                if done_prefill[r] < need[r]:
                    raise InvalidRunError(f"request {r} swapped out in the middle of its prefill")
                where[r] = 2
            pi += 1
        state["pi"], state["mi"] = pi, mi

    # stateless rules, checked over the whole log at once (the replay below keeps only the stateful ones)
    n_groups = starts.shape[0]
    sizes = np.diff(offsets)
    if n_groups:
        if (repeats < 1).any() or (sizes < 0).any() or offsets[-1] != rids.shape[0]:
            raise InvalidRunError("malformed log: empty repeats or offsets that do not index the members")
        last_end = ends[np.cumsum(repeats) - 1]
        first_end = ends[np.cumsum(repeats) - repeats]
        bad = np.flatnonzero(first_end <= starts)
        if bad.size:
            raise InvalidRunError(f"iteration group {int(bad[0])}: end times not after the start / not increasing")
        bad = np.flatnonzero(starts[1:] < last_end[:-1] - atol)
        if bad.size:
            g = int(bad[0]) + 1
            raise InvalidRunError(f"iteration group {g} starts at {starts[g]:.6f} before the previous ends at "
                                  f"{last_end[g - 1]:.6f}")
        bad = np.flatnonzero(np.diff(ends) <= 0)
        if bad.size:
            g = int(np.searchsorted(np.cumsum(repeats), bad[0], side="right"))
            raise InvalidRunError(f"iteration group {g}: end times not after the start / not increasing")
        group_of = np.repeat(np.arange(n_groups), sizes)
        key = group_of * (n + 1) + rids
        srt = np.sort(key)
        dup = np.flatnonzero(srt[1:] == srt[:-1])
        if dup.size:
            g = int(srt[dup[0]] // (n + 1))
            raise InvalidRunError(f"iteration group {g}: a request appears twice in one iteration")
        if rids.shape[0] and ((rids < 0) | (rids >= n)).any():
            raise InvalidRunError("malformed log: a request id out of range")
        bad = np.flatnonzero(rejected[rids])
        if bad.size:
            raise InvalidRunError(f"iteration group {int(group_of[bad[0]])}: rejected request {int(rids[bad[0]])} runs")
        bad = np.flatnonzero(arrival[rids] > starts[group_of] + atol)
        if bad.size:
            r, g = int(rids[bad[0]]), int(group_of[bad[0]])
            raise InvalidRunError(f"request {r} runs at t={starts[g]:.6f} before it arrives at {arrival[r]:.6f}")
        tok_sum = np.bincount(group_of, weights=np.where(kinds == _PREFILL, 0, toks) if layered else toks,
                              minlength=n_groups)
        if layered:  # layered prefill: a pass charges its layer group's share in each iteration it runs
            tok_sum = tok_sum + _layered_charges(solution, n_groups)
        bad = np.flatnonzero(tok_sum > budget)
        if bad.size:
            g = int(bad[0])
            raise InvalidRunError(f"iteration group {g} at t={starts[g]:.6f}: {int(tok_sum[g])} tokens exceed the budget {budget}")
        bad = np.flatnonzero((kinds != _DECODE) & (repeats[group_of] > 1))
        if bad.size:
            raise InvalidRunError(f"iteration group {int(group_of[bad[0]])}: a repeated group may only hold decodes")
        bad = np.flatnonzero((kinds != _PREFILL) & (toks != 1))
        if bad.size:
            raise InvalidRunError(f"request {int(rids[bad[0]])}: a decode of {int(toks[bad[0]])} tokens (must be 1)")
        bad = np.flatnonzero((kinds == _PREFILL) & (toks < 1))
        if bad.size:
            raise InvalidRunError(f"request {int(rids[bad[0]])}: a chunk of {int(toks[bad[0]])} tokens runs past its prefill")
        started[rids] = True
        has_pre = np.bincount(group_of, weights=(kinds == _PREFILL), minlength=n_groups) > 0
        has_swp = np.bincount(group_of, weights=(kinds == _SWAPIN), minlength=n_groups) > 0
    for g in range(n_groups):
        start = float(starts[g])
        k = int(repeats[g])
        e_idx += k
        if pins is not None:  # before the events: an adopted turn's KV may be evicted (a preemption) later
            gpu_blocks += pins.adopt(start + atol, where, kv, done_prefill, need, arrival, atol)
        apply_events(start + atol)
        if caching:
            apply_hits(start + atol)
        if layered:
            gpu_blocks += start_passes(g)
        o0, o1 = offsets[g], offsets[g + 1]
        mem = rids[o0:o1]
        if has_pre[g]:  # prefill chunks: one by one (rare next to decodes)
            mk = kinds[o0:o1]
            mt = toks[o0:o1]
            is_pre = mk == _PREFILL
            for r, c in zip(mem[is_pre].tolist(), mt[is_pre].tolist()):
                if where[r] == 2:
                    raise InvalidRunError(f"request {r} prefills while swapped out")
                if done_prefill[r] + c > need[r]:
                    raise InvalidRunError(
                        f"request {r}: a chunk of {c} tokens runs past its prefill ({done_prefill[r]}/{need[r]} done)")
                if layered:  # the pass completes: its KV was taken (and counted) when it started
                    if in_pass[r] != c:
                        raise InvalidRunError(f"request {r}: a prefill of {c} tokens in iteration group {g} completes "
                                              f"no layered pass of those tokens in progress")
                    in_pass[r] = 0
                    done_prefill[r] += c
                else:
                    where[r] = 1
                    old = -(-int(kv[r]) // bs)
                    if caching:
                        computed_upto(r, int(kv[r] // bs), int((kv[r] + c) // bs))
                    kv[r] += c
                    done_prefill[r] += c
                    gpu_blocks += -(-int(kv[r]) // bs) - old
                if done_prefill[r] == need[r]:
                    t = float(ends[e_idx - k])
                    if gen[r] == 0:
                        first_t[r] = t
                    gen[r] += 1
                    last_t[r] = t
            d = mem[~is_pre]
            dk = mk[~is_pre]
        else:
            d = mem
            dk = kinds[o0:o1] if has_swp[g] else None
        if d.shape[0]:  # decodes and swap-ins, vectorized
            if has_swp[g]:
                s_ids = d[dk == _SWAPIN]
                if (where[s_ids] != 2).any():
                    r = int(s_ids[where[s_ids] != 2][0])
                    raise InvalidRunError(f"request {r} swapped in without being swapped out")
                where[s_ids] = 1
                gpu_blocks += int((-(-kv[s_ids] // bs)).sum())
            if ((where[d] != 1) | (done_prefill[d] < need[d])).any():
                r = int(d[where[d] != 1][0]) if (where[d] != 1).any() else -1
                if r >= 0:
                    raise InvalidRunError(f"request {r} decodes while not resident on the GPU")
                r = int(d[done_prefill[d] < need[d]][0])
                raise InvalidRunError(f"request {r} decodes before its prefill is complete")
            kv_d = kv[d]
            new_kv = kv_d + k
            kv[d] = new_kv
            gen[d] += k
            gpu_blocks += int((-(-new_kv // bs) + (kv_d // -bs)).sum())
            last_t[d] = float(ends[e_idx - 1])
        pinned = pins.pinned_at(start + atol) if pins is not None else 0
        if gpu_blocks + pinned > capacity and not caching:  # shared blocks are counted once per holder: not checked
            raise InvalidRunError(
                f"iteration group {g} at t={start:.6f}: {gpu_blocks} KV blocks in use"
                + (f" and {pinned} pinned between agent turns" if pinned else "") + f" exceed the capacity {capacity}")
        # finished requests release their blocks (over-generation is caught after the replay)
        fin = mem[gen[mem] >= output[mem]]
        if fin.size:
            if caching:
                for r in fin.tolist():
                    computed_upto(r, 0, int(kv[r] // bs))
            gpu_blocks -= int(_ceil_div(kv[fin], bs).sum())
            where[fin] = 0
            kv[fin] = 0
    apply_events(np.inf)  # e.g. a migration out after this instance's last iteration
    if caching and hstate["i"] != hit_t.shape[0]:
        raise InvalidRunError("prefix-cache hits recorded after the last iteration")
    over = np.flatnonzero(gen > output)
    if over.size:
        r = int(over[0])
        raise InvalidRunError(f"request {r} generated {gen[r]} tokens, more than its {output[r]}")
    stray = np.flatnonzero(started & ~expected & ~left & ~rejected)
    if stray.size:
        raise InvalidRunError(f"request {int(stray[0])} ran here but neither finished here nor migrated away")
    ok = expected
    short = np.flatnonzero(ok & (gen != output))
    if short.size:
        r = int(short[0])
        raise InvalidRunError(f"{short.size} request(s) did not generate exactly their output, e.g. request {r}: "
                              f"{gen[r]} of {output[r]} tokens")
    rep_first = np.asarray(solution["reported_first_token_t"], np.float64)
    rep_finish = np.asarray(solution["reported_finish_t"], np.float64)
    # an absolute tolerance only: a relative one (numpy's default rtol=1e-5) lets 1 ms pass at t = 100 s
    if not np.allclose(rep_first[ok], first_t[ok], rtol=0.0, atol=atol) or not np.allclose(
            rep_finish[ok], last_t[ok], rtol=0.0, atol=atol):
        bad = np.flatnonzero(ok & ~(np.isclose(rep_first, first_t, rtol=0.0, atol=atol)
                                    & np.isclose(rep_finish, last_t, rtol=0.0, atol=atol)))
        r = int(bad[0])
        raise InvalidRunError(f"request {r}: reported first token / finish {rep_first[r]}, {rep_finish[r]} differ from "
                              f"the replayed {first_t[r]}, {last_t[r]}")
    ttft = first_t - arrival
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(output > 1, (last_t - first_t) / np.maximum(output - 1, 1), 0.0)
    good = ok & (ttft <= np.asarray(solution["ttft_slo"]) + 1e-12) & (tpot <= np.asarray(solution["tpot_slo"]) + 1e-12)
    if solution.get("prefill_mode") == "layered":
        validate_layered(solution, atol)
    if pins is not None:
        pins.finish()  # every recorded adoption must have been replayed
        validate_sessions(solution, atol)
    return float(good.sum() / n) if n else float("nan")


def _layer_group_sizes(solution: dict[str, Any]) -> np.ndarray:
    """Layers of each contiguous group (the first ``L % G`` one more), from the run's claimed settings."""
    L, G = int(solution["n_layers"]), int(solution["layer_groups"])
    if not 1 <= G <= L:
        raise InvalidRunError(f"layered prefill with {G} layer groups for a {L}-layer model")
    return np.array([L // G + 1] * (L % G) + [L // G] * (G - L % G), np.int64)


def _layered_pass_starts(solution: dict[str, Any], n_groups: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The group-0 rows of the layer log (the passes' starts) by iteration group: ``(bounds, requests,
    tokens)``, the passes starting in group ``g`` being rows ``bounds[g]:bounds[g + 1]``."""
    ll = solution["layer_log"]
    it, rid, grp, tok = (np.asarray(ll[k], np.int64) for k in ("layer_it", "layer_rid", "layer_group", "layer_tokens"))
    if not it.shape == rid.shape == grp.shape == tok.shape:
        raise InvalidRunError("malformed layer log: columns of different lengths")
    if it.shape[0] and (it.min() < 0 or it.max() >= n_groups or rid.min() < 0 or rid.max() >= n or tok.min() < 1):
        raise InvalidRunError("malformed layer log: an iteration, request or pass size out of range")
    first = np.flatnonzero(grp == 0)
    first = first[np.argsort(it[first], kind="stable")]
    bounds = np.searchsorted(it[first], np.arange(n_groups + 1), side="left")
    return bounds, rid[first], tok[first]


def _layered_charges(solution: dict[str, Any], n_groups: int) -> np.ndarray:
    """Budget tokens of the layered passes per iteration: ``ceil(pass tokens x group layers / L)``."""
    ll = solution["layer_log"]
    it, grp, tok = (np.asarray(ll[k], np.int64) for k in ("layer_it", "layer_group", "layer_tokens"))
    sizes = _layer_group_sizes(solution)
    if it.shape[0] and (it.min() < 0 or it.max() >= n_groups or grp.min() < 0 or grp.max() >= sizes.shape[0]
                        or tok.min() < 1):
        raise InvalidRunError("malformed layer log: an iteration, group or pass size out of range")
    return np.bincount(it, weights=-(-tok * sizes[grp] // int(solution["n_layers"])), minlength=n_groups)


def validate_layered(solution: dict[str, Any], atol: float = 1e-6) -> None:
    """Layered prefill (``prefill_mode="layered"``; called by :func:`validate_run`): every pass runs its
    layer groups in order 0, 1, ..., G-1, one group per iteration (in distinct, increasing iterations),
    with one pass size throughout, not before the request arrives; a completed pass is exactly the
    prefill entry of its tokens in the iteration of its last group (so the first token, sampled there,
    comes after all groups), and every prefill entry is such a pass; a pass left incomplete is ended by a
    recompute preemption of its request (which drops its KV). The token budget with the passes' charges
    is checked by :func:`validate_run`."""
    log, ll = solution["log"], solution["layer_log"]
    G = _layer_group_sizes(solution).shape[0]
    it, rid, grp, tok = (np.asarray(ll[k], np.int64) for k in ("layer_it", "layer_rid", "layer_group", "layer_tokens"))
    starts, repeats, offsets = log["start"], log["repeat"], log["offsets"]
    arrival = np.asarray(solution["arrival"], np.float64)
    n = arrival.shape[0]
    if it.shape[0] and (rid.min() < 0 or rid.max() >= n):
        raise InvalidRunError("malformed layer log: a request id out of range")
    if np.any(repeats[it] != 1):
        raise InvalidRunError(f"request {int(rid[repeats[it] != 1][0])}: a layer group runs in a repeated iteration group")
    late = arrival[rid] > starts[it] + atol
    if late.any():
        raise InvalidRunError(f"request {int(rid[late][0])}: a layer group runs before the request arrives")
    p_t, p_r, p_m = log["preempt_t"], log["preempt_rid"], log["preempt_mode"]
    done: dict[tuple[int, int], int] = {}  # (iteration, request) -> tokens of the pass completed there
    for r in np.unique(rid).tolist():
        rows = np.flatnonzero(rid == r)
        rows = rows[np.argsort(it[rows], kind="stable")]
        if np.any(np.diff(it[rows]) <= 0):
            raise InvalidRunError(f"request {r}: two layer groups in one iteration")
        expect, size = 0, 0
        for j, k in enumerate(rows.tolist()):
            g, c = int(grp[k]), int(tok[k])
            if g != expect:
                if g != 0 or expect == 0:
                    raise InvalidRunError(f"request {r}: layer group {g} runs in iteration {int(it[k])} where group "
                                          f"{expect} is next")
                _check_aborted(r, float(starts[it[rows[j - 1]]]), float(starts[it[k]]), p_t, p_r, p_m)
            elif g and c != size:
                raise InvalidRunError(f"request {r}: a pass of {size} tokens runs group {g} with {c} tokens")
            size = c
            expect = (g + 1) % G
            if g == G - 1:
                done[(int(it[k]), r)] = c
        if expect != 0:
            _check_aborted(r, float(starts[it[rows[-1]]]), np.inf, p_t, p_r, p_m)
    kinds, rids, toks = log["kind"], log["rid"], log["tokens"]
    pre = np.flatnonzero(kinds == _PREFILL)
    group_of = np.searchsorted(offsets, pre, side="right") - 1
    for m, g in zip(pre.tolist(), group_of.tolist()):
        r, c = int(rids[m]), int(toks[m])
        if done.pop((g, r), None) != c:
            raise InvalidRunError(f"request {r}: a prefill of {c} tokens in iteration group {g} that is not the last "
                                  "layer group of a pass of those tokens")
    if done:
        (g, r), c = next(iter(done.items()))
        raise InvalidRunError(f"request {r}: a pass of {c} tokens ran its last layer group in iteration group {g} "
                              "without completing its prefill there")


def _check_aborted(r: int, t0: float, t1: float, p_t: np.ndarray, p_r: np.ndarray, p_m: np.ndarray) -> None:
    """An incomplete pass of ``r`` (last group at ``t0``) must be ended by a recompute preemption before ``t1``."""
    if not np.any((p_r == r) & (p_m == 0) & (p_t >= t0) & (p_t <= t1)):
        raise InvalidRunError(f"request {r}: a layered pass stops before its last layer group without a recompute "
                              "preemption")


class _SessionPins:
    """Agent sessions in the replay of :func:`validate_run`: adoptions of pinned KV by the next turn (the turn
    starts with the pinned tokens prefilled) and the blocks pinned at any time (they count against the KV
    capacity)."""

    def __init__(self, solution: dict[str, Any], n: int, bs: int) -> None:
        rows = np.concatenate([np.asarray(solution["kv_pins"], np.float64).reshape(-1, 8),
                               np.asarray(solution.get("kv_pins_open", np.zeros((0, 8))), np.float64).reshape(-1, 8)])
        if rows.shape[0] and (np.any(rows[:, 4] < 0) or np.any(rows[:, 4] >= n) or np.any(rows[:, 5] < 1)):
            raise InvalidRunError("malformed KV pin log: unknown request or an empty pin")
        adopted = rows[rows[:, 7] == 2]
        self.adopt_rows = adopted[np.argsort(adopted[:, 2], kind="stable")]
        self.i = 0
        self.bs = bs
        t = np.concatenate([rows[:, 0], rows[:, 2]])
        delta = np.concatenate([rows[:, 5], -rows[:, 5]])
        order = np.lexsort((delta, t))  # at equal times, pins end before new ones start
        self.t = t[order]
        self.level = np.cumsum(delta[order])

    def pinned_at(self, t: float) -> int:
        """Blocks pinned (and not yet adopted, expired or evicted) at time ``t``."""
        k = int(np.searchsorted(self.t, t, side="right"))
        return int(self.level[k - 1]) if k else 0

    def adopt(self, until: float, where: np.ndarray, kv: np.ndarray, done_prefill: np.ndarray, need: np.ndarray,
              arrival: np.ndarray, atol: float) -> int:
        """Apply the adoptions up to ``until``; return the GPU blocks they add."""
        added = 0
        rows = self.adopt_rows
        while self.i < rows.shape[0] and rows[self.i, 2] <= until:
            t, r, tok = float(rows[self.i, 2]), int(rows[self.i, 4]), int(rows[self.i, 6])
            if where[r] != 0 or done_prefill[r] != 0:
                raise InvalidRunError(f"request {r}: adopts pinned KV at t={t:.6f} while it holds KV")
            if arrival[r] > t + atol:
                raise InvalidRunError(f"request {r}: adopts pinned KV at t={t:.6f} before it arrives")
            if not 1 <= tok < need[r]:
                raise InvalidRunError(f"request {r}: adopts {tok} pinned tokens, not below its {need[r]} tokens to prefill")
            where[r] = 1
            kv[r] = done_prefill[r] = tok
            added += -(-tok // self.bs)
            self.i += 1
        return added

    def finish(self) -> None:
        """Every recorded adoption must have been replayed."""
        if self.i != self.adopt_rows.shape[0]:
            raise InvalidRunError("KV pin adoptions recorded after the last iteration")


def validate_sessions(solution: dict[str, Any], atol: float = 1e-6) -> None:
    """Check what agent sessions add to a run (see :mod:`schedgym.envs.llm.sessions`):

    * closed loop: a turn's next turn arrives exactly its tool time after the turn finished, and never
      when the turn did not finish;
    * every pin is of a finished turn that has a next turn, starts at its finish, holds that turn's whole
      KV (prompt + output - 1 tokens, in whole blocks), at most once per turn; no pins with ``kv_ttl="none"``;
    * TTL semantics: the TTL is ``kv_ttl_s`` (``"fixed"``) or at most ``kv_ttl_s`` (``"tool-aware"``);
      a pin ends at or after it starts; an expired pin ends at its expiry or at the first iteration
      boundary after it, never before; an adopted pin is adopted by the next turn, which arrived before
      the expiry, at its arrival or the first boundary after; an evicted pin ends before its expiry
      boundary; a pin still open at the end has an expiry after the last iteration started;
    * the blocks pinned at any time never exceed the KV capacity, and together with the GPU-resident
      blocks neither (in the replay of :func:`validate_run`); both only with prefix caching off (shared
      blocks would be counted once per holder).
    """
    arrival = np.asarray(solution["arrival"], np.float64)
    n = arrival.shape[0]
    nxt = np.asarray(solution["session_next"], np.int64)
    tool = np.asarray(solution["session_tool_time"], np.float64)
    finish = np.asarray(solution["reported_finish_t"], np.float64)
    prompt = np.asarray(solution["prompt"], np.int64)
    output = np.asarray(solution["output"], np.int64)
    bs = int(solution["block_size"])
    capacity = int(solution["kv_blocks"])
    has = np.flatnonzero(nxt >= 0)
    nx = nxt[has]
    done = np.isfinite(finish[has])
    off = done & ~(np.abs(arrival[nx] - (finish[has] + tool[has])) <= atol)
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise InvalidRunError(f"turn {nx[i]} arrives at {arrival[nx[i]]:.6f}, not its previous turn {has[i]}'s finish "
                              f"{finish[has[i]]:.6f} + tool time {tool[has[i]]:.6f}")
    if np.any(~done & np.isfinite(arrival[nx])):
        i = int(np.flatnonzero(~done & np.isfinite(arrival[nx]))[0])
        raise InvalidRunError(f"turn {nx[i]} arrived although its previous turn {has[i]} never finished")
    rows = np.concatenate([np.asarray(solution["kv_pins"], np.float64).reshape(-1, 8),
                           np.asarray(solution.get("kv_pins_open", np.zeros((0, 8))), np.float64).reshape(-1, 8)])
    if not rows.shape[0]:
        return
    mode, ttl = str(solution["kv_ttl"]), float(solution["kv_ttl_s"])
    if mode == "none":
        raise InvalidRunError(f"{rows.shape[0]} KV pins recorded although kv_ttl is 'none'")
    pin_t, exp_t, end_t = rows[:, 0], rows[:, 1], rows[:, 2]
    prev, nr, blocks, tokens, reason = (rows[:, k].astype(np.int64) for k in (3, 4, 5, 6, 7))
    if np.any((prev < 0) | (prev >= n)) or np.any(nxt[prev] != nr) or np.unique(prev).size != prev.size:
        raise InvalidRunError("a KV pin of a turn without that next turn, or two pins of one turn")
    bad = ~(np.abs(pin_t - finish[prev]) <= atol) | (tokens != prompt[prev] + output[prev] - 1) | (blocks != -(-tokens // bs))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidRunError(f"KV pin of turn {prev[i]}: {tokens[i]} tokens in {blocks[i]} blocks at t={pin_t[i]:.6f}, not "
                              f"its KV at its finish ({prompt[prev[i]] + output[prev[i]] - 1} tokens at {finish[prev[i]]:.6f})")
    life = exp_t - pin_t
    wrong = (np.abs(life - ttl) > atol) if mode == "fixed" else ((life > ttl + atol) | (life <= 0))
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        raise InvalidRunError(f"KV pin of turn {prev[i]} has a TTL of {life[i]:.6f} s; kv_ttl={mode!r} allows "
                              + (f"{ttl} s" if mode == "fixed" else f"at most {ttl} s"))
    starts = np.asarray(solution["log"]["start"], np.float64)

    def boundary_after(t: np.ndarray) -> np.ndarray:
        """The first iteration start at or after ``t`` (inf: none), or ``t`` itself (an idle jump)."""
        k = np.searchsorted(starts, t - atol, side="left")
        return np.where(k < starts.shape[0], starts[np.minimum(k, starts.shape[0] - 1)], np.inf)

    if np.any(end_t < pin_t - atol):
        raise InvalidRunError(f"KV pin of turn {prev[int(np.flatnonzero(end_t < pin_t - atol)[0])]} ends before it starts")
    late = np.maximum(exp_t, boundary_after(exp_t)) + atol
    checks = (
        (reason == 0, (end_t < exp_t - atol) | (end_t > late), "expired before its expiry or after the boundary that follows it"),
        (reason == 1, end_t > late, "was evicted after its expiry"),
        (reason == 2, (arrival[nr] > exp_t + atol) | (end_t < arrival[nr] - atol)
         | (end_t > np.maximum(arrival[nr], boundary_after(arrival[nr])) + atol),
         "was adopted by a turn that arrived after the expiry, or not at that turn's arrival"),
        (reason == -1, exp_t < (starts[-1] if starts.shape[0] else -np.inf) - atol, "is still open after its expiry"),
    )
    for sel, cond, what in checks:
        if np.any(sel & cond):
            i = int(np.flatnonzero(sel & cond)[0])
            raise InvalidRunError(f"KV pin of turn {prev[i]} (t={pin_t[i]:.6f}, expiry {exp_t[i]:.6f}, end {end_t[i]:.6f}) {what}")
    if np.any(~np.isin(reason, (-1, 0, 1, 2))):
        raise InvalidRunError("malformed KV pin log: unknown end reason")
    level = _SessionPins(solution, n, bs).level
    # with prefix caching a pin may hold shared blocks (counted once per holder here): not checked, as in the replay
    if level.size and level.max() > capacity and not solution.get("prefix_caching", False):
        raise InvalidRunError(f"{int(level.max())} KV blocks pinned between agent turns exceed the capacity {capacity}")


def validate_cluster(solution: dict[str, Any], atol: float = 1e-6, objective: str = "slo_attainment") -> float:
    """Validate a cluster run (``schedgym/LLMCluster-v0``): every instance's run with
    :func:`validate_run` (each request must finish on its final instance, migrated requests leave and
    land with the KV state they had), every request dispatched once to an existing instance at its
    arrival (a rejected request too: rejected on the instance it was dispatched to, at its arrival),
    no request present on an instance it was neither assigned to nor migrated away from, every
    migration out matched by one migration in with the same state, no request finishing twice or
    both finishing and rejected. Times are compared with an absolute tolerance ``atol`` (seconds).
    Returns the cluster's SLO attainment, or with ``objective="ttft_p99"`` the p99 TTFT (s) of the finished
    requests (NaN if none finished), recomputed from the instances' reported first-token times."""
    if objective not in ("slo_attainment", "ttft_p99"):
        raise ValueError(f"objective must be 'slo_attainment' or 'ttft_p99', got {objective!r}")
    inst = solution["instances"]
    assigned = np.asarray(solution["assigned"], np.int64)
    arrival = np.asarray(solution["arrival"], np.float64)
    n = arrival.shape[0]
    if np.any((assigned < 0) | (assigned >= len(inst))):
        bad = int(np.flatnonzero((assigned < 0) | (assigned >= len(inst)))[0])
        raise InvalidRunError(f"request {bad} was never dispatched to an instance (assigned {assigned[bad]})")
    if not np.isfinite(arrival).all():
        raise InvalidRunError(f"request {int(np.flatnonzero(~np.isfinite(arrival))[0])} has no finite arrival time")
    finished_on = np.zeros(n, np.int64)
    rejected_on = np.zeros(n, np.int64)
    first = np.full(n, np.nan)
    finish = np.full(n, np.nan)
    outs: list[tuple[int, float]] = []
    ins: list[tuple[int, float]] = []
    rejected = np.zeros(n, bool)
    for k, sol in enumerate(inst):
        try:
            validate_run(sol, atol)
        except InvalidRunError as exc:
            raise InvalidRunError(f"instance {k}: {exc}") from None
        exp = np.asarray(sol["expected"], bool)
        rej_k = np.asarray(sol["rejected"], bool)
        ran_here = np.zeros(n, bool)
        rids = np.asarray(sol["log"]["rid"], np.int64)
        ran_here[rids[(rids >= 0) & (rids < n)]] = True
        ran_here |= exp
        inst_arrival = np.asarray(sol["arrival"], np.float64)
        if inst_arrival.shape != arrival.shape or rej_k.shape != arrival.shape:
            raise InvalidRunError(f"instance {k} records {inst_arrival.shape[0]} requests, the cluster {n}")
        # every request this instance saw (ran, finished, rejected, or dispatched / migrated here) arrived
        # here at the cluster's arrival time: dispatch happens at arrival, a migration keeps the arrival
        present = np.isfinite(inst_arrival) | ran_here | rej_k
        off = present & ~(np.abs(inst_arrival - arrival) <= atol)
        if off.any():
            r = int(np.flatnonzero(off)[0])
            raise InvalidRunError(f"instance {k} has request {r} arriving at {inst_arrival[r]}, "
                                  f"the cluster's arrival is {arrival[r]}")
        if np.any(exp & (assigned != k)):
            r = int(np.flatnonzero(exp & (assigned != k))[0])
            raise InvalidRunError(f"request {r} finished on instance {k} but the cluster assigned it to {assigned[r]}")
        if np.any(rej_k & (assigned != k)):
            r = int(np.flatnonzero(rej_k & (assigned != k))[0])
            raise InvalidRunError(f"request {r} was rejected on instance {k} but the cluster dispatched it to "
                                  f"{assigned[r]}")
        log = sol["log"]
        out_k = [(int(r), float(t)) for t, r, m in zip(log["preempt_t"], log["preempt_rid"], log["preempt_mode"]) if m == 2]
        left_k = np.zeros(n, bool)
        left_k[[r for r, _ in out_k if 0 <= r < n]] = True
        stray = present & (assigned != k) & ~left_k
        if stray.any():
            r = int(np.flatnonzero(stray)[0])
            raise InvalidRunError(f"request {r} arrived at instance {k}, which it neither stayed on (the cluster "
                                  f"assigned it to {assigned[r]}) nor migrated away from")
        absent = (assigned == k) & ~np.isfinite(inst_arrival)
        if absent.any():
            r = int(np.flatnonzero(absent)[0])
            raise InvalidRunError(f"request {r} is assigned to instance {k} but never arrived there")
        finished_on += exp
        rejected_on += rej_k
        first[exp] = np.asarray(sol["reported_first_token_t"])[exp]
        finish[exp] = np.asarray(sol["reported_finish_t"])[exp]
        rejected |= rej_k
        outs += out_k
        ins += [(int(row[1]), float(row[0])) for row in log["mig_in"]]
    twice = np.flatnonzero(finished_on > 1)
    if twice.size:
        raise InvalidRunError(f"request {int(twice[0])} finished on {finished_on[twice[0]]} instances")
    both = np.flatnonzero((rejected_on > 1) | ((rejected_on > 0) & (finished_on > 0)))
    if both.size:
        r = int(both[0])
        raise InvalidRunError(f"request {r} was rejected on {rejected_on[r]} and finished on {finished_on[r]} instances")
    missing = np.flatnonzero((finished_on == 0) & ~rejected)
    if missing.size:
        raise InvalidRunError(f"request {int(missing[0])} never finished ({missing.size} such requests)")
    if sorted(r for r, _ in outs) != sorted(r for r, _ in ins):
        raise InvalidRunError(f"{len(outs)} migrations out do not match {len(ins)} migrations in")
    outs_of: dict[int, list[float]] = {}
    ins_of: dict[int, list[float]] = {}
    for r, t in outs:
        outs_of.setdefault(r, []).append(t)
    for r, t in ins:
        ins_of.setdefault(r, []).append(t)
    for r, o in outs_of.items():  # per request (linear: with disaggregation every request migrates once)
        if any(ti < to - atol for to, ti in zip(sorted(o), sorted(ins_of[r]))):
            raise InvalidRunError(f"request {r} lands on its new instance before it leaves the old one")
    output = np.asarray(solution["output"], np.int64)
    ttft = first - arrival
    if np.any(ttft[finished_on == 1] < -atol):
        r = int(np.flatnonzero((finished_on == 1) & (ttft < -atol))[0])
        raise InvalidRunError(f"request {r} has its first token at {first[r]:.6f}, before it arrived at {arrival[r]:.6f}")
    if objective == "ttft_p99":
        done = ttft[finished_on == 1]
        return float(np.percentile(done, 99)) if done.size else float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(output > 1, (finish - first) / np.maximum(output - 1, 1), 0.0)
    good = (finished_on == 1) & (ttft <= np.asarray(solution["ttft_slo"]) + 1e-12) & (
        tpot <= np.asarray(solution["tpot_slo"]) + 1e-12)
    return float(good.sum() / n) if n else float("nan")


def _named_profile(meta: dict[str, Any], key: str, presets: dict[str, Any], cls: type) -> Any:
    """The profile ``meta[key]`` names: a preset name, or the fields of a custom profile."""
    value = meta.get(key)
    if isinstance(value, str):
        if value not in presets:
            raise InvalidRunError(f"the run names an unknown {key} {value!r} (known: {sorted(presets)})")
        return presets[value]
    if isinstance(value, dict):
        try:
            return cls(**value)
        except TypeError as exc:
            raise InvalidRunError(f"the run's custom {key} is malformed: {exc}") from None
    raise InvalidRunError(f"the run does not say which {key} it ran (solution['disagg'][{key!r}])")


def _disagg_link(meta: dict[str, Any]) -> tuple[float, float, float]:
    """KV bytes per token per GPU and the transfer link's bandwidth (bytes/s) and latency (s), recomputed
    from the model, TP, GPU and interconnect the run names (semi-PD: the KV does not move, infinite
    bandwidth and no latency); the figures the run reports must agree."""
    from .disagg import INTERCONNECTS, Interconnect
    from .profiles import HARDWARE, MODELS, HardwareProfile, ModelProfile

    model = _named_profile(meta, "model", MODELS, ModelProfile)
    tp = meta.get("tp")
    if not isinstance(tp, (int, np.integer)) or tp < 1:
        raise InvalidRunError(f"the run's tensor parallelism tp={tp!r} is not a positive integer")
    # K and V of every layer, the KV heads split over the tp GPUs (replicated below tp), per GPU
    kv_bytes = 2.0 * model.n_layers * -(-model.n_kv_heads // int(tp)) * model.head_dim * model.dtype_bytes
    if meta.get("semi_pd") is not None:
        bandwidth, latency = np.inf, 0.0
    else:
        link = _named_profile(meta, "interconnect", INTERCONNECTS, Interconnect)
        override = meta.get("bandwidth_override")
        if override is not None:
            bandwidth = float(override)
        elif link.bandwidth is not None:
            bandwidth = float(link.bandwidth)
        else:
            bandwidth = float(getattr(_named_profile(meta, "hardware", HARDWARE, HardwareProfile), link.hardware_field))
        latency = float(link.latency_s)
        if not (np.isfinite(bandwidth) and bandwidth > 0 and np.isfinite(latency) and latency >= 0):
            raise InvalidRunError(f"the run's link has bandwidth {bandwidth} and latency {latency}")
    for key, value in (("kv_bytes_per_token", kv_bytes), ("bandwidth", bandwidth), ("latency_s", latency)):
        if not np.isclose(float(meta[key]), value, rtol=1e-12, atol=0.0):
            raise InvalidRunError(f"the run reports {key}={meta[key]}, but its model {model.name} at tp={tp} over its "
                                  f"link gives {value}")
    return kv_bytes, bandwidth, latency


def validate_disagg(solution: dict[str, Any], atol: float = 1e-6) -> float:
    """Validate a prefill/decode-disaggregated run (``schedgym/LLMDisagg-v0``, see
    :mod:`schedgym.envs.llm.disagg`): everything :func:`validate_cluster` checks (a KV transfer is
    recorded as a migration out of the prefill instance and in to the decode instance), and that

    * prefill instances (``0 .. n_prefill - 1``) run no decode and receive no transfer; decode instances
      get no request except by a transfer and send none;
    * every request that ran on a decode instance came by exactly one transfer, from the prefill instance
      it was dispatched to and left, to that decode instance, starting no earlier than its first token
      and its departure, with the KV the landing row reports (its prefilled tokens);
    * each transfer takes ``KV tokens x KV bytes per token / bandwidth + latency`` seconds, with the KV
      bytes per token recomputed from the model and TP the run names and the link looked up from the
      interconnect (and GPU) it names (:func:`_disagg_link`; the run's own figures must agree), and the
      transfers of one prefill instance (one outgoing link) do not overlap;
    * no decode instance holds or runs a request before its KV has arrived;
    * semi-PD (``semi_pd`` set): the KV stays on its GPU (prefill worker ``k`` to decode worker ``k``,
      in zero time).

    Returns the SLO attainment (:func:`validate_cluster`'s)."""
    attainment = validate_cluster(solution, atol)
    meta = solution.get("disagg")
    if meta is None:
        raise InvalidRunError("the run records no disaggregation data (solution['disagg'])")
    n_p = int(meta["n_prefill"])
    inst = solution["instances"]
    if n_p < 1 or int(meta["n_decode"]) < 1 or n_p + int(meta["n_decode"]) != len(inst):
        raise InvalidRunError(f"{n_p} prefill + {meta['n_decode']} decode instances do not match the {len(inst)} recorded")
    n = np.asarray(solution["arrival"]).shape[0]
    rid = np.asarray(meta["transfer_rid"], np.int64)
    src = np.asarray(meta["transfer_src"], np.int64)
    dst = np.asarray(meta["transfer_dst"], np.int64)
    t0 = np.asarray(meta["transfer_start"], np.float64)
    t1 = np.asarray(meta["transfer_end"], np.float64)
    kv = np.asarray(meta["transfer_kv"], np.int64)
    if np.any((rid < 0) | (rid >= n)) or np.unique(rid).size != rid.size:
        raise InvalidRunError("a transfer names an unknown request, or a request was transferred twice")
    if np.any((src < 0) | (src >= n_p) | (dst < n_p) | (dst >= len(inst))):
        i = int(np.flatnonzero((src < 0) | (src >= n_p) | (dst < n_p) | (dst >= len(inst)))[0])
        raise InvalidRunError(f"transfer of request {rid[i]} goes from instance {src[i]} to {dst[i]}, "
                              "not from a prefill to a decode instance")
    if meta.get("semi_pd") is not None and np.any(dst != src + n_p):
        i = int(np.flatnonzero(dst != src + n_p)[0])
        raise InvalidRunError(f"semi-PD: the KV of request {rid[i]} moved from GPU {src[i]} to GPU {dst[i] - n_p}; "
                              "it stays on its GPU (prefill worker k hands over to decode worker k)")
    kv_bytes, bandwidth, latency = _disagg_link(meta)
    expected_t = kv * kv_bytes / bandwidth + latency
    off = np.abs((t1 - t0) - expected_t) > atol
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise InvalidRunError(f"transfer of request {rid[i]} ({kv[i]} KV tokens) took {t1[i] - t0[i]:.6f} s, "
                              f"not bytes / bandwidth + latency = {expected_t[i]:.6f} s")
    for k in range(n_p):
        mine = np.flatnonzero(src == k)
        order = mine[np.argsort(t0[mine], kind="stable")]
        if np.any(t0[order][1:] < t1[order][:-1] - atol):
            raise InvalidRunError(f"transfers out of prefill instance {k} overlap on its link")
    assigned = np.asarray(solution["assigned"], np.int64)
    by_rid = np.full(n, -1, np.int64)
    by_rid[rid] = np.arange(rid.size)
    for k, sol in enumerate(inst):
        log = sol["log"]
        mig = np.asarray(log["mig_in"], np.float64).reshape(-1, 5)
        kinds = np.asarray(log["kind"], np.int64)
        p_r = np.asarray(log["preempt_rid"], np.int64)
        p_t = np.asarray(log["preempt_t"], np.float64)
        p_m = np.asarray(log["preempt_mode"], np.int64)
        if k < n_p:
            if np.any(kinds == _DECODE) or mig.shape[0]:
                raise InvalidRunError(f"prefill instance {k} ran a decode or received a transfer")
            out_r, out_t = p_r[p_m == 2], p_t[p_m == 2]
            j = by_rid[out_r]
            if np.any(j < 0) or np.any(src[j] != k) or np.any(assigned[out_r] != dst[j]):
                raise InvalidRunError(f"prefill instance {k} let a request go without its transfer")
            first = np.asarray(sol["reported_first_token_t"], np.float64)
            early = (t0[j] < out_t - atol) | ~(t0[j] >= first[out_r] - atol)
            if early.any():
                r = int(out_r[np.flatnonzero(early)[0]])
                raise InvalidRunError(f"the KV of request {r} left prefill instance {k} before its prefill ended "
                                      "or before the request left")
            continue
        if np.any(p_m == 2):
            raise InvalidRunError(f"decode instance {k} sent a request away")
        arrived = np.isfinite(np.asarray(sol["arrival"], np.float64))
        came = np.zeros(n, bool)
        came[rid[dst == k]] = True
        if np.any(arrived & ~came):
            r = int(np.flatnonzero(arrived & ~came)[0])
            raise InvalidRunError(f"request {r} is on decode instance {k} without a transfer")
        m_r = mig[:, 1].astype(np.int64)
        j = by_rid[m_r]
        if np.any(j < 0) or np.any(dst[j] != k):
            raise InvalidRunError(f"decode instance {k} received a request that was not transferred to it")
        if np.any(mig[:, 0] < t1[j] - atol) or np.any(mig[:, 2].astype(np.int64) != kv[j]):
            i = int(np.flatnonzero((mig[:, 0] < t1[j] - atol) | (mig[:, 2].astype(np.int64) != kv[j]))[0])
            raise InvalidRunError(f"request {m_r[i]} landed on decode instance {k} at {mig[i, 0]:.6f} with {mig[i, 2]:.0f} "
                                  f"KV tokens; its transfer of {kv[j[i]]} tokens ends at {t1[j[i]]:.6f}")
        rids = np.asarray(log["rid"], np.int64)
        if rids.size:
            offsets = np.asarray(log["offsets"], np.int64)
            it = np.searchsorted(offsets, np.arange(rids.size), side="right") - 1
            first_run = np.full(n, np.inf)
            np.minimum.at(first_run, rids, np.asarray(log["start"], np.float64)[it])
            ran = np.flatnonzero(np.isfinite(first_run))
            jr = by_rid[ran]
            bad = (jr < 0) | (first_run[ran] < t1[np.maximum(jr, 0)] - atol)
            if bad.any():
                r = int(ran[np.flatnonzero(bad)[0]])
                raise InvalidRunError(f"request {r} ran on decode instance {k} at {first_run[r]:.6f}, before its KV "
                                      "arrived")
    return attainment
