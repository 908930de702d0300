"""Layered prefill: prefill scheduled by groups of layers instead of chunks of tokens.

``ServingConfig(prefill_mode="layered", layer_groups=G)`` splits the model's ``L`` layers into ``G``
contiguous groups (sizes as equal as possible, :func:`group_sizes`). A prompt is prefilled in *passes*:
a pass takes ``c`` prompt tokens (the whole remaining prompt when it fits) and runs them through one
layer group per iteration, group 0 first; every iteration also runs all the decodes through all the
layers (stall-free, as chunked prefill). After the pass's last group its KV is complete; if the pass
ended the prompt, that iteration samples the first output token. So each layer's expert weights are
streamed once per pass for the whole prompt, where chunked prefill streams them once per chunk
(Lee et al., "From Tokens to Layers: Redefining Stall-Free Scheduling for LLM Serving with Layered
Prefill", arXiv:2510.08055, 2025).

Token budget: a pass of ``c`` tokens charges ``ceil(c x l_g / L)`` tokens of the iteration's
``token_budget`` in the iteration that runs its group ``g`` of ``l_g`` layers (the same work, in
token-layers, as a chunk of that size through all the layers), so equal budgets give comparable
iteration times. A new pass therefore takes at most ``floor(budget left x L / max group size)`` tokens
(about ``G x`` the budget left); a longer prompt takes several passes. A pass whose next group's charge
does not fit the budget left (more decodes than when it started) waits for a later iteration. KV blocks
for the pass's tokens are taken when it starts (all layers' KV of a token share a block).

The simulator keeps, per request, the tokens of its current pass (``lpass``, 0 when none) and the
groups it has run (``lgroup``); each iteration's group work is in ``_lwork`` as ``(request, pass
tokens, group)``; the layer log (``layer_it``, ``layer_rid``, ``layer_group``, ``layer_tokens``: one row
per request and group run, ``layer_it`` the index of the iteration in the iteration log) is what
:func:`schedgym.envs.llm.validate.validate_layered` checks. A completed pass appears in the iteration
log as one prefill entry of its ``c`` tokens, in the iteration of its last group. The replay of
:func:`~schedgym.envs.llm.validate.validate_run` follows the same KV rule: a pass's group-0 row puts its
request on the GPU with the pass's KV, its prefill entry only credits the prefilled tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .simulator import ServingSimulator

PREFILL_MODES = ("chunked", "layered")


def group_sizes(n_layers: int, groups: int) -> np.ndarray:
    """Layers of each of ``groups`` contiguous groups (the first ``n_layers % groups`` get one more)."""
    if not 1 <= groups <= n_layers:
        raise ValueError(f"layer_groups must be in 1..{n_layers} (the model's layers), got {groups}")
    base, extra = divmod(n_layers, groups)
    return np.array([base + 1] * extra + [base] * (groups - extra), np.int64)


def charge(c: int, layers: int, n_layers: int) -> int:
    """Budget tokens a pass of ``c`` tokens charges in the iteration that runs a group of ``layers``."""
    return -(-c * layers // n_layers)


def reset_state(sim: "ServingSimulator") -> None:
    """Per-episode layered-prefill state (called by :meth:`ServingSimulator.reset`)."""
    n = sim.n
    sim.lpass = np.zeros(n, np.int64)
    sim.lgroup = np.zeros(n, np.int64)
    sim._lwork = []
    sim.expert_bytes_total = 0.0
    sim.n_layered_passes = 0
    sim.layer_log = {"layer_it": [], "layer_rid": [], "layer_group": [], "layer_tokens": []}


def pass_cap(sim: "ServingSimulator") -> int:
    """Most prompt tokens a new pass may take within the budget left now."""
    left = max(int(sim.budget_left), 0)
    return left * int(sim.cost.n_layers) // int(sim.layer_sizes.max())


def _run_group(sim: "ServingSimulator", r: int, c: int, g: int) -> None:
    sim.budget_left -= charge(c, int(sim.layer_sizes[g]), int(sim.cost.n_layers))
    sim._lwork.append((r, c, g))


def start_pass(sim: "ServingSimulator", r: int, c: int) -> None:
    """Start a pass of ``c`` tokens of request ``r``: take its KV blocks, run group 0 this iteration."""
    new_kv = int(sim.kv[r]) + c
    nb = -(-new_kv // sim.block_size) - int(sim.blocks[r])
    if nb > 0:
        sim.free_blocks -= nb
        sim.blocks[r] += nb
    sim.kv[r] = new_kv
    sim.lpass[r] = c
    sim.lgroup[r] = 0
    sim.n_layered_passes += 1
    _run_group(sim, r, c, 0)


def continue_prefills(sim: "ServingSimulator", rids: list[int], remaining: list[int]) -> None:
    """At composition: running requests with prefill left run their pass's next group when its charge
    fits the budget left, or start their next pass (in admission order)."""
    L = int(sim.cost.n_layers)
    for r, left in zip(rids, remaining):
        c = int(sim.lpass[r])
        if c:
            g = int(sim.lgroup[r])
            if charge(c, int(sim.layer_sizes[g]), L) <= sim.budget_left:
                _run_group(sim, r, c, g)
            continue
        c = min(int(left), pass_cap(sim), sim._chunk_room(r))
        if c > 0:
            start_pass(sim, r, c)


def abort_pass(sim: "ServingSimulator", r: int) -> None:
    """A recompute preemption drops ``r``'s KV, its pass with it."""
    sim.lpass[r] = 0
    sim.lgroup[r] = 0


