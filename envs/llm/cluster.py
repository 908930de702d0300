"""A cluster of serving instances on one clock: dispatch of arriving requests and live migration.

Each instance is a :class:`~schedgym.envs.llm.simulator.ServingSimulator` scheduled by a built-in local
policy (an admission order of :data:`~schedgym.envs.llm.simulator.ORDERS`, strict FCFS for ``"fcfs"``
as vLLM). The cluster replays a workload; each arriving request is dispatched to an instance, and
every ``migration_interval`` seconds a running (decoding) request may be migrated live (Llumnix) to
another instance.

Migration cost (stop-and-copy): the request stops decoding on the source at the source's iteration
boundary, its KV cache (``kv`` tokens x KV bytes per token x TP degree) crosses the network at
``network_bandwidth`` bytes/s plus a fixed ``migration_overhead_s``; the destination reserves the KV
blocks at once and the request joins its running batch at the first boundary after the copy. This is
pessimistic next to Llumnix's pipelined migration (which overlaps the copy with decoding and only
stalls for the last stage); the stall shows up in the request's TBT.

Instances advance independently between cluster events (arrivals, migration checks); an instance
runs whole iterations, so a request dispatched at time ``t`` joins at the instance's first iteration
boundary at or after ``t``, exactly as arrivals do on a single instance.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .types import LLMClusterSolution

from ..core import check_number
from .metrics import request_outcomes, tbt_samples, weighted_percentiles
from .simulator import FINISHED, NOT_ARRIVED, QUEUED, REJECTED, RUNNING, ServingConfig, ServingSimulator
from .workload import Workload


class Instance(ServingSimulator):
    """A serving instance fed by dispatch (rather than by a pre-known workload) and by migrations."""

    def __init__(self, config: ServingConfig, order: str, workload: Workload, record: bool) -> None:
        super().__init__(replace(config, record=record))
        self.order = order
        self.strict = order == "fcfs"
        self.reset(workload, start=False)
        self.arrival = np.full(self.n, np.inf)  # a request arrives here only when dispatched
        self.next_arrival = self.n
        self.migrating_in: dict[int, float] = {}  # rid -> time its KV copy completes

    def dispatch(self, r: int, arrival: float) -> None:
        """Request ``r`` arrives here (it joins at the next iteration boundary)."""
        self.arrival[r] = arrival
        if self.reject_reason[r]:
            self.phase[r] = REJECTED
            self.n_rejected += 1
            return
        self.phase[r] = QUEUED
        bisect.insort(self.queue, r)
        self._qdirty = True
        if not self.busy():
            self.now = max(self.now, arrival)  # an idle instance wakes up at the dispatch

    def busy(self) -> bool:
        return bool(self.running or self.queue or self.swapped or self.migrating_in)

    def outstanding(self) -> int:
        return len(self.running) + len(self.queue) + len(self.swapped) + len(self.migrating_in)

    def load(self) -> float:
        """Llumnix-style virtual usage: KV blocks held or reserved, plus those the queue and the swapped
        requests need, over the capacity (> 1 means a backlog)."""
        if self.queue:
            q = np.fromiter(self.queue, np.int64, len(self.queue))
            queued = int((-(-(self.target[q] - self.prefilled[q]) // self.block_size)).sum())
        else:
            queued = 0
        swapped = sum(int(self.host_blocks[r]) for r in self.swapped)
        return (self.total_blocks - self.free_blocks + queued + swapped) / self.total_blocks

    def run_until(self, t: float) -> None:
        """Run the iterations that start before ``t`` (the last one may end after ``t``)."""
        while True:
            self._land_migrations()
            if not self.running and not self.queue and not self.swapped:
                nxt = min(self.migrating_in.values(), default=math.inf)
                if nxt < t:
                    self.now = max(self.now, nxt)
                    continue
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
                # nothing fits (KV reserved by incoming migrations): wait for a landing or the event
                nxt = min(self.migrating_in.values(), default=math.inf)
                self.now = max(self.now, min(nxt, t))
                if nxt >= t:
                    return
                continue
            if not self._chunks and not self._swapins and not self._lwork:
                # pure decode and nothing admissible (or, under strict FCFS, a blocked queue head: it
                # stays blocked until a completion) until the next event: run it as one block
                horizon = min(t, min(self.migrating_in.values(), default=math.inf))
                self._run_decode_block(horizon)
            else:
                self._run_iteration()

    def _land_migrations(self) -> None:
        if not self.migrating_in:
            return
        for r, ready in sorted(self.migrating_in.items(), key=lambda kv: kv[1]):
            if ready <= self.now:
                del self.migrating_in[r]
                self.phase[r] = RUNNING
                self.running.append(r)
                if self.log is not None:
                    self.log.mig_in.append((self.now, r, float(self.kv[r]), float(self.generated[r]),
                                            float(self.first_token_t[r])))


class Cluster:
    """``n_instances`` identical instances replaying one workload (see the module docstring)."""

    def __init__(self, config: ServingConfig, n_instances: int, local_order: str = "fcfs",
                 migration_interval: float | None = None, network_bandwidth: float = 12.5e9,
                 migration_overhead_s: float = 5e-3, record: bool = True) -> None:
        n_instances = check_number("n_instances", n_instances, minimum=1, integer=True)
        # finite: a NaN interval or bandwidth would pass ``<= 0`` and loop forever
        migration_interval = check_number("migration_interval", migration_interval, minimum=0.0, exclusive=True,
                                          allow_none=True)
        check_number("network_bandwidth", network_bandwidth, minimum=0.0, exclusive=True)
        check_number("migration_overhead_s", migration_overhead_s, minimum=0.0)
        self.config = config.validated()
        self.n_instances = int(n_instances)
        self.local_order = local_order
        self.migration_interval = migration_interval
        self.network_bandwidth = float(network_bandwidth)
        self.migration_overhead_s = float(migration_overhead_s)
        self.record = record
        ServingSimulator(self.config)  # fail early if the model does not fit

    def reset(self, workload: Workload) -> None:
        self.workload = workload
        self.n = len(workload)
        self.instances = [Instance(self.config, self.local_order, workload, self.record)
                          for _ in range(self.n_instances)]
        self.assigned = np.full(self.n, -1, np.int64)  # each request's current (finally: last) instance
        self.next_req = 0
        self.now = 0.0
        self.next_migration = self.migration_interval if self.migration_interval else math.inf
        self.n_migrations = 0
        self.done = False

    # ------------------------------------------------------------------ events
    def _busy(self) -> bool:
        return any(i.busy() for i in self.instances)

    def advance_to_event(self) -> str | None:
        """Run the instances to the next cluster event and return its kind: ``"dispatch"`` (request
        ``next_req`` arrives now), ``"migrate"`` (a migration check with at least one movable request)
        or None (everything finished)."""
        while True:
            t_arr = float(self.workload.arrival[self.next_req]) if self.next_req < self.n else math.inf
            if t_arr == math.inf:
                if self.next_migration == math.inf or not self._busy():
                    for inst in self.instances:
                        inst.run_until(math.inf)
                    self.done = True
                    return None
            if t_arr <= self.next_migration:
                for inst in self.instances:
                    inst.run_until(t_arr)
                self.now = t_arr
                return "dispatch"
            t = self.next_migration
            for inst in self.instances:
                inst.run_until(t)
            self.now = t
            if self.migration_options():
                return "migrate"
            self.next_migration += self.migration_interval

    def dispatch(self, instance: int) -> None:
        """Send the arriving request to ``instance``."""
        if not 0 <= instance < self.n_instances:
            raise ValueError(f"no instance {instance} (the cluster has {self.n_instances})")
        r = self.next_req
        self.assigned[r] = instance
        self.instances[instance].dispatch(r, float(self.workload.arrival[r]))
        self.next_req += 1

    def end_migration_check(self) -> None:
        """Close the current migration check (no more migrations now)."""
        self.next_migration += self.migration_interval

    def destination(self, src: int, r: int, loads: list[float] | None = None) -> int | None:
        """Llumnix's destination rule: the least loaded other instance with room for the request's KV."""
        if loads is None:
            loads = [i.load() for i in self.instances]
        best, best_load = None, math.inf
        need = int(self.instances[src].blocks[r]) + 1
        for k, d in enumerate(self.instances):
            if k == src or need > d.free_blocks - d.watermark_blocks:
                continue
            if len(d.running) + len(d.migrating_in) >= d.config.max_num_seqs:
                continue
            if loads[k] < best_load:
                best, best_load = k, loads[k]
        return best

    def migration_options(self) -> list[tuple[int, int, int]]:
        """(source, request, destination) of the running, decoding requests that can migrate now to a
        less loaded instance."""
        out = []
        loads = [i.load() for i in self.instances]
        lowest = min(loads)
        for k, inst in enumerate(self.instances):
            if loads[k] <= lowest or not inst.running:
                continue  # nobody is less loaded than this instance
            run = np.fromiter(inst.running, np.int64, len(inst.running))
            ok = (inst.prefilled[run] >= inst.target[run]) & (inst.generated[run] < inst.output[run])
            for r in run[ok].tolist():
                dst = self.destination(k, r, loads)
                if dst is not None and loads[dst] < loads[k]:
                    out.append((k, r, dst))
        return out

    def migrate(self, src: int, r: int, dst: int) -> None:
        """Move running request ``r`` from ``src`` to ``dst`` (cost: see the module docstring)."""
        s, d = self.instances[src], self.instances[dst]
        if r not in s.running or s.prefilled[r] < s.target[r]:
            raise ValueError(f"request {r} is not decoding on instance {src}")
        need = int(s.blocks[r]) + 1
        if dst == src or need > d.free_blocks - d.watermark_blocks:
            raise ValueError(f"request {r} cannot migrate from instance {src} to {dst} (no room)")
        kv = int(s.kv[r])
        t0 = s.now
        copy = kv * s.cost.kv_bytes_per_token * s.config.tp / self.network_bandwidth + self.migration_overhead_s
        blocks = int(s.blocks[r])
        s.running.remove(r)
        s.free_blocks += blocks
        s.blocks[r] = 0
        s.migrated_out[r] = True
        s.phase[r] = NOT_ARRIVED
        if s.log is not None:
            s.log.preempt_t.append(t0)
            s.log.preempt_rid.append(r)
            s.log.preempt_mode.append(2)
        for name in ("target", "prefilled", "kv", "generated", "first_token_t", "last_token_t", "max_tbt", "n_preempt"):
            getattr(d, name)[r] = getattr(s, name)[r]
        d.arrival[r] = s.arrival[r]
        d.migrated_out[r] = False
        d.blocks[r] = blocks
        d.free_blocks -= blocks
        d.phase[r] = NOT_ARRIVED
        d.migrating_in[r] = t0 + copy
        if not d.running and not d.queue and not d.swapped:
            d.now = max(d.now, t0)
        self.assigned[r] = dst
        self.n_migrations += 1

    # ------------------------------------------------------------------ results
    def request_arrays(self) -> dict[str, np.ndarray]:
        """Per-request first token / finish times and rejection, read from each request's last instance."""
        n = self.n
        first, finish = np.full(n, np.nan), np.full(n, np.nan)
        rejected = np.zeros(n, bool)
        for k, inst in enumerate(self.instances):
            mine = self.assigned == k
            first[mine] = inst.first_token_t[mine]
            done = mine & (inst.phase == FINISHED)
            finish[done] = inst.finish_t[done]
            rejected |= mine & (inst.phase == REJECTED)
        return {"first_token_t": first, "finish_t": finish, "rejected": rejected}

    def good_and_latency(self) -> tuple[int, float]:
        """Requests finished within SLO and the sum of their end-to-end latencies (all finished), so far."""
        return sum(i.n_good for i in self.instances), sum(i.sum_latency for i in self.instances)

    def metrics(self) -> dict[str, float]:
        w = self.workload
        arr = self.request_arrays()
        out = request_outcomes(arr["first_token_t"], arr["finish_t"], w.arrival, w.output, w.ttft_slo, w.tpot_slo)
        fin = out["finished"]
        m: dict[str, float] = {"n_requests": float(self.n), "n_finished": float(fin.sum()),
                               "n_rejected": float(arr["rejected"].sum())}
        for name in ("ttft", "latency", "tpot"):
            vals = out[name][fin]
            p = np.percentile(vals, [50, 90, 99]).tolist() if vals.size else [float("nan")] * 3
            m[f"{name}_p50"], m[f"{name}_p90"], m[f"{name}_p99"] = p
            m[f"{name}_mean"] = float(vals.mean()) if vals.size else float("nan")
        samples = [tbt_samples(i) for i in self.instances if i.tbt_values]
        vals = [v for v, _ in samples]
        wts = [w for _, w in samples]
        if vals:
            m["tbt_p50"], m["tbt_p90"], m["tbt_p99"] = weighted_percentiles(
                np.concatenate(vals), np.concatenate(wts), (50, 90, 99))
        else:
            m["tbt_p50"] = m["tbt_p90"] = m["tbt_p99"] = float("nan")
        m["slo_attainment"] = float(out["good"].sum() / self.n) if self.n else float("nan")
        end = float(np.nanmax(arr["finish_t"])) if fin.any() else float(w.arrival[0])
        makespan = max(end - float(w.arrival[0]), 1e-12)
        m["makespan"] = makespan
        span = float(w.arrival[-1] - w.arrival[0]) if self.n > 1 else 0.0
        m["request_rate"] = (self.n - 1) / span if span > 0 else float("nan")
        m["throughput_tok_s"] = float((w.prompt[fin].sum() + w.output[fin].sum()) / makespan)
        m["migrations"] = float(self.n_migrations)
        m["preemptions"] = float(sum(i.n_preempt_recompute + i.n_preempt_swap for i in self.instances))
        counts = np.bincount(self.assigned[self.assigned >= 0], minlength=self.n_instances)
        m["dispatch_imbalance"] = float(counts.max() / max(counts.mean(), 1e-12))
        return m

    def solution(self) -> "LLMClusterSolution":
        """A plain record for :func:`schedgym.envs.llm.validate.validate_cluster`."""
        w = self.workload
        return {
            "arrival": w.arrival.copy(), "output": w.output.copy(),
            "ttft_slo": w.ttft_slo.copy(), "tpot_slo": w.tpot_slo.copy(),
            "assigned": self.assigned.copy(),
            "instances": [inst.solution() for inst in self.instances],
        }
