"""VM rescheduling baselines (``schedgym/VMReschedule-v0``): they read the env through
:class:`schedgym.envs.vm.types.VMView` and plan one migration at stage 0, then give its destination at
stage 1.

* :class:`GreedyFRPolicy` (``vm-greedy``): full scan; each migration is the one that lowers FR most
  (the sum over NUMA nodes of free cores mod 16), ties to the lowest VM then the lowest destination;
  stops when no migration lowers FR. The scan is vectorized per VM type (best and second-best
  destination per type, so a VM's own node is excluded exactly), so a decision costs
  O(types x NUMA nodes + VMs).
* :class:`FilterScorePolicy` (``vm-filter-score``): the filter-and-score scheme of production
  rescheduling: filter the most fragmented PMs that host a VM able to move (largest sum of free cores
  mod 16, ties to the lowest index), take their VMs in order of the fragment their departure removes, and score the legal
  destinations by best fit (fewest free cores left after placement). The first (VM, best-fit
  destination) pair that does not raise FR is the migration (each VM moves at most once: draining a
  fragmented PM often takes FR-neutral moves first); stop when none of the ``k`` most fragmented PMs
  yields one.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from ...envs.vm.types import VMView
from ..base import BasePolicy


class _TwoStagePolicy(BasePolicy):
    """Plans ``(vm, pm, numa)`` at stage 0 (or None to stop) and returns the destination at stage 1."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._plan: tuple[int, int, int] | None = None

    env: VMView  # type: ignore[assignment]

    def reset(self, env: Any, seed: int | None = None) -> None:
        super().reset(env, seed)
        self.env = cast(VMView, env)
        self._plan = None

    def plan(self) -> tuple[int, int, int] | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        env = self.env
        if env.stage == 0:
            if not obs["action_mask"][env.vm_node(0):].any():
                return env.stop_node
            self._plan = self.plan()
            if self._plan is None:
                return env.stop_node
            return env.vm_node(self._plan[0])
        assert self._plan is not None, "stage 1 without a planned migration"
        _, p, k = self._plan
        return env.numa_node(p, k)


def best_move(state: Any, allow_zero: bool = False, exclude: np.ndarray | None = None
              ) -> tuple[int, int, int, int] | None:
    """The migration that lowers the sum of remainders most: ``(vm, pm, numa, delta)`` with delta < 0 (or
    <= 0 with ``allow_zero``), or None. Ties go to the move that leaves the largest remainder on the
    source (free room gathered toward a 16-core slot), then the lowest VM, then the lowest node.
    ``exclude``: VMs not to move. Vectorized per VM type; anti-affinity members are scanned one by one."""
    fc, fm = state.free_cpu, state.free_mem
    movable = state.movable & ~state.in_group
    if exclude is not None:
        movable = movable & ~exclude
    if not movable.any() and not (state.movable & state.in_group).any():
        return None
    V = state.n_vms
    rel = state.release_delta(np.arange(V))
    # remainder left on the source node(s) after the VM leaves (the tie-break: larger is better)
    k0 = np.where(state.double, 0, state.vm_numa)
    src_rem = (fc[state.vm_pm, k0] + state.dem_cpu) % 16
    src_rem = src_rem + np.where(state.double, (fc[state.vm_pm, 1] + state.dem_cpu) % 16, 0)
    best: tuple[int, int, int, int] | None = None  # (delta, -src_rem, v, node)
    big = 1 << 30
    for t in range(len(state.type_cpu)):
        sel = np.flatnonzero(movable & (state.vm_type == t))
        if sel.size == 0:
            continue
        c, m = int(state.type_cpu[t]), int(state.type_mem[t])
        if state.type_double[t]:
            fit = (fc.min(1) >= c) & (fm.min(1) >= m) & state.active
            land = ((fc - c) % 16 - fc % 16).sum(1)
            score = np.where(fit, land, big)  # per PM
            own = state.vm_pm[sel]
        else:
            fit = (fc >= c) & (fm >= m) & state.numa_active
            land = (fc - c) % 16 - fc % 16
            score = np.where(fit, land, big).reshape(-1)  # per NUMA node index 2p + k
            own = 2 * state.vm_pm[sel] + state.vm_numa[sel]
        order = np.lexsort((np.arange(score.size), score))[:2]
        if score[order[0]] >= big:
            continue
        first, second = int(order[0]), int(order[1]) if order.size > 1 else -1
        dest = np.where(own == first, second, first)
        ok = dest >= 0
        ok[ok] &= score[dest[ok]] < big
        if not ok.any():
            continue
        sel, dest = sel[ok], dest[ok]
        total = rel[sel] + score[dest]
        i = int(np.lexsort((dest, sel, -src_rem[sel], total))[0])
        cand = (int(total[i]), -int(src_rem[sel[i]]), int(sel[i]), int(dest[i]) * (2 if state.type_double[t] else 1))
        if best is None or cand < best:
            best = cand
    members = state.movable & state.in_group
    if exclude is not None:
        members &= ~exclude
    for v in np.flatnonzero(members):
        mask = state.dest_mask(int(v)).reshape(-1)
        if not mask.any():
            continue
        d = state.move_delta(int(v)).reshape(-1)
        d = np.where(mask, d, big)
        node = int(np.argmin(d))
        cand = (int(d[node]), -int(src_rem[v]), int(v), node)
        if best is None or cand < best:
            best = cand
    if best is None or best[0] > 0 or (best[0] == 0 and not allow_zero):
        return None
    delta, _, v, node = best
    return v, node // 2, node % 2, delta


