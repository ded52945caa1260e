"""Large buffers freed by worker threads go back to the system (civic_briefs.native_memory): the
renderer threads' decoded segments stayed in glibc's per-thread heaps and the day grew by hundreds
of MB it no longer used. Each case runs in a fresh interpreter, as the day's process does."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys

import pytest

# Five threads each make and free 24 MB and 16 MB arrays three times, as renderer threads master
# segments; prints how much the resident set grew (MB) once they are done.
_THREADS_FREEING = """
import sys, threading
import numpy as np
if sys.argv[1] == "fixed":
    from civic_briefs.native_memory import return_large_blocks
    assert return_large_blocks()
def rss():
    return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) // 1024
def work():
    for _ in range(3):
        a = np.ones(3_000_000); b = a * 2; del a
        c = np.ones(2_000_000); del b, c
before = rss()
threads = [threading.Thread(target=work) for _ in range(5)]
[t.start() for t in threads]; [t.join() for t in threads]
print(rss() - before)
"""

glibc_only = pytest.mark.skipif(not sys.platform.startswith("linux") or "libc.so.6" not in (ctypes.util.find_library("c") or ""),
                                reason="the mmap threshold is glibc's")


def _growth(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", _THREADS_FREEING, mode], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


@glibc_only
def test_freed_large_buffers_leave_the_process_with_a_fixed_threshold():
    kept_by_default = _growth("default")
    kept_when_fixed = _growth("fixed")
    # 5 threads x 40 MB live at once: glibc's own threshold keeps most of it after they are done.
    assert kept_by_default >= 100, kept_by_default
    assert kept_when_fixed <= 16, kept_when_fixed


@glibc_only
def test_mastering_fixes_the_threshold_when_it_is_imported():
    code = "import civic_briefs.mastering as m; from civic_briefs import native_memory as n; print(n.return_large_blocks.cache_info().currsize)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
