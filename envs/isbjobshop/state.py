"""Simulator of the interrupting swap-allowed blocking job shop (ISBJSSP); pure Python/NumPy, no Gym.

Semantics (Wong et al. 2023, arXiv 2302.02506, for the problem; the details the paper leaves open are
chosen here and documented in ``docs/isbjobshop.md``):

* **Time** is integer. Operation ``(j, k)`` runs on ``instance.machines[j, k]`` for
  ``instance.durations[j, k]`` units of *up* time.
* **Blocking** (``blocking=True``): there are no buffers. A job that finishes an operation keeps its
  machine (the machine is *blocked*) until the job starts its next operation; after its last operation
  the job leaves the shop at once. With ``blocking=False`` a finished job leaves the machine at once
  and waits in an unlimited buffer (the classic job shop, used for the plain interruption variant).
* **Swaps**: a set of blocked jobs ``j0, j1, ..., j(r-1)`` in which each ``ji`` waits for the machine
  held by ``j(i+1 mod r)`` may all move at the same instant. Choosing any member of such a cycle
  executes the whole cycle. Because every blocked job wants exactly one machine and every machine holds
  at most one job, a state in which nothing is processing and no machine is down always has a legal
  start or a legal swap, so the simulator never deadlocks.
* **Interruptions**: every machine, idle or busy, fails at each unit time boundary with probability
  ``shutdown_prob`` after at least one unit of up time (so its up periods are geometric, support
  ``1, 2, ...``), then stays down for a repair time drawn from ``repair`` (``>= 1``). The failure
  process of a machine is exogenous: it is drawn at reset from per-machine generators seeded from the
  env's ``np_random``, so a seed fixes the whole disruption realization, whatever the policy does.
  A failure interrupts the operation in process: with ``interruption="resume"`` it continues with its
  remaining time when the machine is repaired; with ``"restart"`` it starts over from scratch. No
  operation *starts* on a down machine; a finished (blocked) job may leave a down machine (leaving is
  not processing) and a job blocked on a machine stays there while the machine is down.
* **Events at the same time** are applied in the order completions, repairs, failures (an operation
  that completes at the instant its machine fails is complete).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..core import check_number
from ..jobshop.instance import MAX_DURATION, JobShopInstance

INF = 1 << 62
#: job phases
WAIT, PROC, BLOCK, DONE = 0, 1, 2, 3
#: operation status codes (``ISBJobShopState.op_status``)
OP_PENDING, OP_PROCESSING, OP_BLOCKED, OP_DONE = 0, 1, 2, 3
INTERRUPTIONS: tuple[str, ...] = ("resume", "restart")
REPAIR_DISTS: tuple[str, ...] = ("constant", "uniform", "geometric")


def parse_repair(spec: Any) -> tuple:
    """Normalize a repair-time distribution to ``("constant", d)``, ``("uniform", low, high)`` or
    ``("geometric", mean)`` (itself accepted again); raise ``ValueError`` if invalid.

    Accepted: an int ``d`` (constant ``d``); ``("constant", d)``; ``("uniform", low, high)`` (integers
    ``low..high`` inclusive); ``("geometric", mean)`` (support ``1, 2, ...``, given mean ``>= 1``); or the
    same as a dict ``{"dist": "uniform", "low": 1, "high": 10}`` / ``{"dist": "constant", "value": 5}`` /
    ``{"dist": "geometric", "mean": 5}``. Every repair takes at least one time unit.
    """
    if isinstance(spec, dict):
        kind = spec.get("dist")
        if kind == "constant":
            args: tuple = (spec.get("value"),)
        elif kind == "uniform":
            args = (spec.get("low"), spec.get("high"))
        elif kind == "geometric":
            args = (spec.get("mean"),)
        else:
            raise ValueError(f"repair distribution: unknown dist {kind!r}; choose one of {REPAIR_DISTS}")
    elif isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        kind, args = "constant", (int(spec),)
    elif isinstance(spec, (tuple, list)) and spec and isinstance(spec[0], str):
        kind, args = spec[0], tuple(spec[1:])
    else:
        raise ValueError(
            f"repair distribution {spec!r} not understood: give an int, ('uniform', low, high), "
            "('constant', d), ('geometric', mean) or a dict with 'dist'"
        )
    if kind not in REPAIR_DISTS:
        raise ValueError(f"repair distribution: unknown kind {kind!r}; choose one of {REPAIR_DISTS}")
    need = {"constant": 1, "uniform": 2, "geometric": 1}[kind]
    if len(args) != need or any(a is None for a in args):
        raise ValueError(f"repair distribution {kind!r} takes {need} parameter(s), got {args!r}")
    try:
        vals = [float(a) for a in args]
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"repair distribution {kind!r}: parameters must be numbers, got {args!r}") from None
    if not all(np.isfinite(v) and v <= MAX_DURATION for v in vals):
        raise ValueError(f"repair distribution {kind!r}: parameters must be finite and at most "
                         f"MAX_DURATION = {MAX_DURATION:,}, got {args!r}")
    if kind == "constant":
        if vals[0] < 1 or vals[0] != int(vals[0]):
            raise ValueError(f"constant repair time must be an integer >= 1, got {args[0]!r}")
        return ("constant", int(vals[0]))
    if kind == "uniform":
        lo, hi = vals
        if lo < 1 or lo != int(lo) or hi != int(hi) or hi < lo:
            raise ValueError(f"uniform repair time needs integers 1 <= low <= high, got low={args[0]!r}, high={args[1]!r}")
        return ("uniform", int(lo), int(hi))
    if not np.isfinite(vals[0]) or vals[0] < 1:
        raise ValueError(f"geometric repair time needs a finite mean >= 1, got {args[0]!r}")
    return ("geometric", vals[0])


#: the most machine failures an episode may expect per machine over the instance's total processing time
#: (``shutdown_prob * sum of durations``). Failures are drawn per time unit, so the down intervals an
#: episode generates (and its memory) grow with the magnitude of the times; this bounds them (about
#: 10 MB per machine) whatever the durations. Instances beyond it are refused when the env or the state
#: is built, naming the numbers.
MAX_EXPECTED_FAILURES = 100_000


def check_time_scale(total_duration: int, shutdown_prob: float, what: str = "instance") -> None:
    """Refuse a ``shutdown_prob`` and total processing time whose expected failures per machine exceed
    :data:`MAX_EXPECTED_FAILURES` (see there)."""
    expected = shutdown_prob * total_duration
    if expected > MAX_EXPECTED_FAILURES:
        raise ValueError(
            f"{what}: total processing time {total_duration:,} at shutdown_prob={shutdown_prob:g} means about "
            f"{expected:,.0f} failures per machine, over the limit MAX_EXPECTED_FAILURES = {MAX_EXPECTED_FAILURES:,} "
            "(down intervals are drawn per time unit); use smaller time units or a smaller shutdown_prob")


def check_probability(p: Any, what: str = "shutdown_prob") -> float:
    """A probability in ``[0, 1)`` or ``ValueError`` naming ``what``."""
    try:
        q = float(p)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number in [0, 1), got {p!r}") from None
    if not (0.0 <= q < 1.0) or not np.isfinite(q):
        raise ValueError(f"{what} must be in [0, 1) (a per-time-unit probability), got {p!r}")
    return q


if TYPE_CHECKING:
    from .types import ISBSolution


class DowntimeProcess:
    """The exogenous failure/repair realization of every machine, generated lazily.

    Machine ``M``'s down intervals ``[a, b)`` come from its own generator (seeded at construction),
    so their values do not depend on the order in which they are requested.
    """

    def __init__(self, n_machines: int, shutdown_prob: float, repair: tuple,
                 rng: np.random.Generator | None,
                 fixed: Sequence[Sequence[Sequence[int]]] | None = None) -> None:
        self.p = shutdown_prob
        self.repair = repair
        self.n_machines = n_machines
        self.intervals: list[list[tuple[int, int]]] = [[] for _ in range(n_machines)]
        self._gens: list[np.random.Generator] | None = None
        self._frontier = [0] * n_machines  # the machine is up from here until its next generated failure
        if fixed is not None:
            if len(fixed) != n_machines:
                raise ValueError(f"downtime: {len(fixed)} machine lists given, expected {n_machines}")
            for i, ivs in enumerate(fixed):
                prev_end = 0
                for a, b in sorted((int(a), int(b)) for a, b in ivs):
                    if a < prev_end + 1 or b <= a:
                        raise ValueError(
                            f"downtime of machine {i}: interval [{a},{b}) must start >= 1 unit after the previous "
                            f"repair (or after t=0) and last >= 1 unit"
                        )
                    self.intervals[i].append((a, b))
                    prev_end = b
            return
        if shutdown_prob > 0:
            if rng is None:
                raise ValueError("a random generator is needed when shutdown_prob > 0")
            seeds = rng.integers(0, 2**63 - 1, size=n_machines)
            self._gens = [np.random.default_rng(int(s)) for s in seeds]

    _BATCH = 32

    def _draw_repairs(self, gen: np.random.Generator, size: int) -> np.ndarray:
        kind = self.repair[0]
        if kind == "constant":
            return np.full(size, int(self.repair[1]), np.int64)
        if kind == "uniform":
            return gen.integers(int(self.repair[1]), int(self.repair[2]) + 1, size=size)
        return gen.geometric(1.0 / float(self.repair[1]), size=size)

    def interval(self, machine: int, index: int) -> tuple[int, int]:
        """The ``index``-th down interval of ``machine`` (``(INF, INF)`` if the machine never fails).

        Intervals are drawn in batches from the machine's own generator (up time ``G ~ Geometric(p)`` on
        ``1, 2, ...``, then a repair time), so the realization does not depend on the request order.
        """
        ivs = self.intervals[machine]
        if index < len(ivs):
            return ivs[index]
        if self._gens is None:
            return (INF, INF)
        gen = self._gens[machine]
        while len(ivs) <= index:
            ups = gen.geometric(self.p, size=self._BATCH).tolist()
            reps = self._draw_repairs(gen, self._BATCH).tolist()
            f = self._frontier[machine]
            for g, r in zip(ups, reps):
                a = f + int(g)
                f = a + int(r)
                ivs.append((a, f))
            self._frontier[machine] = f
        return ivs[index]

    def until(self, machine: int, horizon: int) -> list[tuple[int, int]]:
        """Every down interval of ``machine`` that starts before ``horizon``."""
        out = []
        i = 0
        while True:
            a, b = self.interval(machine, i)
            if a >= horizon:
                return out
            out.append((a, b))
            i += 1


class ISBJobShopState:
    """State and transitions of one ISBJSSP episode.

    Operation ``(j, k)`` has the id ``j * n_machines + k``. Decisions are taken at the current time
    :attr:`t`: :meth:`legal_jobs` lists the jobs whose next operation can start now (directly, on a free
    up machine, or as part of a swap cycle, see :attr:`swap_cycle`); :meth:`start` starts one;
    :meth:`advance` moves time to the next event (a completion, or the repair of a down machine that has no
    operation in process). Failures never enable a start, so they are not decision points: the machines'
    status is brought up to date (failures counted, repairs applied) at every decision (:meth:`sync`), and
    the completion of an operation is computed from the fixed realization when it starts (the agent only
    sees the work done so far, :meth:`work_left`).
    """

    def __init__(
        self,
        instance: JobShopInstance,
        blocking: bool = True,
        shutdown_prob: float = 0.0,
        repair: Any = ("uniform", 1, 10),
        interruption: str = "resume",
        rng: np.random.Generator | None = None,
        max_time: int | None = None,
        downtime: Sequence[Sequence[Sequence[int]]] | None = None,
    ) -> None:
        if interruption not in INTERRUPTIONS:
            raise ValueError(f"interruption must be one of {INTERRUPTIONS}, got {interruption!r}")
        self.instance = instance
        self.blocking = bool(blocking)
        self.shutdown_prob = check_probability(shutdown_prob)
        self.repair = parse_repair(repair)
        self.interruption = interruption
        n, m = instance.shape
        self.n_jobs, self.n_machines = n, m
        self.mach: list[list[int]] = instance.machines.tolist()
        self.dur: list[list[int]] = instance.durations.tolist()
        total = int(instance.durations.sum())
        check_time_scale(total, self.shutdown_prob, f"instance {instance.name!r}")
        max_time = check_number("max_time", max_time, minimum=1, integer=True, allow_none=True)
        self.max_time = int(max_time) if max_time is not None else 100 * (total + 10 * m) + 1000
        #: ``downtime``: a fixed realization (per machine, intervals [a, b)) instead of random shutdowns
        self.downtime = DowntimeProcess(m, self.shutdown_prob, self.repair, rng, fixed=downtime)
        self.t = 0
        self.next_op = [0] * n
        self.phase = [WAIT] * n
        self.held = [-1] * n  # machine each job occupies (-1: none)
        self.holder = [-1] * m  # job on each machine (-1: free)
        self.finish = [INF] * m  # completion of the op in process (computed when it starts)
        self.proc_start = [0] * m  # when the op in process started
        self._proc_idx = [0] * m  # index of the first down interval that may hit the op in process
        self.up = [True] * m
        self.repair_end = [INF] * m
        self._idx = [0] * m  # per machine: first down interval that has not ended by the last sync
        self._counted = [0] * m  # per machine: down intervals begun by the last sync (failures seen)
        self._synced_t = -1
        self._has_down = self.downtime._gens is not None or any(self.downtime.intervals)
        self._next_change = [0] * m  # per machine: next time its up/down status changes (0: unknown)
        self._min_change = 0
        #: per machine, its next event: the completion of its op in process, or its repair while it is
        #: down and idle/blocked (failures are applied lazily at the next decision; they never enable a start)
        self.ev = [INF] * m
        self.start_time = [[-1] * m for _ in range(n)]
        self.completion = [[-1] * m for _ in range(n)]
        self.leave_time = [[-1] * m for _ in range(n)]
        self.ready_time = [0] * n  # when each job's next op became ready (completion of the previous op)
        self.n_interrupts = [[0] * m for _ in range(n)]
        self.op_status = np.zeros(n * m, np.int8)
        self.swaps: list[dict[str, Any]] = []
        self.n_started = 0
        self.n_jobs_done = 0
        self.n_failures = 0  # failures observed so far (a disruption counter for reactive policies)
        self.truncated = False
        self.legal: list[int] = []
        self.swap_cycle: dict[int, list[int]] = {}
        self.compute_legal()

    # ------------------------------------------------------------------ queries
    @property
    def done(self) -> bool:
        return self.n_jobs_done == self.n_jobs

    @property
    def all_started(self) -> bool:
        return self.n_started == self.n_jobs * self.n_machines

    def has_pending_event(self) -> bool:
        """True if time can bring a change without a decision: an op in process or a machine down."""
        return min(self.ev) < INF

    def sync(self) -> None:
        """Apply every failure and repair up to the current time to the machines' status (lazily)."""
        t = self.t
        if not self._has_down or self._synced_t == t:
            return
        self._synced_t = t
        if t < self._min_change:
            return
        dt = self.downtime
        nc = self._next_change
        for i in range(self.n_machines):
            if nc[i] > t:
                continue
            idx = self._idx[i]
            ivs = dt.intervals[i]
            a, b = ivs[idx] if idx < len(ivs) else dt.interval(i, idx)
            while b <= t:
                idx += 1
                a, b = ivs[idx] if idx < len(ivs) else dt.interval(i, idx)
            self._idx[i] = idx
            cnt = idx + (1 if a <= t else 0)
            if cnt > self._counted[i]:
                self.n_failures += cnt - self._counted[i]
                self._counted[i] = cnt
            down = a <= t
            self.up[i] = not down
            self.repair_end[i] = b if down else INF
            nc[i] = b if down else a
            h = self.holder[i]
            if h >= 0 and self.phase[h] == PROC:
                self.ev[i] = self.finish[i]
            else:
                self.ev[i] = b if down else INF
        self._min_change = min(nc)

    def work_left(self, machine: int) -> int:
        """Processing still needed by the op in process on ``machine``, as known now (no future failures)."""
        h = self.holder[machine]
        if h < 0 or self.phase[h] != PROC:
            return 0
        p = self.dur[h][self.next_op[h] - 1]
        s0, t = self.proc_start[machine], self.t
        if not self._has_down:
            return p - (t - s0)
        dt = self.downtime
        k = self._proc_idx[machine]
        if self.interruption == "resume":
            done, cur = 0, s0
            while True:
                a, b = dt.interval(machine, k)
                if a >= t:
                    done += t - cur
                    break
                done += a - cur
                cur = min(b, t)
                if b >= t:
                    break
                k += 1
            return p - done
        r = s0  # restart: work since the last (re)start
        while True:
            a, b = dt.interval(machine, k)
            if a >= t:
                break
            if b > t:
                return p  # down now
            r = b
            k += 1
        return p - (t - r)

    def legal_jobs(self) -> list[int]:
        """Jobs whose next operation can start now, ascending."""
        return self.legal

    def compute_legal(self) -> list[int]:
        """Recompute :attr:`legal` and :attr:`swap_cycle` for the current time."""
        self.sync()
        legal: list[int] = []
        cycles: dict[int, list[int]] = {}
        phase, next_op, mach, up, holder, held = self.phase, self.next_op, self.mach, self.up, self.holder, self.held
        m = self.n_machines
        for j in range(self.n_jobs):
            ph = phase[j]
            if ph == PROC or ph == DONE:
                continue
            target = mach[j][next_op[j]]
            if not up[target]:
                continue
            h = holder[target]
            if h < 0:
                legal.append(j)
                continue
            if ph != BLOCK:
                continue
            own = held[j]
            members = [j]
            cur = h
            for _ in range(m):
                if phase[cur] != BLOCK:
                    break
                members.append(cur)
                nxt = mach[cur][next_op[cur]]
                if not up[nxt]:
                    break
                if nxt == own:
                    legal.append(j)
                    cycles[j] = members
                    break
                cur = holder[nxt]
                if cur < 0:
                    break
        self.legal = legal
        self.swap_cycle = cycles
        return legal

    def describe_job(self, j: int) -> str:
        """Why job ``j``'s next operation cannot start now (for error messages)."""
        if self.phase[j] == DONE:
            return f"job {j} has finished every operation"
        k = self.next_op[j]
        if self.phase[j] == PROC:
            return f"job {j} is still processing operation {k - 1} on machine {self.held[j]}"
        target = self.mach[j][k]
        parts = []
        if not self.up[target]:
            parts.append(f"machine {target} is down until t={self.repair_end[target]}")
        h = self.holder[target]
        if h >= 0:
            what = "processing" if self.phase[h] == PROC else "blocked (finished, waiting to move on)"
            parts.append(f"machine {target} is occupied by job {h} ({what})")
        if not parts:
            parts.append("no swap cycle frees its machine")
        return f"operation {k} of job {j} (machine {target}) cannot start at t={self.t}: " + " and ".join(parts)

    # ------------------------------------------------------------------ transitions
    def start(self, j: int) -> list[int]:
        """Start job ``j``'s next operation now (or the swap cycle it belongs to); returns the jobs moved.

        Raises ``ValueError`` (naming the machine and its state) when it cannot start now.
        """
        if not (0 <= j < self.n_jobs) or j not in self.legal:
            raise ValueError(self.describe_job(j) if 0 <= j < self.n_jobs else f"no job {j}")
        cycle = self.swap_cycle.get(j)
        if cycle is None:
            self._leave(j)
            self._enter(j)
            moved = [j]
        else:
            t = self.t
            self.swaps.append({"time": t, "moves": [[c, self.next_op[c]] for c in cycle]})
            for c in cycle:
                self._leave(c)
            for c in cycle:
                self._enter(c)
            moved = list(cycle)
        return moved

    def _leave(self, j: int) -> None:
        a = self.held[j]
        if a >= 0:  # blocked job leaves its machine
            k = self.next_op[j] - 1
            self.leave_time[j][k] = self.t
            self.op_status[j * self.n_machines + k] = OP_DONE
            self.holder[a] = -1
            self.held[j] = -1

    def _enter(self, j: int) -> None:
        k = self.next_op[j]
        target = self.mach[j][k]
        t = self.t
        self.start_time[j][k] = t
        self.holder[target] = j
        self.held[j] = target
        self.phase[j] = PROC
        self.next_op[j] = k + 1
        self.n_started += 1
        self.op_status[j * self.n_machines + k] = OP_PROCESSING
        p = self.dur[j][k]
        self.proc_start[target] = t
        c = t + p
        if self._has_down and p > 0:
            # the machine is up now (legality); walk its future down intervals: the realization is fixed
            dt = self.downtime
            idx = self._idx[target]
            self._proc_idx[target] = idx
            hits = 0
            if self.interruption == "resume":
                rem, cur = p, t
                while True:
                    a, b = dt.interval(target, idx)
                    if a >= cur + rem:
                        break
                    rem -= a - cur
                    cur = b
                    idx += 1
                    hits += 1
                c = cur + rem
            else:
                cur = t
                while True:
                    a, b = dt.interval(target, idx)
                    if a >= cur + p:
                        break
                    cur = b
                    idx += 1
                    hits += 1
                c = cur + p
            self.n_interrupts[j][k] = hits
        self.finish[target] = c
        self.ev[target] = c
        if p == 0:
            self._complete(target)

    def _complete(self, machine: int) -> None:
        j = self.holder[machine]
        k = self.next_op[j] - 1
        t = self.t
        self.completion[j][k] = t
        self.finish[machine] = INF
        self.ev[machine] = INF
        if not self.up[machine]:  # (cannot happen: ops complete on up machines) keep the repair as event
            self.ev[machine] = self.repair_end[machine]
        oid = j * self.n_machines + k
        if k == self.n_machines - 1 or not self.blocking:
            self.leave_time[j][k] = t
            self.op_status[oid] = OP_DONE
            self.holder[machine] = -1
            self.held[j] = -1
            if k == self.n_machines - 1:
                self.phase[j] = DONE
                self.n_jobs_done += 1
            else:
                self.phase[j] = WAIT
                self.ready_time[j] = t
        else:
            self.phase[j] = BLOCK
            self.op_status[oid] = OP_BLOCKED
            self.ready_time[j] = t

    def next_event_time(self) -> int:
        """Time of the next completion, repair or failure (``INF`` if none)."""
        return min(self.ev)

    def advance(self) -> bool:
        """Move to the next event time (a completion, or the repair of a down machine without an op in
        process), apply the completions there and the failures/repairs up to then; returns True."""
        ev = self.ev
        te = min(ev)
        if te >= INF:
            raise RuntimeError("advance(): no event is pending (nothing in process, no machine down)")
        if te > self.max_time:
            self.truncated = True
            self.t = te
            return True
        self.t = te
        finish, holder, phase = self.finish, self.holder, self.phase
        for i in range(self.n_machines):
            if ev[i] == te:
                h = holder[i]
                if h >= 0 and phase[h] == PROC and finish[i] == te:
                    self._complete(i)
                else:
                    ev[i] = INF  # a repair: the sync below sets the machine's status
        self.sync()
        return True

    def refresh_events(self) -> None:
        """Recompute the event list (after editing a copy of the state by hand)."""
        self._synced_t = -1
        self._next_change = [0] * self.n_machines
        self._min_change = 0
        self._idx = [0] * self.n_machines
        self._counted = [0] * self.n_machines
        self.n_failures = 0
        for i in range(self.n_machines):
            h = self.holder[i]
            self.ev[i] = self.finish[i] if h >= 0 and self.phase[h] == PROC else INF
        self.sync()

    def forget_future_failures(self) -> None:
        """Keep only the down intervals begun by now and recompute completions of ops in process as if no
        other failure will happen (a solver's view; used on copies)."""
        self.sync()
        t = self.t
        keep = [[iv for iv in self.downtime.until(i, t + 1)] for i in range(self.n_machines)]
        self.downtime._gens = None
        self.downtime.intervals = keep
        for i in range(self.n_machines):
            h = self.holder[i]
            if h >= 0 and self.phase[h] == PROC:
                left = self.work_left(i)
                base = self.repair_end[i] if not self.up[i] else t
                self.finish[i] = base + left
        self.refresh_events()

    def advance_until_decision(self) -> None:
        """Advance until some start is legal, or the episode is done or truncated."""
        self.compute_legal()
        while not self.legal and not self.done and not self.truncated:
            if not self.has_pending_event():
                raise RuntimeError(f"deadlock at t={self.t}: no legal start and nothing pending (simulator bug)")
            self.advance()
            if self._may_enable():
                self.compute_legal()

    def _may_enable(self) -> bool:
        """Cheap pre-check after an enabling event: is any job waiting for an up machine?"""
        phase, next_op, mach, up = self.phase, self.next_op, self.mach, self.up
        for j in range(self.n_jobs):
            ph = phase[j]
            if (ph == WAIT or ph == BLOCK) and up[mach[j][next_op[j]]]:
                return True
        return False

    def finish_all(self) -> None:
        """After the last start: advance until every job is done (or truncated)."""
        while not self.done and not self.truncated:
            self.advance()
        self.compute_legal()

    # ------------------------------------------------------------------ records
    @property
    def makespan(self) -> int:
        """Latest completion so far."""
        return max((c for row in self.completion for c in row), default=0)

    def realized_downtime(self, horizon: int | None = None) -> list[list[list[int]]]:
        """Down intervals ``[a, b)`` of each machine that began before ``horizon`` (default: now)."""
        h = self.t if horizon is None else horizon
        return [[[int(a), int(b)] for a, b in self.downtime.until(i, h)] for i in range(self.n_machines)]

    def solution(self) -> "ISBSolution":
        """A plain record of the episode for :func:`schedgym.envs.isbjobshop.validate.validate_isb_schedule`."""
        ms = self.makespan
        return {
            "instance": self.instance.name,
            "blocking": self.blocking,
            "interruption": self.interruption,
            "start": [list(r) for r in self.start_time],
            "completion": [list(r) for r in self.completion],
            "leave": [list(r) for r in self.leave_time],
            "downtime": self.realized_downtime(ms),
            "swaps": [{"time": s["time"], "moves": [list(mv) for mv in s["moves"]]} for s in self.swaps],
            "makespan": int(ms),
        }

    def blocking_time(self) -> int:
        """Total time jobs spent blocking machines after finishing (completed ops only)."""
        tot = 0
        for j in range(self.n_jobs):
            for k in range(self.n_machines):
                c, lv = self.completion[j][k], self.leave_time[j][k]
                if c >= 0 and lv >= 0:
                    tot += lv - c
        return tot


def up_time_between(intervals: Sequence[Sequence[int]], a: int, b: int) -> int:
    """Units of up time in ``[a, b)`` given sorted down intervals."""
    total = b - a
    for da, db in intervals:
        lo, hi = max(a, da), min(b, db)
        if hi > lo:
            total -= hi - lo
    return total
