"""Trace a PyTorch model with ``torch.fx`` into a :class:`~schedgym.envs.memory.instance.MemoryInstance`.

This module is **optional and offline**: it imports torch inside its functions only, and nothing in the
environment, the baselines or the light tests imports it. The traced instances that ship with the
package (``data/models/*.json``) were written by running it::

    python -m schedgym.envs.memory.trace_torch --out envs/memory/data/models

How a model becomes a program (inference, random initialisation, nothing downloaded):

* ``torch.fx.symbolic_trace`` gives the graph; ``ShapeProp`` runs it once on an example input to get
  every node's shape. Every ``call_module`` / ``call_function`` / ``call_method`` node that computes a
  new tensor is one **instruction**, in graph order. View-like operations (``view``, ``reshape``,
  ``transpose``, ``permute``, ``flatten``, ``contiguous``, ``getitem``, ``chunk``, ``split``, ...)
  are not instructions: their result aliases the input's buffer.
* **Buffers**: each instruction's output (live from its instruction to one past its last reader); each
  parameter of a called module (a *prefetch* buffer, live from one instruction before its use, so its
  copy can overlap the previous instruction); the model input (prefetch); the model output (*evict*,
  live to the end). Sizes = ``numel x bytes per element`` of ``dtype`` (default bf16, 2 bytes).
* **Uses**: an instruction reads every input buffer (the bytes of the tensor it reads) and writes its
  output buffer.
* **FLOPs** from shapes: linear ``2 * out * in_features``; convolution ``2 * out * (C_in / groups) *
  kh * kw``; matmul ``2 * out * K``; normalisations and softmax ``5 * numel``; GELU ``8 * numel``;
  pooling ``out * window``; other elementwise ops ``numel``.
"""

from __future__ import annotations

import argparse
import operator
import time
from pathlib import Path
from typing import Any

import numpy as np

from .hardware import get_hardware
from .instance import MemoryInstance, Program, write_instance_json

ALIAS_METHODS = {"view", "reshape", "transpose", "permute", "flatten", "contiguous", "expand", "squeeze",
                 "unsqueeze", "chunk", "split", "unflatten", "t", "view_as", "reshape_as"}
NON_TENSOR_METHODS = {"size", "dim", "numel"}


class ModelTraceError(ValueError):
    """A model that cannot be traced; the message names the model and the operation."""


# ---------------------------------------------------------------------- the models (random init)
def gpt2_block(seq_len: int = 128, d_model: int = 768, n_heads: int = 12, d_ff: int = 3072):
    """A GPT-2-small-like transformer block (pre-LN, causal attention written out, GELU MLP) for inputs of
    shape ``(batch, seq_len, d_model)`` (the sequence length is fixed so that torch.fx traces the mask)."""
    import torch
    from torch import nn

    class CausalSelfAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(d_model, 3 * d_model)
            self.proj = nn.Linear(d_model, d_model)
            self.register_buffer("causal", torch.triu(torch.ones(seq_len, seq_len, dtype=torch.bool), diagonal=1))

        def forward(self, x):
            s, d, dh = seq_len, d_model, d_model // n_heads
            q, k, v = self.qkv(x).split(d_model, dim=2)
            q = q.reshape(-1, s, n_heads, dh).transpose(1, 2)
            k = k.reshape(-1, s, n_heads, dh).transpose(1, 2)
            v = v.reshape(-1, s, n_heads, dh).transpose(1, 2)
            att = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / dh ** 0.5)
            att = att.masked_fill(self.causal, float("-inf"))
            att = torch.softmax(att, dim=-1)
            y = torch.matmul(att, v).transpose(1, 2).reshape(-1, s, d)
            return self.proj(y)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1 = nn.LayerNorm(d_model)
            self.attn = CausalSelfAttention()
            self.ln2 = nn.LayerNorm(d_model)
            self.fc = nn.Linear(d_model, d_ff)
            self.act = nn.GELU()
            self.out = nn.Linear(d_ff, d_model)

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.out(self.act(self.fc(self.ln2(x))))

    return Block()


