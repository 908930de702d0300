"""Serving metrics of a finished (or running) simulation, and goodput by bisection on the rate.

Definitions (all times in seconds):

* TTFT — first token time minus arrival; TBT — the gap between consecutive output tokens of a request
  (one sample per token after the first, so stalls such as prefill-first iterations or preemptions
  show up in the tail); TPOT — a request's mean TBT, ``(finish - first token) / (output - 1)``;
  end-to-end latency — finish minus arrival. Percentiles p50 / p90 / p99 over finished requests
  (TBT over tokens).
* SLO attainment — the fraction of *all* requests (rejected ones count as misses) that finish with
  TTFT <= their class's TTFT target and TPOT <= its TPOT target.
* Throughput — prompt + output tokens of finished requests per second of makespan (first arrival to
  last finish); output tokens/s alike; request goodput — requests within SLO per second.
* Preemptions (recompute, swap); KV utilization — time-weighted mean and peak share of KV blocks in use.
* Goodput (capacity) — :func:`goodput_rate`: the highest request rate at which SLO attainment stays
  >= a target (90 % by default), found by bisection on the rate scaling of a workload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from .simulator import ServingSimulator
    from .workload import Workload

FINISHED, REJECTED = 4, 5


def weighted_percentiles(values: np.ndarray, weights: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """Percentiles (``qs`` in 0..100) of samples ``values`` with integer-like ``weights`` (lower
    interpolation: the smallest value whose cumulative weight reaches ``q`` % of the total)."""
    if values.size == 0:
        return [float("nan")] * len(qs)
    order = np.argsort(values, kind="stable")
    v = values[order]
    cw = np.cumsum(weights[order])
    total = cw[-1]
    out = []
    for q in qs:
        i = int(np.searchsorted(cw, q / 100.0 * total - 1e-9, side="left"))
        out.append(float(v[min(i, v.size - 1)]))
    return out


def tbt_samples(sim: "ServingSimulator") -> tuple[np.ndarray, np.ndarray]:
    """All TBT samples of a simulator and their weights (tokens each sample stands for)."""
    if not sim.tbt_values:
        return np.zeros(0), np.zeros(0)
    v = np.concatenate(sim.tbt_values)
    w = np.repeat(np.asarray(sim.tbt_weights, np.float64), [x.size for x in sim.tbt_values])
    return v, w


def request_outcomes(first_token_t: np.ndarray, finish_t: np.ndarray, arrival: np.ndarray, output: np.ndarray,
                     ttft_slo: np.ndarray, tpot_slo: np.ndarray) -> dict[str, np.ndarray]:
    """Per-request TTFT, TPOT, latency and SLO verdicts (NaN / False for unfinished requests)."""
    finished = np.isfinite(finish_t)
    ttft = first_token_t - arrival
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(output > 1, (finish_t - first_token_t) / np.maximum(output - 1, 1), 0.0)
    tpot = np.where(finished, tpot, np.nan)
    latency = finish_t - arrival
    good = finished & (ttft <= ttft_slo + 1e-12) & (tpot <= tpot_slo + 1e-12)
    return {"finished": finished, "ttft": ttft, "tpot": tpot, "latency": latency, "good": good}


def summarize(sim: "ServingSimulator") -> dict[str, float]:
    """Every metric of the module docstring for the simulator's current state."""
    out = request_outcomes(sim.first_token_t, sim.finish_t, sim.arrival, sim.output, sim.ttft_slo, sim.tpot_slo)
    fin = out["finished"]
    n = sim.n
    m: dict[str, float] = {
        "n_requests": float(n),
        "n_finished": float(fin.sum()),
        "n_rejected": float(np.count_nonzero(sim.phase == REJECTED)),
        "n_rejected_context": float(np.count_nonzero((sim.phase == REJECTED) & (sim.reject_reason == 1))),
        "n_rejected_kv": float(np.count_nonzero((sim.phase == REJECTED) & (sim.reject_reason == 2))),
        "n_truncated": float(sim.truncated.sum()),
    }
    for name in ("ttft", "latency", "tpot"):
        vals = out[name][fin]
        p50, p90, p99 = (np.percentile(vals, [50, 90, 99]).tolist() if vals.size else [float("nan")] * 3)
        m[f"{name}_p50"], m[f"{name}_p90"], m[f"{name}_p99"] = p50, p90, p99
        m[f"{name}_mean"] = float(vals.mean()) if vals.size else float("nan")
    if sim.tbt_values:
        v, w = tbt_samples(sim)
        m["tbt_p50"], m["tbt_p90"], m["tbt_p99"] = weighted_percentiles(v, w, (50, 90, 99))
        m["tbt_mean"] = float((v * w).sum() / w.sum())
        m["tbt_max"] = float(v.max())
    else:
        m["tbt_p50"] = m["tbt_p90"] = m["tbt_p99"] = m["tbt_mean"] = m["tbt_max"] = float("nan")
    m["slo_attainment"] = float(out["good"].sum() / n) if n else float("nan")
    m["ttft_attainment"] = float(np.sum(fin & (out["ttft"] <= sim.ttft_slo + 1e-12)) / n) if n else float("nan")
    start = float(sim.arrival[0]) if n else 0.0
    end = float(np.nanmax(sim.finish_t)) if fin.any() else start
    makespan = max(end - start, 1e-12)
    tokens_out = float(sim.output[fin].sum())
    tokens_in = float(sim.prompt[fin].sum())
    m["makespan"] = end - start
    last = float(sim.arrival[-1]) if n else 0.0
    m["request_rate"] = (n - 1) / (last - start) if n > 1 and last > start else float("nan")
    m["throughput_tok_s"] = (tokens_in + tokens_out) / makespan
    m["output_tok_s"] = tokens_out / makespan
    m["goodput_req_s"] = float(out["good"].sum()) / makespan
    m["norm_latency_mean"] = float(np.mean(out["latency"][fin] / sim.output[fin])) if fin.any() else float("nan")
    m["preemptions_recompute"] = float(sim.n_preempt_recompute)
    m["preemptions_swap"] = float(sim.n_preempt_swap)
    # prefix caching: share of the tokens to prefill at fresh admissions served from the cache
    lookups = getattr(sim, "prefix_lookup_tokens", 0)
    hits = float(sim.prefix_hit_tokens.sum()) if hasattr(sim, "prefix_hit_tokens") else 0.0
    m["prefix_hit_rate"] = hits / lookups if lookups else 0.0
    m["prefix_hit_tokens"] = hits
    m["prefix_evicted_blocks"] = float(getattr(sim, "n_evicted_blocks", 0))
    m["swap_blocks"] = float(getattr(sim, "n_swap_blocks", 0))
    m["preemptions"] = float(sim.n_preempt_recompute + sim.n_preempt_swap)
    m["kv_util_mean"] = sim.kv_block_seconds / max(sim.now - start, 1e-12) / sim.total_blocks
    m["kv_util_max"] = sim.max_blocks_used / sim.total_blocks
    m["n_iterations"] = float(sim.n_iterations)
    m["busy_fraction"] = sim.busy_time / max(sim.now - start, 1e-12)
    return m


