"""On CPU, keep freed memory in the process for the next step, batch or outer iteration.

glibc's malloc serves each block above its mmap threshold (adaptive, at most 32 MiB) with a fresh
mmap and unmaps it at free. Distillation and evaluation allocate the same activations again and
again (tens of MB each: 256 images x 32 channels x 32 x 32 floats is 33 MB; one inference batch of
128 images through ConvNet's first layer is 67 MB), so without this every step page-faults them all
in again and the kernel zeroes every page. Raising the mmap and trim thresholds keeps those blocks
in the heap for reuse; the process then holds on to its peak memory. Numbers are unchanged; the
time it saves is in benchmarks/README.md. Setting the environment variables MALLOC_MMAP_THRESHOLD_
and MALLOC_TRIM_THRESHOLD_ before Python starts does the same.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform

import torch

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
HEAP_UP_TO = 1 << 30  # bytes: blocks up to 1 GiB are served from (and returned to) the heap
# The same setting for a process yet to start: glibc reads these variables at start-up.
ENVIRONMENT = {"MALLOC_MMAP_THRESHOLD_": str(HEAP_UP_TO), "MALLOC_TRIM_THRESHOLD_": str(HEAP_UP_TO)}


@functools.lru_cache(maxsize=None)
def reuse_freed_memory() -> bool:
    """Once per process; True when glibc took the setting, False elsewhere (other C libraries)."""
    if platform.system() != "Linux":
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # no C library found, or one without mallopt (musl)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, HEAP_UP_TO)) and bool(mallopt(M_TRIM_THRESHOLD, HEAP_UP_TO))


def reuse_freed_memory_on(device) -> None:
    """`reuse_freed_memory` when work runs on the CPU (a GPU's memory has its own caching allocator)."""
    if torch.device(device).type == "cpu":
        reuse_freed_memory()
