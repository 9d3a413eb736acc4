"""What lineage asks the index: run rows, parents and children, links pointing at a run, artifacts, and the
runs whose recorded files could share bytes with a given file (by size, before anything is hashed).

`expdesk.lineage.catalog` caches these per reader and turns file rows into `FileUse`s.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expdesk.core.artifact_uri import artifact_dirs
from expdesk.index.reader import IndexReader

_RUN_COLUMNS = (
    "key, format, path, root, store, native_id, name, experiment, status, native_status, start_time,"
    " end_time, parent_key, parent_native_id, info, error"
)


@dataclass(frozen=True)
class RunRow:
    key: str
    format: str
    path: str
    root: str
    native_id: str | None
    name: str | None
    experiment: str | None
    status: str
    native_status: str | None
    start_time: float | None
    end_time: float | None
    parent_key: str | None
    parent_native_id: str | None
    info: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    error: str | None = None
    store: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.native_id or Path(self.path).name or self.key

    @property
    def base(self) -> Path:
        """What paths inside a bundle are relative to: the run's store folder (an `mlruns/`, the folder of an
        `mlflow.db`) or else the run's own folder, never the watched root (which depends on how it was found)."""
        if self.store:
            store = Path(self.store)
            return store.parent if store == Path(self.path) or store.suffix == ".db" else store
        return Path(self.path)

    def relative(self, path: str | Path) -> str:
        """`path` relative to `base` (POSIX, may climb with `..` to a sibling of the run folder)."""
        try:
            return Path(os.path.relpath(Path(path).resolve(), self.base.resolve())).as_posix()
        except (
            ValueError
        ):  # another drive (Windows): no relative path exists; the name alone names no machine
            return Path(path).name

    def artifact_dirs(self) -> list[Path]:
        """Where artifact paths are relative to (`core.artifact_uri`: the same answer as `show` and the GUI)."""
        return artifact_dirs(self.path, self.info)


def run_row(reader: IndexReader, key: str) -> RunRow | None:
    r = reader.conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE key=?", (key,)).fetchone()
    if r is None:
        return None
    try:
        info = json.loads(r["info"] or "{}")
    except ValueError:
        info = {}
    return RunRow(
        key=r["key"],
        format=r["format"],
        path=r["path"],
        root=r["root"],
        native_id=r["native_id"],
        name=r["name"],
        experiment=r["experiment"],
        status=r["status"],
        native_status=r["native_status"],
        start_time=r["start_time"],
        end_time=r["end_time"],
        parent_key=r["parent_key"],
        parent_native_id=r["parent_native_id"],
        info=info if isinstance(info, dict) else {},
        error=r["error"],
        store=r["store"],
    )


def child_keys(reader: IndexReader, key: str) -> list[str]:
    """Runs whose parent is `key`, by key."""
    rows = reader.conn.execute("SELECT key FROM runs WHERE parent_key=? ORDER BY key", (key,))
    return [r[0] for r in rows]


def links_to(reader: IndexReader, key: str) -> list[dict[str, Any]]:
    """Links other runs recorded to `key` (the reverse of `IndexReader.links`)."""
    rows = reader.conn.execute("SELECT * FROM links WHERE target_key=? ORDER BY run_key, rule", (key,))
    return [{**dict(r), "evidence": json.loads(r["evidence"] or "{}")} for r in rows]


def artifacts(reader: IndexReader, key: str) -> list[tuple[str, int | None]]:
    """(path relative to the run's artifact folder, size) of a run's artifacts, by path."""
    rows = reader.conn.execute("SELECT path, size FROM artifacts WHERE run_key=? ORDER BY path", (key,))
    return [(r[0], r[1]) for r in rows]


def runs_with_files_of_size(reader: IndexReader, direction: str, size: int, exclude: str) -> list[str]:
    """Runs other than `exclude` that recorded a local file of this size (or of unknown size) in this
    direction ("input" or "output")."""
    rows = reader.conn.execute(
        "SELECT DISTINCT run_key FROM files WHERE direction = ? AND run_key != ? AND local IS NOT NULL"
        " AND (size = ? OR size IS NULL)",
        (direction, exclude, size),
    )
    return [r[0] for r in rows]


def artifacts_of_size(reader: IndexReader, size: int, exclude: str) -> list[tuple[str, str]]:
    """(run key, artifact path) of every artifact of this size in runs other than `exclude`."""
    rows = reader.conn.execute(
        "SELECT run_key, path FROM artifacts WHERE size = ? AND run_key != ? ORDER BY run_key, path",
        (size, exclude),
    )
    return [(r[0], r[1]) for r in rows]


def linked_to_path(reader: IndexReader, rule: str, target_path: str) -> list[str]:
    """Runs with a `rule` link to the folder `target_path` (e.g. the jobs of one Hydra multirun), by key."""
    rows = reader.conn.execute(
        "SELECT DISTINCT run_key FROM links WHERE rule=? AND target_path=? ORDER BY run_key",
        (rule, target_path),
    )
    return [r[0] for r in rows]


def input_sizes(reader: IndexReader) -> set[int | None]:
    """The sizes of every local file any run read (None: a file of unknown size)."""
    rows = reader.conn.execute(
        "SELECT DISTINCT size FROM files WHERE direction='input' AND local IS NOT NULL"
    )
    return {r[0] for r in rows}