def resnet(depth: int = 18, width: int = 64, n_classes: int = 1000):
    """A ResNet-18-like (BasicBlock [2,2,2,2]) or ResNet-50-like (Bottleneck [3,4,6,3]) CNN."""
    from torch import nn

    class Basic(nn.Module):
        expansion = 1

        def __init__(self, cin: int, c: int, stride: int) -> None:
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False), nn.BatchNorm2d(c)
            self.conv2, self.bn2 = nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)
            self.relu = nn.ReLU()
            self.down = (nn.Sequential(nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c))
                         if stride != 1 or cin != c else None)

        def forward(self, x):
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return self.relu(y + (self.down(x) if self.down is not None else x))

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, cin: int, c: int, stride: int) -> None:
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(cin, c, 1, bias=False), nn.BatchNorm2d(c)
            self.conv2, self.bn2 = nn.Conv2d(c, c, 3, stride, 1, bias=False), nn.BatchNorm2d(c)
            self.conv3, self.bn3 = nn.Conv2d(c, 4 * c, 1, bias=False), nn.BatchNorm2d(4 * c)
            self.relu = nn.ReLU()
            self.down = (nn.Sequential(nn.Conv2d(cin, 4 * c, 1, stride, bias=False), nn.BatchNorm2d(4 * c))
                         if stride != 1 or cin != 4 * c else None)

        def forward(self, x):
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.relu(self.bn2(self.conv2(y)))
            y = self.bn3(self.conv3(y))
            return self.relu(y + (self.down(x) if self.down is not None else x))

    if depth == 18:
        block, layers = Basic, (2, 2, 2, 2)
    elif depth == 50:
        block, layers = Bottleneck, (3, 4, 6, 3)
    else:
        raise ValueError(f"resnet depth must be 18 or 50, got {depth}")

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                                      nn.MaxPool2d(3, 2, 1))
            blocks, cin = [], width
            for i, n in enumerate(layers):
                c = width * 2 ** i
                for j in range(n):
                    blocks.append(block(cin, c, 2 if (j == 0 and i > 0) else 1))
                    cin = c * block.expansion
            self.blocks = nn.Sequential(*blocks)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cin, n_classes)

        def forward(self, x):
            return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))

    return Net()


def mlp(d_in: int = 1024, hidden: tuple[int, ...] = (4096, 4096, 1024), d_out: int = 1000):
    """A multi-layer perceptron with ReLU."""
    from torch import nn

    layers: list[Any] = []
    d = d_in
    for h in hidden:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


# ---------------------------------------------------------------------- tracing
def _numel(shape) -> int:
    return int(np.prod(tuple(shape))) if len(shape) else 1


def _flops(node, mod, out_shape, in_shapes) -> float:
    from torch import nn

    out = _numel(out_shape)
    if mod is not None:
        if isinstance(mod, nn.Linear):
            return 2.0 * out * mod.in_features
        if isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            return 2.0 * out * (mod.in_channels // mod.groups) * kh * kw
        if isinstance(mod, (nn.BatchNorm2d, nn.LayerNorm, nn.BatchNorm1d)):
            return 5.0 * out
        if isinstance(mod, nn.GELU):
            return 8.0 * out
        if isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d)):
            k = mod.kernel_size if isinstance(mod.kernel_size, int) else _numel(mod.kernel_size)
            return float(out * (k * k if isinstance(mod.kernel_size, int) else k))
        if isinstance(mod, nn.AdaptiveAvgPool2d):
            return float(_numel(in_shapes[0])) if in_shapes else float(out)
        return float(out)
    target = node.target
    name = getattr(target, "__name__", str(target))
    if name in ("matmul", "bmm", "mm") or target is operator.matmul:
        k = in_shapes[0][-1] if in_shapes and len(in_shapes[0]) else 1
        return 2.0 * out * k
    if name in ("softmax", "log_softmax", "layer_norm", "batch_norm"):
        return 5.0 * out
    if name == "gelu":
        return 8.0 * out
    return float(out)


