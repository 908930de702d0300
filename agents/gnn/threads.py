"""Chunks of a training pass in parallel threads (the ``agent.model.threads`` execution option).

The PPO update is most of a training run's CPU time, and one torch thread per process is the presets'
setting: torch's own intra-op threads do not pay on these graphs (the compiled GIN layers' scatter then
adds floats atomically, and the atomics cost more than the second core gives; docs/training.md, "Speed").
Graphs are independent in every layer, so a minibatch cut into ``micro_batch`` chunks can instead run
chunk by chunk in separate threads, each forward *and* backward on one core:

* :func:`chunks_in_threads` runs every chunk's forward in a thread pool (with gradients, each chunk's
  autograd graph kept), and returns the concatenated outputs as one autograd node, :class:`_ChunksInThreads`;
* when the loss's backward reaches that node, it hands each chunk its slice of the output gradient and
  runs ``torch.autograd.grad`` of every chunk in the pool, then sums the parameters' gradients **in chunk
  order**, so that a run repeats bit for bit whatever order the threads finish in.

The loss, its backward up to the model's outputs, the optimizer and everything around them are the
backend's own (SB3's or RLlib's), unchanged. The function and its gradient are the same as in one thread
(the chunks' parameter gradients are summed in another order: float rounding; tested).

Torch releases Python's GIL inside its operators, so the chunks overlap except for Python's own work
between the operators. TorchInductor's CPU kernels (the compiled GIN layers of ``agent.model.compile``) are
called through Python bindings that hold the GIL while the kernel runs, so two threads could not run
them at once (measured: no gain at all with compile). :func:`release_gil_in_compiled_kernels` makes
the bindings compiled from then on release it around the kernel call (the arguments are read first, with
the GIL; the kernels touch no Python object). It changes one template string of torch's private code
cache, and only when that string is the one it knows; otherwise nothing changes (a module with
``threads > 1`` warns) and the threads still run, with less overlap. The model applies it before it compiles its GIN layer for the first time in a process,
whatever ``threads`` is (the kernels are the same; a module built later with threads then finds kernels
it can overlap, whichever module compiled them).

Thread safety: ``torch.autocast``'s cache of cast weights is one cache for the whole process, and a thread
leaving autocast clears it while another reads it (a deadlock between that cache's mutex and the GIL,
seen here); the model's autocast therefore runs with ``cache_enabled=False`` (one cast per chunk, as
before: each weight is used once per chunk). ``torch.compile`` builds a graph's backward lazily, at its
first backward, without a lock: the first passes of each module run their chunks one after the other, and
a later pass whose forward compiled a new graph runs its backward in one thread. Torch's thread count is
kept per thread: each task gives its worker the caller's count. Gradients flow to the parameters only
(observations that require gradients get none), and not through a second backward (``create_graph``);
parameters with gradient hooks are refused (a hook would run once per chunk and again on the sum).
"""

from __future__ import annotations

import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import torch
from torch.autograd.function import once_differentiable

#: one pool per thread count, shared by every module of the process (a pool is not picklable, and modules
#: are pickled by RLlib and copied by SB3)
_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _forget_pools_in_child() -> None:
    """A forked child has none of the parent's worker threads (and may inherit the lock held): fresh ones."""
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools_in_child)

ChunkFn = Callable[[dict[str, Any]], tuple[torch.Tensor, torch.Tensor]]


#: TorchInductor's statement that calls a CPU kernel from its Python binding (torch 2.13), and the one that
#: releases the GIL around the call (``{}``: the parsed arguments; braces doubled for ``str.format``)
_KERNEL_CALL_HOLDING_GIL = "kernel({}); Py_RETURN_NONE;"
#: The GIL is taken back by a guard's destructor, so also when the kernel throws (its bounds checks do, on an
#: index out of range): the binding's ``catch`` then turns the exception into a Python ``RuntimeError`` as the
#: stock binding does (with ``Py_BEGIN/END_ALLOW_THREADS`` the exception skipped the re-acquire: a segfault).
_KERNEL_CALL_RELEASING_GIL = (
    "{{ auto parsed_args = std::make_tuple({}); "
    "struct GilReleased {{ PyThreadState* state = PyEval_SaveThread(); ~GilReleased() {{ PyEval_RestoreThread(state); }} }}; "
    "{{ GilReleased released; std::apply(kernel, parsed_args); }} }} Py_RETURN_NONE;")


