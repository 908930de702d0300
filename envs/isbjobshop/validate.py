"""Independent check of a finished ISBJSSP episode (blocking, swaps, machine downtime).

Written from the problem definition only; it shares no code with the simulator. Given the instance and
``info["solution"]`` (entry, completion and leave time of every operation, each machine's recorded down
intervals, the recorded swaps), it checks:

* every operation appears exactly once, with ``0 <= start <= completion <= leave``;
* **processing**: no operation starts on a down machine; under ``"resume"`` the machine is up for exactly
  the operation's processing time within ``[start, completion)`` and ``completion`` is the first time this
  is so; under ``"restart"`` the last restart point (``start`` or the end of the last down interval that
  overlaps ``[start, completion)``) is exactly ``processing time`` before ``completion``, with no downtime
  in between, and ``completion`` is the first time this is so (the work restarts after every failure that
  hits it, so a later completion is refused);
* every time is an integer (a float that is not a whole number is refused, never truncated);
* **routing**: with blocking, a job leaves its machine exactly when it starts its next operation (and
  leaves at completion after its last one); without blocking it leaves at completion and its next
  operation starts no earlier;
* **machine occupancy including blocking**: the occupation intervals ``[start, leave)`` of a machine do not
  overlap (touching is allowed) and each machine serves every job once;
* **swaps**: the simultaneous moves at each instant that form a cycle (each job entering the machine that
  the next one leaves) are exactly the recorded swaps, and every recorded swap is such a cycle;
* the reported makespan is the latest completion.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from ..jobshop.instance import JobShopInstance


class InfeasibleISBScheduleError(AssertionError):
    """A schedule that breaks an ISBJSSP constraint; the message names the operations and machines."""


def _up_time(down: list[tuple[int, int]], a: int, b: int) -> int:
    total = b - a
    for da, db in down:
        lo, hi = max(a, da), min(b, db)
        if hi > lo:
            total -= hi - lo
    return total


def _is_down(down: list[tuple[int, int]], t: int) -> bool:
    return any(da <= t < db for da, db in down)


def _int_time(what: str, value: Any) -> int:
    """One time value as an int; a float that is not a whole number (or not finite), a bool or a string is
    an error (truncating it would accept a schedule the simulator never produced)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InfeasibleISBScheduleError(f"{what} {value!r} is not an integer time")
    if isinstance(value, (float, np.floating)) and not (np.isfinite(value) and float(value).is_integer()):
        raise InfeasibleISBScheduleError(f"{what} {value!r} is not an integer time")
    return int(value)


def _int_times(name: str, raw: Any) -> np.ndarray:
    """An array of times as int64, refusing non-integer values (see :func:`_int_time`)."""
    try:
        arr = np.asarray(raw)
    except ValueError:
        raise InfeasibleISBScheduleError(f"{name} times are not a rectangular array") from None
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            where = np.argwhere(bad)[0].tolist()
            raise InfeasibleISBScheduleError(f"{name} time {arr[tuple(where)]!r} at job/op {where} is not an integer")
        if arr.size and np.abs(arr).max() >= 2.0**62:
            raise InfeasibleISBScheduleError(f"{name} times are out of range")
    elif arr.dtype.kind not in "iu":
        raise InfeasibleISBScheduleError(f"{name} times must be integers, got an array of {arr.dtype}")
    return arr.astype(np.int64)


def _restart_completion(down: list[tuple[int, int]], s: int, p: int) -> int:
    """Completion under ``"restart"`` of work of length ``p > 0`` started at ``s`` (up at ``s``): a down
    interval beginning before the work is done discards it, and the work starts over at the repair."""
    r = s
    for a, b in down:  # sorted, disjoint
        if b <= r:
            continue
        if a <= r:  # down at r (only after a repair that ends where the next failure begins)
            r = b
            continue
        if a < r + p:
            r = b
            continue
        break
    return r + p


