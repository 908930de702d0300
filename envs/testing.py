"""The contract's tests as a public API: run them on any schedgym-style environment.

Each ``check_*`` function takes a zero-argument factory returning a *fresh* environment (or a
registered id) and raises ``AssertionError`` with a readable message on failure::

    from schedgym.envs.testing import check_contract
    check_contract(lambda: MyEnv(...))           # everything below, with defaults

``tests/test_contract.py`` runs them over every id registered by :mod:`schedgym.envs`.
"""

from __future__ import annotations

import pickle
import warnings
from typing import Any, Callable, Union

import gymnasium as gym
import numpy as np

from .core import OBS_KEYS, GraphSchedulingEnv, IllegalActionError, graph_spec_of

EnvFactory = Union[Callable[[], gym.Env], str]


def _require(condition: Any, message: str) -> None:
    """Raise ``AssertionError(message)`` unless ``condition`` (works under ``python -O`` too)."""
    if not condition:
        raise AssertionError(message)


def _make(factory: EnvFactory, **kwargs: Any) -> gym.Env:
    if isinstance(factory, str):
        import schedgym.envs  # noqa: F401  (registers the ids)

        return gym.make(factory, **kwargs)
    return factory()


def _base(env: gym.Env) -> GraphSchedulingEnv:
    base = env.unwrapped
    _require(isinstance(base, GraphSchedulingEnv), f"{type(base).__name__} is not a GraphSchedulingEnv")
    return base


def _check_step_determinism_after_reset(env: gym.Env, seed: int = 123) -> None:
    """Gymnasium's ``check_step_determinism`` with one change: the action is drawn from the mask *after*
    the seeded reset. Gymnasium draws it before the reset, from whatever state the previous check left
    the env in; with a state-dependent action mask (a two-stage decision, a seed-dependent instance)
    that action can be illegal after the reset, which says nothing about determinism."""
    from copy import deepcopy

    from gymnasium.utils.env_checker import data_equivalence

    if env.spec is not None and env.spec.nondeterministic is True:
        return
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    action = env.action_space.sample(mask=np.asarray(obs["action_mask"], np.int8))
    obs_0, rew_0, term_0, trunc_0, info_0 = env.step(action)
    seeded_rng = deepcopy(env.unwrapped._np_random)
    env.reset(seed=seed)
    obs_1, rew_1, term_1, trunc_1, info_1 = env.step(action)
    _require(env.unwrapped._np_random.bit_generator.state == seeded_rng.bit_generator.state,
             "the env's np_random is not updated the same way by the same step after the same reset")
    _require(data_equivalence(obs_0, obs_1), "the same seed and action give different observations")
    _require(data_equivalence(rew_0, rew_1) and term_0 == term_1 and trunc_0 == trunc_1,
             "the same seed and action give a different reward or termination")
    _require(data_equivalence(info_0, info_1), "the same seed and action give a different info")


def check_gymnasium_api(factory: EnvFactory) -> None:
    """Gymnasium's own ``check_env`` in full, render check included (with the action space's legal
    sampling, and its step-determinism check drawing the action after the seeded reset: see
    :func:`_check_step_determinism_after_reset`), and the class's ``metadata`` kept to itself: every render mode it declares is accepted
    and renders an RGB array after ``reset``, and a vector env does not write into it."""
    from unittest import mock

    from gymnasium.utils import env_checker

    env = _make(factory)
    with warnings.catch_warnings(), mock.patch.object(
        env_checker, "check_step_determinism", _check_step_determinism_after_reset
    ):
        warnings.simplefilter("ignore")  # infinite Box bounds and one-type Boxes are intended
        env_checker.check_env(env.unwrapped)
    base = _base(env)
    cls = type(base)
    _require(isinstance(cls.__dict__.get("metadata"), dict),
             f"{cls.__name__} has no metadata dict of its own (it shares its parent's)")
    _require(cls.metadata is not GraphSchedulingEnv.metadata, f"{cls.__name__} shares the base class's metadata")
    _require(base.metadata is not cls.metadata, f"{cls.__name__} instances share the class's metadata dict")
    _require("autoreset_mode" not in cls.metadata,
             f"{cls.__name__}.metadata was written by a vector env: {cls.metadata}")
    if isinstance(factory, str):
        for mode in cls.metadata.get("render_modes", []):
            r_env = _make(factory, render_mode=mode)
            r_env.reset(seed=0)
            frame = r_env.render()
            if mode == "rgb_array":
                _require(isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] == 3
                         and frame.dtype == np.uint8 and frame.size > 0,
                         f"render() in rgb_array mode gave {type(frame).__name__} "
                         f"{getattr(frame, 'shape', '')}, not an (H, W, 3) uint8 array")
            r_env.close()
    env.close()


