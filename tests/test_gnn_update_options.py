"""The PPO-update execution options of the GNN (issue 13, item 1): ``agent.model.precision="bfloat16"`` (the
encoder of gradient passes under bfloat16 autocast, everything else float32) and ``agent.model.micro_batch``
(forward passes in chunks of graphs).

``micro_batch``: chunked passes give the unchunked outputs and gradients to float rounding, in every
layout (a last chunk shorter than the others, padded graphs); the learner's value pass is chunked by default
on RLlib. ``precision``, what is checked: the option is validated and recorded as ``"float32"`` in checkpoints; passes without
gradients (sampling, evaluation) compute the float32 function bit for bit; a gradient pass returns float32
logits, values and parameter gradients that agree with float32 to bfloat16 rounding (log-probabilities of the
released job-shop policy on real 10x10 states within 0.05, gradient directions within a few degrees); the
matrix products of that pass really run in bfloat16; PPO trains with it on both backends, deterministically
given a seed. No test depends on wall-clock speed (the speed is a ``schedgym-bench`` row).
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest
import torch

import schedgym.envs  # noqa: F401 - registers the ids
from schedgym.agents.gnn.checkpoint import load_checkpoint
from schedgym.agents.gnn.model import EXECUTION_OPTIONS, GNNConfig, GraphActorCritic
from schedgym.envs.core import graph_spec_of
from schedgym.train.config import resolve_config

from random_play import gradient_pass, job_shop_states, padded_to, with_options  # tests/random_play.py


def test_precision_is_checked_and_recorded_as_float32() -> None:
    assert GNNConfig.from_dict({"precision": "bfloat16"}).precision == "bfloat16"
    with pytest.raises(ValueError, match="agent.model.precision must be one of"):
        GNNConfig(precision="float16")
    assert "precision" in EXECUTION_OPTIONS and "compile" in EXECUTION_OPTIONS
    batch = job_shop_states(1, 3, 3)
    module = GraphActorCritic(graph_spec_of(gym.make("schedgym/JobShop-v0", n_jobs=3, n_machines=3).observation_space),
                              GNNConfig(hidden=8, n_layers=1, precision="bfloat16"))
    extra = module.extra_state()
    assert "precision" not in extra["model"]  # left out: a checkpoint loads (and evaluates) in float32
    assert GraphActorCritic.rebuild(extra).config.precision == "float32"
    from schedgym.train.config import ConfigError

    with pytest.raises(ConfigError, match="agent.model.precision must be one of"):
        resolve_config("jobshop-small", ["agent.model.precision=half"])
    assert module(batch)[0].dtype == torch.float32


def test_passes_without_gradients_are_the_float32_function_bit_for_bit() -> None:
    module, _ = load_checkpoint("jobshop-10x10")
    bf16 = with_options(module, precision="bfloat16")
    batch = job_shop_states(16)
    with torch.no_grad():
        ref_logits, ref_value = module(batch)
        logits, value = bf16(batch)
        assert torch.equal(logits, ref_logits) and torch.equal(value, ref_value)
        assert torch.equal(bf16.value(batch), module.value(batch))


def test_gradient_pass_agrees_with_float32_to_bfloat16_rounding() -> None:
    """The released policy on 256 random 10x10 states: the update's log-probabilities stay within PPO's clip."""
    module, _ = load_checkpoint("jobshop-10x10")
    bf16 = with_options(module, precision="bfloat16")
    batch = job_shop_states(256, seed=1)
    ref = gradient_pass(module, batch)
    got = gradient_pass(bf16, batch)
    assert got[0].dtype == torch.float32 and got[2].dtype == torch.float32
    assert all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in got[3])
    legal = batch["action_mask"].bool()
    delta = (got[1][legal] - ref[1][legal]).abs()
    assert float(delta.mean()) < 0.01 and float(delta.max()) < 0.05
    assert float(delta.max()) > 0  # the bfloat16 path did run: it is not the float32 function
    torch.testing.assert_close(got[2], ref[2], rtol=0.02, atol=0.02)
    flat_ref = torch.cat([g.flatten() for g in ref[3]])
    flat_got = torch.cat([g.flatten() for g in got[3]])
    assert float(torch.nn.functional.cosine_similarity(flat_ref, flat_got, dim=0)) > 0.99


def test_gradient_pass_runs_the_encoders_matrix_products_in_bfloat16() -> None:
    """The message-passing layers' ``mm``/``addmm`` see bfloat16 operands (a dispatch-level count)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class MatmulDtypes(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[torch.dtype] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.overloadpacket in (torch.ops.aten.mm, torch.ops.aten.addmm):
                self.seen.append(args[-1].dtype)
            return func(*args, **(kwargs or {}))

    module, _ = load_checkpoint("jobshop-10x10")
    batch = job_shop_states(4)
    for precision, expect_bf16 in (("float32", False), ("bfloat16", True)):
        mode = MatmulDtypes()
        with mode:
            with_options(module, precision=precision)(batch)
        n_bf16 = mode.seen.count(torch.bfloat16)
        # the encoder: input projection + 2 Linear per GIN layer; the heads stay float32
        assert (n_bf16 >= 1 + 2 * module.config.n_layers) if expect_bf16 else n_bf16 == 0, (precision, mode.seen)
        assert torch.float32 in mode.seen


