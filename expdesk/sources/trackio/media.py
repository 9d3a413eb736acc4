"""The media a run logged: a summary per key for the run's info, and the files they name as its artifacts.

Trackio saves media files to `<TRACKIO_DIR>/media/<project>/<run name>/<step>/<uuid>.<ext>` and records the
path relative to `<TRACKIO_DIR>/media` in the logged row. The artifacts of a run are exactly the files its
own rows name (two runs may share a name, and so a media folder), as recorded, relative to `artifact_dir`.
A recorded path that would leave the media folder or the watched root (a run named `../../x` writes there)
is not followed; a file that is not there (a project file copied without its media) is listed as missing.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from expdesk.core.entities import Artifact
from expdesk.core.errors import UnsafePath
from expdesk.core.paths import is_within, resolve_inside

#: files named in `info.media_missing` / `info.media_refused` (the counts are always complete)
MAX_LISTED = 200


def artifacts_for(
    files: list[str], media_dir: Path, root: Path
) -> tuple[list[Artifact], dict[str, list[str]]]:
    """(artifacts, {"missing": [...], "refused": [...]}) for the recorded file list of a run."""
    artifacts: dict[str, Artifact] = {}
    problems: dict[str, list[str]] = {"missing": [], "refused": []}
    root_resolved = root.resolve()
    for entry in files:
        recorded = str(entry)
        if recorded in artifacts:
            continue
        try:
            local = resolve_inside(media_dir, recorded)
        except UnsafePath:
            problems["refused"].append(recorded)
            continue
        if not is_within(local, root_resolved):
            problems["refused"].append(recorded)
            continue
        try:
            st = os.lstat(local)
        except OSError:
            problems["missing"].append(recorded)
            continue
        if not stat.S_ISREG(st.st_mode):
            problems["refused"].append(recorded)
            continue
        artifacts[recorded] = Artifact(recorded, st.st_size, st.st_mtime_ns)
    return sorted(artifacts.values(), key=lambda a: a.path), problems


def media_info(
    state: dict[str, Any], traces: dict[str, list[Any]], media_dir: Path, problems: dict[str, list[str]]
) -> dict[str, Any]:
    """The run-info entries about media and about logged values that are not charted."""
    info: dict[str, Any] = {}
    media = {**state.get("media", {}), **traces}
    if media:
        info["media"] = {
            key: {"kind": kind, "count": count, "first_step": first, "last_step": last}
            for key, (kind, count, first, last) in sorted(media.items())
        }
    if state.get("files"):
        info["artifact_dir"] = str(media_dir)
    if state.get("files_over"):
        info["media_files_not_listed"] = state["files_over"]
    for what, paths in problems.items():
        if paths:
            info[f"media_{what}"] = {"count": len(paths), "paths": paths[:MAX_LISTED]}
    other = state.get("other")
    if other:
        # strings, booleans, lists, nulls a run logged: not a chart, but never dropped in silence
        info["values_not_charted"] = {
            key: dict(sorted(kinds.items())) for key, kinds in sorted(other.items())
        }
    return info
