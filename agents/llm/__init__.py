"""LLM serving baselines behind the Policy protocol (``schedgym/LLMServe-v0`` and ``schedgym/LLMCluster-v0``).

Single instance (the admission order at each iteration boundary; ``env_kwargs`` set the engine the
policy stands for):

* ``vllm-fcfs`` — vLLM (v0) default scheduler: first-come-first-served, strict (the queue head blocks),
  prefill-first iterations without chunking, token budget = the context limit, recompute preemption of
  the newest request;
* ``sarathi`` / ``sarathi:512`` / ``sarathi:2048`` — Sarathi-Serve: decode-first, stall-free batching with
  chunked prefills filling a token budget of 512 (default) or 2048, FCFS admission;
* ``spf`` — shortest prompt (remaining prefill) first;

  (``spf``, ``srpt-oracle``, ``edf`` and ``mlfq`` run on the env's engine, by default chunked prefill with
  a 2048-token budget, i.e. they compare with ``sarathi:2048``; ``<name>:<budget>``, e.g. ``spf:512``,
  sets the budget, to compare with ``sarathi:<budget>``)
* ``srpt-oracle`` — shortest remaining processing time using the TRUE output length (an ORACLE
  reference, not a deployable policy);
* ``edf`` — earliest deadline first (the request's next-token deadline from its TTFT / TPOT targets);
* ``vllm-apc`` / ``sarathi-apc[:budget]`` — the same engines with vLLM-style automatic prefix caching;
* ``lpm`` / ``lpm:<budget>`` — SGLang-style longest prefix match: the waiting request with the most
  cached prompt blocks first (prefix caching on);
* ``mlfq`` — FastServe-like skip-join multi-level feedback queue on generated tokens: admission and
  preemption-victim order, and proactive preemption (a waiting request of a strictly higher level
  that does not fit preempts the lowest-level running request; ``mlfq:nopreempt`` turns that off).
* ``layered`` / ``layered:<budget>x<groups>`` — FCFS with layered prefill (prompts prefilled one layer
  group per iteration, :mod:`schedgym.envs.llm.layered`), the counterpart of ``sarathi:<budget>``;
  with a mixture-of-experts model (suite ``llm-moe``) it streams fewer expert weights.

Agent sessions with KV time-to-live (``agent-nopin``, ``agent-nopin-apc``, ``agent-ttl``, ``continuum``,
``continuum-apc``): see :mod:`.sessions`.

Cluster (dispatch of each arriving request, and optional migration): see :mod:`.cluster`.
Prefill/decode disaggregation (``schedgym/LLMDisagg-v0``) and its co-located comparison: see :mod:`.disagg`.
"""

from __future__ import annotations

from typing import Any

from ..spec import PolicyEntry
from .cluster import CLUSTER_POLICIES, ClusterPolicy, llumnix_growth, llumnix_sita
from .disagg import DISAGG_POLICIES, DISAGG_SUMMARY, DisaggPolicy
from .layered import make_layered
from .serve import OrderPolicy
from .sessions import SessionPolicy, agent_nopin, agent_ttl, continuum

#: engine settings each single-instance policy stands for
_VLLM = {"chunked_prefill": False, "batching": "prefill-first", "token_budget": None, "preempt_order": "fcfs"}


def _sarathi(variant: str | None = None, **_: Any) -> OrderPolicy:
    budget = int(variant) if variant else 512
    if budget < 1:
        raise ValueError(f"sarathi token budget must be >= 1, got {variant!r}")
    return OrderPolicy(f"sarathi:{budget}", "fcfs", strict=True,
                       env_kwargs={"chunked_prefill": True, "batching": "mixed", "token_budget": budget,
                                   "preempt_order": "fcfs", "prefill_mode": "chunked"})


def _sarathi_apc(variant: str | None = None, **_: Any) -> OrderPolicy:
    p = _sarathi(variant)
    return OrderPolicy(p.name.replace("sarathi", "sarathi-apc"), "fcfs", strict=True,
                       env_kwargs={**p.env_kwargs, "prefix_caching": True})


