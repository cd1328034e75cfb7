"""The C allocator's settings for a process that runs tensor work on the CPU (glibc only).

An optimizer step, and a dataset scan's batch, allocate and free the same large activations and
gradients again and again. glibc's malloc gives blocks above its mmap threshold (128 KiB at
first, raised as such blocks are freed) back to the kernel when they are freed and trims the
heap's top, so the next step's blocks are fresh pages that the kernel faults in and zeroes one
by one, thousands of page faults per optimizer step. `keep_freed_memory()` raises the mmap and
trim thresholds (`mallopt`), so freed blocks stay in the process and the next step reuses them,
as jemalloc and tcmalloc do. The price: memory once used stays with the process until it ends
(a little more peak resident memory). The pictures are the same; `benchmarks/bench_alloc.py`
measures the time saved.

The command line calls it once per process (`generator.cli`, the CPU compute processes); the
library itself leaves the allocator of a program that imports it alone, and so does the command
line when the environment tunes glibc's malloc itself (`MALLOC_*`, `GLIBC_TUNABLES`).
"""

from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

KEEP_BYTES = 1 << 30  # blocks up to 1 GiB come from the heap and stay there once freed
TOP_PAD_BYTES = 64 << 20  # the heap grows by at least this much at a time

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Keep freed blocks in the process (glibc: `mallopt`). True when the settings took; False
    on another C library (musl, macOS, Windows) or when the environment has its own settings
    for glibc's malloc: nothing is changed then. Once per process."""
    global _applied
    if _applied is None:
        _applied = _mallopt()
    return _applied


def _mallopt() -> bool:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc" in tunables or any(name.startswith("MALLOC_") for name in os.environ):
        return False  # the user's own choice
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    settings = ((M_MMAP_THRESHOLD, KEEP_BYTES), (M_TRIM_THRESHOLD, KEEP_BYTES),
                (M_TOP_PAD, TOP_PAD_BYTES))
    return all(mallopt(param, value) == 1 for param, value in settings)