def validate_isb_schedule(instance: JobShopInstance, solution: dict[str, Any]) -> int:
    """Check an ISBJSSP schedule; return its makespan or raise :class:`InfeasibleISBScheduleError`."""
    n, m = instance.shape
    try:
        start = _int_times("start", solution["start"])
        comp = _int_times("completion", solution["completion"])
        leave = _int_times("leave", solution["leave"])
    except KeyError as exc:
        raise InfeasibleISBScheduleError(f"solution lacks the key {exc.args[0]!r}") from None
    for name, arr in (("start", start), ("completion", comp), ("leave", leave)):
        if arr.shape != (n, m):
            raise InfeasibleISBScheduleError(f"{name} times have shape {arr.shape}, expected {(n, m)}")
    blocking = bool(solution.get("blocking", True))
    mode = solution.get("interruption", "resume")
    if mode not in ("resume", "restart"):
        raise InfeasibleISBScheduleError(f"unknown interruption mode {mode!r}")
    raw_down = solution.get("downtime") or [[] for _ in range(m)]
    if len(raw_down) != m:
        raise InfeasibleISBScheduleError(f"downtime lists {len(raw_down)} machines, expected {m}")
    down: list[list[tuple[int, int]]] = []
    for i, ivs in enumerate(raw_down):
        pairs = sorted((_int_time(f"machine {i} down interval", a), _int_time(f"machine {i} down interval", b))
                       for a, b in ivs)
        for a, b in pairs:
            if b <= a:
                raise InfeasibleISBScheduleError(f"machine {i}: empty or reversed down interval [{a},{b})")
        for (a1, b1), (a2, b2) in zip(pairs, pairs[1:]):
            if a2 < b1:
                raise InfeasibleISBScheduleError(f"machine {i}: down intervals [{a1},{b1}) and [{a2},{b2}) overlap")
        down.append(pairs)
    dur = instance.durations
    mach = instance.machines

    # every op once, times ordered
    bad = np.argwhere((start < 0) | (comp < start) | (leave < comp))
    if bad.size:
        j, k = bad[0]
        raise InfeasibleISBScheduleError(
            f"job {j} op {k}: times not ordered or missing (start {start[j, k]}, completion {comp[j, k]}, "
            f"leave {leave[j, k]}); {len(bad)} such operation(s)"
        )

    # processing on up machines for the full processing time
    for j in range(n):
        for k in range(m):
            i, p = int(mach[j, k]), int(dur[j, k])
            s, c = int(start[j, k]), int(comp[j, k])
            dv = down[i]
            if p > 0 and _is_down(dv, s):
                raise InfeasibleISBScheduleError(f"job {j} op {k} starts at {s} on machine {i} while it is down")
            if mode == "resume":
                got = _up_time(dv, s, c)
                if got != p:
                    raise InfeasibleISBScheduleError(
                        f"job {j} op {k} on machine {i}: {got} units of up time in [{s},{c}), processing time is {p}"
                    )
                if p > 0 and _is_down(dv, c - 1):
                    raise InfeasibleISBScheduleError(
                        f"job {j} op {k} on machine {i}: completes at {c} but the machine was down just before; "
                        "completion is not the first time its work is done"
                    )
            else:
                restart = s
                for a, b in dv:
                    if a < c and b > s:  # overlaps [s, c)
                        restart = max(restart, b)
                if p > 0 and c - restart != p:
                    raise InfeasibleISBScheduleError(
                        f"job {j} op {k} on machine {i} (restart mode): last (re)start at {restart}, completion at {c}, "
                        f"processing time {p}"
                    )
                if p == 0 and c != s:
                    raise InfeasibleISBScheduleError(f"job {j} op {k}: zero-length op completes at {c} != start {s}")
                if p > 0:
                    # the rules fix the completion: from the start, the work restarts after every failure that
                    # hits it and completes the first time it gets p consecutive units of up time
                    due = _restart_completion(dv, s, p)
                    if c != due:
                        raise InfeasibleISBScheduleError(
                            f"job {j} op {k} on machine {i} (restart mode): completes at {c}, but started at {s} with "
                            f"processing time {p} the rules complete it at {due}"
                        )

    # routing: blocking / buffers
    for j in range(n):
        for k in range(m):
            if k == m - 1 or not blocking:
                if leave[j, k] != comp[j, k]:
                    raise InfeasibleISBScheduleError(
                        f"job {j} op {k} leaves machine {mach[j, k]} at {leave[j, k]}, not at its completion "
                        f"{comp[j, k]} ({'last operation' if k == m - 1 else 'no blocking'})"
                    )
            if k < m - 1:
                if blocking and start[j, k + 1] != leave[j, k]:
                    raise InfeasibleISBScheduleError(
                        f"blocking: job {j} leaves machine {mach[j, k]} at {leave[j, k]} but starts op {k + 1} on "
                        f"machine {mach[j, k + 1]} at {start[j, k + 1]}"
                    )
                if not blocking and start[j, k + 1] < comp[j, k]:
                    raise InfeasibleISBScheduleError(
                        f"precedence: job {j} op {k + 1} starts at {start[j, k + 1]} before op {k} completes at {comp[j, k]}"
                    )

    # machine occupancy including blocking time
    for i in range(m):
        occ = [(int(start[j, k]), int(leave[j, k]), j, k) for j in range(n) for k in range(m) if mach[j, k] == i]
        if len(occ) != n:
            raise InfeasibleISBScheduleError(f"machine {i} serves {len(occ)} operations, expected {n}")
        occ.sort(key=lambda x: (x[0], x[1]))
        for (s1, l1, j1, k1), (s2, l2, j2, k2) in zip(occ, occ[1:]):
            if s2 < l1 and l1 > s1 and l2 > s2:
                raise InfeasibleISBScheduleError(
                    f"machine {i}: job {j1} op {k1} occupies [{s1},{l1}) (processing + blocking) and overlaps "
                    f"job {j2} op {k2} [{s2},{l2})"
                )

    # swaps: at every instant, the moves must be doable one after another (each into a free machine),
    # except the recorded swaps, which move a whole cycle at once
    if blocking:
        _check_moves(instance, start, leave, solution.get("swaps", []))
    elif solution.get("swaps"):
        raise InfeasibleISBScheduleError("swaps recorded in a schedule without blocking")

    makespan = int(comp.max())
    if "makespan" in solution and _int_time("makespan", solution["makespan"]) != makespan:
        raise InfeasibleISBScheduleError(f"reported makespan {solution['makespan']} differs from the schedule's {makespan}")
    return makespan