def run_groups(sim: "ServingSimulator", n_decode: int, decode_context: float) -> tuple[float, list[tuple[int, int]]]:
    """Cost of the iteration composed with layered work, and advance the passes: returns the
    iteration time and the passes completing in it as ``(request, tokens)`` prefill chunks (the
    simulator then finishes them as it finishes chunks: prefilled tokens, first token)."""
    cost = sim.cost
    sizes = sim.layer_sizes
    G = sizes.shape[0]
    ptok = np.zeros(G)
    qk = np.zeros(G)
    seqs = 0
    done: list[tuple[int, int]] = []
    it = len(sim.log.start) if sim.log is not None else -1
    ll = sim.layer_log
    for r, c, g in sim._lwork:
        ptok[g] += c
        qk[g] += c * float(sim.kv[r])  # the pass's c tokens attend to the cached ones and to themselves
        last = g == G - 1
        if last and sim.prefilled[r] + c >= sim.target[r]:
            seqs += 1
        if sim.log is not None:
            ll["layer_it"].append(it)
            ll["layer_rid"].append(r)
            ll["layer_group"].append(g)
            ll["layer_tokens"].append(c)
        if last:
            sim.lpass[r] = 0
            sim.lgroup[r] = 0
            done.append((r, c))
        else:
            sim.lgroup[r] = g + 1
    work = [(int(sizes[g]), float(ptok[g]), float(qk[g])) for g in range(G) if ptok[g] > 0]
    dt = cost.layered_iteration_time(work, n_decode, decode_context, len(sim._lwork), seqs)
    sim.expert_bytes_total += cost.layered_expert_bytes(work, n_decode)
    return dt, done


def layer_progress(sim: "ServingSimulator", rids: np.ndarray) -> np.ndarray:
    """Share of the layer groups the current pass of each request has run (0 outside a pass)."""
    return np.where(sim.lpass[rids] > 0, sim.lgroup[rids] / float(sim.layer_sizes.shape[0]), 0.0)


def solution_fields(sim: "ServingSimulator") -> dict[str, Any]:
    """What the validator needs to check layered prefill (added to :meth:`ServingSimulator.solution`)."""
    out: dict[str, Any] = {"prefill_mode": sim.config.prefill_mode}
    if sim.config.prefill_mode == "layered":
        out["n_layers"] = int(sim.cost.n_layers)
        out["layer_groups"] = int(sim.config.layer_groups)
        out["layer_log"] = {k: np.asarray(v, np.int64) for k, v in sim.layer_log.items()}
    return out


def moe_metrics(sim: "ServingSimulator") -> dict[str, float]:
    """Expert-weight traffic of the episode (MoE models): total GB streamed from HBM and GB per
    finished request; the layered passes run."""
    if not sim.cost.is_moe:
        return {}
    fin = max(int(sim.n_finished), 1)
    return {"expert_gb": sim.expert_bytes_total / 1e9, "expert_gb_per_request": sim.expert_bytes_total / 1e9 / fin,
            "layered_passes": float(sim.n_layered_passes)}