def goodput_rate(
    workload: "Workload",
    attainment_of: Callable[["Workload"], float],
    target: float = 0.9,
    lo: float = 0.05,
    hi: float = 20.0,
    iters: int = 12,
) -> float:
    """The highest rate scaling (relative to ``workload``'s own rate, times its mean rate) at which
    ``attainment_of(scaled workload) >= target``, by bisection on a log scale between ``lo`` and ``hi``
    times the workload's rate. Returns requests/s (0 when even ``lo`` misses the target).

    ``attainment_of`` runs a policy on a workload and returns its SLO attainment (e.g. a closure over a
    :class:`~schedgym.envs.llm.simulator.ServingSimulator` and :meth:`run`).
    """
    if len(workload) < 2:
        raise ValueError("goodput_rate needs a workload of >= 2 requests")
    base_rate = (len(workload) - 1) / max(workload.duration, 1e-12)
    if attainment_of(workload.scaled_rate(lo)) < target:
        return 0.0
    if attainment_of(workload.scaled_rate(hi)) >= target:
        return hi * base_rate
    a, b = np.log(lo), np.log(hi)
    for _ in range(iters):
        mid = 0.5 * (a + b)
        if attainment_of(workload.scaled_rate(float(np.exp(mid)))) >= target:
            a = mid
        else:
            b = mid
    return float(np.exp(a)) * base_rate