def _check_moves(instance: JobShopInstance, start: np.ndarray, leave: np.ndarray, swaps: list[dict[str, Any]]) -> None:
    """Replay the moves of every instant at which a job enters or leaves a machine (blocking schedules)."""
    n, m = instance.shape
    mach = instance.machines
    ops_at: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for j in range(n):
        for k in range(m):
            ops_at[int(start[j, k])].append((j, k))
    exits_at: dict[int, list[int]] = defaultdict(list)
    for j in range(n):
        exits_at[int(leave[j, m - 1])].append(j)
    swaps_at: dict[int, list[list[tuple[int, int]]]] = defaultdict(list)
    for sw in swaps:
        t = _int_time("swap time", sw["time"])
        members = [(_int_time("swap job", j), _int_time("swap op", k)) for j, k in sw["moves"]]
        for j, k in members:
            if not (0 <= j < n and 1 <= k < m) or int(start[j, k]) != t:
                raise InfeasibleISBScheduleError(f"recorded swap at t={t}: job {j} op {k} does not move then")
        froms = sorted(int(mach[j, k - 1]) for j, k in members)
        tos = sorted(int(mach[j, k]) for j, k in members)
        if froms != tos or len(set(j for j, _ in members)) != len(members):
            raise InfeasibleISBScheduleError(
                f"recorded swap at t={t} {members} is not a cycle: its jobs leave machines {froms} and enter {tos}"
            )
        swaps_at[t].append(members)
    in_swap = {(t, jk) for t, lst in swaps_at.items() for mem in lst for jk in mem}
    for t in sorted(set(ops_at) | set(exits_at)):
        # just before t: each job's current op (-1 outside, m done) and the machines' holders
        cur = [-1] * n
        holder: dict[int, int] = {}
        for j in range(n):
            if leave[j, m - 1] < t:
                cur[j] = m
                continue
            ks = [k for k in range(m) if start[j, k] < t]
            if ks:
                cur[j] = max(ks)
                holder[int(mach[j, cur[j]])] = j
        units: list[tuple[str, Any]] = [("exit", j) for j in exits_at.get(t, [])]
        # zero-length ops pass straight through: try them before the others
        moves = [("move", jk) for jk in ops_at.get(t, []) if (t, jk) not in in_swap]
        moves.sort(key=lambda u: 0 if start[u[1]] == leave[u[1]] else 1)
        units += moves + [("swap", mem) for mem in swaps_at.get(t, [])]
        if not _order_moves(units, cur, holder, mach, m):
            stuck = [u for kind, u in units if kind != "exit"][:6]
            raise InfeasibleISBScheduleError(
                f"t={t}: the moves {stuck} cannot be done one after another, each into a free machine, "
                "with the recorded swaps as the only simultaneous cycles"
            )