def check_vector_sampling(env_id: str, num_envs: int = 3, steps: int = 30) -> None:
    """Under ``gym.make_vec``, sampling with the batched masks (``action_space.sample(mask=tuple(obs[
    "action_mask"]))``, as documented in :mod:`schedgym.envs.core`) gives a legal node for every
    sub-env, and so does ``single_action_space.sample(mask=obs["action_mask"][i])``; the vector env
    leaves the class's ``metadata`` alone."""
    import schedgym.envs  # noqa: F401  (registers the ids)

    envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync")
    try:
        obs, _ = envs.reset(seed=0)
        envs.action_space.seed(0)
        envs.single_action_space.seed(0)
        for step in range(steps):
            masks = obs["action_mask"]
            live = [i for i in range(num_envs) if masks[i].any()]  # a terminal mask may be empty (its
            # action is ignored under the NEXT_STEP autoreset)
            if live:
                i = live[step % len(live)]
                one = int(envs.single_action_space.sample(mask=masks[i]))
                _require(masks[i][one], f"single_action_space.sample(mask=...) drew illegal {one}")
            actions = envs.action_space.sample(mask=tuple(masks))
            for i in live:
                _require(masks[i][actions[i]], f"step {step}: sub-env {i} got illegal action {actions[i]}")
            obs, *_ = envs.step(actions)
        cls = type(envs.envs[0].unwrapped)
        _require("autoreset_mode" not in cls.metadata, f"make_vec wrote into {cls.__name__}.metadata")
    finally:
        envs.close()


def check_observation_contract(obs: dict[str, np.ndarray], info: dict[str, Any], env: gym.Env) -> None:
    """One observation obeys the contract: keys, shapes, padding, mask agreement."""
    base = _base(env)
    _require(set(OBS_KEYS) <= set(obs), f"observation lacks keys {set(OBS_KEYS) - set(obs)}")
    _require(env.observation_space.contains(obs), "observation outside observation_space")
    spec = graph_spec_of(env.observation_space)
    n, e = int(obs["n_nodes"][0]), int(obs["n_edges"][0])
    _require(0 < n <= spec.max_nodes and 0 <= e <= spec.max_edges,
             f"n_nodes={n} / n_edges={e} outside 1..{spec.max_nodes} / 0..{spec.max_edges}")
    ei = obs["edge_index"][:, :e]
    _require((ei < n).all(), "an edge points at a padding node")
    mask = obs["action_mask"]
    _require(not mask[n:].any(), "a padding node is marked legal")
    np.testing.assert_array_equal(mask, info["action_mask"], err_msg="obs and info masks differ")
    np.testing.assert_array_equal(mask.astype(bool), base.action_masks(), err_msg="action_masks() differs")


def _rollout(env: gym.Env, seed: int, policy_seed: int, max_steps: int) -> tuple[list, list, dict]:
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(policy_seed)
    actions, rewards = [], []
    for _ in range(max_steps):
        legal = np.flatnonzero(obs["action_mask"])
        _require(legal.size > 0, "no legal action in a non-terminal state")
        a = int(legal[rng.integers(legal.size)])
        obs, r, term, trunc, info = env.step(a)
        actions.append(a)
        rewards.append(r)
        if term or trunc:
            break
    return actions, rewards, info


def check_determinism(factory: EnvFactory, seeds: tuple[int, ...] = (0, 1), max_steps: int = 5000) -> None:
    """The same seed and actions give the same observations, rewards and metrics."""
    for seed in seeds:
        env_a, env_b = _make(factory), _make(factory)
        oa, _ = env_a.reset(seed=seed)
        ob, _ = env_b.reset(seed=seed)
        rng = np.random.default_rng(seed)
        for step in range(max_steps):
            for k in OBS_KEYS:
                np.testing.assert_array_equal(oa[k], ob[k], err_msg=f"seed {seed}, step {step}: obs[{k!r}] differs")
            legal = np.flatnonzero(oa["action_mask"])
            a = int(legal[rng.integers(legal.size)])
            oa, ra, ta, tra, ia = env_a.step(a)
            ob, rb, tb, trb, ib = env_b.step(a)
            _require(ra == rb and ta == tb and tra == trb, f"seed {seed}, step {step}: reward/termination differ")
            if ta or tra:
                _require(ia["metrics"] == ib["metrics"], f"seed {seed}: metrics differ")
                break
        env_a.close()
        env_b.close()


