"""``agent.model.threads`` (issue 13, item 1): the ``micro_batch`` chunks of a gradient pass run forward and
backward in parallel worker threads (:mod:`schedgym.agents.gnn.threads`).

What is checked: the option is validated (an integer >= 1 that needs ``micro_batch`` below the PPO minibatch
and one torch thread) and left out of checkpoints; a threaded pass gives the one-thread logits and values bit
for bit and the parameter gradients to float rounding (summed in chunk order), on padded graphs, a short last
chunk and in bfloat16; an output the loss leaves unused gives no gradient, as in one thread; value passes
without gradients run in the threads too; the chunks really run on worker threads after the serial warm-up
passes, with the caller's torch thread count, on the CPU only; a seed fixes the result whatever order the
threads finish in (an event makes the first chunk finish last); parameter hooks and a second backward are
refused with clear errors; a forked child starts pools of its own; compiled kernels release the GIL (their
loaded sources say so), a failing kernel still raises instead of crashing, and an unknown torch template is
left alone; PPO trains with it on both backends. No test depends on wall-clock speed (the speed is a
``schedgym-bench`` row).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import warnings
from pathlib import Path

import gymnasium as gym
import pytest
import torch

import schedgym.envs  # noqa: F401 - registers the ids
from schedgym.agents.gnn import threads as threads_module
from schedgym.agents.gnn.checkpoint import load_checkpoint
from schedgym.agents.gnn.model import EXECUTION_OPTIONS, SERIAL_WARMUP_PASSES, GNNConfig, GraphActorCritic
from schedgym.envs.core import graph_spec_of
from schedgym.train.config import ConfigError, resolve_config

from random_play import gradient_pass, job_shop_states, padded_to, with_options  # tests/random_play.py


def _mixed_batch() -> dict[str, torch.Tensor]:
    """20 states of 6x5 job shops padded to the 8x6 layout, then 21 of 8x6 ones."""
    small = job_shop_states(20, 6, 5, seed=3)
    large = job_shop_states(21, 8, 6, seed=4)
    return {k: torch.cat([torch.nn.functional.pad(small[k], padded_to(small[k], large[k])), large[k]]) for k in small}


def _pass(module: GraphActorCritic, batch: dict[str, torch.Tensor]):
    """``(logits, values, parameter gradients)`` of :func:`gradient_pass`."""
    logits, _, value, grads = gradient_pass(module, batch)
    return logits, value, grads


def test_threads_is_checked_and_not_saved() -> None:
    assert GNNConfig.from_dict({"threads": 2, "micro_batch": 64}).threads == 2
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="agent.model.threads must be an integer >= 1"):
            GNNConfig(threads=bad, micro_batch=64)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="set agent.model.micro_batch too"):
        GNNConfig(threads=2)
    with pytest.raises(ConfigError, match="agent.model.micro_batch"):
        resolve_config("jobshop-small", ["agent.model.threads=2"])
    assert resolve_config("jobshop-small", ["agent.model.threads=2", "agent.model.micro_batch=64"]).agent.model.threads == 2
    with pytest.raises(ConfigError, match="is not below agent.ppo.batch_size=256"):
        resolve_config("jobshop-small", ["agent.model.threads=2", "agent.model.micro_batch=256"])
    with pytest.raises(ConfigError, match="set trainer.torch_threads=1"):
        resolve_config("jobshop-small", ["agent.model.threads=2", "agent.model.micro_batch=64", "trainer.torch_threads=2"])
    assert "threads" in EXECUTION_OPTIONS
    env = gym.make("schedgym/JobShop-v0", n_jobs=3, n_machines=3)
    module = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=8, n_layers=1, micro_batch=4, threads=2))
    extra = module.extra_state()
    assert "threads" not in extra["model"] and GraphActorCritic.rebuild(extra).config.threads == 1


@pytest.mark.parametrize("chunk,precision", [(7, "float32"), (20, "float32"), (7, "bfloat16")])
def test_threaded_passes_give_the_one_thread_outputs_and_gradients(chunk: int, precision: str, one_torch_thread) -> None:
    """The released policy on 41 padded states of two sizes, chunks of 7 (a short last chunk) and 20 (a last
    chunk of one graph), in float32 and in bfloat16 autocast (whose cast cache the threads must not share):
    the serial warm-up passes and the threaded ones after them give the one-thread logits and values bit for
    bit, and every parameter gradient to float rounding."""
    module, _ = load_checkpoint("jobshop-10x10")
    batch = _mixed_batch()
    one = with_options(module, micro_batch=chunk, precision=precision)
    threaded = with_options(module, micro_batch=chunk, threads=2, precision=precision)
    ref = _pass(one, batch)
    scale = max(float(g.abs().max()) for g in ref[2])
    for _ in range(SERIAL_WARMUP_PASSES + 2):
        got = _pass(threaded, batch)
        assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])
        for a, b in zip(got[2], ref[2]):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6 * scale)
    with torch.no_grad():  # passes without gradients (float32 whatever the precision): one thread, as before
        assert torch.equal(threaded(batch)[0], one(batch)[0])


def test_chunks_run_on_worker_threads_after_the_warm_up(one_torch_thread) -> None:
    env = gym.make("schedgym/JobShop-v0", n_jobs=4, n_machines=3)
    module = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=8, n_layers=1, micro_batch=3, threads=2))
    batch = job_shop_states(9, 4, 3, seed=0)
    seen: list[list[str]] = []
    original = module._logits_and_value

    def spy(obs):
        seen[-1].append(threading.current_thread().name)
        return original(obs)

    module._logits_and_value = spy  # type: ignore[method-assign]
    for _ in range(SERIAL_WARMUP_PASSES + 1):
        seen.append([])
        _pass(module, batch)
    main = threading.current_thread().name
    assert all(names == [main] * 3 for names in seen[:SERIAL_WARMUP_PASSES])
    assert len(seen[-1]) == 3 and all(name.startswith("schedgym-chunks2") for name in seen[-1])


def test_value_passes_without_gradients_run_their_chunks_in_threads(one_torch_thread) -> None:
    """RLlib's value pass over a train batch (no gradients, ``value``): the one-thread values bit for bit, from
    chunks computed on the worker threads."""
    module, _ = load_checkpoint("jobshop-10x10")
    batch = _mixed_batch()
    threaded = with_options(module, micro_batch=8, threads=2)
    names: list[str] = []
    original = threaded._value

    def spy(obs):
        names.append(threading.current_thread().name)
        return original(obs)

    threaded._value = spy  # type: ignore[method-assign]
    with torch.no_grad():
        got = threaded.value(batch)
        ref = with_options(module, micro_batch=8).value(batch)
    assert torch.equal(got, ref)
    assert len(names) == 6 and all(name.startswith("schedgym-chunks2") for name in names)


def test_a_seed_fixes_the_threaded_result_whatever_the_thread_order(monkeypatch, one_torch_thread) -> None:
    """Ten Adam steps with threads, twice, the second time with the first chunk's backward held until the
    second chunk's gradients are in, so that the first chunk's come in last (checked): the same weights bit for
    bit, since they are summed in chunk order. No timing: an event orders the two."""
    batch = job_shop_states(24, 4, 4, seed=1)
    env = gym.make("schedgym/JobShop-v0", n_jobs=4, n_machines=4)
    first_chunk = batch["n_nodes"].data_ptr()  # chunks are views: the first one starts where the batch does
    finished: list[int] = []
    first_outputs: list[torch.Tensor] = []
    second_done = threading.Event()
    original_grad = torch.autograd.grad

    def recording_grad(outputs, *args, **kwargs):
        grads = original_grad(outputs, *args, **kwargs)
        first = any(o is first_outputs[-1] for o in outputs)
        finished.append(0 if first else 1)
        if not first:
            second_done.set()
        return grads

    def hold_until_second_done(grad: torch.Tensor) -> torch.Tensor:
        if threading.current_thread().name.startswith("schedgym-chunks"):  # not in the serial warm-up passes
            assert second_done.wait(timeout=120), "the second chunk's backward never finished"
        return grad

    monkeypatch.setattr(torch.autograd, "grad", recording_grad)

    def train(delay_first: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        module = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=16, n_layers=2, micro_batch=12,
                                                                                  threads=2))
        original = module._logits_and_value

        def watched(obs):
            logits, value = original(obs)
            if obs["n_nodes"].data_ptr() == first_chunk:
                first_outputs.append(logits)
                if delay_first:
                    logits.register_hook(hold_until_second_done)
            return logits, value

        module._logits_and_value = watched  # type: ignore[method-assign]
        opt = torch.optim.Adam(module.parameters(), lr=1e-2)
        for step in range(10):
            finished.clear()
            second_done.clear()
            _pass(module, batch)
            opt.step()
            if delay_first and step >= SERIAL_WARMUP_PASSES:
                assert finished == [1, 0]  # the first chunk's gradients came in last
        return [p.detach().clone() for p in module.parameters()]

    a, b = train(False), train(True)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_an_output_the_loss_does_not_use_gives_no_gradient(one_torch_thread) -> None:
    """A loss of the logits alone: the critic's parameters get no gradient (None), as in one thread, and the
    others the one-thread gradients to float rounding."""
    module, _ = load_checkpoint("jobshop-10x10")
    batch = _mixed_batch()

    def actor_only(m: GraphActorCritic) -> list[torch.Tensor | None]:
        m.zero_grad(set_to_none=True)
        logits, _ = m(batch)
        torch.log_softmax(logits, -1)[batch["action_mask"].bool()].sum().backward()
        return [None if p.grad is None else p.grad.clone() for p in m.parameters()]

    ref = actor_only(with_options(module, micro_batch=8))
    threaded = with_options(module, micro_batch=8, threads=2)
    for _ in range(SERIAL_WARMUP_PASSES + 1):
        got = actor_only(threaded)
        assert [g is None for g in got] == [g is None for g in ref] and any(g is None for g in ref)
        for a, b in zip(got, ref):
            if b is not None:
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_workers_take_the_callers_torch_thread_count(one_torch_thread) -> None:
    """A pool whose workers first ran under 2 torch threads: a later pass under 1 gives the one-thread values
    bit for bit (each task sets its worker's count)."""
    module, _ = load_checkpoint("jobshop-10x10")
    batch = _mixed_batch()
    threaded = with_options(module, micro_batch=8, threads=3)  # a pool of its own, made now
    torch.set_num_threads(2)
    try:
        for _ in range(SERIAL_WARMUP_PASSES + 1):
            _pass(threaded, batch)
    finally:
        torch.set_num_threads(1)
    seen: list[int] = []
    original = threaded._logits_and_value

    def counting(obs):
        seen.append(torch.get_num_threads())
        return original(obs)

    threaded._logits_and_value = counting  # type: ignore[method-assign]
    got = _pass(threaded, batch)
    ref = _pass(with_options(module, micro_batch=8), batch)
    assert seen and set(seen) == {1}
    assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])


