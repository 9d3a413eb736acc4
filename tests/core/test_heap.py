"""The C heap's upkeep (expdesk/core/heap.py): free pages go back to the system; the trimmer thread runs."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import textwrap
import time

import pytest

from expdesk.core import heap

glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's"
)

#: in a fresh interpreter: 40 MB of small C blocks freed except the topmost (which pins the heap's top, so
#: free() cannot shrink it), RSS read before and after `heap.trim()`
_PROBE = textwrap.dedent(
    """
    import ctypes, json
    from expdesk.core import heap
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    page = 4096
    def rss():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * page / 2**20
    blocks = [libc.malloc(1024) for _ in range(40_000)]
    for b in blocks:
        ctypes.memset(b, 1, 1024)
    for b in blocks[:-1]:
        libc.free(b)
    before = rss()
    released = heap.trim()
    print(json.dumps({"before": before, "after": rss(), "released": released}))
    """
)


@glibc
def test_trim_gives_free_pages_back_to_the_system() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True)
    figures = json.loads(out.stdout)
    assert figures["released"] is True
    assert figures["before"] - figures["after"] > 30, figures  # of the ~40 MB freed but still resident


@glibc
def test_limit_arenas_is_accepted() -> None:
    assert heap.limit_arenas(2) is True


def test_trimmer_trims_until_stopped() -> None:
    trimmer = heap.HeapTrimmer(every=0.01).start()
    try:
        if not trimmer.supported:
            pytest.skip("no glibc here: the trimmer does not start")
        for _ in range(500):
            if trimmer.trims >= 2:
                break
            time.sleep(0.01)
        assert trimmer.trims >= 2
    finally:
        trimmer.stop()
    done = trimmer.trims
    time.sleep(0.05)
    assert trimmer.trims == done, "no trim after stop()"
