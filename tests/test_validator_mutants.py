"""Mutation tests of the independent validators (issue 9, item 16).

Each test runs a real episode, checks that the validator accepts its solution, then tampers with the
solution in one of the ways listed in the issue, many times over, and requires the validator to reject
every mutant: job-shop ``machine_sequences`` inconsistent with the start times; ISB non-integer times
and, in restart mode, completions later than the rules allow; LLM cluster rejected requests dispatched
elsewhere or arriving at another time, and reported times off by 1 ms late in a run.
"""

from __future__ import annotations

import copy
import itertools

import gymnasium as gym
import numpy as np
import pytest
import schedgym.envs  # noqa: F401
from schedgym.envs.isbjobshop.validate import (
    InfeasibleISBScheduleError,
    validate_isb_schedule,
)
from schedgym.envs.jobshop.instance import JobShopInstance
from schedgym.envs.jobshop.validate import InfeasibleScheduleError, validate_schedule
from schedgym.envs.llm.validate import InvalidRunError, validate_cluster, validate_run


def _episode(env_id: str, seed: int = 0, greedy: bool = False, **kwargs):
    """One episode of random legal actions (``greedy``: the lowest legal node, which avoids the ISB wait
    node); returns the env and the final info."""
    env = gym.make(env_id, **kwargs)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    while True:
        legal = np.flatnonzero(obs["action_mask"])
        a = legal[0] if greedy else legal[rng.integers(legal.size)]
        obs, _, term, trunc, info = env.step(int(a))
        if term or trunc:
            assert term
            return env.unwrapped, info


def _all_rejected(validate, solution, mutants, error) -> int:
    """Apply every mutant to a copy of ``solution``; each must be refused. Returns how many ran."""
    validate(solution)  # the original is valid
    count = 0
    for name, mutate in mutants:
        bad = copy.deepcopy(solution)
        mutate(bad)
        with pytest.raises(error):
            validate(bad)
            pytest.fail(f"mutant {name!r} was accepted")  # pragma: no cover - reached only on failure
        count += 1
    return count


# ------------------------------------------------------------------------------------------ job shop
def test_jobshop_validator_rejects_inconsistent_machine_sequences() -> None:
    env, info = _episode("schedgym/JobShop-v0", instance="ft06")
    inst, sol = env.instance, info["solution"]
    dur = inst.durations
    m = inst.n_machines
    mutants = []
    for machine, seq in enumerate(sol["machine_sequences"]):
        timed = [i for i, op in enumerate(seq) if dur[divmod(op, m)] > 0]
        for a, b in itertools.combinations(timed, 2):  # every pair of operations that take time, swapped
            def swap(s, machine=machine, a=a, b=b):
                q = s["machine_sequences"][machine]
                q[a], q[b] = q[b], q[a]
            mutants.append((f"swap m{machine} {a}<->{b}", swap))
        mutants.append((f"drop last of m{machine}", lambda s, machine=machine: s["machine_sequences"][machine].pop()))
        mutants.append((f"duplicate on m{machine}", lambda s, machine=machine: s["machine_sequences"][machine].__setitem__(
            0, s["machine_sequences"][machine][1])))
        other = (machine + 1) % m
        mutants.append((f"move m{machine}->m{other}", lambda s, machine=machine, other=other: s["machine_sequences"][other].append(
            s["machine_sequences"][machine].pop())))
        mutants.append((f"not an op index on m{machine}", lambda s, machine=machine: s["machine_sequences"][machine].__setitem__(
            0, True)))
    mutants.append(("one machine missing", lambda s: s["machine_sequences"].pop()))
    n = _all_rejected(lambda s: validate_schedule(inst, s), sol, mutants, InfeasibleScheduleError)
    assert n >= 6 * 15  # ft06: 6 machines x C(6, 2) swaps at least


def test_jobshop_validator_machine_sequences_with_zero_length_operations() -> None:
    """Zero-length operations occupy no machine time: their place in a sequence is free, and a
    schedule built by the env with them still validates."""
    inst = JobShopInstance([[0, 1], [0, 1], [1, 0]], [[3, 0], [2, 4], [0, 5]], name="zeros")
    env = gym.make("schedgym/JobShop-v0", n_jobs=3, n_machines=2).unwrapped
    for seed in range(20):
        obs, _ = env.reset(seed=seed, options={"instance": inst})
        rng = np.random.default_rng(seed)
        done = False
        while not done:
            legal = np.flatnonzero(obs["action_mask"])
            obs, _, done, _, info = env.step(int(legal[rng.integers(legal.size)]))
        assert validate_schedule(inst, info["solution"]) == info["metrics"]["makespan"]


