"""``agent.model.compile`` in passes without gradients (sampling, evaluation, best-of-k rollouts): the whole
forward of a chunk compiled (:func:`schedgym.agents.gnn.model.compiled_inference`), and the ``gnn:...#compile``
policy option. Where it applies and where not, its fallback when compiling fails, and a real compile of a
small module: the eager function to float rounding, repeatable bit for bit, the same best-of-k schedule. No
test here depends on wall-clock speed (docs/training.md has the timings)."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch

import schedgym.envs  # noqa: F401 - registers the ids
import schedgym.agents.gnn.model as model_module
from schedgym.agents.gnn.model import GNNConfig, GraphActorCritic
from schedgym.envs.core import graph_spec_of

from random_play import job_shop_states, with_options


def _module(**options) -> GraphActorCritic:
    torch.manual_seed(7)
    env = gym.make("schedgym/JobShop-v0", n_jobs=4, n_machines=3)
    return GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=16, n_layers=2, **options))


class _Recorder:
    """A stand-in for the compiled pass: the eager method, and a record of the calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, name: str):
        def run(module, obs):
            self.calls.append(name)
            return getattr(GraphActorCritic, name)(module, obs)
        return run


def test_the_compiled_pass_serves_passes_without_gradients_only(monkeypatch, one_torch_thread) -> None:
    recorder = _Recorder()
    monkeypatch.setattr(model_module, "compiled_inference", recorder)
    monkeypatch.setattr(model_module, "compiled_gin_layer", lambda: None)  # gradient passes eager: no compiling here
    batch = job_shop_states(6, n_jobs=4, n_machines=3)
    module = _module(compile=True)
    with torch.no_grad():
        module(batch)
        module.value(batch)
    assert recorder.calls == ["_logits_and_value", "_value"]
    chunked = with_options(module, micro_batch=4)  # 6 graphs: chunks of 4 and 2, each compiled
    with torch.no_grad():
        chunked(batch)
        chunked.value(batch)
    assert recorder.calls[2:] == ["_logits_and_value"] * 2 + ["_value"] * 2
    recorder.calls.clear()
    module(batch)  # gradients on: the compiled GIN layers' business, not this pass
    with torch.no_grad():
        _module()(batch)  # compile off
        torch.set_num_threads(2)  # more torch threads: compiled kernels add in no fixed order
        module(batch)
        torch.set_num_threads(1)
        with_options(module, threads=2, micro_batch=4).value(batch)  # the value chunks in threads stay eager
    assert recorder.calls == []


def test_a_compiler_failure_warns_once_and_runs_eagerly(monkeypatch, one_torch_thread) -> None:
    def broken(name):
        def run(module, obs):
            raise RuntimeError("no C++ compiler")
        return run

    real_compiled_inference = model_module.compiled_inference
    monkeypatch.setattr(model_module, "compiled_inference", broken)
    monkeypatch.setattr(model_module, "_INFERENCE_COMPILE_FAILED", False)  # restored after the test
    batch = job_shop_states(5, n_jobs=4, n_machines=3)
    eager = _module()
    compiled = with_options(eager, compile=True)
    with torch.no_grad():
        with pytest.raises(KeyError):  # an input the eager pass refuses too: its own error, compiling stays on
            compiled({k: v for k, v in batch.items() if k != "nodes"})
        assert not compiled._inference_compile_failed
        with pytest.warns(RuntimeWarning, match="torch.compile failed in a pass without gradients"):
            got = compiled(batch)
        ref = eager(batch)
        assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            assert torch.equal(compiled.value(batch), eager.value(batch))  # no second try, no second warning
        assert model_module._INFERENCE_COMPILE_FAILED  # the compiler is the process's: other modules skip it
        assert real_compiled_inference("_value") is None


def test_gnn_policy_compile_option(monkeypatch, one_torch_thread, tmp_path) -> None:
    """``gnn:<ckpt>#compile`` compiles the loaded module's passes (an execution option, off by default); an
    in-memory module keeps its own setting; unknown options are still refused, naming the known ones."""
    from schedgym.agents import make_policy
    from schedgym.agents.gnn.checkpoint import save_checkpoint
    from schedgym.agents.gnn.policy import GNNPolicy

    recorder = _Recorder()
    monkeypatch.setattr(model_module, "compiled_inference", recorder)
    module = _module()
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, module, env_id="schedgym/JobShop-v0", env_kwargs={"n_jobs": 4, "n_machines": 3},
                    policy_env_kwargs={}, backend="sb3", timesteps=0)
    assert make_policy(f"gnn:{path}").module.config.compile is False
    policy = make_policy(f"gnn:{path}#k=3&compile")
    assert policy.module.config.compile is True and policy.k == 3
    assert make_policy(f"gnn:{path}#compile=false").module.config.compile is False
    env = gym.make("schedgym/JobShop-v0", n_jobs=4, n_machines=3).unwrapped
    env.reset(seed=1)
    policy.reset(env, seed=1)
    assert recorder.calls and set(recorder.calls) == {"_logits_and_value"}
    with pytest.warns(RuntimeWarning, match="in-memory module keeps its own"):
        GNNPolicy(module=module, compile=True)
    assert module.config.compile is False
    with pytest.warns(RuntimeWarning, match="threads=2: compiled passes run with one torch thread"):
        make_policy(f"gnn:{path}#compile&threads=2")
    torch.set_num_threads(1)
    gat = GraphActorCritic(module.spec, GNNConfig(hidden=16, n_layers=1, conv="gatv2"))
    gat_path = save_checkpoint(tmp_path / "gat.pt", gat, env_id="schedgym/JobShop-v0", env_kwargs={},
                               policy_env_kwargs={}, backend="sb3", timesteps=0)
    with pytest.warns(RuntimeWarning, match="not GIN"):
        make_policy(f"gnn:{gat_path}#compile")
    with pytest.raises(ValueError, match="known options are sample, k, threads, compile"):
        make_policy(f"gnn:{path}#fast")


