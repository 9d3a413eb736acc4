"""A DB-backed run's artifacts live where its reader says (`info.artifact_dir`), not next to its database:
Trackio media previews open from `<TRACKIO_DIR>/media`, and still never from outside the watched root."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from expdesk.gui.detail.artifacts_view import read_preview
from expdesk.index.service import Index
from tests.groundtruth import RUNS


def test_trackio_media_preview_from_the_artifact_dir(tmp_path: Path) -> None:
    root = tmp_path / "trackio"
    shutil.copytree(RUNS / "trackio" / "current", root)
    with Index(tmp_path / "index.db") as index:
        index.index([root])
        with index.reader() as reader:
            runs = reader.runs_json(reader.run_keys())
    (run,) = [r for r in runs if r["artifacts"]]
    artifact_dir = run["info"]["artifact_dir"]
    first = run["artifacts"][0]["path"]
    preview = read_preview(run["path"], str(root), first, artifact_dir)
    assert preview.kind == "image" and preview.image is not None and preview.image.width() == 4
    assert read_preview(run["path"], str(root), first).kind == "message"  # not next to the database
    outside = tmp_path / "outside.png"
    shutil.copyfile(root / "media" / first, outside)
    os.symlink(outside, root / "media" / "link.png")
    assert read_preview(run["path"], str(root), "link.png", artifact_dir).kind == "message"