class GreedyFRPolicy(_TwoStagePolicy):
    """``vm-greedy``: the migration with the largest FR reduction, until none lowers FR.

    ``vm-greedy:zero`` also takes moves that leave FR unchanged (each VM at most once, ties to the move
    that gathers the most free room on its source), which lets chains of moves open 16-core slots that
    no single move opens."""

    def __init__(self, allow_zero: bool = False) -> None:
        super().__init__("vm-greedy:zero" if allow_zero else "vm-greedy")
        self.allow_zero = allow_zero
        self._moved: np.ndarray | None = None

    def reset(self, env: Any, seed: int | None = None) -> None:
        super().reset(env, seed)
        self._moved = np.zeros(env.state.n_vms, bool)

    def plan(self) -> tuple[int, int, int] | None:
        move = best_move(self.env.state, self.allow_zero, self._moved if self.allow_zero else None)
        if move is None:
            return None
        self._moved[move[0]] = True
        return move[:3]


class FilterScorePolicy(_TwoStagePolicy):
    """``vm-filter-score[:k]``: VMs of the ``k`` most fragmented PMs (default 8), best-fit destinations,
    moves that do not raise FR, each VM at most once."""

    def __init__(self, k: int = 8) -> None:
        if k < 1:
            raise ValueError(f"vm-filter-score: k must be >= 1, got {k}")
        super().__init__(f"vm-filter-score:{k}")
        self.k = int(k)
        self._moved: np.ndarray | None = None

    def reset(self, env: Any, seed: int | None = None) -> None:
        super().reset(env, seed)
        self._moved = np.zeros(env.state.n_vms, bool)

    def plan(self) -> tuple[int, int, int] | None:
        st = self.env.state
        has = st.has_destination() & ~self._moved
        # filter: PMs with a VM that can move (an empty PM has the largest fragment but nothing to move)
        hosts = np.bincount(st.vm_pm[has], minlength=st.n_pms) > 0
        frag = np.where(st.active & hosts, (st.free_cpu % 16).sum(1), -1)
        pms = np.lexsort((np.arange(st.n_pms), -frag))[: self.k]
        for p in pms:
            if frag[p] <= 0:
                break
            vms = np.flatnonzero((st.vm_pm == p) & has)
            if vms.size == 0:
                continue
            rel = st.release_delta(vms)
            for v in vms[np.lexsort((vms, rel))]:
                v = int(v)
                mask = st.dest_mask(v)
                left = (st.free_cpu - st.dem_cpu[v]).astype(np.int64)
                if st.double[v]:
                    left = np.repeat(left.sum(1, keepdims=True), 2, axis=1)
                score = np.where(mask, left, 1 << 30).reshape(-1)
                node = int(np.lexsort((np.arange(score.size), score))[0])
                if score[node] >= 1 << 30:
                    continue
                if st.move_delta(v).reshape(-1)[node] <= 0:
                    self._moved[v] = True
                    return v, node // 2, node % 2
        return None


