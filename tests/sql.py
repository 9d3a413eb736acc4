"""Test-only SQL on the index, for assertions about what it stores. The product never does this: every
query it runs on the index is a named one in `expdesk.index` (tests/test_architecture.py checks)."""

from __future__ import annotations

import sqlite3
from typing import Any

from expdesk.index.reader import IndexReader


def query(reader: IndexReader, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    return reader.conn.execute(sql, params).fetchall()