def _apply(kind: str, u: Any, cur: list[int], holder: dict[int, int], mach: np.ndarray, m: int) -> bool:
    """Apply one move / exit / swap if it is possible now (mutating ``cur`` and ``holder``)."""
    if kind == "exit":
        if cur[u] == m - 1 and holder.get(int(mach[u, m - 1])) == u:
            del holder[int(mach[u, m - 1])]
            cur[u] = m
            return True
        return False
    if kind == "move":
        j, k = u
        target = int(mach[j, k])
        if cur[j] == k - 1 and target not in holder:
            if k > 0:
                del holder[int(mach[j, k - 1])]
            holder[target] = j
            cur[j] = k
            return True
        return False
    members = {j for j, _ in u}
    if all(cur[j] == k - 1 and holder.get(int(mach[j, k - 1])) == j for j, k in u) and all(
        int(mach[j, k]) not in holder or holder[int(mach[j, k])] in members for j, k in u
    ):
        for j, k in u:
            del holder[int(mach[j, k - 1])]
        for j, k in u:
            holder[int(mach[j, k])] = j
            cur[j] = k
        return True
    return False


def _order_moves(units: list[tuple[str, Any]], cur: list[int], holder: dict[int, int], mach: np.ndarray,
                 m: int) -> bool:
    """Is there an order in which every unit can be applied? Greedy by priority (restarting after each
    success), then an exhaustive search over small sets if the greedy order gets stuck."""
    c, h = list(cur), dict(holder)
    pending = list(units)
    while pending:
        for idx, (kind, u) in enumerate(pending):
            if _apply(kind, u, c, h, mach, m):
                del pending[idx]
                break
        else:
            break
    if not pending:
        return True
    if len(units) > 16:
        return False
    failed: set[int] = set()

    def dfs(done: int, c: list[int], h: dict[int, int]) -> bool:
        if done == (1 << len(units)) - 1:
            return True
        if done in failed:
            return False
        for i, (kind, u) in enumerate(units):
            if done >> i & 1:
                continue
            c2, h2 = list(c), dict(h)
            if _apply(kind, u, c2, h2, mach, m) and dfs(done | (1 << i), c2, h2):
                return True
        failed.add(done)
        return False

    return dfs(0, list(cur), dict(holder))