def release_gil_in_compiled_kernels(warn: bool = False) -> bool:
    """Make TorchInductor's CPU kernels compiled from now on in this process release the GIL while they run;
    True if they do (now or already). Bindings are cached by their source, so kernels compiled before keep
    holding it. Where torch's template is not the one this knows, nothing changes (with a warning if ``warn``:
    a module with ``threads > 1`` asks for one)."""
    try:
        from torch._inductor.codecache import CppPythonBindingsCodeCache as bindings
    except ImportError:  # pragma: no cover - a torch without inductor: nothing compiles anyway
        return False
    if bindings.call_entry_function == _KERNEL_CALL_RELEASING_GIL:
        return True
    if bindings.call_entry_function != _KERNEL_CALL_HOLDING_GIL or "#include <sstream>" not in bindings.suffix_template:
        if not warn:
            return False
        warnings.warn("agent.model.threads: this torch's compiled CPU kernels cannot be made to release the GIL "
                      "(unknown binding template); the compiled layers of parallel chunks will run one at a time",
                      RuntimeWarning, stacklevel=2)
        return False
    bindings.suffix_template = bindings.suffix_template.replace("#include <sstream>", "#include <sstream>\n#include <tuple>", 1)
    bindings.call_entry_function = _KERNEL_CALL_RELEASING_GIL
    return True


def pool_of(threads: int) -> ThreadPoolExecutor:
    """The process's pool of ``threads`` worker threads (created on first use)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(threads)
        if pool is None:
            pool = _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix=f"schedgym-chunks{threads}")
        return pool


def _pool_map(threads: int, work: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``[work(item) for item in items]`` in the pool of ``threads`` threads, in order. Each task first gives its
    worker the caller's torch thread count: torch keeps a count per thread, fixed when the thread first used it,
    and the pools live as long as the process (a worker created when the count was 2 would otherwise run later
    passes with 2 intra-op threads, eagerly, with other float rounding)."""
    n = torch.get_num_threads()

    def in_worker(item: Any) -> Any:
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        return work(item)
    return list(pool_of(threads).map(in_worker, items))


def map_in_threads(fn: Callable[[dict[str, Any]], Any], chunks: Sequence[dict[str, Any]], threads: int) -> list[Any]:
    """``[fn(chunk) for chunk in chunks]`` computed in the pool of ``threads`` threads, for passes without
    gradients (RLlib's value pass over a whole train batch): each chunk's outputs are what one thread gives,
    bit for bit."""
    def one(chunk: dict[str, Any]) -> Any:
        with torch.no_grad():
            return fn(chunk)
    return _pool_map(threads, one, chunks)


