"""Opening a Trackio project database read-only without leaving a byte behind.

Trackio keeps its databases in WAL mode and opens one connection per write batch; when the last connection
closes, SQLite checkpoints and deletes `-wal`/`-shm`. So an idle project is a WAL-mode file with no `-wal`
beside it. `mode=ro` on such a file would *create* `-wal` and `-shm` in the watched folder (and could not
remove them again), so an idle file is opened `immutable=1`, which creates nothing; a Trackio write that
starts meanwhile goes to a new `-wal` and ends in a checkpoint into the main file, which `snapshot`
detects so the caller reads again. While Trackio has the file open (`-wal` exists), plain `mode=ro` reads
through Trackio's own WAL index, never `immutable=1` (that would read half-checkpointed pages).

What cannot be avoided: a WAL reader holds a shared lock on the file while its connection is open, and a
Trackio connection that closes meanwhile then cannot checkpoint and delete `-wal`/`-shm` (SQLite leaves them
for the next close, which Trackio's next write does). Connections here live for one read (milliseconds), and
a watched run is read ~300 ms after Trackio's write, so this needs a read that overlaps Trackio's very last
close; `live_check.py` next to the Trackio fixtures shows it under a read loop with no pause.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from expdesk.core.errors import SourceError
from expdesk.core.safefile import open_regular

SQLITE_MAGIC = b"SQLite format 3\x00"
#: a damaged schema makes column names invalid UTF-8, which sqlite3 decodes strictly
DB_ERRORS = (sqlite3.Error, UnicodeDecodeError)
#: how long a read waits for a lock. Trackio's WAL writers never block readers; only a project opened with
#: `TRACKIO_SQLITE_LOCKING_MODE=exclusive` (or on a Space) does, and then every run would wait this long
BUSY_TIMEOUT_S = 2.0


def header(path: Path) -> bytes:
    """The first 20 bytes of a regular file; b"" for a link, FIFO, device or an unreadable file."""
    try:
        fd, _st = open_regular(path)
    except SourceError:
        return b""
    try:
        return os.read(fd, 20)
    except OSError:
        return b""
    finally:
        os.close(fd)


def looks_like_sqlite(path: Path) -> bool:
    return header(path)[:16] == SQLITE_MAGIC


def idle_wal(path: Path) -> bool:
    """A WAL-mode database no process has open: bytes 18/19 of the header are 2 and there is no `-wal`."""
    head = header(path)
    return len(head) == 20 and head[18] == 2 and not os.path.exists(f"{path}-wal")


def snapshot(path: Path) -> tuple[object, ...]:
    """What changes when a writer touches an idle database: identity, size, mtime, and a `-wal` appearing."""
    try:
        st = os.stat(path)
    except OSError:
        return ("missing",)
    return (st.st_ino, st.st_size, st.st_mtime_ns, os.path.exists(f"{path}-wal"))


def connect_ro(path: Path) -> sqlite3.Connection:
    """A read-only connection that writes nothing next to `path` (see the module docstring)."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    if idle_wal(path):
        uri += "&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        conn.execute("PRAGMA query_only=1")
    except DB_ERRORS as exc:
        raise SourceError(path, f"cannot open read-only: {explain(exc)}") from None
    # TEXT columns hold whatever bytes the writer stored: invalid UTF-8 is shown replaced, not a crash
    conn.text_factory = lambda raw: raw.decode("utf-8", "replace")
    return conn


def explain(exc: BaseException) -> str:
    """SQLite's message, with what it means for a Trackio project."""
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return f"{text} (another process holds the project; Trackio with exclusive locking?)"
    if "malformed" in lowered or "not a database" in lowered or "disk i/o" in lowered:
        return f"{text} (the file is damaged or was copied while Trackio wrote it)"
    return text