def test_micro_batch_is_checked_and_recorded_as_zero() -> None:
    assert GNNConfig.from_dict({"micro_batch": 64}).micro_batch == 64
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="agent.model.micro_batch must be an integer >= 0"):
            GNNConfig(micro_batch=bad)  # type: ignore[arg-type]
    from schedgym.train.config import ConfigError

    with pytest.raises(ConfigError, match="micro_batch"):
        resolve_config("jobshop-small", ["agent.model.micro_batch=-3"])
    assert "micro_batch" in EXECUTION_OPTIONS
    module = GraphActorCritic(graph_spec_of(gym.make("schedgym/JobShop-v0", n_jobs=3, n_machines=3).observation_space),
                              GNNConfig(hidden=8, n_layers=1, micro_batch=16))
    extra = module.extra_state()
    assert "micro_batch" not in extra["model"] and GraphActorCritic.rebuild(extra).config.micro_batch == 0


@pytest.mark.parametrize("chunk", [1, 7, 39])
def test_micro_batches_give_the_whole_batch_outputs_and_gradients(chunk: int) -> None:
    """The released policy on 40 states of mixed sizes (padded graphs), chunks of 1, 7 (a short last chunk)
    and 39 (a last chunk of one graph): logits, values and every parameter gradient to float rounding; no-grad passes and
    ``value`` too."""
    module, _ = load_checkpoint("jobshop-10x10")
    small = job_shop_states(20, 6, 5, seed=3)
    large = job_shop_states(20, 8, 6, seed=4)
    batch = {k: torch.cat([torch.nn.functional.pad(small[k], padded_to(small[k], large[k])), large[k]]) for k in small}
    chunked = with_options(module, micro_batch=chunk)
    ref = gradient_pass(module, batch)
    got = gradient_pass(chunked, batch)
    torch.testing.assert_close(got[0].detach(), ref[0].detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got[2], ref[2], rtol=1e-5, atol=1e-5)
    scale = max(float(g.abs().max()) for g in ref[3])
    for a, b in zip(got[3], ref[3]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * scale)
    with torch.no_grad():
        torch.testing.assert_close(chunked.value(batch), module.value(batch), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(module.value(batch, micro_batch=chunk), module.value(batch), rtol=1e-5, atol=1e-5)


def test_rllib_value_pass_runs_in_chunks() -> None:
    pytest.importorskip("ray")
    from schedgym.agents.gnn import rllib as gnn_rllib

    module, _ = load_checkpoint("jobshop-10x10")
    seen: list[int] = []
    original = module._value

    def spy(obs):
        seen.append(int(len(obs["n_nodes"])))
        return original(obs)

    module._value = spy  # type: ignore[method-assign]
    batch = job_shop_states(2 * gnn_rllib.VALUE_PASS_CHUNK + 5, 4, 4)
    from types import SimpleNamespace

    from ray.rllib.core.columns import Columns

    # the learner's GAE connector calls compute_values without embeddings; it reads only ``self.gnn``
    values = gnn_rllib.GNNTorchRLModule.compute_values(SimpleNamespace(gnn=module), {Columns.OBS: batch})
    assert seen == [gnn_rllib.VALUE_PASS_CHUNK, gnn_rllib.VALUE_PASS_CHUNK, 5]
    with torch.no_grad():
        torch.testing.assert_close(values, original(batch), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", ["sb3", "rllib"])
def test_ppo_trains_in_bfloat16_with_micro_batches(backend: str, tmp_path: Path, monkeypatch) -> None:
    """A tiny real PPO run with ``agent.model.precision=bfloat16`` and 16-graph micro-batches of its 64-sample
    minibatches on each backend writes a float32 checkpoint that records neither option, and a float32 run of that seed other weights (the update really ran in bfloat16); on SB3
    the same seed gives the same weights."""
    if backend == "rllib":
        pytest.importorskip("ray")
    from schedgym.train.cli import train

    def run(name: str, precision: str = "bfloat16", micro_batch: int = 16) -> dict[str, torch.Tensor]:
        over = [f"backend={backend}", "env=jobshop-3x3", f"run_dir={tmp_path / name}", "trainer.total_steps=256",
                "trainer.n_envs=2", "trainer.vec_env=dummy", "trainer.eval_every=0", "trainer.checkpoint_every=256",
                "trainer.progress_bar=false", "agent.ppo.n_steps=64", "agent.ppo.batch_size=64", "agent.ppo.n_epochs=2",
                "agent.model.hidden=16", "agent.model.n_layers=2", "agent.model.head_hidden=16",
                f"agent.model.precision={precision}", f"agent.model.micro_batch={micro_batch}", "val.seeds=[0]", "val.baselines=[]", "trainer.torch_threads=1"]
        if backend == "rllib":
            over += ["rllib.num_env_runners=0", "rllib.num_envs_per_env_runner=2", "rllib.num_cpus=1"]
        train(resolve_config("jobshop-small", over), tmp_path / name, resume=False)
        module, meta = load_checkpoint(str(tmp_path / name / "last.pt"))
        assert "precision" not in meta["module"]["model"] and "micro_batch" not in meta["module"]["model"]
        return {k: v.clone() for k, v in module.state_dict().items()}

    chunked: list[tuple[int, int]] = []
    original = GraphActorCritic._chunks

    def spy(obs, size):
        chunked.append((size, int(len(obs["n_nodes"]))))
        return original(obs, size)

    monkeypatch.setattr(GraphActorCritic, "_chunks", staticmethod(spy))
    first = run("a")
    assert (16, 64) in chunked  # the 64-sample minibatches of the update went through in chunks of 16
    assert all(v.dtype == torch.float32 for v in first.values())
    if backend == "sb3":  # (RLlib's determinism given a seed: test_train_rllib.py)
        second = run("b")
        assert all(torch.equal(first[k], second[k]) for k in first)
    full = run("c", "float32")
    assert not all(torch.equal(first[k], full[k]) for k in first)
