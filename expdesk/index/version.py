"""Can this code use the index file at a path? Decided read-only, before anything opens it for writing.

The schema is the list of migrations applied to it (sqlite-utils records each by name in
`_sqlite_migrations`, set "expdesk"). A name this code does not register was applied by a newer expdesk: its
tables may hold rows or columns we would misread, or lose when we write, so the file is refused as it is.
A file with tables but no expdesk migration record is some other program's database (an `mlflow.db` given by
mistake): migrating it would write our tables into it, so it is refused too. Only a missing or empty file
is created, and an older index is migrated forward, by `db.ensure_db`.
"""

from __future__ import annotations

import sqlite3
from enum import StrEnum
from pathlib import Path

from sqlite_utils import Database

from expdesk.core.errors import ExpdeskError
from expdesk.index.db import open_reader
from expdesk.index.schema import MIGRATIONS

#: the first bytes of every SQLite database file
SQLITE_HEADER = b"SQLite format 3\x00"


class IndexTooNew(ExpdeskError):
    """The index was written by a newer expdesk (its schema has migrations this version does not know)."""

    def __init__(self, path: Path, unknown: list[str]) -> None:
        self.path = path
        self.unknown = unknown
        super().__init__(
            f"the index at {path} was written by a newer expdesk (its schema steps {', '.join(unknown)} are"
            " unknown to this one): upgrade expdesk, or open another index; nothing was changed"
        )


class NotAnIndex(ExpdeskError):
    """The file exists but is not an expdesk index (another program's database, or not SQLite at all)."""


class IndexState(StrEnum):
    MISSING = "missing"  # no file, or an empty one: `ensure_db` creates the schema
    OLDER = "older"  # an expdesk index with migrations still to apply: `ensure_db` applies them
    CURRENT = "current"


def known_migrations() -> list[str]:
    """The names of the migrations this code registers, in order."""
    # sqlite-utils keeps the registered migrations in `_migrations`; it has no public accessor for them
    return [m.name for m in MIGRATIONS._migrations]


def index_state(path: Path) -> IndexState:
    """What the file at `path` is to this code. Raises `IndexTooNew` or `NotAnIndex`; never writes."""
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        return IndexState.MISSING
    if not path.is_file():
        raise NotAnIndex(f"{path} is not a file")
    with path.open("rb") as f:
        if f.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise NotAnIndex(f"{path} is not an expdesk index (not an SQLite database); nothing was changed")
    conn = open_reader(path)
    try:
        db = Database(conn, recursive_triggers=False)  # no PRAGMA on our behalf: look, do not touch
        try:
            tables = set(db.table_names())
            applied = [m.name for m in MIGRATIONS.applied(db)]
        except sqlite3.DatabaseError as exc:
            raise NotAnIndex(f"{path} is not an expdesk index ({exc}); nothing was changed") from None
    finally:
        conn.close()
    if not tables:
        return IndexState.MISSING
    if not applied:
        shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        raise NotAnIndex(
            f"{path} is an SQLite database but not an expdesk index (its tables: {shown}); nothing was changed"
        )
    known = known_migrations()
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise IndexTooNew(path, unknown)
    return IndexState.OLDER if len(set(applied)) < len(known) else IndexState.CURRENT
