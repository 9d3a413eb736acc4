"""Opening a tool's SQLite store (MLflow's `mlflow.db`, a Trackio project) read-only, writing nothing beside it.

Both tools keep their databases in WAL mode. When a WAL database's last connection closes, SQLite checkpoints
and deletes `-wal`/`-shm`, so an idle store is a WAL-mode file with no `-wal` beside it. `mode=ro` on such a
file would *create* `-wal` and `-shm` in the watched folder (and could not remove them again), so an idle file
is opened `immutable=1`, which creates nothing; a write that starts meanwhile goes to a new `-wal` and ends in
a checkpoint into the main file, which `snapshot` detects so the caller reads again. While the tool has the
file open (`-wal` exists), plain `mode=ro` reads through the tool's own WAL index, never `immutable=1` (that
would read half-checkpointed pages). This is the one place expdesk opens a foreign database.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from expdesk.core.errors import SourceError
from expdesk.core.safefile import open_regular

SQLITE_MAGIC = b"SQLite format 3\x00"
#: a damaged schema makes column *names* invalid UTF-8, which sqlite3 decodes strictly (no text_factory)
DB_ERRORS = (sqlite3.Error, UnicodeDecodeError)


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


def fingerprint(path: Path) -> str:
    """Identity, size and mtime of the database and of its `-wal`: what a write to the store changes."""
    parts = []
    for suffix in ("", "-wal"):
        try:
            st = os.stat(f"{path}{suffix}")
            parts.append(f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append("-")
    return "|".join(parts)


def connect_ro(
    path: Path, busy_timeout_s: float, explain: Callable[[BaseException], str] = str
) -> sqlite3.Connection:
    """A read-only connection that writes nothing next to `path` (see the module docstring).

    `busy_timeout_s` is how long a read waits for a lock a writer holds. A `SourceError` if it cannot open,
    with SQLite's message as the tool's `explain` words it.
    """
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    if idle_wal(path):
        uri += "&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout_s, check_same_thread=False)
        conn.execute("PRAGMA query_only=1")
    except DB_ERRORS as exc:
        raise SourceError(path, f"cannot open read-only: {explain(exc)}") from None
    # TEXT columns hold whatever bytes the writer stored: invalid UTF-8 is shown replaced, not a crash
    conn.text_factory = lambda raw: raw.decode("utf-8", "replace")
    return conn
