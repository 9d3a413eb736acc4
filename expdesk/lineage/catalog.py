"""What lineage needs from the index: run rows, and the files each run read and produced (as local paths).

A run's outputs are its `files` rows with direction "output" plus its artifacts (relative to the run's
artifact folder). Inputs are `files` rows with direction "input". Paths are only ever returned when the
index resolved them inside the run's root (`local`), and are re-checked on open by `files.contained`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expdesk.core.artifact_uri import artifact_dirs
from expdesk.index.reader import IndexReader

RUN_COLUMNS = (
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
        return Path(os.path.relpath(Path(path).resolve(), self.base.resolve())).as_posix()

    def artifact_dirs(self) -> list[Path]:
        """Where artifact paths are relative to (`core.artifact_uri`: the same answer as `show` and the GUI)."""
        return artifact_dirs(self.path, self.info)


@dataclass(frozen=True)
class FileUse:
    """One file a run read or produced. `local` is None when the bytes are not reachable here."""

    run_key: str
    direction: str  # "input" | "output"
    role: str
    path: str  # as recorded (or the artifact path)
    local: str | None
    size: int | None
    digests: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    source: str = "files"  # "files" | "artifacts"


#: readers that name runs (and Hydra/DVCLive experiments) by their folder's path below the watched root
ROOT_RELATIVE_NAMES = frozenset({"hydra", "dvc", "dvclive", "generic", "keras"})


def portable_label(value: str | None, path: str, root: str) -> str | None:
    """A name some readers derive from the folder's place below the watched root (`multirun/2026-11-26/
    19-22-15/2`) depends on which folder was watched: the last two parts of that folder instead."""
    if not value:
        return value
    named = Path(root) / value
    run = Path(path)
    if named == run or named in run.parents:
        return "/".join(named.parts[-2:])
    return value


def _row(r: Any, portable: bool = False) -> RunRow:
    try:
        info = json.loads(r["info"] or "{}")
    except ValueError:
        info = {}
    name, experiment = r["name"], r["experiment"]
    if portable and r["format"] in ROOT_RELATIVE_NAMES:
        name = portable_label(name, r["path"], r["root"])
        experiment = portable_label(experiment, r["path"], r["root"])  # a Hydra sweep, a DVC project
    return RunRow(
        key=r["key"],
        format=r["format"],
        path=r["path"],
        root=r["root"],
        native_id=r["native_id"],
        name=name,
        experiment=experiment,
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


class Catalog:
    """Cached look-ups on one `IndexReader` (use from the reader's thread only)."""

    def __init__(self, reader: IndexReader, portable: bool = False) -> None:
        """`portable`: run names that depend on the watched root are shortened (see `portable_label`), so
        a bundle is the same whichever folder found the run."""
        self.reader = reader
        self.portable = portable
        self._runs: dict[str, RunRow | None] = {}
        self._input_sizes: set[int | None] | None = None

    def run(self, key: str) -> RunRow | None:
        if key not in self._runs:
            rows = self.reader.raw(f"SELECT {RUN_COLUMNS} FROM runs WHERE key=?", (key,))
            self._runs[key] = _row(rows[0], self.portable) if rows else None
        return self._runs[key]

    def children(self, key: str) -> list[str]:
        return [r[0] for r in self.reader.raw("SELECT key FROM runs WHERE parent_key=? ORDER BY key", (key,))]

    def linked_to_path(self, rule: str, target_path: str) -> list[str]:
        """Runs with a `rule` link to the folder `target_path` (the jobs of one Hydra multirun)."""
        rows = self.reader.raw(
            "SELECT DISTINCT run_key FROM links WHERE rule=? AND target_path=? ORDER BY run_key",
            (rule, target_path),
        )
        return [r[0] for r in rows]

    def links_from(self, key: str) -> list[dict[str, Any]]:
        return self.reader.links(key)

    def links_to(self, key: str) -> list[dict[str, Any]]:
        rows = self.reader.raw("SELECT * FROM links WHERE target_key=? ORDER BY run_key, rule", (key,))
        return [{**dict(r), "evidence": json.loads(r["evidence"] or "{}")} for r in rows]

    def inputs(self, key: str) -> list[FileUse]:
        return [u for u in self._file_rows(key) if u.direction == "input"]

    def outputs(self, key: str, with_artifacts: bool = True) -> list[FileUse]:
        outs = [u for u in self._file_rows(key) if u.direction == "output"]
        if with_artifacts:
            seen = {u.local for u in outs if u.local}
            for art in self.artifacts(key):
                if art.local not in seen:
                    outs.append(art)
        return outs

    def artifacts(self, key: str) -> list[FileUse]:
        run = self.run(key)
        if run is None:
            return []
        rows = self.reader.raw("SELECT path, size FROM artifacts WHERE run_key=? ORDER BY path", (key,))
        out = []
        for r in rows:
            out.append(
                FileUse(
                    key, "output", "artifact", r[0], self.artifact_local(run, r[0]), r[1], {}, "artifacts"
                )
            )
        return out

    def artifact_local(self, run: RunRow, rel: str) -> str | None:
        for base in run.artifact_dirs():
            candidate = base / rel
            if candidate.is_file():
                return str(candidate)
        return None

    def _file_rows(self, key: str) -> list[FileUse]:
        out = []
        for f in self.reader.files(key):
            digests = f["digests"] if isinstance(f["digests"], dict) else {}
            out.append(
                FileUse(key, f["direction"], f["role"], f["path"], f["local"], f["size"], dict(digests))
            )
        out.sort(key=lambda u: (u.direction, u.role, u.path))
        return out

    def outputs_of_size(self, size: int, exclude: str) -> list[FileUse]:
        """Every output (files or artifacts) of other runs with this size (or unknown size, for files)."""
        out: list[FileUse] = []
        for r in self.reader.raw(
            "SELECT DISTINCT run_key FROM files WHERE direction='output' AND run_key != ? AND local IS NOT NULL"
            " AND (size = ? OR size IS NULL)",
            (exclude, size),
        ):
            out += [u for u in self.outputs(r[0], with_artifacts=False) if u.size in (None, size)]
        for r in self.reader.raw(
            "SELECT run_key, path FROM artifacts WHERE size = ? AND run_key != ? ORDER BY run_key, path",
            (size, exclude),
        ):
            run = self.run(r[0])
            if run is not None:
                out.append(
                    FileUse(
                        r[0],
                        "output",
                        "artifact",
                        r[1],
                        self.artifact_local(run, r[1]),
                        size,
                        {},
                        "artifacts",
                    )
                )
        return out

    def may_be_input(self, size: int) -> bool:
        """Cheap pre-filter for downstream joins: does any run read a file of this size (or of unknown size)?"""
        if self._input_sizes is None:
            rows = self.reader.raw(
                "SELECT DISTINCT size FROM files WHERE direction='input' AND local IS NOT NULL"
            )
            self._input_sizes = {r[0] for r in rows}
        return size in self._input_sizes or None in self._input_sizes

    def inputs_of_size(self, size: int, exclude: str) -> list[FileUse]:
        out: list[FileUse] = []
        for r in self.reader.raw(
            "SELECT DISTINCT run_key FROM files WHERE direction='input' AND run_key != ? AND local IS NOT NULL"
            " AND (size = ? OR size IS NULL)",
            (exclude, size),
        ):
            out += [u for u in self.inputs(r[0]) if u.size in (None, size)]
        return out
