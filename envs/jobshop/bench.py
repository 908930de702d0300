"""Speed of the job-shop env for ``schedgym-bench`` (one env, one process, full graph observation).

On ta01 (ft06 with ``quick=True``) under each schedule builder:

* ``env + random policy``: episodes/s and steps/s of ``env.step`` driven by a random masked policy
  (the policy's own cost included, as a user would run it);
* ``env only``: the same actions replayed without the policy (best of 3 replays);
* ``simulator only``: the same schedule built on :class:`~.state.JobShopState` alone (best of 3);
* ``observation share``: (env only - simulator only) / env only, the share of env time spent building
  observations, masks and ``info`` rather than simulating (clamped to [0, 1] against timing noise).

Peers (:func:`peer_rows`): JobShop-v0, JSSEnv 1.1.0 (``JSSEnv.envs.JssEnv``) and job_shop_lib's
``SingleJobShopGraphEnv`` on the same instance, in the same run, each driven by the same uniform random
masked policy (:func:`~schedgym.envs.benchmarking.masked_random_episodes`), in interleaved rounds so that
a change of machine load hits every env alike, and each env's episodes are replayed without the policy right
after it ran them. Each figure is given by the wall clock and by the process's CPU time: on a shared machine
the wall clock also counts waiting for a core, so the CPU-time ratios are the steadier ones. Each env is
used unwrapped (no Gymnasium wrappers) with its own mask: ``obs["action_mask"]`` for JobShop-v0 and JSSEnv
(whose mask includes its no-op action), ``info["available_operations_with_ids"]`` for job_shop_lib.
JobShop-v0 runs twice: as constructed by default (``copy_obs=True``: every observation a copy the caller owns,
written into the buffer of an earlier one that nothing references any more when there is one; see
:class:`~schedgym.envs.jobshop.env.RecyclingGraphObservation`) and with ``copy_obs=False`` (read-only live views,
as JSSEnv hands out its own live arrays; see :mod:`schedgym.envs.core`). The rows give episodes/s with the
policy and of the env alone (the recorded actions replayed), by wall clock and per CPU-second, steps per
episode, and the ratios JobShop-v0 / peer (with the policy by wall clock and CPU time, env alone by CPU
time). A peer that is not installed (or fails to import) gives one row saying it was skipped and why (value
NaN, shown as ``n/a``); install the peers with ``pip install 'schedgym[peers]'``.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..benchmarking import masked_random_episodes, replay_episodes, time_random_rollouts
from .env import JobShopEnv
from .family import resolve_instance
from .instance import JobShopInstance
from .state import JobShopState

JSSENV_VERSION = "1.1.0"  # the release the ratio is stated against


def jobshop_rows(instance: str, episodes: int, builder: str) -> list[dict[str, Any]]:
    """The rows of one instance and schedule builder."""
    env = JobShopEnv(instance=instance, schedule_builder=builder)
    trajectories, t_policy, t_env = time_random_rollouts(env, episodes)
    inst = env.fixed_instance
    m = inst.n_machines

    def simulate() -> float:
        t0 = time.perf_counter()
        for actions in trajectories:
            st = JobShopState(inst, builder)
            for a in actions:
                st.schedule(a // m, check=False)
        return time.perf_counter() - t0

    # best of 3 for the two replays whose difference is the observation share (one preemption of a
    # short run would otherwise swing it); the share is clamped to [0, 1], which only noise can leave
    t_env = min(t_env, *(replay_episodes(lambda ep: env.reset(seed=ep), env.step, trajectories).wall for _ in range(2)))
    t_sim = min(simulate() for _ in range(3))
    steps = episodes * inst.n_operations
    label = f"JobShop-v0 {inst.name} ({inst.n_jobs}x{m}, {builder})"
    share = min(1.0, max(0.0, (t_env - t_sim) / t_env)) if t_env > 0 else float("nan")
    return [
        {"benchmark": label, "measure": "env + random policy: episodes/s", "value": episodes / t_policy, "unit": "1/s"},
        {"benchmark": label, "measure": "env + random policy: steps/s", "value": steps / t_policy, "unit": "1/s"},
        {"benchmark": label, "measure": "env only: episodes/s", "value": episodes / t_env, "unit": "1/s"},
        {"benchmark": label, "measure": "simulator only: episodes/s", "value": episodes / t_sim, "unit": "1/s"},
        {"benchmark": label, "measure": "observation share of env time", "value": share, "unit": "%"},
    ]


# ----------------------------------------------------------------------------------------------- peers
@dataclass
class PeerEnv:
    """One environment behind the three callables the shared random-policy loop drives."""

    name: str
    reset: Callable[[int], tuple[Any, Any]]
    step: Callable[[Any], tuple[Any, float, bool, bool, Any]]
    legal: Callable[[Any, Any], Any]


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def _schedgym_peer(inst: JobShopInstance, copy_obs: bool) -> PeerEnv:
    env = JobShopEnv(instance=inst, copy_obs=copy_obs)
    name = "JobShop-v0" + ("" if copy_obs else " (copy_obs=False)")
    return PeerEnv(name, lambda ep: env.reset(seed=ep), env.step, lambda obs, info: obs["action_mask"].nonzero()[0])


def _jssenv_peer(inst: JobShopInstance, workdir: str) -> PeerEnv:
    from JSSEnv.envs import JssEnv  # the peer: pip install JSSEnv==1.1.0 (part of schedgym[peers])

    # JSSEnv reads the standard format: "n m", then one line per job of (machine duration) pairs
    path = os.path.join(workdir, inst.name or "instance")
    with open(path, "w") as f:
        f.write(f"{inst.n_jobs} {inst.n_machines}\n")
        for mach, dur in zip(inst.machines.tolist(), inst.durations.tolist()):
            f.write(" ".join(f"{a} {b}" for a, b in zip(mach, dur)) + "\n")
    env = JssEnv({"instance_path": path})
    return PeerEnv(f"JSSEnv {_version('JSSEnv')}", lambda ep: (env.reset(), {}), env.step,
                   lambda obs, info: obs["action_mask"].nonzero()[0])


def _job_shop_lib_peer(inst: JobShopInstance) -> PeerEnv:
    # the peer: pip install job-shop-lib (part of schedgym[peers])
    from job_shop_lib import JobShopInstance as JSLInstance
    from job_shop_lib.dispatching.feature_observers import FeatureObserverType as F
    from job_shop_lib.graphs import build_disjunctive_graph
    from job_shop_lib.reinforcement_learning import SingleJobShopGraphEnv

    jsl = JSLInstance.from_matrices(inst.durations.tolist(), inst.machines.tolist(), name=inst.name)
    # the disjunctive graph (as JobShop-v0's) with node features close to JobShop-v0's
    features = [F.DURATION, F.EARLIEST_START_TIME, F.IS_SCHEDULED, F.IS_READY, F.REMAINING_OPERATIONS]
    env = SingleJobShopGraphEnv(build_disjunctive_graph(jsl), features)

    def step(choice: tuple[int, int, int]) -> Any:  # (operation id, machine id, job id) -> (job, machine)
        return env.step((choice[2], choice[1]))

    return PeerEnv(f"job_shop_lib {_version('job-shop-lib')} SingleJobShopGraphEnv",
                   lambda ep: env.reset(seed=ep), step, lambda obs, info: info["available_operations_with_ids"])


def peer_rows(instance: str | JobShopInstance = "ta01", episodes: dict[str, int] | None = None, rounds: int = 25,
              peers: tuple[str, ...] = ("JSSEnv", "job_shop_lib"), seed: int = 0) -> list[dict[str, Any]]:
    """JobShop-v0 against JSSEnv and job_shop_lib on one instance (see the module docstring).

    ``episodes``: episodes per round of each env, keyed ``"schedgym"`` / ``"JSSEnv"`` / ``"job_shop_lib"``
    (defaults 10 / 1 / 1: about 10 ms each for JobShop-v0 and JSSEnv on ta01); ``rounds``: interleaved rounds,
    each env's episodes replayed (without the policy) right after it ran them. Figures are totals over the
    rounds. Short turns over many rounds keep the ratios steady on a loaded machine: a JSSEnv episode's CPU time
    varies by several percent with the load, and turns of 10 ms let the load change hit both envs alike (on
    2026-12-07, 2-core VM at load average 5.9-6.5, the two protocols in alternate runs, six each: JobShop-v0 /
    JSSEnv with the policy 9.9-10.7x with 5 rounds of 50 / 5 episodes, 10.3-10.7x with 25 rounds of 10 / 1)."""
    inst = resolve_instance(instance)
    counts = {"schedgym": 10, "JSSEnv": 1, "job_shop_lib": 1}
    counts.update(episodes or {})
    label = f"peers {inst.name} ({inst.n_jobs}x{inst.n_machines}), uniform random masked policy"
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="schedgym-peers-") as workdir:
        envs: list[tuple[str, PeerEnv]] = [("schedgym", _schedgym_peer(inst, True)),
                                           ("schedgym", _schedgym_peer(inst, False))]
        builders = {"JSSEnv": lambda: _jssenv_peer(inst, workdir), "job_shop_lib": lambda: _job_shop_lib_peer(inst)}
        for peer in peers:
            try:
                envs.append((peer, builders[peer]()))
            except Exception as exc:  # not installed, or an install that does not import (e.g. its own deps)
                why = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
                rows.append({"benchmark": label, "measure": f"{peer}: skipped ({why}; pip install 'schedgym[peers]')",
                             "value": float("nan"), "unit": ""})
        # per env: [policy wall, policy CPU, replay wall, replay CPU] seconds
        secs = {e.name: [0.0, 0.0, 0.0, 0.0] for _, e in envs}
        steps = {e.name: 0 for _, e in envs}
        done = {e.name: 0 for _, e in envs}
        for _, e in envs:  # warm-up (first-call costs, imports inside step)
            masked_random_episodes(e.reset, e.step, e.legal, 1, seed=seed + 1_000_003)
        for r in range(rounds):  # interleaved: a change of machine load hits every env alike
            for key, e in envs:
                n, first = counts[key], done[e.name]
                trajs, t, s = masked_random_episodes(e.reset, e.step, e.legal, n, seed=seed + r, first_episode=first)
                t_env = replay_episodes(e.reset, e.step, trajs, first_episode=first)
                for i, v in enumerate((t.wall, t.cpu, t_env.wall, t_env.cpu)):
                    secs[e.name][i] += v
                steps[e.name] += s
                done[e.name] += n
    # episodes per second of each clock: with the policy (wall, CPU), env alone (wall, CPU)
    rate = {name: [done[name] / max(v, 1e-12) for v in secs[name]] for name in secs}
    what = ("env + random policy: episodes/s", "env + random policy: episodes per CPU-second",
            "env only (replay): episodes/s", "env only (replay): episodes per CPU-second")
    for _, e in envs:
        n = e.name
        rows += [{"benchmark": label, "measure": f"{n}: {w}", "value": v, "unit": "1/s"} for w, v in zip(what, rate[n])]
        rows.append({"benchmark": label, "measure": f"{n}: steps per episode", "value": steps[n] / done[n], "unit": ""})
    ours = [e.name for key, e in envs if key == "schedgym"]
    ratios = (("episodes/s with the policy", 0), ("episodes per CPU-second with the policy", 1),
              ("episodes per CPU-second env only", 3))
    for _, e in [(k, e) for k, e in envs if k != "schedgym"]:
        for mine in ours:
            rows += [{"benchmark": label, "measure": f"ratio {mine} / {e.name}: {w}",
                      "value": rate[mine][i] / rate[e.name][i], "unit": "x"} for w, i in ratios]
    return rows


def bench_rows(quick: bool = False, instance: str | None = None, episodes: int | None = None,
               builders: tuple[str, ...] = ("nondelay", "active")) -> list[dict[str, Any]]:
    """Every row of the module docstring (``quick``: 3 episodes, one round of peers, for tests; ta01 comes
    from Taillard's generator, so nothing is downloaded)."""
    instance = instance or "ta01"
    episodes = episodes or (3 if quick else 200)
    rows = [row for builder in builders for row in jobshop_rows(instance, episodes, builder)]
    peer_counts = {"schedgym": 3, "JSSEnv": 2, "job_shop_lib": 1} if quick else None
    return rows + peer_rows(instance, episodes=peer_counts, rounds=1 if quick else 25)