def test_threads_only_on_the_cpu(one_torch_thread) -> None:
    """On another device the chunks run one after the other (one thread feeds a GPU): ``_in_threads`` reads
    the observations' device."""
    env = gym.make("schedgym/JobShop-v0", n_jobs=3, n_machines=3)
    module = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=8, n_layers=1, micro_batch=2, threads=2))
    batch = job_shop_states(4, 3, 3, seed=0)
    assert module._in_threads(batch)
    on_meta = {k: v.to("meta") for k, v in batch.items()}
    assert not module._in_threads(on_meta)
    assert not GraphActorCritic(module.spec, GNNConfig(hidden=8, n_layers=1, micro_batch=2))._in_threads(batch)


def test_parameter_gradient_hooks_are_refused(one_torch_thread) -> None:
    """A hook on a parameter would run once per chunk and again on the sum: refused, naming the way out."""
    env = gym.make("schedgym/JobShop-v0", n_jobs=3, n_machines=3)
    module = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=8, n_layers=1, micro_batch=2, threads=2))
    batch = job_shop_states(4, 3, 3, seed=0)
    handle = module.actor[0].weight.register_hook(lambda g: g * 2)
    with pytest.raises(RuntimeError, match="gradient hooks .* use threads=1"):
        module(batch)
    handle.remove()
    module(batch)[1].sum().backward()  # without the hook it runs


