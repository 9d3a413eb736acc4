"""What a Trackio project database looks like, across the Trackio versions that wrote one.

One file per project, `<TRACKIO_DIR>/<project>.db` (TRACKIO_DIR defaults to `~/.cache/huggingface/trackio`).
The tables a reader needs, and how they changed (read from each version's `sqlite_storage.py`):

| Trackio | change |
|---|---|
| 0.0.1 | `metrics(id, timestamp, project_name, run_name, metrics)`, no step (the row order is the step); `timestamp DEFAULT CURRENT_TIMESTAMP` (SQLite's UTC, `YYYY-MM-DD HH:MM:SS`); `configs(project_name, run_name, config, created_at)`; every project in one `trackio.db`; rows written with `json.dumps` (a NaN is the bare literal `NaN`) until 0.4 |
| 0.0.11 | one file per project, still with `project_name` |
| 0.0.17 | `step`; timestamps `datetime.now().isoformat()`, local time without a zone; no `configs` table |
| 0.0.20 | `metrics(id, timestamp, run_name, step, metrics)`: `project_name` gone |
| 0.3 - 0.4 | WAL journal; `configs(run_name, config, created_at)`; values through `serialize_values` + orjson (NaN, ±inf as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`) |
| 0.16 | `system_metrics(id, timestamp, run_name, metrics)`: samples with a timestamp and no step |
| 0.17 | timestamps in UTC with `+00:00` |
| 0.20 | `alerts`, `project_metadata`, `pending_uploads` |
| 0.24 | `run_id` on every run table (two runs may share a name); `PRAGMA user_version` = 2 after the migration that gave older files a `run_id` per distinct name |
| later | `log_id`/`space_id` (sync bookkeeping), `traces`, `artifacts`/`artifact_versions`/run links |
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from expdesk.core.errors import SourceError

#: the newest `PRAGMA user_version` whose layout this reader was written against (Trackio 0.24 - 0.43)
KNOWN_SCHEMA_VERSION = 2
#: the columns that make a `metrics` table Trackio's (MLflow's has key/value/run_uuid instead), with a step or,
#: in the prototypes, a project name
METRICS_COLUMNS = frozenset({"id", "timestamp", "run_name", "metrics"})
#: per table, the columns read; a table missing one of them is not read (and said so)
READ_COLUMNS = {
    "metrics": METRICS_COLUMNS,
    "configs": frozenset({"run_name", "config"}),
    "system_metrics": frozenset({"id", "timestamp", "run_name", "metrics"}),
    "alerts": frozenset({"timestamp", "run_name", "title", "text", "level", "step"}),
    "traces": frozenset({"run_id", "key", "step"}),
}


@dataclass(frozen=True)
class Schema:
    """The tables of one project file and their columns."""

    version: int
    columns: dict[str, frozenset[str]]

    @property
    def by_id(self) -> bool:
        """Runs are told apart by `run_id` (Trackio >= 0.24); before that a run is its name."""
        return "run_id" in self.columns.get("metrics", frozenset())

    @property
    def shared(self) -> bool:
        """A prototype file (Trackio 0.0.1 - 0.0.16): rows name their project, a run is (project, name)."""
        return "project_name" in self.columns.get("metrics", frozenset())

    @property
    def has_step(self) -> bool:
        return "step" in self.columns.get("metrics", frozenset())

    def readable(self, table: str) -> bool:
        return READ_COLUMNS[table] <= self.columns.get(table, frozenset())

    def identity_column(self, table: str) -> str:
        return "run_id" if "run_id" in self.columns.get(table, frozenset()) else "run_name"

    def newer_than_known(self) -> str | None:
        """A note when a newer Trackio wrote the file: it is read with the known layout, and the run says so."""
        if self.version > KNOWN_SCHEMA_VERSION:
            return (
                f"Trackio schema version {self.version} is newer than the {KNOWN_SCHEMA_VERSION} expdesk knows: "
                "read with the version-2 layout (values a newer Trackio added may be missing)"
            )
        return None


def tables(conn: sqlite3.Connection) -> dict[str, frozenset[str]]:
    """Every table's column names. `pragma_table_info` reads the schema only, never a data page."""
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    out = {}
    for name in names:
        rows = conn.execute("SELECT name FROM pragma_table_info(?)", (name,)).fetchall()
        out[name] = frozenset(r[0] for r in rows)
    return out


def is_trackio(columns: dict[str, frozenset[str]]) -> bool:
    """Trackio's `metrics` table, and none of MLflow's markers (a foreign `.db` is never claimed)."""
    return columns.get("metrics", frozenset()) >= METRICS_COLUMNS and "alembic_version" not in columns


def is_foreign(columns: dict[str, frozenset[str]]) -> bool:
    """Surely another tool's file: MLflow's markers, or no `metrics` table at all."""
    return "alembic_version" in columns or "metrics" not in columns


#: (file, inode) -> ((schema cookie, user_version), Schema): every run of a project re-reads the same schema
_SEEN: dict[tuple[str, int], tuple[tuple[int, int], Schema]] = {}
_SEEN_MAX = 256


def inspect(conn: sqlite3.Connection, where: str, inode: int | None = None) -> Schema:
    """The schema of an open project file, or a SourceError naming what is missing.

    With the file's inode, a schema read before is reused while SQLite's schema cookie (bumped by every
    CREATE/ALTER/DROP) and the user version are unchanged: one pragma instead of one per table.
    """
    cookie = int(conn.execute("PRAGMA schema_version").fetchone()[0])
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    key = (where, inode) if inode is not None else None
    if key is not None:
        seen = _SEEN.get(key)
        if seen is not None and seen[0] == (cookie, version):
            return seen[1]
    columns = tables(conn)
    if not is_trackio(columns):
        missing = sorted(METRICS_COLUMNS - columns.get("metrics", frozenset())) or ["step"]
        raise SourceError(where, f"not a Trackio project any more: table metrics lacks {', '.join(missing)}")
    found = Schema(version, columns)
    if key is not None:
        if len(_SEEN) >= _SEEN_MAX:
            _SEEN.clear()
        _SEEN[key] = ((cookie, version), found)
    return found