def test_observations_reach_the_compiled_pass_in_one_form() -> None:
    """SB3's float32 batches, an env's own dtypes and chunk views all become the same dtypes at offset 0 (one
    compiled variant for all), the values unchanged."""
    from schedgym.agents.gnn.model import canonical_observation

    sb3 = job_shop_states(6, n_jobs=4, n_machines=3)
    native = {k: (v.bool() if k == "action_mask" else v.long() if k not in ("nodes", "globals") else v)
              for k, v in sb3.items()}
    chunk = {k: v[2:5] for k, v in sb3.items()}
    forms = [canonical_observation(obs) for obs in (sb3, native, chunk)]
    for form in forms:
        assert {k: v.dtype for k, v in form.items()} == {k: v.dtype for k, v in forms[0].items()}
        assert all(v._base is None and v.storage_offset() == 0 and v.is_contiguous() for v in form.values())
    assert forms[0]["edge_index"].dtype == torch.long and forms[0]["action_mask"].dtype == torch.bool
    assert all(torch.equal(forms[0][k], forms[1][k]) for k in forms[0])
    assert all(torch.equal(forms[2][k], forms[0][k][2:5]) for k in forms[0])


def _assert_compiled_is_eager(eager: GraphActorCritic, compiled: GraphActorCritic, batch) -> None:
    """Logits and values to 1e-5, the same greedy actions where the top two logits are apart, bit for bit on a
    second call."""
    with torch.no_grad():
        ref = eager(batch)
        got = compiled(batch)
        again = compiled(batch)
    assert not compiled._inference_compile_failed
    assert torch.equal(got[0], again[0]) and torch.equal(got[1], again[1])
    torch.testing.assert_close(got[0], ref[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got[1], ref[1], rtol=1e-5, atol=1e-5)
    top2 = ref[0].topk(2, dim=-1).values
    apart = (top2[:, 0] - top2[:, 1]) > 1e-4
    assert torch.equal(got[0].argmax(-1)[apart], ref[0].argmax(-1)[apart])


def test_a_real_compile_is_the_eager_function(one_torch_thread) -> None:
    """A real ``torch.compile`` of a small module (seconds to a minute the first time in a process), on batches
    of 3 and 8 graphs, as views and in an env's own dtypes, and by a second module: one compiled variant serves
    them all (a process compiles one per kind of pass, not one per caller: dynamo's cache per function is
    small, and past it passes silently run eagerly)."""
    from torch._dynamo.eval_frame import _debug_get_cache_entry_list

    eager = _module()
    compiled = with_options(eager, compile=True)
    states = job_shop_states(11, n_jobs=4, n_machines=3, seed=3)
    native = {k: (v.bool() if k == "action_mask" else v.long() if k not in ("nodes", "globals") else v)
              for k, v in states.items()}
    for obs in (states, native):
        for rows in (slice(0, 3), slice(3, 11)):
            _assert_compiled_is_eager(eager, compiled, {k: v[rows] for k, v in obs.items()})
    _assert_compiled_is_eager(eager, with_options(compiled), {k: v[2:9] for k, v in states.items()})
    assert len(_debug_get_cache_entry_list(GraphActorCritic._logits_and_value.__code__)) == 1


@pytest.mark.slow
def test_a_real_compile_is_the_eager_function_everywhere(one_torch_thread) -> None:
    """The other shapes and passes: one graph (sizes 1 are specialized), chunks, the value pass, and best of 4
    on a 6x4 job shop through the policy (the env's own dtypes) gives the eager schedule."""
    from schedgym.agents.gnn.policy import GNNPolicy

    eager = _module()
    compiled = with_options(eager, compile=True)
    states = job_shop_states(12, n_jobs=4, n_machines=3, seed=4)
    _assert_compiled_is_eager(eager, compiled, {k: v[:1] for k, v in states.items()})
    _assert_compiled_is_eager(eager, with_options(compiled, micro_batch=5), states)
    with torch.no_grad():
        torch.testing.assert_close(compiled.value(states), eager.value(states), rtol=1e-5, atol=1e-5)
    schedules = []
    for module in (eager, compiled):
        env = gym.make("schedgym/JobShop-v0", n_jobs=6, n_machines=4).unwrapped
        env.reset(seed=5)
        policy = GNNPolicy(module=module, k=4)
        policy.reset(env, seed=5)
        schedules.append(policy.episode_extra)
    assert schedules[0] == schedules[1]