def _threaded_logits_in_child(batch: dict[str, torch.Tensor], state: dict[str, torch.Tensor], queue) -> None:
    env = gym.make("schedgym/JobShop-v0", n_jobs=4, n_machines=3)
    module = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=8, n_layers=1, micro_batch=3, threads=2))
    module.load_state_dict(state)
    module._passes_in_threads = SERIAL_WARMUP_PASSES  # straight to the worker threads
    logits, _ = module(batch)
    queue.put(logits.detach().numpy())  # an array: a tensor would travel as shared memory the child takes along


def test_a_forked_child_runs_threaded_passes_with_pools_of_its_own(one_torch_thread) -> None:
    """The parent's pool exists (it ran a threaded pass) when a child is forked: the child, which has none of
    the parent's worker threads, starts its own and gets the parent's logits."""
    import multiprocessing

    env = gym.make("schedgym/JobShop-v0", n_jobs=4, n_machines=3)
    module = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=8, n_layers=1, micro_batch=3, threads=2))
    module._passes_in_threads = SERIAL_WARMUP_PASSES
    batch = job_shop_states(9, 4, 3, seed=0)
    ref, _ = module(batch)
    assert 2 in threads_module._POOLS
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_threaded_logits_in_child, args=(batch, module.state_dict(), queue))
    child.start()
    got = queue.get(timeout=300)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert torch.equal(torch.from_numpy(got), ref.detach())


