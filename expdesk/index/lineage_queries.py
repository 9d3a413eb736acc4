"""What lineage asks the index: run rows, parents and children, links pointing at a run, artifacts, and the
runs whose recorded files could share bytes with a given file (by size, before anything is hashed).

`expdesk.lineage.catalog` caches these per reader and turns file rows into `FileUse`s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expdesk.index.reader import IndexReader
from expdesk.index.runjson import relative_to_run, run_artifacts

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
    #: folders of a joined run's other parts (where their artifact paths are relative to, if not inside)
    part_paths: tuple[str, ...] = field(default=(), hash=False, compare=False)

    @property
    def label(self) -> str:
        return self.name or self.native_id or Path(self.path).name or self.key

    def artifact_dirs(self) -> list[Path]:
        """Where artifact paths are relative to: the reader's `artifact_dir` if recorded, else the folder."""
        dirs = []
        recorded = self.info.get("artifact_dir")
        if isinstance(recorded, str) and recorded:
            dirs.append(Path(recorded))
        folder = Path(self.path)
        dirs += [folder, folder / "artifacts"]
        dirs += [Path(p) for p in self.part_paths if Path(p) != folder]
        return dirs


def run_row(reader: IndexReader, key: str) -> RunRow | None:
    r = reader.conn.execute(f"SELECT {_RUN_COLUMNS} FROM run_rows WHERE key=?", (key,)).fetchone()
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
        part_paths=tuple(_part_paths(reader, key)),
    )


def _part_paths(reader: IndexReader, key: str) -> list[str]:
    rows = reader.conn.execute(
        "SELECT r.path FROM parts m JOIN runs r ON r.key = m.part_key WHERE m.run_key = ? ORDER BY m.rank",
        (key,),
    )
    return [r[0] for r in rows]


def _marks(keys: list[str]) -> str:
    return ",".join("?" * len(keys))


def child_keys(reader: IndexReader, key: str) -> list[str]:
    """Runs whose parent is `key` (a part of theirs names a part of `key` as its parent), by key."""
    parts = reader.part_keys(key)
    rows = reader.conn.execute(
        f"SELECT DISTINCT pr.run_key FROM runs x JOIN part_runs pr ON pr.part_key = x.key"
        f" WHERE x.parent_key IN ({_marks(parts)}) AND pr.run_key != ? ORDER BY pr.run_key",
        (*parts, key),
    )
    return [r[0] for r in rows]


def links_to(reader: IndexReader, key: str) -> list[dict[str, Any]]:
    """Links other runs recorded to `key` (the reverse of `IndexReader.links`); join evidence (`names.*`)
    is not a link."""
    parts = reader.part_keys(key)
    rows = reader.conn.execute(
        "SELECT pr.run_key AS run_key, l.rule, l.target_native_id, l.target_path, ? AS target_key, l.evidence"
        f" FROM links l JOIN part_runs pr ON pr.part_key = l.run_key WHERE l.target_key IN ({_marks(parts)})"
        " AND l.rule NOT LIKE 'names.%' AND pr.run_key != ? ORDER BY pr.run_key, l.rule",
        (key, *parts, key),
    )
    return [{**dict(r), "evidence": json.loads(r["evidence"] or "{}")} for r in rows]


def artifacts(reader: IndexReader, key: str) -> list[tuple[str, int | None]]:
    """(path relative to the run's artifact folder, size) of a run's artifacts (every part's), by path."""
    return [(a["path"], a["size"]) for a in run_artifacts(reader, key)]


def runs_with_files_of_size(reader: IndexReader, direction: str, size: int, exclude: str) -> list[str]:
    """Runs other than `exclude` that recorded a local file of this size (or of unknown size) in this
    direction ("input" or "output")."""
    rows = reader.conn.execute(
        "SELECT DISTINCT pr.run_key FROM files f JOIN part_runs pr ON pr.part_key = f.run_key"
        " WHERE f.direction = ? AND pr.run_key != ? AND f.local IS NOT NULL AND (f.size = ? OR f.size IS NULL)",
        (direction, exclude, size),
    )
    return [r[0] for r in rows]


def artifacts_of_size(reader: IndexReader, size: int, exclude: str) -> list[tuple[str, str]]:
    """(run key, artifact path) of every artifact of this size in runs other than `exclude`."""
    rows = reader.conn.execute(
        "SELECT pr.run_key, a.path, p.path, run.path FROM artifacts a JOIN part_runs pr ON pr.part_key = a.run_key"
        " JOIN runs p ON p.key = a.run_key JOIN run_rows run ON run.key = pr.run_key"
        " WHERE a.size = ? AND pr.run_key != ? ORDER BY pr.run_key, a.path",
        (size, exclude),
    )
    out = []
    for run_key, rel, part_path, run_path in rows:
        inside = relative_to_run(run_path, part_path, rel)
        out.append((run_key, inside if inside is not None else rel))
    return list(dict.fromkeys(out))


def input_sizes(reader: IndexReader) -> set[int | None]:
    """The sizes of every local file any run read (None: a file of unknown size)."""
    rows = reader.conn.execute(
        "SELECT DISTINCT size FROM files WHERE direction='input' AND local IS NOT NULL"
    )
    return {r[0] for r in rows}
