"""The C allocator setting of a training process (``trainer.reuse_freed_memory``, on by default).

A PPO update allocates and frees the same large tensors over and over (a 128-graph chunk of 10x10 job shops
makes 3.3 MB activations per layer). glibc's ``malloc`` hands blocks that large out as fresh ``mmap``
mappings and returns them to the kernel when they are freed, so every such tensor pays a page fault on
each 4 KB page it touches before the first write (a ``zeros`` of 12,800 x 64 floats: about 0.5 CPU-ms, the
same order as a 12,800 x 64 x 64 matrix product). :func:`reuse_freed_memory` raises glibc's ``mmap``
threshold and its trim threshold (``mallopt``), so such blocks come from the heap and freed ones are
reused at once. The computation is untouched - the same numbers, bit for bit - and the process keeps up
to :data:`TRIM_THRESHOLD` of freed memory (plus a :data:`TOP_PAD` margin) instead of handing it back.
Measured on the ``jobshop-10x10`` preset's 256-graph update step with these settings (one thread, three
alternating rounds in separate processes, 2026-12-07 17:28-17:30 UTC, load about 2): 59.0 -> 50.4 CPU-ms
with ``compile + micro_batch=128 + bfloat16``, 124.8 -> 115.1 eager (docs/training.md, "Speed").
"""

from __future__ import annotations

import ctypes
import sys

#: ``mallopt`` parameter numbers (glibc's ``malloc.h``)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
#: blocks at least this large still get a mapping of their own (and go back to the kernel when freed): 32 MB,
#: the largest value ``mallopt(3)`` documents for 64-bit systems, well above a PPO update's activations (a
#: 256-graph 10x10 job-shop minibatch's largest, its per-edge messages, is about 18 MB)
MMAP_THRESHOLD: int = 32 << 20
#: free memory at the top of the heap kept for reuse before it is handed back to the kernel
TRIM_THRESHOLD: int = 256 << 20
#: extra memory requested from the kernel each time the heap grows
TOP_PAD: int = 64 << 20


def _glibc() -> ctypes.CDLL | None:
    """The process's glibc, or None (another C library or platform)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return None
    return libc


def on_glibc() -> bool:
    """Whether this process runs on glibc (where :func:`reuse_freed_memory` has something to set)."""
    return _glibc() is not None


def reuse_freed_memory() -> bool:
    """Set glibc's allocator of this process to keep and reuse freed large blocks (see the module docstring).

    Returns True when every setting was accepted; False where the process does not run on glibc (nothing is
    changed there) or where glibc refused one of them (the others are still applied). Process-wide and for the
    rest of the process; calling it again changes nothing."""
    libc = _glibc()
    if libc is None:
        return False
    settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD))
    accepted = [libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) == 1 for param, value in settings]
    return all(accepted)
