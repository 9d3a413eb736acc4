"""What lineage needs from the index: run rows, and the files each run read and produced (as local paths).

A run's outputs are its `files` rows with direction "output" plus its artifacts (relative to the run's
artifact folder). Inputs are `files` rows with direction "input". Paths are only ever returned when the
index resolved them inside the run's root (`local`), and are re-checked on open by `files.contained`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from expdesk.index import lineage_queries
from expdesk.index.lineage_queries import RunRow
from expdesk.index.reader import IndexReader

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


def portable(row: RunRow) -> RunRow:
    """The row with names that do not depend on which folder was watched (a bundle is the same either way)."""
    if row.format not in ROOT_RELATIVE_NAMES:
        return row
    return replace(
        row,
        name=portable_label(row.name, row.path, row.root),
        experiment=portable_label(row.experiment, row.path, row.root),  # a Hydra sweep, a DVC project
    )


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
            row = lineage_queries.run_row(self.reader, key)
            self._runs[key] = portable(row) if row is not None and self.portable else row
        return self._runs[key]

    def part(self, key: str) -> RunRow | None:
        """One part of a joined run as its reader read it (not cached: asked once per export)."""
        row = lineage_queries.part_row(self.reader, key)
        return portable(row) if row is not None and self.portable else row

    def children(self, key: str) -> list[str]:
        return lineage_queries.child_keys(self.reader, key)

    def linked_to_path(self, rule: str, target_path: str) -> list[str]:
        """Runs with a `rule` link to the folder `target_path` (the jobs of one Hydra multirun)."""
        return lineage_queries.linked_to_path(self.reader, rule, target_path)

    def links_from(self, key: str) -> list[dict[str, Any]]:
        return self.reader.links(key)

    def links_to(self, key: str) -> list[dict[str, Any]]:
        return lineage_queries.links_to(self.reader, key)

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
        return [
            FileUse(key, "output", "artifact", path, self.artifact_local(run, path), size, {}, "artifacts")
            for path, size in lineage_queries.artifacts(self.reader, key)
        ]

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
        for run_key in lineage_queries.runs_with_files_of_size(self.reader, "output", size, exclude):
            out += [u for u in self.outputs(run_key, with_artifacts=False) if u.size in (None, size)]
        for run_key, path in lineage_queries.artifacts_of_size(self.reader, size, exclude):
            run = self.run(run_key)
            if run is not None:
                local = self.artifact_local(run, path)
                out.append(FileUse(run_key, "output", "artifact", path, local, size, {}, "artifacts"))
        return out

    def may_be_input(self, size: int) -> bool:
        """Cheap pre-filter for downstream joins: does any run read a file of this size (or of unknown size)?"""
        if self._input_sizes is None:
            self._input_sizes = lineage_queries.input_sizes(self.reader)
        return size in self._input_sizes or None in self._input_sizes

    def inputs_of_size(self, size: int, exclude: str) -> list[FileUse]:
        out: list[FileUse] = []
        for run_key in lineage_queries.runs_with_files_of_size(self.reader, "input", size, exclude):
            out += [u for u in self.inputs(run_key) if u.size in (None, size)]
        return out
