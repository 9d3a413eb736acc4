"""Background threads yield the CPU to the GUI thread (Linux: a per-thread nice value).

On a machine whose cores are all busy (the index writer, the chart render thread, a query pool, and the
training jobs themselves), a GUI thread handed the GIL still waits for the scheduler to give it a core; the
soak benchmark's event-loop stalls were mostly that wait, with the GUI thread's own CPU time under half of
them. A worker of the window marks itself with `background()`: CFS then runs the GUI thread first whenever
it is runnable, and the workers get every cycle it leaves. Only the desktop app turns this on
(`expdesk.app.tune_process`): the CLI's threads are its foreground work.
"""

from __future__ import annotations

import os
import sys
import threading

#: nice value of a background thread (0 is the GUI thread's; 19 the lowest): weight 110 against 1024
BACKGROUND_NICE = 10

_state = {"enabled": False}
_marked = threading.local()


def enable_background_priority() -> None:
    """From now on `background()` lowers the priority of the thread calling it (the app's start-up)."""
    _state["enabled"] = True


def background() -> None:
    """Run the calling thread at `BACKGROUND_NICE` if the app enabled it; cheap to call per task."""
    if not _state["enabled"] or getattr(_marked, "done", False):
        return
    _marked.done = True
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:  # (a thread started by a background thread inherits its value: never lower it twice)
        if os.getpriority(os.PRIO_PROCESS, tid) < BACKGROUND_NICE:
            os.setpriority(os.PRIO_PROCESS, tid, BACKGROUND_NICE)
    except OSError:  # not permitted here (a sandbox): the thread keeps its priority
        pass
