"""The optional torch.fx tracer (imports torch; the env and the baselines never do)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from schedgym.envs.memory.catalog import load_instance
from schedgym.envs.memory.env import MemoryEnv
from schedgym.envs.memory.trace_torch import (
    ModelTraceError,
    catalog_models,
    gpt2_block,
    mlp,
    trace_model,
)


def test_gpt2_block_trace_shapes_and_flops() -> None:
    b, s, d = 2, 16, 768
    inst = trace_model(gpt2_block(s), torch.zeros(b, s, d), "gpt2-tiny")
    p = inst.program
    ops = [name.split(":")[1] for name in p.op_names]
    assert ops == ["LayerNorm", "Linear", "matmul", "mul", "masked_fill", "softmax", "matmul", "Linear", "add",
                   "LayerNorm", "Linear", "GELU", "Linear", "add"]
    qkv = ops.index("Linear")
    assert p.flops[qkv] == 2 * (b * s * 3 * d) * d  # 2 x out x in_features
    assert p.flops[2] == 2 * (b * 12 * s * s) * (d // 12)  # q @ k^T: 2 x out x head dim
    ids = list(inst.ids)
    w = ids.index("param:attn.qkv.weight")
    assert inst.size[w] == 3 * d * d * 2 and inst.prefetch[w]  # bf16 weights, prefetched
    out = np.flatnonzero(inst.evict)
    assert out.size == 1 and inst.upper[out[0]] == p.n_instructions and inst.size[out[0]] == b * s * d * 2
    # the residual input x lives until the first add (instruction 8)
    x = ids.index("input:x")
    assert inst.upper[x] == 9
    env = MemoryEnv(instance=inst)
    obs, _ = env.reset(seed=0)
    assert obs["n_nodes"][0] == inst.n_buffers + 1


def test_shipped_instance_is_reproduced_by_the_tracer() -> None:
    name, factory, shape = next(c for c in catalog_models() if c[0] == "gpt2-block-b1-s128")
    torch.manual_seed(0)
    inst = trace_model(factory(), torch.zeros(shape), name)
    shipped = load_instance(name)
    assert inst.ids == shipped.ids
    for a in ("lower", "upper", "size"):
        np.testing.assert_array_equal(getattr(inst, a), getattr(shipped, a))
    np.testing.assert_allclose(inst.program.flops, shipped.program.flops)


def test_untraceable_model_names_the_operation() -> None:
    class Branchy(torch.nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
                return x * 2
            return x

    with pytest.raises(ModelTraceError, match="cannot trace model 'branchy'.*"):
        trace_model(Branchy(), torch.zeros(2, 2), "branchy")


def test_mlp_trace_uses_and_lifetimes() -> None:
    inst = trace_model(mlp(8, (16,), 4), torch.zeros(3, 8), "mlp-tiny")
    p = inst.program
    assert p.n_instructions == 3  # linear, relu, linear
    assert p.flops[0] == 2 * 3 * 16 * 8 and p.flops[1] == 3 * 16
    # every use lies in its buffer's live interval (checked by MemoryInstance) and each weight is used once
    w = [i for i, n in enumerate(inst.ids) if n.startswith("param:")]
    assert len(w) == 4 and all(inst.upper[i] - inst.lower[i] <= 2 for i in w)


def test_env_import_does_not_load_torch() -> None:
    code = ("import sys, json; from schedgym.envs.memory.env import MemoryEnv; import schedgym.agents.memory; "
            "e = MemoryEnv(instance='resnet18-b1'); e.reset(seed=0); "
            "print(json.dumps([m for m in sys.modules if m.split('.')[0] in ('torch', 'ortools')]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