def test_jobshop_validator_rejects_non_integer_and_huge_times() -> None:
    env, info = _episode("schedgym/JobShop-v0", instance="ft06")
    inst, sol = env.instance, info["solution"]
    mutants = [
        ("half", lambda s: s["start"][0].__setitem__(0, s["start"][0][0] + 0.5)),
        ("nan", lambda s: s["start"][1].__setitem__(2, float("nan"))),
        ("inf", lambda s: s["start"][1].__setitem__(2, float("inf"))),
        ("huge", lambda s: s["start"][1].__setitem__(2, 1e30)),
        ("makespan half", lambda s: s.__setitem__("makespan", s["makespan"] + 0.5)),
        ("makespan bool", lambda s: s.__setitem__("makespan", True)),
        ("strings", lambda s: s.__setitem__("start", [[str(x) for x in row] for row in s["start"]])),
    ]
    _all_rejected(lambda s: validate_schedule(inst, s), sol, mutants, InfeasibleScheduleError)


# ------------------------------------------------------------------------------------------ ISB
@pytest.mark.parametrize("env_id", ["schedgym/ISBJobShop-v0", "schedgym/InterruptJobShop-v0"])
def test_isb_validator_rejects_every_non_integer_time(env_id: str) -> None:
    env, info = _episode(env_id, seed=3)
    inst, sol = env.instance, info["solution"]
    n, m = inst.shape
    mutants = []
    for key, j, k, delta in itertools.product(("start", "completion", "leave"), range(n), range(m), (0.5, -0.5)):
        mutants.append((f"{key}[{j}][{k}]{delta:+}", lambda s, key=key, j=j, k=k, delta=delta: s[key][j].__setitem__(
            k, s[key][j][k] + delta)))
    mutants.append(("makespan+0.5", lambda s: s.__setitem__("makespan", s["makespan"] + 0.5)))
    mutants.append(("nan", lambda s: s["start"][0].__setitem__(0, float("nan"))))
    if any(sol["downtime"]):
        i = next(i for i, d in enumerate(sol["downtime"]) if d)
        mutants.append(("downtime+0.5", lambda s, i=i: s["downtime"][i][0].__setitem__(1, s["downtime"][i][0][1] + 0.5)))
    if sol["swaps"]:
        mutants.append(("swap time+0.5", lambda s: s["swaps"][0].__setitem__("time", s["swaps"][0]["time"] + 0.5)))
    count = _all_rejected(lambda s: validate_isb_schedule(inst, s), sol, mutants, InfeasibleISBScheduleError)
    assert count >= 6 * 4 * 3 * 2


def test_isb_restart_completion_later_than_the_rules_is_rejected_handmade() -> None:
    """One job, one machine, processing 5 from t=0, the machine down in [10, 12): under "restart" the
    op completes at 5. Claiming it was interrupted and completed at 12 + 5 = 17 used to pass."""
    inst = JobShopInstance([[0]], [[5]], name="one")
    good = {"blocking": True, "interruption": "restart", "start": [[0]], "completion": [[5]], "leave": [[5]],
            "downtime": [[[10, 12]]], "swaps": [], "makespan": 5}
    assert validate_isb_schedule(inst, good) == 5
    late = dict(good, completion=[[17]], leave=[[17]], makespan=17)
    with pytest.raises(InfeasibleISBScheduleError, match="rules complete it at 5"):
        validate_isb_schedule(inst, late)
    # a failure that hits the work does restart it: down in [3, 4) -> completes at 4 + 5 = 9
    hit = dict(good, downtime=[[[3, 4], [10, 12]]], completion=[[9]], leave=[[9]], makespan=9)
    assert validate_isb_schedule(inst, hit) == 9
    # back-to-back failures: [3, 4) then [4, 6) -> restarts at 6, completes at 11
    chain = dict(good, downtime=[[[3, 4], [4, 6]]], completion=[[11]], leave=[[11]], makespan=11)
    assert validate_isb_schedule(inst, chain) == 11


