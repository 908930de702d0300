"""Prefill/decode disaggregation (DistServe): prefill instances, decode instances, KV transfer between them.

DistServe (Zhong et al., OSDI 2024) runs the two phases of a request on different GPUs: a *prefill
instance* computes the prompt and samples the first token, the request's KV cache crosses the
interconnect, and a *decode instance* generates the rest. Prefills then never stall running decodes
(the interference that makes TTFT and TBT trade off on one GPU), at the price of a KV transfer and of
fewer GPUs per phase.

The model (:class:`DisaggCluster`) reuses :class:`~schedgym.envs.llm.cluster.Instance` (a
:class:`~schedgym.envs.llm.simulator.ServingSimulator`) for every instance:

* ``n_prefill`` **prefill instances** (:class:`PrefillInstance`) run prefill-only iterations: a request
  whose prefill completes (its first token is sampled at that iteration's end; that is its TTFT)
  leaves the running batch at once and waits there for routing (a *handoff*). Its KV stays in the
  prefill instance's blocks until its transfer ends. A request with a one-token output finishes on
  its prefill instance.
* the handoff is routed to one of ``n_decode`` **decode instances** that has room for the request's
  KV plus its next block (and a free sequence slot); the decode instance reserves the blocks at once,
  the KV (``kv tokens x KV bytes per token per GPU``: each of the ``tp`` GPUs sends its own shard over
  its own link) crosses the interconnect in ``bytes / bandwidth + latency`` seconds, and the request
  joins the decode instance's running batch at its first iteration boundary after the landing. The
  transfers of one prefill instance share its link: they run one after the other, in routing order.
* when no decode instance has room, the finished prefill is *parked* (backpressure, as in DistServe,
  which uses the prefill GPUs' memory as the queue): its KV stays in the prefill instance's blocks, the
  prefill instance goes on prefilling with what is left, and the oldest parked request is routed at
  the first decode iteration boundary with room. While requests are parked the prefill side advances
  in lockstep with the decode side's boundaries (a parked request's blocks may be returned to its
  prefill instance up to one prefill iteration late: conservative).
* a decode instance normally runs decode-only iterations; if it has to preempt (KV exhausted) it does
  so as configured, and a recompute-preempted request re-prefills there (no second transfer).

**semi-PD** (``semi_pd=f``, Hong et al. 2025): every GPU runs a prefill worker on a fraction ``f`` of its
compute and a decode worker on the rest; the KV stays in the GPU's memory, so the handoff goes to the
same GPU's decode worker in zero time (:func:`semi_pd_configs` for what is approximated).

Reported as the existing cluster records: each transfer is a migration out of the prefill instance
(when it is routed) and in to the decode instance (at the landing), so
:func:`~schedgym.envs.llm.validate.validate_cluster` checks every instance; the transfer list and the
interconnect let :func:`~schedgym.envs.llm.validate.validate_disagg` check the rest.

Not modelled: pipelining the transfer with the prefill (layer by layer, Splitwise): the whole KV moves
after the prefill ends; per-phase parallelism (every instance has the same ``tp``); semi-PD's online
adjustment of the fraction.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ..core import check_number
from .cluster import Cluster, Instance
from .profiles import HARDWARE, MODELS, HardwareProfile
from .simulator import NOT_ARRIVED, ServingConfig, ServingSimulator
from .workload import Workload

if TYPE_CHECKING:
    from .types import LLMClusterSolution


@runtime_checkable
class DisaggView(Protocol):
    """What a policy of ``schedgym/LLMDisagg-v0`` reads: the cluster (a :class:`DisaggCluster`, or a
    co-located :class:`~schedgym.envs.llm.cluster.Cluster` when ``disaggregated`` is False), the event
    (``"dispatch"`` or ``"route"``), the instance counts; node ``k`` is instance ``k`` (prefill instances
    first)."""

    cluster: Cluster
    event: str | None
    disaggregated: bool
    n_prefill: int
    n_decode: int
    n_instances: int


@dataclass(frozen=True)
class Interconnect:
    """A KV transfer link between a prefill and a decode GPU: ``bandwidth`` bytes/s per direction (None:
    the GPU profile's ``hardware_field``), a fixed ``latency_s`` per transfer, and where the figure comes from."""

    name: str
    bandwidth: float | None
    latency_s: float
    source: str
    hardware_field: str = ""

    def bandwidth_for(self, hardware: HardwareProfile) -> float:
        """Bytes/s of this link on ``hardware``."""
        if self.bandwidth is not None:
            return float(self.bandwidth)
        return float(getattr(hardware, self.hardware_field))


#: KV transfer presets. Bandwidths: GPU data sheets (via the hardware profile) and link standards;
#: the per-transfer latencies are assumed (setup of one transfer), not calibrated.
INTERCONNECTS: dict[str, Interconnect] = {
    # intra-node NVLink between GPUs: DistServe places the prefill and decode instance of a model on
    # one node to move KV over NVLink (A100: 600 GB/s total, 300 GB/s per direction; H100: 450 GB/s)
    "nvlink": Interconnect("nvlink", None, 10e-6, "GPU data sheet NVLink bandwidth per direction (hardware profile)",
                           hardware_field="nvlink_bandwidth"),
    # PCIe between GPUs of one node without NVLink (Gen4 x16 ~25 GB/s achievable on A100, Gen5 ~50 GB/s)
    "pcie": Interconnect("pcie", None, 20e-6, "PCIe x16 per direction (hardware profile)", hardware_field="pcie_bandwidth"),
    # one 200 Gb/s InfiniBand HDR NIC per GPU (RDMA), across nodes
    "infiniband-200g": Interconnect("infiniband-200g", 25e9, 50e-6, "InfiniBand HDR 200 Gb/s per NIC"),
    # DistServe's testbed: 25 Gbps between nodes (their low-bandwidth cross-node setting)
    "ethernet-25g": Interconnect("ethernet-25g", 3.125e9, 1e-3, "25 Gb/s cross-node network (DistServe OSDI'24 testbed)"),
}


def _preset_or_fields(profile: Any, presets: dict[str, Any]) -> str | dict[str, Any]:
    """A profile as its preset name when it is that preset, else as its fields (a custom profile)."""
    return profile.name if presets.get(profile.name) == profile else asdict(profile)


def get_interconnect(link: str | Interconnect) -> Interconnect:
    """An :class:`Interconnect` by preset name or the object itself."""
    if isinstance(link, Interconnect):
        return link
    if link not in INTERCONNECTS:
        raise ValueError(f"unknown interconnect {link!r}; known: {sorted(INTERCONNECTS)} (or pass an Interconnect)")
    return INTERCONNECTS[link]


def semi_pd_configs(config: ServingConfig, fraction: float) -> tuple[ServingConfig, ServingConfig]:
    """The prefill and decode workers of one semi-PD GPU: the prefill worker gets ``fraction`` of the
    GPU's peak FLOP/s, the decode worker the rest (an SM partition); both see the full HBM bandwidth
    (prefill is compute-bound and decode memory-bound: their contention for bandwidth is not modelled).
    The GPU's KV blocks (weights counted once) are split statically: the prefill worker gets room for
    two context-length prompts (at most half the blocks), the decode worker the rest (semi-PD's unified
    pool is dynamic; a request's blocks change owner without a copy at the handoff).

    Each worker must be able to serve any request the whole GPU could: its blocks minus its watermark
    must hold a ``max_context``-token context plus one block. The split above already gives both workers
    as much as any split can (half each when the cache is small), so when a capped cache
    (``max_kv_blocks``) is too small for that, a :class:`ValueError` naming ``max_kv_blocks`` and
    ``semi_pd`` is raised instead of letting the split reject requests one GPU would serve."""
    probe = ServingSimulator(config)
    hw = probe.hardware
    total = probe.total_blocks
    if total < 2:
        raise ValueError(f"semi_pd splits one GPU's KV cache between a prefill and a decode worker: it needs at "
                         f"least 2 KV blocks, the GPU has {total} (max_kv_blocks={config.max_kv_blocks})")
    prompt_blocks = -(-max(probe.token_budget, probe.max_context) // probe.block_size)
    prefill_blocks = _semi_pd_prefill_blocks(total, prompt_blocks)
    prefill = replace(config, hardware=replace(hw, peak_flops=hw.peak_flops * fraction), max_kv_blocks=prefill_blocks)
    decode = replace(config, hardware=replace(hw, peak_flops=hw.peak_flops * (1.0 - fraction)),
                     max_kv_blocks=total - prefill_blocks)
    _check_semi_pd_split(config, total, probe.max_context, probe.block_size, prompt_blocks)
    return prefill, decode


def _semi_pd_prefill_blocks(total: int, prompt_blocks: int) -> int:
    """The prefill worker's share of a GPU's ``total`` KV blocks (see :func:`semi_pd_configs`)."""
    return max(1, min(total // 2, 2 * prompt_blocks))


def _check_semi_pd_split(config: ServingConfig, total: int, max_context: int, block_size: int,
                         prompt_blocks: int) -> None:
    """Raise when a semi-PD worker's usable blocks (its blocks minus its watermark) cannot hold a
    ``max_context``-token context plus one block; the message gives the smallest ``max_kv_blocks`` that can."""
    need = -(-max_context // block_size) + 1

    def short_worker(blocks: int) -> tuple[str, int, int] | None:
        prefill = _semi_pd_prefill_blocks(blocks, prompt_blocks)
        for name, own in (("prefill", prefill), ("decode", blocks - prefill)):
            usable = own - int(config.watermark * own)  # the simulator's watermark of a worker with ``own`` blocks
            if usable < need:
                return name, own, usable
        return None

    short = short_worker(total)
    if short is None:
        return
    name, own, usable = short
    cap = _semi_pd_prefill_blocks(4 * prompt_blocks, prompt_blocks)  # the prefill share stops growing there
    if cap - int(config.watermark * cap) < need:
        fix = f"no max_kv_blocks is enough with watermark={config.watermark}: lower it or use no semi_pd"
    else:  # terminates: the decode share grows with the cache
        smallest = 2 * need
        while short_worker(smallest) is not None:
            smallest += 1
        fix = f"use max_kv_blocks >= {smallest} or no semi_pd"
    raise ValueError(
        f"semi_pd: the {name} worker gets {own} of the GPU's {total} KV blocks (max_kv_blocks={config.max_kv_blocks}), "
        f"{usable} usable after its watermark; it needs {need} (a {max_context}-token context plus one block) to "
        f"serve every request one GPU could: {fix}")


class PrefillInstance(Instance):
    """A prefill-only instance: finished prefills leave the batch as handoffs; their KV is held until
    their transfer ends (see the module docstring)."""

    def __init__(self, config: ServingConfig, order: str, workload: Workload, record: bool) -> None:
        super().__init__(config, order, workload, record)
        self.handoffs: list[int] = []  # finished prefills not yet offered to the decode side, in order
        self.parked: list[int] = []  # finished prefills offered but without decode room: their KV stays here
        self.sending: dict[int, tuple[float, int]] = {}  # rid -> (transfer end, blocks held)
        self.link_free_at = 0.0  # the outgoing link is busy until then

    def busy(self) -> bool:
        return bool(self.running or self.queue or self.swapped or self.handoffs)

    def _release_sent(self) -> None:
        """Free the blocks of the transfers that have ended by ``now``."""
        if not self.sending:
            return
        for r, (end, blocks) in list(self.sending.items()):
            if end <= self.now:
                del self.sending[r]
                self.free_blocks += blocks

    def run_until(self, t: float) -> None:
        """Run the prefill iterations that start before ``t``; stop early after an iteration that
        finished a prefill (a handoff to route)."""
        while not self.handoffs:
            self._release_sent()
            if not self.running and not self.queue and not self.swapped:
                if t < math.inf:
                    self.now = max(self.now, t)
                return
            if self.now >= t:
                return
            self._compose()
            while True:
                pick = self.choose(self.order, self.strict)
                if pick is None:
                    break
                self.admit(pick)
            if not len(self._dec) and not self._chunks and not self._swapins and not self._lwork:
                # nothing fits: KV held by transfers in flight or by parked requests; wait for the first
                # transfer to end, or (parked only) for the event
                nxt = min((end for end, _ in self.sending.values()), default=math.inf)
                if nxt == math.inf and not self.parked:
                    raise RuntimeError("prefill instance stalled: queued requests fit no KV and no transfer "
                                       "is in flight")
                self.now = max(self.now, min(nxt, t))
                if nxt >= t:
                    return
                continue
            self._run_iteration()
            self._collect_handoffs()

    def _collect_handoffs(self) -> None:
        """Move the requests whose prefill has just completed out of the running batch."""
        done = [r for r in self.running if self.prefilled[r] >= self.target[r]]
        for r in done:
            self.running.remove(r)
            self.handoffs.append(r)


class DisaggCluster(Cluster):
    """``n_prefill`` prefill and ``n_decode`` decode instances on one clock (see the module docstring).
    Instance ``k < n_prefill`` is a prefill instance, ``n_prefill + j`` the decode instance ``j``.

    Events (:meth:`advance_to_event`): ``"dispatch"`` (request ``next_req`` arrives: send it to a prefill
    instance with :meth:`dispatch`) and ``"route"`` (the prefill of :attr:`pending` is done and a
    decode instance has room: send its KV with :meth:`route`).

    ``semi_pd=f`` (semi-PD): ``n_prefill == n_decode`` GPUs, GPU ``k`` running prefill worker ``k`` on a
    fraction ``f`` of its compute and decode worker ``k`` on the rest (see :func:`semi_pd_configs`); the
    KV stays in the GPU's memory, so a finished prefill goes to its own GPU's decode worker at no
    transfer cost, routed by the cluster itself (no ``"route"`` events)."""

    def __init__(self, config: ServingConfig, n_prefill: int, n_decode: int, local_order: str = "fcfs",
                 interconnect: str | Interconnect = "nvlink", bandwidth: float | None = None,
                 record: bool = True, semi_pd: float | None = None) -> None:
        n_prefill = check_number("n_prefill", n_prefill, minimum=1, integer=True)
        n_decode = check_number("n_decode", n_decode, minimum=1, integer=True)
        if config.prefill_mode != "chunked":
            # the decode instances (cluster.Instance) do not run layered passes yet: a recompute-preempted
            # request would never re-prefill there
            raise ValueError(f"prefill_mode={config.prefill_mode!r}: the disaggregated cluster runs chunked prefill "
                             "only (prefill_mode='chunked')")
        super().__init__(config, n_prefill + n_decode, local_order, migration_interval=None, record=record)
        self.n_prefill, self.n_decode = int(n_prefill), int(n_decode)
        self.interconnect = get_interconnect(interconnect)
        probe = ServingSimulator(self.config)
        self.kv_bytes_per_token = float(probe.cost.kv_bytes_per_token)
        #: what the validator recomputes the KV bytes per token and the link from (names of presets, else fields)
        self.identity: dict[str, Any] = {
            "model": _preset_or_fields(probe.model, MODELS), "hardware": _preset_or_fields(probe.hardware, HARDWARE),
            "tp": int(self.config.tp), "interconnect": _preset_or_fields(self.interconnect, INTERCONNECTS),
            "bandwidth_override": None if bandwidth is None else float(bandwidth)}
        self.semi_pd = check_number("semi_pd", semi_pd, minimum=0.0, exclusive=True, maximum=1.0, allow_none=True)
        if self.semi_pd is not None:
            if self.semi_pd >= 1.0:
                raise ValueError(f"semi_pd (the prefill worker's compute fraction) must be in (0, 1), got {semi_pd!r}")
            if n_prefill != n_decode:
                raise ValueError(f"semi_pd pairs one prefill and one decode worker per GPU: n_prefill ({n_prefill}) "
                                 f"must equal n_decode ({n_decode})")
            self.prefill_config, self.decode_config = semi_pd_configs(self.config, self.semi_pd)
            self.bandwidth, self.latency_s = math.inf, 0.0  # the KV does not move
            return
        self.prefill_config = self.decode_config = self.config
        if bandwidth is None:
            bandwidth = self.interconnect.bandwidth_for(probe.hardware)
        self.bandwidth = float(check_number("bandwidth", bandwidth, minimum=0.0, exclusive=True))
        self.latency_s = float(self.interconnect.latency_s)

    def transfer_time(self, kv_tokens: int) -> float:
        """Seconds to move ``kv_tokens`` tokens of KV: bytes per GPU shard / bandwidth + latency."""
        return kv_tokens * self.kv_bytes_per_token / self.bandwidth + self.latency_s

    def reset(self, workload: Workload) -> None:
        self.workload = workload
        self.n = len(workload)
        self.prefill = [PrefillInstance(self.prefill_config, self.local_order, workload, self.record)
                        for _ in range(self.n_prefill)]
        self.decode = [Instance(self.decode_config, self.local_order, workload, self.record)
                       for _ in range(self.n_decode)]
        self.instances: list[Instance] = [*self.prefill, *self.decode]
        self.assigned = np.full(self.n, -1, np.int64)
        self.next_req = 0
        self.now = 0.0
        self.next_migration = math.inf
        self.n_migrations = 0
        self.pending: tuple[int, int] | None = None  # (prefill instance, request) of a "route" event
        #: (request, prefill instance, decode instance, start, end, KV tokens) per transfer
        self.transfers: list[tuple[int, int, int, float, float, int]] = []
        self.handoff_wait = 0.0  # sum over handoffs of (routing time - prefill end): waiting for decode room
        self.parked: list[tuple[int, int]] = []  # (prefill instance, request) waiting for decode room, oldest first
        self.parked_max = 0
        self.done = False

    # ------------------------------------------------------------------ events
    def room(self, j: int, r: int, p: int) -> bool:
        """Whether decode instance ``j`` can take request ``r`` (now on prefill instance ``p``): its KV
        blocks plus the block its next decode may open, and a sequence slot."""
        d, s = self.decode[j], self.prefill[p]
        need = int(s.blocks[r]) + (1 if int(s.kv[r]) % s.block_size == 0 else 0)
        if need > d.free_blocks - d.watermark_blocks:
            return False
        return len(d.running) + len(d.migrating_in) < d.config.max_num_seqs

    def route_options(self) -> list[int]:
        """Decode instances that can take the pending handoff."""
        if self.pending is None:
            return []
        p, r = self.pending
        if self.semi_pd is not None:  # the KV is on GPU p: only its decode worker can take it
            return [p] if self.room(p, r, p) else []
        return [j for j in range(self.n_decode) if self.room(j, r, p)]

    def advance_to_event(self) -> str | None:
        """Run to the next event and return ``"dispatch"``, ``"route"`` or None (everything finished).

        A finished prefill that finds no decode room is *parked*: it keeps its KV on its prefill instance,
        which goes on prefilling, and it is offered again (oldest first) whenever the decode side may
        have freed room. While any request is parked the prefill side advances in lockstep with the
        decode side's iteration boundaries, so that a parked request is routed at the first boundary at
        which room appears."""
        while True:
            if self.parked and self._offer_parked():
                if self.semi_pd is None:
                    return "route"
                self.route(self.route_options()[0])
                continue
            t_arr = float(self.workload.arrival[self.next_req]) if self.next_req < self.n else math.inf
            horizon = min(t_arr, self._next_decode_boundary()) if self.parked else t_arr
            for p in self.prefill:
                if not p.handoffs:
                    p.run_until(horizon)
            waiting = [k for k, p in enumerate(self.prefill) if p.handoffs]
            if not waiting and t_arr == math.inf and not self.parked:
                for d in self.decode:
                    d.run_until(math.inf)
                self.pending = None
                self.done = True
                return None
            k = min(waiting, key=lambda q: self.prefill[q].now) if waiting else -1
            t_route = max(self.prefill[k].now, self.now) if waiting else math.inf
            if t_arr <= t_route and t_arr <= horizon:
                # a dispatch touches only the prefill side: the decode instances run on undisturbed
                # (cutting their closed-form decode blocks at every arrival would cost time for
                # nothing; :meth:`sync_decode` brings them to now for an observation)
                self.now = max(self.now, t_arr)
                self.pending = None
                return "dispatch"
            if t_route > horizon:  # parked requests: first let the decode side reach its next boundary
                self.now = max(self.now, horizon)
                continue
            self.now = t_route
            for d in self.decode:
                d.run_until(self.now)
            r = self.prefill[k].handoffs.pop(0)
            self.pending = (k, r)
            options = self.route_options()
            if options and self.semi_pd is not None:
                self.route(options[0])
                continue
            if options:
                return "route"
            self.parked.append((k, r))  # no decode room: it waits on its prefill instance
            self.prefill[k].parked.append(r)
            self.parked_max = max(self.parked_max, len(self.parked))
            self.pending = None

    def _offer_parked(self) -> bool:
        """Whether the oldest parked request can go to a decode instance now (then it is :attr:`pending`)."""
        for d in self.decode:
            d.run_until(self.now)
        p, r = self.parked[0]
        self.pending = (p, r)
        if self.route_options():
            self.parked.pop(0)
            return True
        self.pending = None
        return False

    def sync_decode(self) -> None:
        """Run the decode instances to the current time (what an observation at a dispatch shows)."""
        for d in self.decode:
            d.run_until(self.now)

    def _next_decode_boundary(self) -> float:
        """The decode side's next iteration boundary (or transfer landing) after now, when room may
        appear for a parked request: busy decode instances run one iteration ahead if needed."""
        nxt = math.inf
        step = float(np.nextafter(self.now, math.inf))
        for d in self.decode:
            if d.running or d.queue or d.swapped:
                if d.now <= self.now:
                    d.run_until(step)  # one iteration, unless nothing fits before a landing
                if d.now > step:
                    nxt = min(nxt, d.now)
                    continue
            if d.migrating_in:  # nothing runs until a transfer lands
                nxt = min(nxt, max(min(d.migrating_in.values()), step))
        if nxt == math.inf:
            p, r = self.parked[0]
            raise RuntimeError(f"request {r} (parked on prefill instance {p}) can never get decode room: every "
                               "decode instance is idle and full")
        return nxt

    def dispatch(self, instance: int) -> None:
        """Send the arriving request to prefill instance ``instance``."""
        if not 0 <= instance < self.n_prefill:
            raise ValueError(f"no prefill instance {instance} (the cluster has {self.n_prefill})")
        super().dispatch(instance)

    def route(self, j: int) -> None:
        """Send the pending handoff's KV to decode instance ``j`` (it must have room)."""
        if self.pending is None:
            raise ValueError("no finished prefill is waiting for a decode instance")
        p, r = self.pending
        if not 0 <= j < self.n_decode or not self.room(j, r, p):
            raise ValueError(f"decode instance {j} cannot take request {r} now (no room or no such instance; "
                             f"options: {self.route_options()})")
        s, d = self.prefill[p], self.decode[j]
        if r in s.parked:
            s.parked.remove(r)
        t0 = max(self.now, s.link_free_at)
        kv = int(s.kv[r])
        end = t0 + self.transfer_time(kv)
        s.link_free_at = end
        blocks = int(s.blocks[r])
        s.sending[r] = (end, blocks)
        s.blocks[r] = 0
        s.migrated_out[r] = True
        s.phase[r] = NOT_ARRIVED
        if s.log is not None:  # it leaves the prefill instance now (its transfer may queue for the link)
            s.log.preempt_t.append(self.now)
            s.log.preempt_rid.append(r)
            s.log.preempt_mode.append(2)
        self.handoff_wait += self.now - float(s.first_token_t[r])
        if not s.handoffs:
            s.now = max(s.now, self.now)  # it leaves now: the prefill instance's later events come after
        for name in ("target", "prefilled", "kv", "generated", "first_token_t", "last_token_t", "max_tbt", "n_preempt"):
            getattr(d, name)[r] = getattr(s, name)[r]
        d.arrival[r] = s.arrival[r]
        d.migrated_out[r] = False
        d.blocks[r] = blocks
        d.free_blocks -= blocks
        d.phase[r] = NOT_ARRIVED
        d.migrating_in[r] = end
        if not d.running and not d.queue and not d.swapped:
            d.now = max(d.now, self.now)
        self.assigned[r] = self.n_prefill + j
        self.n_migrations += 1
        self.transfers.append((r, p, self.n_prefill + j, t0, end, kv))
        self.pending = None

    # ------------------------------------------------------------------ results
    def metrics(self) -> dict[str, float]:
        m = super().metrics()
        del m["migrations"]
        m["kv_transfers"] = float(len(self.transfers))
        if self.transfers:
            dur = np.array([e - s for _, _, _, s, e, _ in self.transfers])
            m["transfer_ms_mean"] = float(dur.mean() * 1e3)
            m["transfer_ms_p99"] = float(np.percentile(dur, 99) * 1e3)
        else:
            m["transfer_ms_mean"] = m["transfer_ms_p99"] = 0.0
        # backpressure (decode side full): how long finished prefills waited for a decode instance, and
        # the most of them parked on the prefill side at once
        m["handoff_wait_ms_mean"] = float(self.handoff_wait / max(len(self.transfers), 1) * 1e3)
        m["parked_max"] = float(self.parked_max)
        counts = np.bincount(self.assigned[self.assigned >= 0], minlength=self.n_instances)
        m["dispatch_imbalance"] = float(counts[self.n_prefill:].max() / max(counts[self.n_prefill:].mean(), 1e-12))
        return m

    def solution(self) -> "LLMClusterSolution":
        sol: dict[str, Any] = dict(super().solution())
        t = np.array([row[:5] for row in self.transfers], np.float64).reshape(-1, 5)
        sol["disagg"] = {
            **self.identity,
            "semi_pd": self.semi_pd,
            "n_prefill": self.n_prefill,
            "n_decode": self.n_decode,
            "bandwidth": self.bandwidth,
            "latency_s": self.latency_s,
            "kv_bytes_per_token": self.kv_bytes_per_token,
            "transfer_rid": t[:, 0].astype(np.int64),
            "transfer_src": t[:, 1].astype(np.int64),
            "transfer_dst": t[:, 2].astype(np.int64),
            "transfer_start": t[:, 3].copy(),
            "transfer_end": t[:, 4].copy(),
            "transfer_kv": np.array([row[5] for row in self.transfers], np.int64),
        }
        return sol  # type: ignore[return-value]


def run_least_loaded(cluster: DisaggCluster, workload: Workload) -> DisaggCluster:
    """Replay ``workload`` on ``cluster`` with least-loaded dispatch and routing (``disagg-ll``'s rule,
    without the env): the speed benchmark's and the tests' driver."""
    cluster.reset(workload)
    while (event := cluster.advance_to_event()) is not None:
        if event == "dispatch":
            cluster.dispatch(int(np.argmin([p.load() for p in cluster.prefill])))
        else:
            options = cluster.route_options()
            cluster.route(options[int(np.argmin([cluster.decode[j].load() for j in options]))])
    return cluster


def bench_rows(workload: Workload, name: str) -> list[dict[str, Any]]:
    """Speed rows of a disaggregated replay of ``workload`` on 2 prefill + 2 decode Llama-2-7B / A100
    instances (vLLM-like whole-prompt prefills, NVLink), least-loaded: simulation and validator wall time."""
    import time

    from .validate import validate_disagg

    cluster = DisaggCluster(ServingConfig(chunked_prefill=False, batching="prefill-first", token_budget=None), 2, 2)
    t0 = time.perf_counter()
    run_least_loaded(cluster, workload)
    wall = time.perf_counter() - t0
    t1 = time.perf_counter()
    attainment = validate_disagg(cluster.solution())
    v_wall = time.perf_counter() - t1
    span = float(workload.arrival[-1] - workload.arrival[0]) if len(workload) > 1 else 0.0
    return [
        {"benchmark": name, "measure": "wall time (s)", "value": wall, "unit": "s"},
        {"benchmark": name, "measure": "validator wall time (s)", "value": v_wall, "unit": "s"},
        {"benchmark": name, "measure": "arrival span s per wall s", "value": span / wall, "unit": "x"},
        {"benchmark": name, "measure": "SLO attainment", "value": attainment, "unit": ""},
    ]