def test_a_second_backward_through_one_threaded_pass_is_refused(one_torch_thread) -> None:
    env = gym.make("schedgym/JobShop-v0", n_jobs=3, n_machines=3)
    module = GraphActorCritic(graph_spec_of(env.observation_space), GNNConfig(hidden=8, n_layers=1, micro_batch=2, threads=2))
    batch = job_shop_states(4, 3, 3, seed=0)
    logits, value = module(batch)
    loss = value.sum() + logits.clamp(min=-10).sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="agent.model.threads: this pass's backward ran twice"):
        loss.backward()


def test_release_gil_patch_applies_once_and_leaves_an_unknown_template_alone(monkeypatch) -> None:
    from torch._inductor.codecache import CppPythonBindingsCodeCache as bindings

    monkeypatch.setattr(bindings, "call_entry_function", threads_module._KERNEL_CALL_HOLDING_GIL)
    monkeypatch.setattr(bindings, "suffix_template", "#include <sstream>\n{entry_func}")
    assert threads_module.release_gil_in_compiled_kernels()
    assert bindings.call_entry_function == threads_module._KERNEL_CALL_RELEASING_GIL
    assert "PyEval_SaveThread" in bindings.call_entry_function and "#include <tuple>" in bindings.suffix_template
    assert threads_module.release_gil_in_compiled_kernels()  # idempotent
    assert bindings.suffix_template.count("#include <tuple>") == 1
    monkeypatch.setattr(bindings, "call_entry_function", "run_kernel({}); Py_RETURN_NONE;")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not threads_module.release_gil_in_compiled_kernels()  # a compile=true run without threads: silent
    with pytest.warns(RuntimeWarning, match="cannot be made to release the GIL"):
        assert not threads_module.release_gil_in_compiled_kernels(warn=True)
    assert bindings.call_entry_function == "run_kernel({}); Py_RETURN_NONE;"


def test_compiled_threaded_pass_agrees_with_the_compiled_one_thread_pass(one_torch_thread) -> None:
    """A real ``torch.compile`` with kernels that release the GIL, chunks on two threads: the one-thread
    compiled logits and values bit for bit, gradients to float rounding, and the binding template really
    changed once the model had compiled (whatever its ``threads``)."""
    from torch._inductor.codecache import CppPythonBindingsCodeCache as bindings

    module, _ = load_checkpoint("jobshop-10x10")
    batch = job_shop_states(24, 6, 6, seed=2)
    one = with_options(module, compile=True, micro_batch=8)
    ref = _pass(one, batch)
    assert not getattr(one, "_compile_failed", False)
    assert bindings.call_entry_function == threads_module._KERNEL_CALL_RELEASING_GIL  # before the first compile
    threaded = with_options(module, compile=True, micro_batch=8, threads=2)
    scale = max(float(g.abs().max()) for g in ref[2])
    for _ in range(SERIAL_WARMUP_PASSES + 1):
        got = _pass(threaded, batch)
        assert not getattr(threaded, "_compile_failed", False)
        assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])
        for a, b in zip(got[2], ref[2]):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6 * scale)
    # the kernels loaded in this process were built from the GIL-releasing binding
    loaded = [Path(sys.modules[name].__file__).with_suffix(".cpp")
              for name in bindings._loaded_module_names if name in sys.modules]
    sources = [path.read_text() for path in loaded if path.is_file()]
    assert sources and all("GilReleased" in source for source in sources)