def test_isb_restart_mode_episodes_validate_and_late_completions_are_rejected() -> None:
    """Random restart-mode episodes (many interruptions) validate; for every operation that is last
    on its job and on its machine, a down interval is appended after its completion and the completion
    moved behind it (a later "restart" the rules do not allow): every such mutant is rejected."""
    mutated = 0
    for seed in range(6):
        env, info = _episode("schedgym/ISBJobShop-v0", seed=seed, greedy=seed % 2 == 0,
                             interruption="restart", shutdown_prob=0.05, duration_high=12)
        inst, sol = env.instance, info["solution"]
        assert validate_isb_schedule(inst, sol) == info["metrics"]["makespan"]
        n, m = inst.shape
        leave = np.asarray(sol["leave"])
        for j in range(n):
            k = m - 1
            i = int(inst.machines[j, k])
            p = int(inst.durations[j, k])
            c = int(sol["completion"][j][k])
            on_machine = [(jj, kk) for jj in range(n) for kk in range(m) if inst.machines[jj, kk] == i]
            if p == 0 or max(leave[jj, kk] for jj, kk in on_machine) != c:
                continue  # another op follows on this machine
            if any(a >= c for a, _ in sol["downtime"][i]):
                continue

            def late(s, i=i, j=j, k=k, c=c, p=p):
                s["downtime"][i].append([c + 1, c + 3])
                s["completion"][j][k] = s["leave"][j][k] = c + 3 + p
                s["makespan"] = max(s["makespan"], c + 3 + p)

            bad = copy.deepcopy(sol)
            late(bad)
            with pytest.raises(InfeasibleISBScheduleError, match="restart mode"):
                validate_isb_schedule(inst, bad)
            mutated += 1
    assert mutated >= 3


# ------------------------------------------------------------------------------------------ LLM
@pytest.fixture(scope="module")
def cluster_run():
    """A cluster run at 1 req/s (times up to ~150 s) with overlength prompts rejected and migrations."""
    _env, info = _episode("schedgym/LLMCluster-v0", seed=0, rate=1.0, n_requests=120)
    sol = info["solution"]
    rejected = sorted({int(r) for inst in sol["instances"] for r in np.flatnonzero(inst["rejected"])})
    assert len(rejected) >= 2 and info["metrics"]["migrations"] > 0
    return sol, rejected


def test_llm_cluster_validator_rejects_tampered_rejections(cluster_run) -> None:
    sol, rejected = cluster_run
    n_inst = len(sol["instances"])
    mutants = []
    for r in rejected:
        k = int(sol["assigned"][r])
        for other in range(n_inst):
            if other != k:  # dispatched (on record) to another instance than where it was rejected
                mutants.append((f"assigned[{r}]={other}", lambda s, r=r, other=other: s["assigned"].__setitem__(r, other)))
                # ... or rejected on another instance as well
                def also(s, r=r, other=other):
                    s["instances"][other]["rejected"][r] = True
                    s["instances"][other]["arrival"][r] = s["arrival"][r]
                mutants.append((f"also rejected on {other}", also))
        for delta in (1e-3, -1e-3, 5.0):  # arriving at another time than the cluster's arrival
            mutants.append((f"instance arrival[{r}]{delta:+}", lambda s, r=r, k=k, delta=delta:
                            s["instances"][k]["arrival"].__setitem__(r, s["instances"][k]["arrival"][r] + delta)))
            mutants.append((f"cluster arrival[{r}]{delta:+}", lambda s, r=r, delta=delta:
                            s["arrival"].__setitem__(r, s["arrival"][r] + delta)))
    count = _all_rejected(validate_cluster, sol, mutants, InvalidRunError)
    assert count >= len(rejected) * (2 * (n_inst - 1) + 6)


def test_llm_validators_use_an_absolute_time_tolerance(cluster_run) -> None:
    """±1 ms on a reported first-token or finish time at t ~ 100 s is refused (numpy's default relative
    tolerance let it through)."""
    sol, _ = cluster_run
    mutants = []
    for k, inst in enumerate(sol["instances"]):
        exp = np.flatnonzero(inst["expected"])
        for r, key, delta in itertools.product(exp.tolist(), ("reported_first_token_t", "reported_finish_t"),
                                               (1e-3, -1e-3)):
            if inst[key][r] < 110.0:
                continue  # 1 ms is within numpy's default relative tolerance (1e-5) only past t = 100 s
            mutants.append((f"instance {k} {key}[{r}]{delta:+}", lambda s, k=k, r=r, key=key, delta=delta:
                            s["instances"][k][key].__setitem__(r, s["instances"][k][key][r] + delta)))
    assert len(mutants) >= 8
    _all_rejected(validate_cluster, sol, mutants, InvalidRunError)
    # the same on a single instance
    _env, info = _episode("schedgym/LLMServe-v0", seed=1, rate=1.0, n_requests=120)
    one = info["solution"]
    r = int(np.flatnonzero(np.asarray(one["reported_finish_t"]) > 110.0)[0])
    _all_rejected(validate_run, one, [("finish+1ms", lambda s: s["reported_finish_t"].__setitem__(
        r, s["reported_finish_t"][r] + 1e-3))], InvalidRunError)
