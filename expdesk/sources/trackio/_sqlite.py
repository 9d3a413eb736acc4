"""Trackio's side of opening its project databases read-only (the opener is `sources.common.sqlite_ro`).

Trackio opens one connection per write batch, so an idle project has no `-wal` and is read `immutable=1`.
What cannot be avoided: a WAL reader holds a shared lock on the file while its connection is open, and a
Trackio connection that closes meanwhile then cannot checkpoint and delete `-wal`/`-shm` (SQLite leaves them
for the next close, which Trackio's next write does). Connections here live for one read (milliseconds), and
a watched run is read ~300 ms after Trackio's write, so this needs a read that overlaps Trackio's very last
close; `live_check.py` next to the Trackio fixtures shows it under a read loop with no pause.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from expdesk.sources.common import sqlite_ro
from expdesk.sources.common.sqlite_ro import DB_ERRORS, idle_wal, looks_like_sqlite, snapshot

__all__ = ["DB_ERRORS", "connect_ro", "explain", "idle_wal", "looks_like_sqlite", "snapshot"]

#: how long a read waits for a lock. Trackio's WAL writers never block readers; only a project opened with
#: `TRACKIO_SQLITE_LOCKING_MODE=exclusive` (or on a Space) does, and then every run would wait this long
BUSY_TIMEOUT_S = 2.0


def connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite_ro.connect_ro(path, BUSY_TIMEOUT_S, explain)


def explain(exc: BaseException) -> str:
    """SQLite's message, with what it means for a Trackio project."""
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return f"{text} (another process holds the project; Trackio with exclusive locking?)"
    if "malformed" in lowered or "not a database" in lowered or "disk i/o" in lowered:
        return f"{text} (the file is damaged or was copied while Trackio wrote it)"
    return text