def _lpm(variant: str | None = None, **_: Any) -> OrderPolicy:
    """``lpm`` (env's engine + prefix caching), ``lpm:<budget>`` (chunked budget)."""
    p = _order("lpm", "lpm")(variant)
    return OrderPolicy(p.name, "lpm", env_kwargs={**p.env_kwargs, "prefix_caching": True})


def _order(name: str, order: str, strict: bool = False, oracle: bool = False):
    """``name`` runs on the env's engine (default: chunked prefill, budget 2048); ``name:<budget>`` sets
    the chunked-prefill token budget too (e.g. ``spf:512``, comparable with ``sarathi:512``)."""

    def make(variant: str | None = None, **_: Any) -> OrderPolicy:
        env_kwargs: dict[str, Any] = {"preempt_order": order}
        label = name
        if variant:
            budget = _token_budget(name, variant, f"a token budget as variant (e.g. {name}:512)")
            env_kwargs.update(chunked_prefill=True, batching="mixed", token_budget=budget)
            label = f"{name}:{budget}"
        return OrderPolicy(label, order, strict=strict, oracle=oracle, env_kwargs=env_kwargs)

    return make


def _token_budget(name: str, variant: str, expected: str) -> int:
    """A policy variant read as a chunked-prefill token budget (>= 1); errors say what ``name`` takes."""
    try:
        budget = int(variant)
    except ValueError:
        raise ValueError(f"policy {name!r} takes {expected}, got {variant!r}") from None
    if budget < 1:
        raise ValueError(f"token budget must be >= 1, got {budget}")
    return budget


def _mlfq(variant: str | None = None, **_: Any) -> OrderPolicy:
    """``mlfq`` (proactive preemption on), ``mlfq:nopreempt``, ``mlfq:<budget>`` (chunked budget)."""
    env_kwargs: dict[str, Any] = {"preempt_order": "mlfq", "proactive_preemption": True}
    name = "mlfq"
    if variant == "nopreempt":
        env_kwargs["proactive_preemption"] = False
        name = "mlfq:nopreempt"
    elif variant:
        budget = _token_budget("mlfq", variant, "'nopreempt' or a token budget as variant")
        env_kwargs.update(chunked_prefill=True, batching="mixed", token_budget=budget)
        name = f"mlfq:{budget}"
    return OrderPolicy(name, "mlfq", env_kwargs=env_kwargs)


_SERVE = ("schedgym/LLMServe-v0",)
_CLUSTER = ("schedgym/LLMCluster-v0",)
_BUDGET = "chunked-prefill token budget (default: the env's engine, 2048 with chunking)"


def _entry(factory: Any, summary: str, options: str = "", kind: str = "baseline", env_ids: tuple[str, ...] = _SERVE,
           examples: tuple[str, ...] = ()) -> PolicyEntry:
    return PolicyEntry(make=lambda option: factory(variant=option), summary=summary, env_ids=env_ids,
                       options=options, kind=kind, examples=examples)  # type: ignore[arg-type]