def trace_model(model, example_input, name: str, hardware: str = "a100-l2", dtype_bytes: int = 2,
                capacity: int | None = None) -> MemoryInstance:
    """Trace ``model`` on ``example_input`` into a memory instance (see the module docstring)."""
    import torch
    import torch.fx
    from torch.fx.passes.shape_prop import ShapeProp

    model = model.eval()
    try:
        gm = torch.fx.symbolic_trace(model)
    except Exception as exc:
        raise ModelTraceError(f"cannot trace model {name!r} with torch.fx: {type(exc).__name__}: {exc}") from exc
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(example_input)
    except Exception as exc:
        raise ModelTraceError(f"model {name!r}: running the traced graph failed: {type(exc).__name__}: {exc}") from exc
    modules = dict(gm.named_modules())

    sizes: list[int] = []
    ids: list[str] = []
    prefetch: list[bool] = []
    evict: list[bool] = []
    first_def: list[int] = []  # instruction that defines it (-1: prefetch, set from uses)
    buf_of: dict[str, int] = {}  # fx node name -> buffer
    uses: list[tuple[int, int, int]] = []
    flops: list[float] = []
    op_names: list[str] = []

    def new_buffer(bid: str, nbytes: int, pre: bool, k: int) -> int:
        sizes.append(int(nbytes)), ids.append(bid), prefetch.append(pre), evict.append(False), first_def.append(k)
        return len(sizes) - 1

    def meta_shape(n) -> tuple[int, ...] | None:
        tm = n.meta.get("tensor_meta") if hasattr(n, "meta") else None
        if tm is None or not hasattr(tm, "shape"):  # None, or a tuple of metadata (multi-output op)
            return None
        return tuple(tm.shape)

    def tensor_inputs(node) -> list[Any]:
        found: list[Any] = []

        def visit(a):
            if isinstance(a, torch.fx.Node):
                found.append(a)
            elif isinstance(a, (tuple, list)):
                for x in a:
                    visit(x)
            elif isinstance(a, dict):
                for x in a.values():
                    visit(x)

        visit(node.args)
        visit(node.kwargs)
        return [a for a in found if a.name in buf_of]

    k = 0
    out_node = None
    for node in gm.graph.nodes:
        try:
            if node.op == "placeholder":
                shp = meta_shape(node)
                if shp is None:
                    raise ModelTraceError(f"model {name!r}: input {node.name!r} is not a tensor")
                buf_of[node.name] = new_buffer(f"input:{node.name}", _numel(shp) * dtype_bytes, True, -1)
                continue
            if node.op == "output":
                out_node = node
                continue
            if node.op == "get_attr":
                attr = gm
                for part in str(node.target).split("."):
                    attr = getattr(attr, part)
                if isinstance(attr, torch.Tensor):
                    buf_of[node.name] = new_buffer(f"attr:{node.target}", attr.numel() * dtype_bytes, True, -1)
                continue
            target_name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target))
            shp = meta_shape(node)
            ins = tensor_inputs(node)
            is_alias = (node.op == "call_method" and node.target in ALIAS_METHODS) or (
                node.op == "call_function" and (node.target is operator.getitem or target_name in
                                                ("flatten", "reshape", "transpose", "permute", "split", "chunk")))
            if node.op == "call_method" and node.target in NON_TENSOR_METHODS:
                continue
            if is_alias:
                if ins:
                    buf_of[node.name] = buf_of[ins[0].name]
                continue
            if shp is None and node.op != "call_module":
                if not ins:
                    continue  # a constant-producing call (e.g. an int): no buffer
                raise ModelTraceError(f"model {name!r}: operation {node.name!r} ({target_name}) returns no single tensor")
            mod = modules.get(node.target) if node.op == "call_module" else None
            if shp is None:
                raise ModelTraceError(f"model {name!r}: operation {node.name!r} ({target_name}) returns no single tensor")
            in_shapes = [meta_shape(a) or () for a in ins]
            for a, s in zip(ins, in_shapes):
                uses.append((k, buf_of[a.name], _numel(s) * dtype_bytes if s else sizes[buf_of[a.name]]))
            if mod is not None:
                for pname, p in mod.named_parameters(recurse=False):
                    b = new_buffer(f"param:{node.target}.{pname}", p.numel() * dtype_bytes, True, -1)
                    uses.append((k, b, sizes[b]))
                for bname, bt in mod.named_buffers(recurse=False):
                    if bt.dtype.is_floating_point:
                        b = new_buffer(f"param:{node.target}.{bname}", bt.numel() * dtype_bytes, True, -1)
                        uses.append((k, b, sizes[b]))
            out = new_buffer(f"act:{node.name}", _numel(shp) * dtype_bytes, False, k)
            buf_of[node.name] = out
            uses.append((k, out, sizes[out]))
            flops.append(_flops(node, mod, shp, in_shapes))
            op_names.append(f"{node.name}:{type(mod).__name__ if mod is not None else target_name}")
            k += 1
        except ModelTraceError:
            raise
        except Exception as exc:
            raise ModelTraceError(f"model {name!r}: cannot convert operation {node.name!r} ({node.op} "
                                  f"{node.target}): {type(exc).__name__}: {exc}") from exc
    n_instr = k
    if n_instr == 0:
        raise ModelTraceError(f"model {name!r}: the traced graph has no operations")
    n = len(sizes)
    ui = np.array([u[0] for u in uses], np.int64)
    ub = np.array([u[1] for u in uses], np.int64)
    uy = np.array([u[2] for u in uses], np.float64)
    first_use = np.full(n, n_instr, np.int64)
    last_use = np.full(n, -1, np.int64)
    np.minimum.at(first_use, ub, ui)
    np.maximum.at(last_use, ub, ui)
    lower = np.zeros(n, np.int64)
    upper = np.zeros(n, np.int64)
    for b in range(n):
        if first_def[b] >= 0:
            lower[b] = first_def[b]
        else:
            lower[b] = max(0, int(first_use[b]) - 1) if first_use[b] < n_instr else 0
        upper[b] = max(int(last_use[b]), int(lower[b])) + 1
    ev = np.zeros(n, bool)
    if out_node is not None:
        for a in tensor_inputs(out_node):
            b = buf_of[a.name]
            ev[b] = True
            upper[b] = n_instr
    keep = (last_use >= 0) | ev  # drop buffers nothing uses (e.g. parameters of unused modules)
    remap = -np.ones(n, np.int64)
    remap[keep] = np.arange(int(keep.sum()))
    sel = keep[ub]
    hw = get_hardware(hardware)
    inst = MemoryInstance(
        name=name,
        capacity=capacity or hw.fast_capacity,
        lower=lower[keep], upper=upper[keep], size=np.array(sizes)[keep],
        ids=tuple(i for i, kk in zip(ids, keep) if kk),
        prefetch=np.array(prefetch)[keep], evict=ev[keep],
        program=Program(np.array(flops), ui[sel], remap[ub[sel]], uy[sel], hw, tuple(op_names)),
        source=f"torch.fx trace of schedgym.envs.memory.trace_torch ({name}), random init, {dtype_bytes}-byte elements",
    )
    return inst


