"""Give large freed buffers back to the system (glibc only).

glibc raises its mmap threshold each time a large block is freed, after which blocks of up to 32 MB
come from per-thread heaps that keep their memory when freed: the decoded segments the renderer
threads master (10-40 MB of samples each) then stayed in every thread's heap, and the day's process
grew by hundreds of MB it no longer used. A fixed threshold keeps such buffers mapped on their own,
returned the moment numpy frees them; smaller ones (the meters' 1 MB chunks) stay in the heap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
LARGE_BLOCK_BYTES = 4 << 20


@functools.cache
def return_large_blocks(threshold: int = LARGE_BLOCK_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes, once per process; False where there is no
    glibc (musl, macOS): there the allocator's own behaviour stands."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = bool(mallopt(_M_MMAP_THRESHOLD, threshold))
    if not done:
        log.debug("mallopt(M_MMAP_THRESHOLD) refused; large buffers stay in the heaps")
    return done
