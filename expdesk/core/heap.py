"""The C heap of a long session: fewer malloc arenas, and free pages handed back to the system (glibc).

A window left open all day allocates and frees in bursts on several threads (the index writer, the chart
render thread, query pools whose threads come and go). glibc gives each thread that meets a locked arena
an arena of its own (up to 8 per core) and keeps the freed pages of all of them mapped, so the resident
size of the process climbs for the first hours although nothing leaks: the memory is free, but the system
does not get it back. Two standard remedies, both no-ops where the C library is not glibc:

* `limit_arenas()`: at most two arenas (what `MALLOC_ARENA_MAX=2` does), set before the threads start;
* `HeapTrimmer`: a daemon thread calling `malloc_trim(0)` now and then, which returns every whole free page
  of every arena (`madvise(MADV_DONTNEED)`); ctypes releases the GIL for the call, so no Python thread waits.

The figures that justify them are in `expdesk.app._tune_heap` (benchmarks/bench_soak.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import threading
from functools import cache

#: mallopt parameter number of glibc's `M_ARENA_MAX` (malloc.h)
_M_ARENA_MAX = -8
#: seconds between two trims of `HeapTrimmer`
TRIM_EVERY_S = 20.0


@cache
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.malloc_trim.restype = ctypes.c_int
    return libc


def limit_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas (threads share them). Effective for arenas not yet made; True if set."""
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, arenas) == 1)


def trim() -> bool:
    """Hand the heap's free pages back to the system now; True if glibc released any."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)


class HeapTrimmer:
    """A daemon thread that calls `trim()` every `every` seconds until `stop()` (or the process ends)."""

    def __init__(self, every: float = TRIM_EVERY_S) -> None:
        self.every = every
        self.trims = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heap-trimmer", daemon=True)

    @property
    def supported(self) -> bool:
        return _glibc() is not None

    def start(self) -> HeapTrimmer:
        if self.supported and not self._thread.is_alive():
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            trim()
            self.trims += 1
