"""Trackio artifacts a run logged or used (`log_artifact`, `use_artifact`, Trackio >= 0.33): files for lineage.

An artifact version's manifest lists its files with their SHA-256 (`[{"path", "digest", "size"}]`, or a `ref`
URI for a file kept elsewhere); the bytes are in the project's content-addressed store,
`<TRACKIO_DIR>/artifacts/<project>/blobs/sha256/<first two hex>/<digest>`. `run_artifact_links` says which run
produced (`output`) or used (`input`) which version; `external_run_artifact_links` records versions a run
used from another project. A used version's producer is a tool-native lineage link (`trackio.artifact`).
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

from expdesk.core.entities import FileRef, Link
from expdesk.core.paths import is_regular_file, is_within
from expdesk.sources.trackio.schema import Schema

_DIGEST = re.compile(r"[0-9a-f]{64}")
#: files listed per artifact version (a dataset version can hold millions); the count is always complete
MAX_FILES_PER_VERSION = 10_000
_LINK_COLUMNS = {"run_id", "artifact_version_id", "direction"}
_VERSION_COLUMNS = {"id", "artifact_id", "version", "manifest", "producer_run_id", "manifest_digest"}
_EXTERNAL_COLUMNS = {
    "run_id",
    "source_project",
    "source_artifact",
    "source_type",
    "source_version",
    "direction",
}


def read_artifacts(
    conn: sqlite3.Connection, found: Schema, project: str, run_id: str, trackio_dir: Path, root: Path
) -> tuple[list[FileRef], list[Link], list[dict[str, Any]]]:
    """(files, links to producing runs, a summary per version) for one run; empty before run ids existed."""
    files: list[FileRef] = []
    links: list[Link] = []
    summary: list[dict[str, Any]] = []
    columns = found.columns
    if (
        found.by_id
        and columns.get("run_artifact_links", frozenset()) >= _LINK_COLUMNS
        and columns.get("artifact_versions", frozenset()) >= _VERSION_COLUMNS
        and {"id", "name", "type"} <= columns.get("artifacts", frozenset())
    ):
        scope = ""
        params: tuple[Any, ...] = (run_id,)
        if "run_project" in columns["run_artifact_links"]:
            # a row naming another project is a run of that project that used one of this project's versions
            scope, params = " AND (l.run_project IS NULL OR l.run_project = ?)", (run_id, project)
        rows = conn.execute(
            "SELECT l.direction, a.name, a.type, v.version, v.manifest, v.producer_run_id, v.manifest_digest"
            " FROM run_artifact_links l JOIN artifact_versions v ON v.id = l.artifact_version_id"
            f" JOIN artifacts a ON a.id = v.artifact_id WHERE l.run_id = ?{scope} ORDER BY l.id",
            params,
        ).fetchall()
        blobs = trackio_dir / "artifacts" / project / "blobs" / "sha256"
        for direction, name, kind, version, manifest, producer, manifest_digest in rows:
            label = f"{name}:v{version}"
            entries = _manifest(manifest)
            summary.append(
                {
                    "artifact": str(name),
                    "type": kind,
                    "version": version,
                    "direction": direction,
                    "files": len(entries) if entries is not None else None,
                    "manifest_digest": manifest_digest,
                }
            )
            for entry in (entries or [])[:MAX_FILES_PER_VERSION]:
                files.append(_file_ref(str(direction), label, entry, blobs, root))
            if direction == "input" and producer and producer != run_id:
                evidence = (("artifact", label), ("manifest_digest", str(manifest_digest)))
                links.append(Link("trackio.artifact", target_native_id=str(producer), evidence=evidence))
    if found.by_id and columns.get("external_run_artifact_links", frozenset()) >= _EXTERNAL_COLUMNS:
        for source_project, artifact, kind, version, direction in conn.execute(
            "SELECT source_project, source_artifact, source_type, source_version, direction"
            " FROM external_run_artifact_links WHERE run_id = ? ORDER BY id",
            (run_id,),
        ):
            label = f"{source_project}/{artifact}:v{version}"
            summary.append(
                {
                    "artifact": f"{source_project}/{artifact}",
                    "type": kind,
                    "version": version,
                    "direction": direction,
                }
            )
            files.append(FileRef(str(direction), "artifact", label))
    return files, links, summary


def _manifest(text: Any) -> list[dict[str, Any]] | None:
    try:
        entries = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return None
    if not isinstance(entries, list):
        return None
    return [e for e in entries if isinstance(e, dict)]


def _file_ref(direction: str, label: str, entry: dict[str, Any], blobs: Path, root: Path) -> FileRef:
    path = f"{label}/{entry.get('path')}"
    size = entry.get("size") if isinstance(entry.get("size"), int) else None
    digest = entry.get("digest")
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        # an external reference (`ref`) or a damaged entry: recorded, but no bytes here to hash
        return FileRef(direction, "artifact", str(entry.get("ref") or path), None, size)
    local = blobs / digest[:2] / digest
    try:
        inside = not local.is_symlink() and is_within(local.resolve(), root.resolve())
    except OSError:
        inside = False
    here = str(local) if inside and is_regular_file(local) else None
    return FileRef(direction, "artifact", path, here, size, (("sha256", digest),))