POLICIES: dict[str, PolicyEntry] = {
    "vllm-fcfs": _entry(lambda variant=None: OrderPolicy("vllm-fcfs", "fcfs", strict=True, env_kwargs=dict(_VLLM)),
                        "vLLM v0 default: strict FCFS, prefill-first, no chunking, recompute preemption"),
    "sarathi": _entry(_sarathi, "Sarathi-Serve: decode-first stall-free batching with chunked prefills",
                      "token budget (default 512)", examples=("sarathi:512", "sarathi:2048")),
    "spf": _entry(_order("spf", "spf"), "shortest remaining prefill first", _BUDGET, examples=("spf", "spf:512")),
    "srpt-oracle": _entry(_order("srpt-oracle", "srpt-oracle", oracle=True),
                          "shortest remaining processing time with the TRUE output length (an oracle)", _BUDGET,
                          kind="oracle"),
    "edf": _entry(_order("edf", "edf"), "earliest next-token deadline first", _BUDGET),
    "vllm-apc": _entry(lambda variant=None: OrderPolicy("vllm-apc", "fcfs", strict=True,
                                                        env_kwargs={**_VLLM, "prefix_caching": True}),
                       "vLLM v0 default with automatic prefix caching (shared KV blocks, LRU-evicted cache)"),
    "sarathi-apc": _entry(_sarathi_apc, "Sarathi-Serve chunked prefill with automatic prefix caching",
                          "token budget (default 512)", examples=("sarathi-apc:512",)),
    "lpm": _entry(_lpm, "SGLang-style longest-prefix-match admission with prefix caching (cached prompt first)",
                  _BUDGET, examples=("lpm", "lpm:512")),
    "mlfq": _entry(_mlfq, "FastServe-like skip-join multi-level feedback queue with proactive preemption",
                   "'nopreempt' or a token budget", examples=("mlfq", "mlfq:nopreempt", "mlfq:512")),
    "layered": _entry(make_layered, "layered prefill: FCFS, prompts prefilled one layer group per iteration",
                      "'<token budget>' or '<token budget>x<layer groups>' (default 512x4)",
                      examples=("layered:256x4", "layered:512x4")),
}
POLICIES.update({
    "agent-nopin": _entry(agent_nopin, "agent sessions, vLLM-like: no KV pinning between turns, request-level FCFS",
                          "'program-fcfs' (admission order; default request-level FCFS)",
                          examples=("agent-nopin", "agent-nopin:program-fcfs")),
    "agent-nopin-apc": _entry(lambda variant=None: agent_nopin(variant, caching=True),
                              "agent sessions, vLLM-like with automatic prefix caching, no pinning",
                              "'program-fcfs' (admission order; default request-level FCFS)"),
    "agent-ttl": _entry(agent_ttl, "agent sessions: a turn's KV pinned for a fixed TTL, request-level FCFS",
                        "TTL in seconds (default 5), optionally '+program-fcfs'",
                        examples=("agent-ttl:2", "agent-ttl:10", "agent-ttl:10+program-fcfs")),
    "continuum": _entry(continuum, "Continuum-like: KV TTL by the tool kind's observed durations, program-level FCFS",
                        "TTL cap in seconds (default 10), optionally '+request-fcfs' (the TTL without program-level FCFS)",
                        examples=("continuum", "continuum:5", "continuum:request-fcfs")),
    "continuum-apc": _entry(lambda variant=None: continuum(variant, caching=True),
                            "Continuum-like TTL and program-level FCFS with automatic prefix caching",
                            "TTL cap in seconds (default 10), optionally '+request-fcfs'"),
})
_CLUSTER_SUMMARY = {
    "cluster-rr": ("round-robin dispatch", ""), "cluster-random": ("random dispatch (seeded)", ""),
    "cluster-lor": ("least outstanding requests", ""),
    "cluster-kv-jsq": ("join the instance with the lowest Llumnix virtual KV usage", ""),
    "llumnix": ("Llumnix: KV-aware dispatch plus live migration from the most to the least loaded instance",
                "migration check interval in seconds (default 0.5)"),
}
for _name, _factory in CLUSTER_POLICIES.items():
    _summary, _options = _CLUSTER_SUMMARY[_name]
    POLICIES[_name] = _entry(_factory, _summary, _options, env_ids=_CLUSTER)
POLICIES["llumnix-growth"] = _entry(
    llumnix_growth, "Llumnix with growth-aware dispatch (240 more KV tokens per resident request) and a 0.07 "
    "migration gap", "migration check interval in seconds (default 0.5)", env_ids=_CLUSTER)
POLICIES["llumnix-sita"] = _entry(
    llumnix_sita, "llumnix-growth plus a size split: prompts of 1,500+ tokens prefer instances 0-1, shorter ones "
    "the others", "migration check interval in seconds (default 0.5)", env_ids=_CLUSTER,
    examples=("llumnix-sita", "llumnix-sita:0.2"))
for _name, _factory in DISAGG_POLICIES.items():
    _summary, _options = DISAGG_SUMMARY[_name]
    POLICIES[_name] = _entry(_factory, _summary, _options, env_ids=("schedgym/LLMDisagg-v0",))

__all__ = ["CLUSTER_POLICIES", "ClusterPolicy", "DisaggPolicy", "OrderPolicy", "POLICIES", "SessionPolicy"]