def chunks_in_threads(fn: ChunkFn, chunks: Sequence[dict[str, Any]], params: Sequence[torch.nn.Parameter],
                      threads: int, serial: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cat of fn(chunk)[0], cat of fn(chunk)[1])`` over ``chunks``, with every chunk's forward and
    backward run in a pool of ``threads`` threads (one chunk per thread at a time).

    ``fn`` maps a chunk of observations to two tensors with the batch axis first (the model's logits and
    values); ``params`` are the parameters whose gradients the backward computes (those that do not require
    gradients are left alone). ``serial=True`` runs the chunks one after the other in the calling thread
    (same results bit for bit: the first pass of a module, so that compiling happens in one thread)."""
    trainable = [p for p in params if p.requires_grad]
    hooked = [i for i, p in enumerate(trainable) if getattr(p, "_backward_hooks", None)]
    if hooked:
        raise RuntimeError(f"agent.model.threads: {len(hooked)} parameter(s) have gradient hooks (Tensor.register_hook), "
                           "which would run once per chunk and again on the sum; use threads=1, or a hook after "
                           "accumulation (register_post_accumulate_grad_hook), which runs once")
    run = _ChunkRun(fn, list(chunks), trainable, threads, serial)
    return _ChunksInThreads.apply(run, *trainable)


class _ChunkRun:
    """The state one :class:`_ChunksInThreads` node keeps between its forward and its backward."""

    def __init__(self, fn: ChunkFn, chunks: list[dict[str, Any]], params: list[torch.nn.Parameter],
                 threads: int, serial: bool) -> None:
        self.fn = fn
        self.chunks = chunks
        self.params = params
        self.threads = threads
        self.serial = serial
        self.outputs: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.compiled_now = False  # whether the forward compiled a new graph (see forward)

    def _map(self, work: Callable[[int], Any], serial: bool) -> list[Any]:
        """``work`` of every chunk index, in the calling thread (``serial``) or in the pool."""
        indices = range(len(self.chunks))
        return [work(i) for i in indices] if serial else _pool_map(self.threads, work, indices)

    def forward(self) -> None:
        def one(i: int) -> tuple[torch.Tensor, torch.Tensor]:
            with torch.enable_grad():
                return self.fn(self.chunks[i])
        graphs_before = _compiled_graphs()
        self.outputs = self._map(one, self.serial)
        # a graph compiled in this forward (dynamo compiles under its lock) gets its backward compiled lazily, at
        # its first backward, without a lock: that backward runs in one thread
        self.compiled_now = _compiled_graphs() != graphs_before

    def backward(self, grad_first: torch.Tensor | None, grad_second: torch.Tensor | None) -> list[torch.Tensor | None]:
        sizes = [int(first.shape[0]) for first, _ in self.outputs]
        grads_first = grad_first.split(sizes) if grad_first is not None else [None] * len(sizes)
        grads_second = grad_second.split(sizes) if grad_second is not None else [None] * len(sizes)

        def one(i: int) -> tuple[torch.Tensor | None, ...]:
            pairs = [(out, seed) for out, seed in zip(self.outputs[i], (grads_first[i], grads_second[i]))
                     if seed is not None and out.requires_grad]
            if not pairs:
                return tuple(None for _ in self.params)
            return torch.autograd.grad([o for o, _ in pairs], self.params, [g for _, g in pairs], allow_unused=True)

        per_chunk = self._map(one, self.serial or self.compiled_now)
        self.outputs = []  # the chunks' graphs are freed with them
        return [_sum_in_order(grads) for grads in zip(*per_chunk)]


def _compiled_graphs() -> int:
    """How many graphs dynamo has compiled in this process (0 where torch has no dynamo)."""
    try:
        from torch._dynamo.utils import counters
    except ImportError:  # pragma: no cover
        return 0
    return int(counters["stats"]["unique_graphs"])


def _sum_in_order(grads: Sequence[torch.Tensor | None]) -> torch.Tensor | None:
    """The sum of a parameter's gradients over the chunks, added in chunk order (None where no chunk has one)."""
    total: torch.Tensor | None = None
    for g in grads:
        if g is not None:
            total = g if total is None else total + g
    return total


class _ChunksInThreads(torch.autograd.Function):
    """One autograd node for a pass whose chunks run forward and backward in worker threads."""

    @staticmethod
    def forward(ctx: Any, run: _ChunkRun, *params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        run.forward()
        ctx.run = run
        # an output the loss does not use gets None, not zeros: its part of the graph is not walked, and its
        # parameters get no gradient (None), as in one thread
        ctx.set_materialize_grads(False)
        first = torch.cat([f.detach() for f, _ in run.outputs])
        second = torch.cat([s.detach() for _, s in run.outputs])
        return first, second

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_first: torch.Tensor | None, grad_second: torch.Tensor | None) -> tuple[Any, ...]:  # type: ignore[override]
        run: _ChunkRun = ctx.run
        if not run.outputs:
            raise RuntimeError("agent.model.threads: this pass's backward ran twice (retain_graph is not supported)")
        return (None, *run.backward(grad_first, grad_second))