def catalog_models() -> list[tuple[str, Any, tuple[int, ...]]]:
    """The models and input shapes of the shipped instances: (name, model factory, input shape)."""
    out: list[tuple[str, Any, tuple[int, ...]]] = []
    for b, s in ((1, 128), (4, 512), (8, 1024)):
        out.append((f"gpt2-block-b{b}-s{s}", lambda s=s: gpt2_block(s), (b, s, 768)))
    for b in (1, 8, 32):
        out.append((f"resnet18-b{b}", lambda: resnet(18), (b, 3, 224, 224)))
    for b in (1, 8):
        out.append((f"resnet50-b{b}", lambda: resnet(50), (b, 3, 224, 224)))
    for b in (64, 1024):
        out.append((f"mlp-b{b}", mlp, (b, 1024)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Trace the catalog's PyTorch models into schedgym memory instances (JSON).")
    ap.add_argument("--out", default=str(Path(__file__).with_name("data") / "models"))
    ap.add_argument("--hardware", default="a100-l2")
    ap.add_argument("--only", default=None, help="trace only names containing this text")
    args = ap.parse_args(argv)
    import torch

    torch.manual_seed(0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, factory, shape in catalog_models():
        if args.only and args.only not in name:
            continue
        t0 = time.perf_counter()
        inst = trace_model(factory(), torch.zeros(shape), name, hardware=args.hardware)
        dt = time.perf_counter() - t0
        inst.meta.update({"input_shape": list(shape), "trace_seconds": round(dt, 3), "hardware": args.hardware})
        write_instance_json(out / f"{name}.json", inst)
        print(f"{name}: {inst.program.n_instructions} instructions, {inst.n_buffers} buffers, "
              f"max live {inst.max_load() / 2**20:.1f} MiB, capacity {inst.capacity / 2**20:.0f} MiB, traced in {dt:.2f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
