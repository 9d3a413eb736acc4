"""Work around a PySide6 refcount bug that kills long sessions on Python 3.11.

Seen with PySide6 6.12.0 on CPython 3.11: every call of a void-returning Qt method from Python (e.g.
`model.beginResetModel()`, `timer.setInterval(3)`) returns `None` without taking a reference, so the
refcount of `None` drifts down by one per call until CPython aborts with "none_dealloc: deallocating
None" (a 10,000-run table session reaches that within a minute). From Python 3.12 `None` is immortal
and the bug is harmless, so nothing is done there.

The fix is detected, not assumed: 256 void calls are made and the refcount compared. When affected,
`None`'s refcount is raised once by 2**40 so that it never reaches zero in any realistic session
(`None` is a static object, never freed; an inflated count changes nothing else).
"""

from __future__ import annotations

import ctypes
import sys

#: how far the refcount of None is raised when the bug is present
HEADROOM = 2**40
_applied = False


def none_refcount_leaks() -> bool:
    """True when void Qt calls leak a reference of None (the bug is present in this build)."""
    if sys.version_info >= (3, 12):
        return False
    from PySide6.QtCore import QTimer

    timer = QTimer()
    before = sys.getrefcount(None)
    for _ in range(256):
        timer.setInterval(1)
    return before - sys.getrefcount(None) >= 200


def protect_none_refcount() -> bool:
    """Apply the headroom once if needed; returns whether it was applied (now or earlier)."""
    global _applied
    if _applied:
        return True
    if not none_refcount_leaks():
        return False
    # ob_refcnt is the first field of every PyObject in CPython's release builds
    ctypes.c_ssize_t.from_address(id(None)).value += HEADROOM
    _applied = True
    return True
