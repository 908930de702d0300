"""The graph actor-critic shared by both backends (SB3 and RLlib).

:class:`GraphActorCritic` takes a batch of the contract's padded observations (a dict of arrays or
tensors with a leading batch axis; SB3 hands every key over as float32, which is fine) and returns

* ``logits`` — ``(B, N_max)``: one logit per node, scattered back to the padded layout with the
  batch's ``pad_index``; padding nodes and masked-out nodes get :data:`MASKED_LOGIT`;
* ``value`` — ``(B,)``: the state value from a pooled graph embedding and the globals.

Everything is sized from a :class:`~schedgym.envs.core.GraphSpec` read off the observation space
(:func:`schedgym.envs.core.graph_spec_of`), so any environment that follows the contract trains with
no code of its own. Graphs are flattened with :func:`schedgym.agents.gnn.graph.flatten_batch` (vectorized,
no Python loop per graph, no PyG ``Batch`` object built).

Cost (issue 13): training time is the PPO update's forward and backward over whole minibatches of
graphs, so the two per-node / per-edge matrix products that did not need to happen are gone, with the
same parameters and the same function: GIN layers project the edge-type embedding once per edge *type*
(:func:`_gine`; PyG's ``GINEConv`` projects it once per edge), and the actor head runs on the legal
nodes only (the others get :data:`MASKED_LOGIT` whatever it says). The encoder's output is bit-for-bit
the same as before; the logits agree to float rounding (the actor's matrix products have fewer rows).

Architecture: node features + node-type embedding + a projection of the globals form the initial
node state; each directed edge type ``t`` of the env also gets a reverse edge of type
``t + n_edge_types`` (so information flows both ways along precedence edges); ``n_layers``
message-passing layers (``conv="gin"``: GINEConv, ``conv="gatv2"``: GATv2Conv, both conditioned on an
edge-type embedding) with residual connections and LayerNorm; mean+max pooling per graph; an actor
MLP over ``[node, pooled graph, globals]`` and a critic MLP over ``[pooled graph, globals]``.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import asdict, dataclass, fields
import warnings
from typing import Any, Callable, Mapping

import torch
from torch import nn
from torch_geometric.nn import GATv2Conv, GINEConv

from ...envs.core import GraphSpec
from .graph import FlatGraphs, flatten_batch
from .threads import chunks_in_threads, map_in_threads, release_gil_in_compiled_kernels

#: logit given to padding and masked-out nodes: finite so that entropies and gradients stay finite
#: (``-inf`` times a zero probability is NaN); ``exp`` of it is exactly 0 in float32.
MASKED_LOGIT: float = -1e8

CONV_TYPES: tuple[str, ...] = ("gin", "gatv2")

#: values of ``GNNConfig.precision``: the dtype the encoder's matrix products run in
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")

#: ``GNNConfig`` fields that choose how the function is computed, not which function: checkpoints leave them
#: out (``compile: false`` aside, as checkpoints have always had it), and a checkpoint loads into a run
#: whatever their values
EXECUTION_OPTIONS: tuple[str, ...] = ("compile", "precision", "micro_batch", "threads")

#: passes with gradients that run their chunks one after the other before ``threads`` takes effect, so that
#: ``torch.compile`` builds the forward and backward graphs in one thread (see :mod:`.threads`)
SERIAL_WARMUP_PASSES: int = 2


@dataclass(frozen=True)
class GNNConfig:
    """Hyper-parameters of :class:`GraphActorCritic` (the ``agent.model`` section of a training config)."""

    hidden: int = 64
    n_layers: int = 3
    conv: str = "gin"
    heads: int = 2
    head_hidden: int = 64
    activation: str = "relu"
    #: ``torch.compile`` on the CPU with one torch thread: passes with gradients (the PPO update, imitation) run
    #: their GIN layers compiled (see :func:`compiled_gin_layer`), and passes without gradients (sampling,
    #: evaluation, best-of-k rollouts) the whole forward (see :func:`compiled_inference`; the same function to
    #: float rounding). GIN layers only (``conv="gatv2"`` runs eagerly). An execution option, not part of the
    #: function: checkpoints record False
    compile: bool = False
    #: ``"bfloat16"``: in passes with gradients (the PPO update, imitation), the encoder (input projection
    #: and message-passing layers) runs under ``torch.autocast`` in bfloat16 - its matrix products take
    #: bfloat16 inputs and accumulate in float32 - while parameters, gradients, optimizer state, pooling and
    #: the actor / critic heads stay float32, and passes without gradients (sampling, evaluation) run in
    #: float32. Several times cheaper matrix products on CPUs with AVX512-BF16 or AMX and on GPUs; an
    #: execution option: checkpoints leave it out (it loads as ``"float32"``; see
    #: :meth:`GraphActorCritic._autocast`)
    precision: str = "float32"
    #: graphs per chunk of a forward pass (0: the whole batch at once). Each chunk's activations stay in the
    #: CPU caches: a 256-graph PPO minibatch of 10x10 job shops makes 6.5 MB tensors per layer, and its
    #: forward+backward costs about 1.3-1.4x what it costs in chunks of 64-128 graphs. Outputs are
    #: concatenated, so the loss and one backward are unchanged: the same function, gradients summed in
    #: another order (float rounding). An execution option: checkpoints leave it out (it loads as 0)
    micro_batch: int = 0
    #: worker threads for passes with gradients (the PPO update, imitation): the ``micro_batch`` chunks of a
    #: pass run forward and backward in parallel threads, one core each, and the parameters' gradients are
    #: summed in chunk order, so a seed still fixes the run (see :mod:`.threads`). 1: one thread, as before.
    #: Needs ``micro_batch`` (at least two chunks per minibatch to gain anything); CPU passes only (on a GPU
    #: the chunks run one after the other). An execution option: checkpoints leave it out (it loads as 1)
    threads: int = 1

    def __post_init__(self) -> None:
        if self.conv not in CONV_TYPES:
            raise ValueError(f"agent.model.conv must be one of {CONV_TYPES}, got {self.conv!r}")
        if self.hidden < 1 or self.n_layers < 0 or self.head_hidden < 1 or self.heads < 1:
            raise ValueError(
                f"agent.model: hidden/head_hidden/heads must be >= 1 and n_layers >= 0, got {self}"
            )
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"agent.model.activation must be one of {sorted(_ACTIVATIONS)}, got {self.activation!r}")
        if not isinstance(self.compile, bool):
            raise ValueError(f"agent.model.compile must be true or false, got {self.compile!r}")
        if isinstance(self.micro_batch, bool) or not isinstance(self.micro_batch, int) or self.micro_batch < 0:
            raise ValueError(f"agent.model.micro_batch must be an integer >= 0 (0: no chunks), got {self.micro_batch!r}")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"agent.model.threads must be an integer >= 1, got {self.threads!r}")
        if self.threads > 1 and self.micro_batch == 0:
            raise ValueError(f"agent.model.threads={self.threads} runs the chunks of agent.model.micro_batch in "
                             "parallel threads: set agent.model.micro_batch too (e.g. 128)")
        if self.precision not in PRECISIONS:
            raise ValueError(f"agent.model.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.conv == "gatv2" and self.hidden % self.heads:
            raise ValueError(f"agent.model.hidden ({self.hidden}) must be divisible by heads ({self.heads})")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "GNNConfig":
        """Build from a mapping, naming any unknown key."""
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"agent.model: unknown key(s) {unknown}; known: {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU}


def _mlp(sizes: list[int], act: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def _gine(conv: GINEConv, x: torch.Tensor, src: torch.Tensor, dst: torch.Tensor, edge_type: torch.Tensor,
          type_emb: torch.Tensor) -> torch.Tensor:
    """``conv(x, edge_index, type_emb[edge_type])`` of a :class:`GINEConv` with ``edge_dim``, computed the
    cheap way: its edge projection ``conv.lin`` runs once per edge *type* (a handful of rows) instead of
    once per edge, then messages ``relu(x_src + e)`` are summed at ``dst`` and
    ``conv.nn((1 + eps) * x + sum)`` is returned - the same function and parameters (checkpoints load
    unchanged), at a fraction of the matrix products (on a 10x10 job shop there are ~3 edges per node)."""
    edge_h = conv.lin(type_emb).index_select(0, edge_type)  # type: ignore[misc]
    msg = (x.index_select(0, src) + edge_h).relu()
    aggr = torch.zeros_like(x).index_add_(0, dst, msg)
    return conv.nn(aggr + (1 + conv.eps) * x)


_FUNCTIONAL_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu, "tanh": torch.tanh, "gelu": nn.functional.gelu, "silu": nn.functional.silu}


def gin_layer(x: torch.Tensor, src: torch.Tensor, dst: torch.Tensor, edge_type: torch.Tensor,
              type_emb: torch.Tensor, lin_w: torch.Tensor, lin_b: torch.Tensor, eps: torch.Tensor,
              w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor, norm_w: torch.Tensor,
              norm_b: torch.Tensor, activation: str, norm_eps: float) -> torch.Tensor:
    """One GIN layer of :meth:`GraphActorCritic.encode`, ``norm(x + act(_gine(conv, x, ...)))``, written with
    tensors only (the conv's edge projection ``lin_w, lin_b``, its ``eps``, its MLP ``w1, b1, w2, b2``, the
    LayerNorm's ``norm_w, norm_b``), so that one ``torch.compile`` graph serves every layer of every module.
    Same operations in the same order as the module path (bit for bit uncompiled)."""
    act = _FUNCTIONAL_ACTIVATIONS[activation]
    edge_h = nn.functional.linear(type_emb, lin_w, lin_b).index_select(0, edge_type)
    msg = (x.index_select(0, src) + edge_h).relu()
    aggr = torch.zeros_like(x).index_add_(0, dst, msg)
    h = nn.functional.linear(act(nn.functional.linear(aggr + (1 + eps) * x, w1, b1)), w2, b2)
    return nn.functional.layer_norm(x + act(h), (x.shape[1],), norm_w, norm_b, norm_eps)


_COMPILED_GIN_LAYER: Callable[..., torch.Tensor] | None = None


def compiled_gin_layer() -> Callable[..., torch.Tensor] | None:
    """:func:`gin_layer` through ``torch.compile(dynamic=True)`` (TorchInductor: on the CPU it fuses the
    per-edge gather / add / ReLU / scatter and the element-wise ops around the matrix products into C++
    loops, so no ``(edges, hidden)`` message tensor goes through memory), built once per process (with
    :func:`~.threads.release_gil_in_compiled_kernels` first); None where this torch has no ``torch.compile``.
    Compiling takes tens of seconds on the first training pass (a C++ compiler must be present; if it fails,
    :class:`GraphActorCritic` warns and runs eagerly)."""
    global _COMPILED_GIN_LAYER
    if _COMPILED_GIN_LAYER is None and hasattr(torch, "compile"):
        # before anything compiles: kernels that release the GIL, so that agent.model.threads can overlap them
        # (the same kernels; with one thread it changes nothing)
        release_gil_in_compiled_kernels()
        _COMPILED_GIN_LAYER = torch.compile(gin_layer, dynamic=True)
    return _COMPILED_GIN_LAYER


#: the whole pass of a chunk compiled for passes without gradients, by the name of the
#: :class:`GraphActorCritic` method (``"_logits_and_value"``, ``"_value"``), one per process
_COMPILED_INFERENCE: dict[str, Callable[..., Any]] = {}
_COMPILED_INFERENCE_LOCK = threading.Lock()
#: set once compiling a pass without gradients has failed in this process (the compiler is the same for every
#: module: later modules run those passes eagerly without trying again)
_INFERENCE_COMPILE_FAILED = False

#: the dtype each observation key is handed to the compiled pass in (SB3 stores every key as float32, an env
#: gives its own integer and boolean types): one compiled variant serves them all
_CANONICAL_DTYPES: dict[str, torch.dtype] = {
    "nodes": torch.float32, "globals": torch.float32, "action_mask": torch.bool, "node_type": torch.long,
    "edge_index": torch.long, "edge_type": torch.long, "n_nodes": torch.long, "n_edges": torch.long}


#: the axes of an observation key whose size is the model's, not the batch's or the instance's (feature
#: counts; the 2 of ``edge_index``): marked static, so that a batch size equal to one of them (3 graphs, 3
#: global features) does not tie the two sizes in a compiled graph (dynamo's duck sizing) and recompile later
_STATIC_AXES: dict[str, int] = {"nodes": 2, "globals": 1, "edge_index": 1}


def canonical_observation(obs: Mapping[str, Any]) -> dict[str, Any]:
    """``obs`` as the compiled pass takes it: tensors of :data:`_CANONICAL_DTYPES` that own their storage (a
    chunk's views are copied) with the model's own axes static (:data:`_STATIC_AXES`), so that the compiled
    graphs' guards hold whatever called (SB3's float32 batches, an env's own dtypes, chunks of a larger
    batch): one compiled variant serves them all."""
    out: dict[str, Any] = {}
    for key, value in obs.items():
        t = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
        dtype = _CANONICAL_DTYPES.get(key)
        if dtype is not None and t.dtype != dtype:
            t = t.to(dtype) if dtype != torch.bool else t != 0
        if t._base is not None or t.storage_offset() != 0 or not t.is_contiguous():
            t = t.clone(memory_format=torch.contiguous_format)
        if key in _STATIC_AXES and t.dim() > _STATIC_AXES[key]:
            torch._dynamo.mark_static(t, _STATIC_AXES[key])
        out[key] = t
    return out


def compiled_inference(name: str) -> Callable[..., Any] | None:
    """``GraphActorCritic.<name>`` (``"_logits_and_value"`` or ``"_value"``: flattening, encoder, heads) through
    ``torch.compile(dynamic=True)``, called as ``fn(module, obs)``; built once per process and shared by every
    module (parameters are inputs of the compiled graphs, so no module compiles it again); None where this torch
    has no ``torch.compile``.

    It serves passes without gradients (:meth:`GraphActorCritic._pass`). Those are small in PPO's sampling (8
    graphs a step), where the cost is the dispatch of some hundred small ops: compiled, the sampling forward
    of the ``jobshop-10x10`` preset takes about a fifth less time. They are large in best-of-``k`` rollouts
    (``k`` graphs a step), where the eager layers stream ``(edges, hidden)`` message tensors through memory and
    TorchInductor fuses them away: best of 16 on ``ta01`` in a third of the time (docs/training.md, "Speed").
    Graph breaks at the data-dependent steps (padding stripped by masks, the legal nodes) split it into a few
    graphs. Each variant compiles once per process, tens of seconds each (less with TorchInductor's cache on
    disk): observations are handed over in one canonical form (:func:`canonical_observation`), and grad
    mode matters (callers use ``torch.no_grad``, not ``inference_mode``), so a process needs two variants per
    pass: batches of one graph (sizes 1 are specialized) and larger ones (tested)."""
    if _INFERENCE_COMPILE_FAILED or not hasattr(torch, "compile"):
        return None
    with _COMPILED_INFERENCE_LOCK:
        fn = _COMPILED_INFERENCE.get(name)
        if fn is None:
            release_gil_in_compiled_kernels()  # the same kernels; lets threads overlap them (see compiled_gin_layer)
            fn = _COMPILED_INFERENCE[name] = torch.compile(getattr(GraphActorCritic, name), dynamic=True)
        return fn


def mean_max_pool(x: torch.Tensor, graphs: FlatGraphs) -> torch.Tensor:
    """``[global_mean_pool, global_max_pool]`` of PyG per graph, ``(B, 2 * hidden)``: the same values bit for
    bit (the sums run in node order, as PyG's ``scatter_add_``) and the same gradients, at a third of the
    cost (measured: 14 -> 5 CPU-ms forward+backward on 256 graphs of 100 nodes). The max is taken over the
    padded ``(B, N_max, hidden)`` layout - the flat layout itself when every graph is full, no copy - rather
    than by ``scatter_reduce``, whose backward is the expensive part; a graph without nodes pools to 0 as
    in PyG."""
    b, n_max, hidden = graphs.num_graphs, graphs.n_max, x.shape[1]
    summed = x.new_zeros(b, hidden).index_add_(0, graphs.batch, x)
    mean = summed / graphs.n_nodes.clamp(min=1).to(x.dtype).unsqueeze(1)
    if x.shape[0] == b * n_max:  # every graph has N_max nodes: the flat layout is the padded one
        padded = x.view(b, n_max, hidden)
    else:
        padded = x.new_full((b * n_max, hidden), float("-inf")).index_copy(0, graphs.pad_index, x)
        padded = padded.view(b, n_max, hidden)
    maxed = padded.amax(dim=1)
    if x.shape[0] != b * n_max:
        maxed = torch.where((graphs.n_nodes > 0).unsqueeze(1), maxed, torch.zeros_like(maxed))
    return torch.cat([mean, maxed], dim=1)


class GraphActorCritic(nn.Module):
    """Per-node policy logits and a state value from a batch of padded graph observations."""

    def __init__(self, spec: GraphSpec, config: GNNConfig | None = None) -> None:
        super().__init__()
        cfg = config or GNNConfig()
        self.spec = spec
        self.config = cfg
        h = cfg.hidden
        act = _ACTIVATIONS[cfg.activation]
        self.node_in = nn.Linear(spec.node_features, h)
        self.node_type_emb = nn.Embedding(spec.n_node_types, h)
        self.glob_in = nn.Linear(spec.global_features, h)
        # original edge types, then their reverses
        self.edge_type_emb = nn.Embedding(2 * spec.n_edge_types, h)
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for _ in range(cfg.n_layers):
            if cfg.conv == "gin":
                conv: nn.Module = GINEConv(_mlp([h, h, h], act), train_eps=True, edge_dim=h)
            else:
                conv = GATv2Conv(h, h // cfg.heads, heads=cfg.heads, edge_dim=h, add_self_loops=True)
            self.convs.append(conv)
            self.norms.append(nn.LayerNorm(h))
        self.act = act()
        self.actor = _mlp([3 * h + h, cfg.head_hidden, cfg.head_hidden, 1], act)
        self.critic = _mlp([2 * h + h, cfg.head_hidden, cfg.head_hidden, 1], act)
        if cfg.threads > 1 and cfg.compile:
            release_gil_in_compiled_kernels(warn=True)  # says so if this torch's kernels cannot overlap
        self._passes_in_threads = 0  # gradient passes so far with threads (the first SERIAL_WARMUP_PASSES run serially)
        self._inference_compile_failed = False  # set when compiling a pass without gradients failed (see _pass)

    # ------------------------------------------------------------------ parts
    def _compiles_on(self, device: torch.device | str) -> bool:
        """Whether passes on ``device`` may run compiled: ``config.compile`` with GIN layers, on the CPU with one
        torch thread (the presets' setting: there the compiled kernels repeat bit for bit, so a seed still fixes
        the run; with more threads, or on a GPU, their scatter adds floats atomically in no fixed order)."""
        return (self.config.compile and self.config.conv == "gin" and torch.device(device).type == "cpu"
                and torch.get_num_threads() == 1)

    def _compiled_layer(self, device: torch.device | str = "cpu") -> Callable[..., torch.Tensor] | None:
        """The compiled GIN layer for this pass, or None: for passes with gradients (the PPO update; passes
        without gradients compile the whole forward: :meth:`_pass`) where :meth:`_compiles_on` allows it and
        while compiling has not failed."""
        if not torch.is_grad_enabled() or not self._compiles_on(device) or getattr(self, "_compile_failed", False):
            return None
        return compiled_gin_layer()

    def _pass(self, name: str) -> Callable[[Mapping[str, Any]], Any]:
        """The chunk pass ``name`` (``"_logits_and_value"`` or ``"_value"``) as this pass runs it: compiled
        (:func:`compiled_inference`) for a pass without gradients where :meth:`_compiles_on` allows it, while
        compiling has not failed; else the eager method. A compiler failure warns once and runs eagerly from
        then on; an input the eager pass refuses as well raises its own error and leaves the compiled pass on."""
        eager: Callable[[Mapping[str, Any]], Any] = getattr(self, name)
        if torch.is_grad_enabled() or not self._compiles_on(self.node_in.weight.device):
            return eager
        if getattr(self, "_inference_compile_failed", False):
            return eager
        compiled = compiled_inference(name)
        if compiled is None:
            return eager

        def run(obs: Mapping[str, Any]) -> Any:
            global _INFERENCE_COMPILE_FAILED
            try:
                return compiled(self, canonical_observation(obs))
            except Exception as exc:  # noqa: BLE001 - a compiler failure, or a bad input (the eager pass tells)
                out = eager(obs)
                warnings.warn(f"agent.model.compile: torch.compile failed in a pass without gradients "
                              f"({type(exc).__name__}: {exc}); running those passes eagerly",
                              RuntimeWarning, stacklevel=3)
                self._inference_compile_failed = True
                _INFERENCE_COMPILE_FAILED = True
                return out
        return run

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager[Any]:
        """``torch.autocast`` to bfloat16 for the encoder of a pass with gradients when ``config.precision``
        asks for it, else a no-op.

        Only gradient passes: with PPO's small sampling batches the casts cost more than they save (measured:
        sampling 1.8 -> 3.1 s per 4,096 env steps on the ``jobshop-10x10`` preset), and sampling and
        evaluation then compute the checkpoint's float32 function exactly. The update's log-probabilities
        differ from the sampling ones by bfloat16 rounding (released ``jobshop-10x10`` policy, 256 random
        10x10 states: mean |delta log p| 0.004, largest 0.03), well inside PPO's clipped ratio."""
        if self.config.precision == "bfloat16" and torch.is_grad_enabled():
            # no cache of cast weights: it is one cache for the process, which threads would share (:mod:`.threads`);
            # each weight is used once per chunk, so the cache saved nothing
            return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)
        return contextlib.nullcontext()

    def encode(self, obs: Mapping[str, Any]) -> tuple[FlatGraphs, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the encoder: returns ``(graphs, node_h, graph_h, glob_h)`` (``graphs``: :class:`FlatGraphs`);
        every output is float32 (with ``precision="bfloat16"`` the node states are cast back after the
        message passing)."""
        data = flatten_batch(obs)
        glob_h = self.glob_in(data.globals)  # (B, h)
        with self._autocast(data.x.device):
            # the type embedding's rows by index_select: the same values and the same gradients bit for bit as
            # calling the nn.Embedding, whose CPU backward (one small add per index) costs 3-4x an index_add (tested)
            type_h = self.node_type_emb.weight.index_select(0, data.node_type)
            x = self.node_in(data.x) + type_h + glob_h.index_select(0, data.batch)
            x = self._message_passing(self.act(x), data)
        x = x.float()
        return data, x, mean_max_pool(x, data), glob_h

    def _message_passing(self, x: torch.Tensor, data: FlatGraphs) -> torch.Tensor:
        """The ``n_layers`` residual message-passing layers over both edge directions."""
        ei = data.edge_index
        et = data.edge_type
        n_et = self.spec.n_edge_types
        ei_all = torch.cat([ei, ei.flip(0)], dim=1)
        et_all = torch.cat([et, et + n_et])
        if self.config.conv == "gin":
            src, dst = ei_all[0], ei_all[1]
            compiled = self._compiled_layer(x.device)
            for conv, norm in zip(self.convs, self.norms):
                if compiled is not None:
                    try:
                        x = compiled(x, src, dst, et_all, self.edge_type_emb.weight, conv.lin.weight, conv.lin.bias,
                                     conv.eps, conv.nn[0].weight, conv.nn[0].bias, conv.nn[2].weight,
                                     conv.nn[2].bias, norm.weight, norm.bias, self.config.activation, norm.eps)
                        continue
                    except Exception as exc:  # noqa: BLE001 - any compiler failure: run eagerly from now on
                        warnings.warn(f"agent.model.compile: torch.compile failed ({type(exc).__name__}: {exc}); "
                                      "running the GIN layers eagerly", RuntimeWarning, stacklevel=3)
                        self._compile_failed = True
                        compiled = None
                x = norm(x + self.act(_gine(conv, x, src, dst, et_all, self.edge_type_emb.weight)))
        else:
            ea = self.edge_type_emb.weight.index_select(0, et_all)
            for conv, norm in zip(self.convs, self.norms):
                x = norm(x + self.act(conv(x, ei_all, ea)))
        return x

    def forward(self, obs: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits (B, N_max), value (B,))`` with padding and masked nodes at :data:`MASKED_LOGIT`; in
        chunks of ``config.micro_batch`` graphs when set (see :meth:`_chunks`), in ``config.threads`` parallel
        threads when that is above 1 and gradients are on (see :mod:`.threads`).

        The actor head runs on the legal nodes only (the others get :data:`MASKED_LOGIT` whatever it
        says, so computing it there would only cost time: on a 10x10 job shop at most 10 of 100 nodes)."""
        chunks = self._chunks(obs, self.config.micro_batch)
        if chunks is None:
            return self._pass("_logits_and_value")(obs)
        if self._in_threads(obs) and torch.is_grad_enabled():
            passes = self._passes_in_threads
            self._passes_in_threads = passes + 1
            return chunks_in_threads(self._logits_and_value, chunks, list(self.parameters()), self.config.threads,
                                     serial=passes < SERIAL_WARMUP_PASSES)
        one_chunk = self._pass("_logits_and_value")
        parts = [one_chunk(chunk) for chunk in chunks]
        return torch.cat([logits for logits, _ in parts]), torch.cat([value for _, value in parts])

    def _logits_and_value(self, obs: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        data, x, pooled, glob_h = self.encode(obs)
        b, n_max = data.num_graphs, data.n_max
        legal = data.action_mask.nonzero().squeeze(-1)
        g = data.batch.index_select(0, legal)
        node_in = torch.cat([x.index_select(0, legal), pooled.index_select(0, g), glob_h.index_select(0, g)], dim=1)
        node_logits = self.actor(node_in).squeeze(-1)
        logits = torch.full((b * n_max,), MASKED_LOGIT, dtype=node_logits.dtype, device=node_logits.device)
        logits = logits.index_put((data.pad_index.index_select(0, legal),), node_logits).view(b, n_max)
        value = self.critic(torch.cat([pooled, glob_h], dim=1)).squeeze(-1)
        return logits, value

    def value(self, obs: Mapping[str, Any], micro_batch: int | None = None) -> torch.Tensor:
        """The state value only (skips the actor head), in chunks of ``micro_batch`` graphs (None:
        ``config.micro_batch``; the values are the same, chunks only keep the activations in cache); without
        gradients and with ``config.threads`` above 1, the chunks run in that many threads (the same values)."""
        chunks = self._chunks(obs, self.config.micro_batch if micro_batch is None else micro_batch)
        if chunks is None:
            return self._pass("_value")(obs)
        if self._in_threads(obs) and not torch.is_grad_enabled():  # eager in the threads
            return torch.cat(map_in_threads(self._value, chunks, self.config.threads))
        one_chunk = self._pass("_value")
        return torch.cat([one_chunk(chunk) for chunk in chunks])

    def _in_threads(self, obs: Mapping[str, Any]) -> bool:
        """Whether this pass runs its chunks in ``config.threads`` threads: on the CPU only (on a GPU one thread
        already feeds the device; the chunks then run one after the other, as with ``threads=1``)."""
        n_nodes = obs["n_nodes"]
        return self.config.threads > 1 and (not isinstance(n_nodes, torch.Tensor) or n_nodes.device.type == "cpu")

    def _value(self, obs: Mapping[str, Any]) -> torch.Tensor:
        _, _, pooled, glob_h = self.encode(obs)
        return self.critic(torch.cat([pooled, glob_h], dim=1)).squeeze(-1)

    @staticmethod
    def _chunks(obs: Mapping[str, Any], size: int) -> list[dict[str, Any]] | None:
        """``obs`` cut along the batch axis into consecutive chunks of ``size`` graphs (views, no copies), or
        None when one pass does (``size`` 0 or at least the batch). Graphs are independent in every layer
        (messages stay inside a graph, pooling is per graph), so chunks give the same outputs."""
        if size <= 0:
            return None
        n = int(len(obs["n_nodes"]))
        if n <= size:
            return None
        return [{k: v[i:i + size] for k, v in obs.items()} for i in range(0, n, size)]

    def extra_state(self) -> dict[str, Any]:
        """What is needed besides the ``state_dict`` to rebuild this module."""
        model = {k: v for k, v in self.config.to_dict().items() if k not in EXECUTION_OPTIONS}
        # ``compile: false`` stays, as checkpoints have always had it; the later execution options are left out
        # (``rebuild`` gives them their defaults) so that a checkpoint also loads where they do not exist yet
        return {"spec": asdict(self.spec), "model": {**model, "compile": False}}

    @classmethod
    def rebuild(cls, extra: Mapping[str, Any]) -> "GraphActorCritic":
        """Inverse of :meth:`extra_state` (weights are loaded separately)."""
        return cls(GraphSpec(**extra["spec"]), GNNConfig.from_dict(extra["model"]))


def compatible(trained: GraphSpec, env: GraphSpec) -> str | None:
    """Why a module trained on ``trained`` cannot run on observations of ``env`` (None if it can).

    Sizes of nodes/edges may differ (the module is size-agnostic); feature counts must match and the
    env's type ids must fit the trained embeddings.
    """
    problems = []
    if trained.node_features != env.node_features:
        problems.append(f"node_features {env.node_features} != trained {trained.node_features}")
    if trained.global_features != env.global_features:
        problems.append(f"global_features {env.global_features} != trained {trained.global_features}")
    if env.n_node_types > trained.n_node_types:
        problems.append(f"n_node_types {env.n_node_types} > trained {trained.n_node_types}")
    if env.n_edge_types > trained.n_edge_types:
        problems.append(f"n_edge_types {env.n_edge_types} > trained {trained.n_edge_types}")
    for what, mine, theirs in (("node feature", trained.node_feature_names, env.node_feature_names),
                               ("global feature", trained.global_feature_names, env.global_feature_names)):
        if mine and theirs and tuple(mine) != tuple(theirs):
            i = next((k for k, (a, b) in enumerate(zip(mine, theirs)) if a != b), min(len(mine), len(theirs)))
            a = mine[i] if i < len(mine) else "(none)"
            b = theirs[i] if i < len(theirs) else "(none)"
            problems.append(f"{what} {i} means {b!r} in the env but {a!r} in the checkpoint")
    return "; ".join(problems) or None
