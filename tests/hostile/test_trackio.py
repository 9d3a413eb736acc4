"""Hostile Trackio projects: a torn file, a locked file, a newer schema, bad rows, media paths that leave the
folder. Each gives a clear error on its own run(s) and every other project keeps indexing."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from expdesk.index.service import Index
from tests.hostile.conftest import DATA, snapshot

SRC = DATA / "trackio" / "current"
GT = json.loads((DATA / "trackio" / "GROUND_TRUTH.json").read_text(encoding="utf-8"))
BASELINE = GT["current"]["projects"]["vision"]["runs"][0]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    target = tmp_path / "watched" / "trackio"
    shutil.copytree(SRC, target)
    return target


def _index(db: Path, root: Path) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    with Index(db) as index:
        report = index.index([root])
        with index.reader() as reader:
            runs = reader.runs_json(reader.run_keys(include_deleted=True))
    return runs, report.errors


def _by_project(runs: list[dict[str, Any]], project: str) -> list[dict[str, Any]]:
    return [r for r in runs if Path(r["path"]).name == f"{project}.db"]


@pytest.mark.parametrize("keep", [100, 8192])
def test_a_torn_project_file_is_an_error_on_its_run(root: Path, db: Path, keep: int) -> None:
    torn = root / "vision.db"
    torn.write_bytes(torn.read_bytes()[:keep])  # copied while Trackio wrote it
    runs, errors = _index(db, root)
    (vision,) = _by_project(runs, "vision")
    assert vision["error"] and "vision.db" in vision["error"]
    assert (
        "damaged" in vision["error"] or "malformed" in vision["error"] or "not a database" in vision["error"]
    )
    assert [e for e in errors if "vision.db" in e[0]]
    (nlp,) = _by_project(runs, "nlp")
    assert nlp["error"] is None and nlp["metrics"]["loss"]["count"] == 2


def test_a_torn_db_without_trackio_marks_is_not_claimed(tmp_path: Path, db: Path) -> None:
    folder = tmp_path / "watched"
    folder.mkdir()
    (folder / "cache.db").write_bytes((SRC / "vision.db").read_bytes()[:100])
    runs, errors = _index(db, folder)
    assert runs == [] and errors == []


def test_a_locked_project_is_an_error_and_others_index(root: Path, db: Path) -> None:
    holder = sqlite3.connect(root / "vision.db", timeout=5.0)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")  # TRACKIO_SQLITE_LOCKING_MODE=exclusive, as on a Space
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        runs, _errors = _index(db, root)
        elapsed = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    (vision,) = _by_project(runs, "vision")
    assert vision["error"] and "locked" in vision["error"]
    assert len(_by_project(runs, "nlp")) == 1 and _by_project(runs, "nlp")[0]["error"] is None
    assert elapsed < 30  # a few busy timeouts, not a hang


def test_a_newer_schema_is_read_and_said_so(root: Path, db: Path) -> None:
    conn = sqlite3.connect(root / "vision.db")
    conn.execute("PRAGMA user_version = 3")
    conn.close()
    runs, _errors = _index(db, root)
    vision = _by_project(runs, "vision")
    assert len(vision) == 4
    for run in vision:
        assert "schema version 3" in run["error"], run["name"]
    (baseline,) = [r for r in vision if r["native_id"] == BASELINE["id"]]
    assert baseline["metrics"]["train/loss"]["count"] == 12


def test_a_newer_schema_without_the_columns_read_is_a_clear_error(root: Path, db: Path) -> None:
    conn = sqlite3.connect(root / "vision.db")
    conn.execute("ALTER TABLE metrics RENAME COLUMN metrics TO payload")
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    runs, _errors = _index(db, root)
    (vision,) = _by_project(runs, "vision")
    assert "metrics lacks metrics" in vision["error"]
    assert _by_project(runs, "nlp")[0]["error"] is None


def test_bad_rows_are_named_and_the_rest_is_read(root: Path, db: Path) -> None:
    conn = sqlite3.connect(root / "vision.db")
    with conn:
        for step, payload in (("7.5", '{"train/loss": 1}'), (40, "{not json"), (41, '{"train/loss": 0.125}')):
            conn.execute(
                "INSERT INTO metrics (timestamp, run_id, run_name, step, metrics) VALUES (?, ?, 'baseline', ?, ?)",
                ("2026-01-01T00:00:00+00:00", BASELINE["id"], step, payload),
            )
        conn.execute("UPDATE configs SET config = '[1, 2' WHERE run_id = ?", (BASELINE["id"],))
    conn.close()
    runs, _errors = _index(db, root)
    (baseline,) = [r for r in runs if r["native_id"] == BASELINE["id"]]
    assert "step '7.5'" in baseline["error"] or "7.5" in baseline["error"]
    assert "not JSON" in baseline["error"] and "configs row" in baseline["error"]
    assert (
        baseline["metrics"]["train/loss"]["count"] == 13
        and baseline["metrics"]["train/loss"]["last"] == 0.125
    )
    assert baseline["params"] == {}


def test_media_paths_that_leave_the_folder_are_not_followed(root: Path, db: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"secret")
    link = root / "media" / "vision" / "baseline" / "0" / "link.png"
    os.symlink(outside, link)
    rows = [
        "../../secret.png",
        "vision/../../../secret.png",
        "/etc/passwd",
        "%2e%2e/%2e%2e/secret.png",
        "vision/baseline/0/link.png",
        "vision/baseline/0/gone.png",
    ]
    conn = sqlite3.connect(root / "vision.db")
    with conn:
        for i, path in enumerate(rows):
            row = {"evil": {"_type": "trackio.image", "file_path": path, "caption": None}}
            conn.execute(
                "INSERT INTO metrics (timestamp, run_id, run_name, step, metrics) VALUES (?, ?, 'baseline', ?, ?)",
                ("2026-01-01T00:00:00+00:00", BASELINE["id"], 100 + i, json.dumps(row)),
            )
    conn.close()
    before = snapshot(tmp_path / "watched")
    runs, _errors = _index(db, root)
    (baseline,) = [r for r in runs if r["native_id"] == BASELINE["id"]]
    paths = [a["path"] for a in baseline["artifacts"]]
    assert len(paths) == 3 and all(p.startswith("vision/baseline/") and "link" not in p for p in paths)
    assert baseline["info"]["media_refused"]["count"] == 5
    assert baseline["info"]["media_missing"] == {"count": 1, "paths": ["vision/baseline/0/gone.png"]}
    assert baseline["info"]["media"]["evil"]["count"] == 6
    assert snapshot(tmp_path / "watched") == before


def test_a_hostile_row_is_bounded(root: Path, db: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    wide = json.dumps({f"k{i}": i for i in range(20_000)})
    conn = sqlite3.connect(root / "nlp.db")
    run_id = GT["current"]["projects"]["nlp"]["runs"][0]["id"]
    with conn:
        for step, payload in ((10, deep), (11, wide), (12, '{"loss": 1e999, "n": 1' + "0" * 5000 + "}")):
            conn.execute(
                "INSERT INTO metrics (timestamp, run_id, run_name, step, metrics) VALUES ('bad time', ?, 'tiny', ?, ?)",
                (run_id, step, payload),
            )
    conn.close()
    runs, _errors = _index(db, root)
    (tiny,) = _by_project(runs, "nlp")
    assert "metrics row" in tiny["error"]  # the deep one, named
    assert tiny["metrics"]["k19999"]["count"] == 1
    assert tiny["metrics"]["loss"]["max"] == "Infinity" and tiny["metrics"]["n"]["max"] == "Infinity"


def test_artifact_blobs_outside_the_root_and_bad_manifests(tmp_path: Path, db: Path) -> None:
    root = tmp_path / "watched" / "trackio"
    shutil.copytree(SRC, root)
    models = GT["current"]["projects"]["models"]["runs"]
    train, evaluation = (next(r for r in models if r["name"] == n) for n in ("train", "eval"))
    (blob,) = [p for p in (root / "artifacts" / "models" / "blobs").rglob("*") if p.is_file()]
    # the blob swapped for a link to a file outside the watched folder: recorded, never followed
    outside = tmp_path / "outside.bin"
    shutil.move(blob, outside)
    os.symlink(outside, blob)
    conn = sqlite3.connect(root / "models.db")
    with conn:
        conn.execute(
            "INSERT INTO artifacts (name, type, created_at) VALUES ('broken', 'dataset', '2026-01-01T00:00:00+00:00')"
        )
        conn.execute(
            "INSERT INTO artifact_versions (artifact_id, version, manifest_digest, manifest, size_bytes,"
            " producer_run_id, producer_run_name, created_at) VALUES (2, 0, 'x', '{not json', 0, NULL, NULL, ?)",
            ("2026-01-01T00:00:00+00:00",),
        )
        conn.execute(
            "INSERT INTO run_artifact_links (run_id, run_name, run_project, artifact_version_id, direction,"
            " created_at) VALUES (?, 'eval', 'models', 2, 'input', '2026-01-01T00:00:00+00:00')",
            (evaluation["id"],),
        )
        conn.execute(
            "INSERT INTO external_run_artifact_links (run_id, run_name, source_project, source_version_id,"
            " source_artifact, source_type, source_version, source_size_bytes, direction, created_at)"
            " VALUES (?, 'eval', 'elsewhere', 7, 'tokenizer', 'model', 3, 10, 'input', '2026-01-01T00:00:00+00:00')",
            (evaluation["id"],),
        )
    conn.close()
    before = snapshot(tmp_path / "watched")
    with Index(db) as index:
        report = index.index([root])
        assert report.errors == []
        with index.reader() as reader:
            keys = {
                r["name"]: r["key"]
                for r in reader.runs_json(reader.run_keys())
                if r["experiment"] == "models"
            }
            eval_files = reader.files(keys["eval"])
            train_files = reader.files(keys["train"])
            eval_info = reader.run_json(keys["eval"])["info"]
    assert [f["local"] for f in train_files] == [None]  # the link is not followed
    assert train_files[0]["digests"] == {
        "sha256": train["artifacts"]["output"][0]["manifest"]["manifest"][0]["digest"]
    }
    assert sorted(f["path"] for f in eval_files) == ["classifier:v0/weights.bin", "elsewhere/tokenizer:v3"]
    broken = next(v for v in eval_info["trackio_artifacts"] if v["artifact"] == "broken")
    assert broken["files"] is None  # an unreadable manifest is said, not guessed
    assert snapshot(tmp_path / "watched") == before
