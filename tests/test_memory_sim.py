"""Memory domain: program time (hand-computed), the incremental roofline, canonical placement, the validator."""

from __future__ import annotations

import numpy as np
import pytest
from schedgym.envs.memory.generator import SyntheticProgram
from schedgym.envs.memory.hardware import Hardware
from schedgym.envs.memory.instance import MemoryInstance, Program
from schedgym.envs.memory.simulator import MemoryState, program_time, standalone_benefit
from schedgym.envs.memory.validate import (
    InvalidSolution,
    check_placement,
    recompute_program_time,
    validate_solution,
)

HW = Hardware("unit", peak_flops=10.0, fast_bw=4.0, slow_bw=1.0, copy_bw=2.0, fast_capacity=100)


def two_instruction_program(copy_bw: float = 2.0) -> MemoryInstance:
    """w (weight, prefetch, 8 B) is read by instruction 1; a (8 B) is written by 0 and read by 1 (evict: no);
    out (4 B, evict) is written by 1. Instruction 0: 20 FLOP; instruction 1: 10 FLOP."""
    hw = Hardware("unit", 10.0, 4.0, 1.0, copy_bw, 100)
    prog = Program(flops=[20.0, 10.0], use_instr=[0, 1, 1, 1], use_buffer=[1, 0, 1, 2], use_bytes=[8, 8, 8, 4], hardware=hw)
    return MemoryInstance("two", 100, lower=[0, 0, 1], upper=[2, 2, 2], size=[8, 8, 4], ids=("w", "a", "out"),
                          prefetch=[True, False, False], evict=[False, False, True], program=prog)


def test_program_time_by_hand() -> None:
    inst = two_instruction_program()
    # all slow: i0 = max(20/10, 8/1) = 8; i1 = max(1, (8+8+4)/1) = 20 -> 28
    assert program_time(inst, np.array([0, 0, 0], bool)).total == pytest.approx(28.0)
    # a fast: i0 = max(2, 8/4) = 2; i1 = max(1, 8/1 + 8/4 + 4/1) = 14 -> 16, no copies
    pt = program_time(inst, np.array([0, 1, 0], bool))
    assert pt.total == pytest.approx(16.0) and pt.stall == 0.0
    # w fast (prefetch): copy 8/2 = 4 starts at t=0 (w lives from instruction 0), i0 ends at 8 > 4: no stall;
    # i1 = max(1, 8/4 + 8 + 4) = 14 -> 22
    assert program_time(inst, np.array([1, 0, 0], bool)).total == pytest.approx(22.0)
    # everything fast: i0 = 2; copy of w ends at 4 -> i1 waits 2 s; i1 = max(1, 2 + 2 + 1) = 5 -> ends at 9;
    # out (evict) copied out 4/2 = 2 after i1 -> program ends at 11
    pt = program_time(inst, np.ones(3, bool))
    assert pt.roofline == pytest.approx(7.0) and pt.total == pytest.approx(11.0) and pt.stall == pytest.approx(4.0)
    assert pt.n_copies == 2 and pt.copy_bytes == 12
    # no copy engine: prefetches are free
    assert program_time(two_instruction_program(copy_bw=0.0), np.ones(3, bool)).total == pytest.approx(7.0)


@pytest.mark.parametrize("seed", range(5))
def test_validator_program_time_agrees_with_the_simulator(seed: int) -> None:
    rng = np.random.default_rng(seed)
    inst = SyntheticProgram(n_buffers=40)(rng)
    for _ in range(10):
        fast = rng.random(inst.n_buffers) < 0.5
        assert recompute_program_time(inst, fast) == pytest.approx(program_time(inst, fast).total, rel=1e-12)


def test_incremental_roofline_and_benefit() -> None:
    rng = np.random.default_rng(3)
    inst = SyntheticProgram(n_buffers=60, capacity_ratio=2.0)(rng)
    st = MemoryState(inst, "mapping")
    benefit = standalone_benefit(inst)
    slow = program_time(inst, np.zeros(inst.n_buffers, bool)).roofline
    first = True
    while st.fits.any():
        legal = st.legal()
        b = int(legal[rng.integers(legal.size)])
        before = st.roofline
        _, saved, _ = st.place(b)
        if first:  # from the all-slow state, the saving of one buffer is its standalone benefit
            assert saved == pytest.approx(benefit[b]) and before == pytest.approx(slow)
            first = False
        assert st.roofline == pytest.approx(program_time(inst, st.placed).roofline, rel=1e-9)


