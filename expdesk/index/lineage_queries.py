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
from expdesk.index.runjson import part_artifact_base, relative_to_run, run_artifacts

_RUN_COLUMNS = (
    "key, format, path, root, store, native_id, name, experiment, status, native_status, start_time,"
    " end_time, parent_key, parent_native_id, info, error"
)


#: `_RUN_COLUMNS` of a run: from `run_rows` (a joined run's merged values), its info from its head part, its
#: parent as a run (a parent that is a part of a joined run is that run)
_RUN_ROW_COLUMNS = ", ".join(
    "p.info AS info"
    if c == "info"
    else "COALESCE((SELECT m.run_key FROM parts m WHERE m.part_key = r.parent_key), r.parent_key) AS parent_key"
    if c == "parent_key"
    else f"r.{c} AS {c}"
    for c in (c.strip() for c in _RUN_COLUMNS.split(","))
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
    #: base folders of a joined run's other parts' artifacts (those not inside the run's folder)
    part_dirs: tuple[str, ...] = field(default=(), hash=False, compare=False)
    #: a joined run's parts, head first: (key, format, folder, native id, rule); empty for a run of one part
    parts: tuple[tuple[str, str, str, str | None, str], ...] = field(default=(), hash=False, compare=False)

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
        """Where artifact paths are relative to (`core.artifact_uri`: the same answer as `show` and the GUI),
        then the folders of a joined run's parts that are not inside the run's folder."""
        dirs = artifact_dirs(self.path, self.info)
        return dirs + [Path(p) for p in self.part_dirs if Path(p) not in dirs]


def run_row(reader: IndexReader, key: str) -> RunRow | None:
    r = reader.conn.execute(
        f"SELECT {_RUN_ROW_COLUMNS} FROM run_rows r JOIN runs p ON p.key = r.key WHERE r.key=?", (key,)
    ).fetchone()
    if r is None:
        return None
    try:
        info = json.loads(r["info"] or "{}")
    except ValueError:
        info = {}
    info = info if isinstance(info, dict) else {}
    parts = _parts(reader, key)
    if parts:
        info = _joined_info(info, r["path"], parts)
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
        info=info,
        error=r["error"],
        store=r["store"],
        part_dirs=tuple(str(part_artifact_base(p[2], p[5])) for p in parts),
        parts=tuple((p[0], p[1], p[2], p[3], p[4]) for p in parts),
    )


def part_row(reader: IndexReader, key: str) -> RunRow | None:
    """One part as its reader read it (a joined run's part: for the rules that look at one tool's folder,
    such as which checkpoint is a Lightning run's model)."""
    r = reader.conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE key=?", (key,)).fetchone()
    if r is None:
        return None
    try:
        info = json.loads(r["info"] or "{}")
    except ValueError:
        info = {}
    fields = {name: r[name] for name in _RUN_COLUMNS.replace(" ", "").split(",") if name != "info"}
    return RunRow(**fields, info=info if isinstance(info, dict) else {})


#: what a joined run's identity takes from its other parts when the head does not say (W&B knows the host
#: and the command, a Trainer its args): recorded facts, never overwritten by a later part
_SHARED_INFO = ("host", "user", "cwd", "exit_status", "git", "python", "tool_version", "command", "args")


def _joined_info(head: dict[str, Any], run_path: str, parts: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The head's info, with every part's config files (relative to the run's folder) and the facts only
    other parts recorded."""
    info = dict(head)
    configs: list[str] = []
    for _key, _fmt, path, _nid, _rule, part_info_text in parts:
        try:
            part_info = json.loads(part_info_text or "{}")
        except ValueError:
            continue
        if not isinstance(part_info, dict):
            continue
        for rel in part_info.get("config_files") or []:
            inside = relative_to_run(run_path, path, rel) if isinstance(rel, str) else None
            if inside is not None and inside not in configs:
                configs.append(inside)
        for name in _SHARED_INFO:
            if name in part_info and info.get(name) is None:
                info[name] = part_info[name]
    if configs:
        info["config_files"] = configs
    return info


def _parts(reader: IndexReader, key: str) -> list[tuple[Any, ...]]:
    """(key, format, folder, native id, rule, info JSON) of a joined run's parts, head first; [] for a run
    of one part."""
    rows = reader.conn.execute(
        "SELECT r.key, r.format, r.path, r.native_id, m.rule, r.info FROM parts m JOIN runs r"
        " ON r.key = m.part_key WHERE m.run_key = ? ORDER BY m.rank",
        (key,),
    )
    return [tuple(r) for r in rows]


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
        "SELECT pr.run_key, a.path, p.path, run.path, p.info, pr.part_key FROM artifacts a JOIN part_runs pr"
        " ON pr.part_key = a.run_key JOIN runs p ON p.key = a.run_key JOIN run_rows run ON run.key = pr.run_key"
        " WHERE a.size = ? AND pr.run_key != ? ORDER BY pr.run_key, a.path",
        (size, exclude),
    )
    out = []
    for run_key, rel, part_path, run_path, info, part_key in rows:
        if part_key == run_key and part_path == run_path:
            out.append((run_key, rel))
            continue
        inside = relative_to_run(run_path, str(part_artifact_base(part_path, info)), rel)
        out.append((run_key, inside if inside is not None else rel))
    return list(dict.fromkeys(out))


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
