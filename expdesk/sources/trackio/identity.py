"""Which rows are one run's, in each layout Trackio has used.

- Trackio >= 0.24: a run is its `run_id` (two runs may share a name); the native id is the run id.
- 0.0.17 - 0.23: a run is its name within the project file; the native id is the name.
- 0.0.1 - 0.0.16 (prototypes): rows carry a `project_name` as well (0.0.1 - 0.0.10 kept every project in one
  `trackio.db`); a run is a (project, name) pair, whose native id is the JSON pair `["project", "run"]`.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from expdesk.sources.trackio.schema import Schema

#: the tables that say a run exists (a run may hold only system samples, which Trackio's run list leaves out)
RUN_TABLES = ("metrics", "configs", "system_metrics")


@dataclass(frozen=True)
class Who:
    native_id: str
    name: str
    project: str  # the experiment: the file's name, or the row's `project_name` in a prototype file
    run_id: str | None = None  # Trackio's run id (>= 0.24)


def where(found: Schema, table: str, who: Who) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause (and its parameters) selecting `who`'s rows of `table`."""
    columns = found.columns.get(table, frozenset())
    if found.shared and "project_name" in columns:
        return "project_name = ? AND run_name = ?", (who.project, who.name)
    if who.run_id is not None and "run_id" in columns:
        return "run_id = ?", (who.run_id,)
    return "run_name = ?", (who.name,)


def native_ids(conn: sqlite3.Connection, found: Schema) -> list[str]:
    """Every run of the file. A skip-scan over the index on the identity column of each table: one seek per
    run, not a pass over every row (prototype files, small and without that index, are scanned)."""
    ids: set[str] = set()
    for table in RUN_TABLES:
        if not found.readable(table):
            continue
        if found.shared:
            if "project_name" in found.columns[table]:
                rows = conn.execute(f"SELECT DISTINCT project_name, run_name FROM {table}").fetchall()
                ids.update(json.dumps([str(p), str(r)], ensure_ascii=False) for p, r in rows)
            continue
        col = found.identity_column(table)
        if found.by_id != (col == "run_id"):
            continue  # a stray table keyed the other way than the project's runs
        rows = conn.execute(
            f"WITH RECURSIVE r(v) AS (SELECT MIN({col}) FROM {table} UNION ALL"
            f" SELECT (SELECT MIN({col}) FROM {table} WHERE {col} > r.v) FROM r WHERE r.v IS NOT NULL)"
            " SELECT v FROM r WHERE v IS NOT NULL"
        ).fetchall()
        ids.update(str(r[0]) for r in rows)
    return sorted(ids)


def resolve(conn: sqlite3.Connection, found: Schema, native_id: str, stem: str) -> Who | None:
    """The run behind a native id, with its current name; None when its rows are gone."""
    if found.shared:
        try:
            project, name = json.loads(native_id)
        except (ValueError, TypeError):
            return None
        who = Who(native_id, str(name), str(project))
    elif not found.by_id:
        who = Who(native_id, native_id, stem)
    else:
        for table in ("configs", "metrics", "system_metrics"):
            if found.readable(table) and found.identity_column(table) == "run_id":
                order = "" if table == "configs" else " ORDER BY id DESC"  # a renamed run: its newest name
                row = conn.execute(
                    f"SELECT run_name FROM {table} WHERE run_id = ?{order} LIMIT 1", (native_id,)
                ).fetchone()
                if row is not None:
                    return Who(native_id, str(row[0]), stem, native_id)
        return None
    for table in RUN_TABLES:
        if found.readable(table):
            clause, params = where(found, table, who)
            if conn.execute(f"SELECT 1 FROM {table} WHERE {clause} LIMIT 1", params).fetchone():
                return who
    return None