def test_canonical_offsets_stack_on_time_overlapping_buffers() -> None:
    # MiniMalloc's example: b5 first -> 0; b3 -> 4 (on b5); b1 -> 8; b2 (overlaps b3, b5, not b1) -> 8; b4 -> 4
    from schedgym.envs.memory.catalog import minimalloc_example

    st = MemoryState(minimalloc_example(), "allocation")
    offs = [st.place(b)[0] for b in (4, 2, 0, 1, 3)]
    assert offs == [0, 4, 8, 8, 4] and st.done and st.peak == 12
    st = MemoryState(minimalloc_example(), "allocation")
    for b in (0, 2, 4):  # b1 at 0, b3 at 4, b5 at 8; b2 lands at 12 (> 12 - 4): not legal
        st.place(b)
    assert not st.fits[1] and st.cand[1] == 12


@pytest.mark.parametrize("seed", range(4))
def test_replaying_any_feasible_placement_by_offset_lands_at_or_below_it(seed: int) -> None:
    """The completeness argument of the action space: sort a feasible placement by offset and pick the
    buffers in that order; each canonical offset is <= the original one."""
    from schedgym.agents.memory.heuristics import fit_plan

    rng = np.random.default_rng(seed)
    inst = SyntheticProgram(n_buffers=50, capacity_ratio=1.3)(rng)
    order = rng.permutation(inst.n_buffers)  # a random order: first-fit gives an arbitrary (non-canonical) placement
    off = fit_plan(inst, order, best=bool(seed % 2))
    check_placement(inst, off, allow_unplaced=True)
    st = MemoryState(inst, "allocation")
    placed = np.flatnonzero(off >= 0)
    for b in placed[np.lexsort((placed, off[placed]))].tolist():
        assert st.fits[b]
        got, _, _ = st.place(b)
        assert got <= off[b]


def _solution(inst: MemoryInstance, off, mode: str) -> dict:
    off = [int(x) for x in off]
    return {"instance": inst.name, "mode": mode, "capacity": inst.capacity, "offsets": off,
            "order": [b for b in range(len(off)) if off[b] >= 0], "solved": all(x >= 0 for x in off),
            "program_time_us": None}


def test_validator_rejects_tampered_solutions() -> None:
    from schedgym.envs.memory.catalog import minimalloc_example

    inst = minimalloc_example()
    good = _solution(inst, [8, 8, 4, 4, 0], "allocation")
    assert validate_solution(inst, good) == 1.0
    with pytest.raises(InvalidSolution, match="'b1'.*'b3'|'b3'.*'b1'"):  # b1 and b3 live together, same address
        validate_solution(inst, _solution(inst, [4, 8, 4, 4, 0], "allocation"))
    with pytest.raises(InvalidSolution, match="exceeds capacity 12"):
        validate_solution(inst, _solution(inst, [8, 8, 4, 9, 0], "allocation"))
    bad = dict(good, solved=False)
    with pytest.raises(InvalidSolution, match="solved=False"):
        validate_solution(inst, bad)
    with pytest.raises(InvalidSolution, match="exactly once"):
        validate_solution(inst, dict(good, order=[0, 0, 1, 2, 3]))
    with pytest.raises(InvalidSolution, match="capacity"):
        validate_solution(inst, dict(good, capacity=13))
    with pytest.raises(InvalidSolution, match="not placed"):
        check_placement(inst, np.array([8, -1, 4, 4, 0]), allow_unplaced=False)
    # partial allocation: valid, objective 0
    assert validate_solution(inst, _solution(inst, [8, -1, 4, 4, 0], "allocation")) == 0.0


def test_validator_checks_the_reported_program_time() -> None:
    inst = two_instruction_program()
    sol = _solution(inst, [-1, 0, -1], "mapping")
    sol["program_time_us"] = 16.0 * 1e6
    assert validate_solution(inst, sol) == pytest.approx(16e6)
    sol["program_time_us"] = 15.0 * 1e6
    with pytest.raises(InvalidSolution, match="reported program time"):
        validate_solution(inst, sol)