def check_pickling(factory: EnvFactory, steps: int = 5) -> None:
    """A pickled mid-episode env continues exactly like the original."""
    env = _make(factory)
    obs, _ = env.reset(seed=3)
    rng = np.random.default_rng(3)
    for _ in range(steps):
        legal = np.flatnonzero(obs["action_mask"])
        obs, _, term, trunc, _ = env.step(int(legal[rng.integers(legal.size)]))
        if term or trunc:
            obs, _ = env.reset(seed=4)
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(steps):
        legal = np.flatnonzero(obs["action_mask"])
        a = int(legal[rng.integers(legal.size)])
        o1, r1, t1, tr1, _ = env.step(a)
        o2, r2, t2, tr2, _ = clone.step(a)
        for k in OBS_KEYS:
            np.testing.assert_array_equal(o1[k], o2[k], err_msg=f"unpickled env diverges on {k!r}")
        _require((r1, t1, tr1) == (r2, t2, tr2), "unpickled env diverges on reward or termination")
        obs = o1
        if t1 or tr1:
            break


def check_random_masked_steps(
    factory: EnvFactory, n_steps: int = 10_000, seeds: int = 20, validate: bool = True, check_obs_every: int = 1
) -> int:
    """``n_steps`` random legal actions over many seeded episodes: no exception, every observation obeys
    the contract, and the domain's validator accepts every finished episode (whose metrics must agree
    with the validator's objective). Returns the number of finished episodes."""
    env = _make(factory)
    base = _base(env)
    objective = base.objective.name
    rng = np.random.default_rng(12345)
    episode, finished, steps = 0, 0, 0
    obs, info = env.reset(seed=episode)
    while steps < n_steps:
        if steps % check_obs_every == 0:
            check_observation_contract(obs, info, env)
        legal = np.flatnonzero(obs["action_mask"])
        _require(legal.size > 0, f"episode {episode}: no legal action at step {steps}")
        obs, reward, term, trunc, info = env.step(int(legal[rng.integers(legal.size)]))
        _require(np.isfinite(reward), f"episode {episode}: non-finite reward {reward}")
        steps += 1
        if term or trunc:
            _require("metrics" in info and "solution" in info, "episode end without info['metrics'] / ['solution']")
            _require(objective in info["metrics"], f"metrics lack the objective {objective!r}")
            if validate and term:
                value = base.validate_solution(info["solution"])
                _require(np.isclose(value, info["metrics"][objective]), (
                    f"validator's {objective} {value} != reported {info['metrics'][objective]}"
                ))
            finished += 1
            episode += 1
            obs, info = env.reset(seed=episode % max(seeds, 1) + 1000 * (episode // max(seeds, 1)))
    env.close()
    return finished


def check_illegal_action(factory: EnvFactory) -> None:
    """An action outside the mask raises :class:`IllegalActionError` naming the action; state is kept."""
    env = _make(factory)
    obs, _ = env.reset(seed=0)
    base = _base(env)
    illegal = np.flatnonzero(obs["action_mask"] == 0)
    legal0 = int(np.flatnonzero(obs["action_mask"])[0])
    not_integers = [True, False, np.bool_(True), float("inf"), float("-inf"), float("nan"), float(legal0), 0.5,
                    np.float32(legal0), "0", None, np.array([0.0]), np.array([0, 1])]
    for bad in [*illegal[:3].tolist(), base.action_space.n, -1, 2**70, *not_integers]:
        try:
            env.step(bad)
        except IllegalActionError as exc:
            _require(str(bad) in str(exc) or repr(bad) in str(exc), f"error does not name the action {bad!r}: {exc}")
        else:  # pragma: no cover - failure path
            raise AssertionError(f"illegal action {bad!r} was accepted")
    np.testing.assert_array_equal(base.action_masks(), obs["action_mask"].astype(bool), err_msg="state changed")
    legal = np.flatnonzero(obs["action_mask"])
    env.step(int(legal[0]))  # still usable


def check_contract(factory: EnvFactory, n_steps: int = 10_000) -> None:
    """Every check above (:func:`check_vector_sampling` too when ``factory`` is a registered id)."""
    check_gymnasium_api(factory)
    if isinstance(factory, str):
        check_vector_sampling(factory)
    check_determinism(factory)
    check_pickling(factory)
    check_illegal_action(factory)
    check_random_masked_steps(factory, n_steps=n_steps)