def slot_plans(state: Any, budget: int) -> tuple[int, int, list[int]] | None:
    """The best *slot-completion* plan: a NUMA node ``n`` and the fewest of its single-NUMA VMs whose
    departure brings its free cores to the next multiple of 16, each of which has a destination that
    absorbs it within its own remainder (no slot lost there). Returns ``(delta, node, vms)`` with the
    most negative estimated change of the sum of remainders per migration, or None.

    The estimate assumes each VM lands on a different absorbing node (the largest remainders of the
    other nodes); the moves are re-planned one at a time when executed."""
    fc = state.free_cpu
    rem = np.where(state.numa_active, fc % 16, -1).reshape(-1)
    top = np.sort(rem)[::-1][:64]
    # only VMs that fit in some remainder can be absorbed without breaking a slot
    cand_vms = np.flatnonzero(state.movable & ~state.double & ~state.in_group & (state.dem_cpu <= max(int(top[0]), 0)))
    if cand_vms.size == 0 or budget <= 0:
        return None
    node_of = 2 * state.vm_pm[cand_vms] + state.vm_numa[cand_vms]
    size = state.dem_cpu[cand_vms]
    order = np.lexsort((cand_vms, -size, node_of))
    cand_vms, node_of, size = cand_vms[order], node_of[order], size[order]
    starts = np.flatnonzero(np.r_[True, node_of[1:] != node_of[:-1]])
    ends = np.r_[starts[1:], node_of.size]
    # absorbers: the 64 largest remainders (memory is checked when the move is executed)
    best: tuple[float, int, int, list[int]] | None = None
    for s, e in zip(starts, ends):
        n = int(node_of[s])
        r = int(rem[n])
        if r < 0:  # inactive PM
            continue
        need = 16 - r
        picked: list[int] = []
        got = 0
        for j in range(s, e):
            if got >= need or len(picked) >= budget:
                break
            picked.append(j)
            got += int(size[j])
        if got < need:
            continue
        # each moved VM must fit in a remainder elsewhere (ignoring this node's own remainder)
        others = [int(x) for x in top]
        if r in others:
            others.remove(r)
        ok = True
        for j in sorted(picked, key=lambda j: -int(size[j])):
            c = int(size[j])
            fit = [x for x in others if x >= c]
            if not fit:
                ok = False
                break
            others.remove(min(fit))
        if not ok:
            continue
        new_r = (r + got) % 16
        delta = (new_r - r) - got
        if delta >= 0:
            continue
        k = len(picked)
        cand = (delta / k, k, n, [int(cand_vms[j]) for j in picked])
        if best is None or cand[:3] < best[:3]:
            best = cand
    if best is None:
        return None
    return int(round(best[0] * best[1])), best[2], best[3]


class SlotPlanner:
    """The decision logic of ``vm-slot`` on a :class:`~schedgym.envs.vm.state.VMState` (used by the policy
    and, on a copy of the state, as the CP-SAT model's hint)."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.queue: list[int] = []

    def destination(self, v: int) -> tuple[int, int] | None:
        """The legal destination of ``v`` that lowers the sum of remainders most; ties to the smallest
        remainder (best fit on remainders), then the lowest node."""
        st = self.state
        mask = st.dest_mask(v).reshape(-1)
        if not mask.any():
            return None
        d = st.move_delta(v).reshape(-1)
        rem = (st.free_cpu % 16).reshape(-1)
        big = 1 << 30
        score = np.where(mask, d, big)
        node = int(np.lexsort((np.arange(score.size), np.where(mask, rem, big), score))[0])
        return node // 2, node % 2

    def next_move(self, left: int) -> tuple[int, int, int] | None:
        """The next migration ``(vm, pm, numa)`` with ``left`` migrations left, or None to stop."""
        st = self.state
        if left <= 0:
            return None
        while self.queue:
            v = self.queue.pop(0)
            if st.movable[v]:
                dest = self.destination(v)
                if dest is not None:
                    return v, dest[0], dest[1]
        single = best_move(st)
        plan = slot_plans(st, left)
        if plan is not None and (single is None or plan[0] / len(plan[2]) < single[3]):
            self.queue = list(plan[2])
            return self.next_move(left)
        if single is not None:
            return single[:3]
        return None


def slot_completion_moves(state: Any, mnl: int) -> list[tuple[int, int, int]]:
    """Run ``vm-slot`` on a copy of ``state`` for at most ``mnl`` migrations; returns the migrations."""
    st = state.copy()
    planner = SlotPlanner(st)
    moves: list[tuple[int, int, int]] = []
    while len(moves) < mnl:
        mv = planner.next_move(mnl - len(moves))
        if mv is None:
            break
        st.move(*mv)
        moves.append(mv)
    return moves


class SlotCompletionPolicy(_TwoStagePolicy):
    """``vm-slot``: complete 16-core slots. Each plan picks a NUMA node and the fewest of its VMs whose
    departure lifts its free cores to the next multiple of 16, sending each to a node that absorbs it
    within its remainder (best fit on remainders, so no slot is broken); the plan with the largest
    estimated FR reduction per migration goes first. Single greedy moves that lower FR are taken
    when they beat the plan's rate; stops when neither exists."""

    def __init__(self) -> None:
        super().__init__("vm-slot")
        self.planner: SlotPlanner | None = None

    def reset(self, env: Any, seed: int | None = None) -> None:
        super().reset(env, seed)
        self.planner = SlotPlanner(self.env.state)

    def plan(self) -> tuple[int, int, int] | None:
        assert self.planner is not None
        return self.planner.next_move(self.env.mnl - self.env.migrations_done)
