"""ISBJSSP envs drawing an instance size and a shutdown probability per episode (``sizes=``, a list
``shutdown_prob=``): what the ``isb-mixed`` training preset relies on."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import schedgym.envs  # noqa: F401
from schedgym.agents import make_policy, run_episode
from schedgym.envs.core import IllegalActionError
from schedgym.envs.isbjobshop.env import ISBJobShopEnv
from schedgym.envs.jobshop import generate_random

SIZES = [[4, 3], [6, 2], [3, 5]]
PROBS = [0.0, 0.05, 0.2]


def test_sizes_are_drawn_per_episode_and_padded_to_the_largest() -> None:
    env = gym.make("schedgym/ISBJobShop-v0", sizes=SIZES, shutdown_prob=PROBS)
    base = env.unwrapped
    assert (base.n_jobs, base.n_machines) == (6, 5)  # padding: the largest n_jobs x the largest n_machines
    assert env.observation_space["nodes"].shape[0] == 6 * 5 + 5 + 1
    rule = make_policy("mwkr")
    shapes, probs = set(), set()
    for seed in range(30):
        result = run_episode(env, rule, seed=seed)  # validated by the domain's validator
        n, m = base.instance.shape
        shapes.add((n, m))
        probs.add(base.shutdown_prob)
        assert base.wait_node == n * m + m  # the episode's own wait node, right after its machines
        assert result.validated_objective == result.objective
    assert shapes == {tuple(s) for s in SIZES}
    assert probs == set(PROBS)


def test_a_seed_fixes_size_probability_instance_and_realization() -> None:
    def episode(seed: int) -> tuple:
        env = ISBJobShopEnv(sizes=SIZES, shutdown_prob=PROBS)
        env.reset(seed=seed)
        sol = env.state.solution()
        return env.instance.shape, env.shutdown_prob, env.instance.durations.tolist(), sol["downtime"]

    assert episode(3) == episode(3)
    assert len({repr(episode(s)) for s in range(6)}) > 1


def test_one_probability_draws_nothing_more_than_before() -> None:
    """A plain number (and a one-element list) keeps the env's random stream: same instance, same
    realization as an env without the new options."""
    def realization(**kwargs) -> tuple:
        env = ISBJobShopEnv(n_jobs=5, n_machines=3, **kwargs)
        env.reset(seed=11)
        while not env.state.done:
            env.step(int(np.flatnonzero(env.graph.action_mask)[0]))
        return env.instance.durations.tolist(), env.state.solution()["downtime"]

    assert realization(shutdown_prob=0.1) == realization(shutdown_prob=[0.1])
    assert realization(shutdown_prob=0.1) == realization(shutdown_prob=0.1, sizes=[[5, 3]])


def test_serial_builder_waits_on_the_episode_wait_node() -> None:
    env = gym.make("schedgym/ISBJobShop-v0", sizes=[[2, 2], [4, 3]], shutdown_prob=0.3, schedule_builder="serial")
    base = env.unwrapped
    for seed in range(10):
        obs, _ = env.reset(seed=seed)
        n, m = base.instance.shape
        assert int(obs["n_nodes"][0]) == n * m + m + 1 == base.wait_node + 1
        assert not obs["action_mask"][base.wait_node + 1 :].any()  # padding is never legal
        if (n, m) == (2, 2):
            with pytest.raises(IllegalActionError, match="padding"):
                env.step(base.wait_node + 1)
            break
    else:
        pytest.fail("no 2x2 episode in 10 seeds")


def test_instance_at_reset_fits_within_the_padding() -> None:
    env = ISBJobShopEnv(sizes=SIZES)
    small = generate_random(2, 2, np.random.default_rng(0))
    env.reset(seed=0, options={"instance": small})
    assert env.instance.shape == (2, 2) and env.wait_node == 6
    with pytest.raises(ValueError, match="at most that size"):
        env.reset(seed=0, options={"instance": generate_random(7, 2, np.random.default_rng(0))})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sizes": []}, "sizes must be a non-empty list"),
        ({"sizes": [[3, 2], [4]]}, r"sizes\[1\] must be a pair"),
        ({"sizes": [[3, 0]]}, r"sizes\[0\]\[1\] \(n_machines\)"),
        ({"sizes": [[2.5, 3]]}, r"sizes\[0\]\[0\] \(n_jobs\)"),
        ({"sizes": "10x5"}, "sizes must be a non-empty list"),
        ({"sizes": [[3, 3]], "instance": "ft06"}, "either instance= or sizes="),
        ({"shutdown_prob": []}, "shutdown_prob is an empty list"),
        ({"shutdown_prob": [0.0, 1.0]}, r"shutdown_prob\[1\]"),
        ({"shutdown_prob": [0.1, "often"]}, r"shutdown_prob\[1\]"),
    ],
)
def test_bad_sizes_and_probability_lists_are_named(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ISBJobShopEnv(**kwargs)


def test_time_scale_check_uses_the_largest_size_and_probability() -> None:
    # 3 x 2 ops x 10^9 at p = 0.5 is far over MAX_EXPECTED_FAILURES; a list naming it must be refused too
    with pytest.raises(ValueError, match="MAX_EXPECTED_FAILURES"):
        ISBJobShopEnv(sizes=[[1, 1], [3, 2]], duration_high=10**9, shutdown_prob=[0.0, 0.5])


@pytest.mark.parametrize("explicit", [{"n_jobs": 6}, {"n_machines": 4}, {"n_jobs": 30, "n_machines": 15}])
def test_sizes_with_another_n_jobs_or_n_machines_is_refused(explicit: dict[str, int]) -> None:
    """``sizes=`` sets the padding itself: an ``n_jobs`` / ``n_machines`` beside it that differs from it was
    silently ignored, now it is an error naming both; equal ones are fine."""
    with pytest.raises(ValueError, match=r"sizes=\[\[3, 3\], \[5, 2\]\] pads to n_jobs=5, n_machines=3; an n_jobs="):
        ISBJobShopEnv(sizes=[[3, 3], [5, 2]], **explicit)
    env = ISBJobShopEnv(sizes=[[3, 3], [5, 2]], n_jobs=5, n_machines=3)
    assert (env.n_jobs, env.n_machines) == (5, 3)
    # beside instance= they are ignored (training configs merge random-instance sizes with a validation instance)
    assert ISBJobShopEnv(instance="ft06", **explicit).n_jobs == 6
    assert ISBJobShopEnv().n_jobs == 6 and ISBJobShopEnv().n_machines == 4  # the defaults without sizes