_OUT_OF_RANGE_INDEX = """
import torch
torch.set_num_threads(1)
from schedgym.agents.gnn.model import compiled_gin_layer
layer = compiled_gin_layer()
h, n, e = 8, 20, 30
g = torch.Generator().manual_seed(0)
def args(bad):
    src = torch.randint(0, n, (e,), generator=g)
    if bad:
        src[3] = n + 5
    p = lambda *shape: torch.randn(*shape, generator=g, requires_grad=True)
    return (p(n, h), src, torch.randint(0, n, (e,), generator=g), torch.randint(0, 4, (e,), generator=g), p(4, h),
            p(h, h), p(h), p(1), p(h, h), p(h), p(h, h), p(h), p(h), p(h), "relu", 1e-5)
layer(*args(False)).sum().backward()
try:
    layer(*args(True)).sum().backward()
    print("no error")
except RuntimeError as exc:
    print("RuntimeError:", str(exc).splitlines()[0])
"""


def test_a_compiled_kernel_that_fails_raises_instead_of_crashing(tmp_path: Path) -> None:
    """An edge index out of range makes the compiled kernel's bounds check throw while the GIL is released: the
    binding takes the GIL back and raises a RuntimeError naming the bad index, as torch's own binding does
    (releasing it with Py_BEGIN/END_ALLOW_THREADS crashed the process). In a subprocess: a crash must not take
    the test session down."""
    script = tmp_path / "out_of_range.py"
    script.write_text(_OUT_OF_RANGE_INDEX)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "RuntimeError:" in done.stdout and "index out of bounds" in done.stdout, done.stdout


@pytest.mark.parametrize("backend,twice", [("sb3", True), ("rllib", False),
                                           pytest.param("rllib", True, marks=pytest.mark.slow)])
def test_ppo_trains_with_threads(backend: str, twice: bool, tmp_path: Path, monkeypatch) -> None:
    """A tiny real PPO run with 16-graph chunks of its 64-sample minibatches on two threads, on each backend:
    the chunks ran on worker threads, the checkpoint leaves the option out and loads, and (``twice``: on RLlib
    a slow test) the same seed gives the same weights."""
    if backend == "rllib":
        pytest.importorskip("ray")
    from schedgym.train.cli import train

    workers: set[str] = set()
    original = GraphActorCritic._logits_and_value

    def spy(self, obs):
        workers.add(threading.current_thread().name)
        return original(self, obs)

    monkeypatch.setattr(GraphActorCritic, "_logits_and_value", spy)

    def run(name: str) -> dict[str, torch.Tensor]:
        over = [f"backend={backend}", "env=jobshop-3x3", f"run_dir={tmp_path / name}", "trainer.total_steps=256",
                "trainer.n_envs=2", "trainer.vec_env=dummy", "trainer.eval_every=0", "trainer.checkpoint_every=256",
                "trainer.progress_bar=false", "agent.ppo.n_steps=64", "agent.ppo.batch_size=64", "agent.ppo.n_epochs=2",
                "agent.model.hidden=16", "agent.model.n_layers=2", "agent.model.head_hidden=16",
                "agent.model.micro_batch=16", "agent.model.threads=2", "val.seeds=[0]", "val.baselines=[]",
                "trainer.torch_threads=1"]
        if backend == "rllib":
            over += ["rllib.num_env_runners=0", "rllib.num_envs_per_env_runner=2", "rllib.num_cpus=1"]
        train(resolve_config("jobshop-small", over), tmp_path / name, resume=False)
        module, meta = load_checkpoint(str(tmp_path / name / "last.pt"))
        assert "threads" not in meta["module"]["model"] and module.config.threads == 1
        return {k: v.clone() for k, v in module.state_dict().items()}

    first = run("a")
    assert any(name.startswith("schedgym-chunks2") for name in workers)
    if twice:
        second = run("b")
        assert all(torch.equal(first[k], second[k]) for k in first)
