"""Trackio projects that change while expdesk watches: new rows are read from the cursor, rewritten runs start
over, and reading never leaves a byte in the folder, not even while Trackio holds the file open and writes.

Trackio is not a test dependency: the writer below does what `SQLiteStorage.bulk_log` does (Trackio 0.43): one
connection per batch with Trackio's pragmas (WAL, synchronous=NORMAL), `INSERT OR IGNORE` rows of orjson
text, commit, close (the last close checkpoints and deletes `-wal`/`-shm`).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from expdesk.core.entities import RunRef
from expdesk.index.service import Index
from expdesk.sources import registry
from tests.groundtruth import RUNS
from tests.hostile.conftest import snapshot

SRC = RUNS / "trackio" / "current"
GT = json.loads((RUNS / "trackio" / "GROUND_TRUTH.json").read_text(encoding="utf-8"))
BASELINE = GT["current"]["projects"]["vision"]["runs"][0]  # the first "baseline": 12 steps, system samples
TOKENS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _trackio_json(row: dict[str, Any]) -> str:
    """orjson's text for what `serialize_values` leaves: NaN/inf as strings, no spaces."""
    clean = {k: TOKENS.get(repr(v), v) if isinstance(v, float) else v for k, v in row.items()}
    return json.dumps(clean, separators=(",", ":"))


def bulk_log(db: Path, run_id: str, name: str, rows: list[tuple[int, dict[str, Any]]]) -> None:
    conn = sqlite3.connect(db, timeout=30.0)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        stamp = datetime.now(UTC).isoformat()
        with conn:
            conn.executemany(
                "INSERT OR IGNORE INTO metrics (timestamp, run_id, run_name, step, metrics, log_id, space_id)"
                " VALUES (?, ?, ?, ?, ?, NULL, NULL)",
                [(stamp, run_id, name, step, _trackio_json(row)) for step, row in rows],
            )
    finally:
        conn.close()


def _ref(root: Path, run_id: str) -> RunRef:
    db = root / "vision.db"
    return RunRef("trackio", db, root, native_id=run_id, store=db)


def test_new_rows_are_read_from_the_cursor_only(tmp_path: Path) -> None:
    root = tmp_path / "trackio"
    shutil.copytree(SRC, root)
    reader = registry.reader_for("trackio")
    ref = _ref(root, BASELINE["id"])
    first = reader.read(ref, None)
    assert {s.key: len(s.steps) for s in first.metrics}["train/loss"] == 12
    unchanged = reader.read(ref, first.cursor)
    assert unchanged.metrics == [] and not unchanged.metrics_reset
    assert unchanged.params == first.params and unchanged.artifacts == first.artifacts
    assert unchanged.info == first.info  # media and values not charted come back from the cursor

    bulk_log(
        root / "vision.db", BASELINE["id"], "baseline", [(12, {"train/loss": float("nan")}), (13, {"x": 1})]
    )
    more = reader.read(ref, unchanged.cursor)
    assert not more.metrics_reset
    assert {s.key: s.steps.tolist() for s in more.metrics} == {"train/loss": [12], "x": [13]}
    assert more.info["media"] == first.info["media"]


def test_growing_project_through_the_index(tmp_path: Path) -> None:
    root = tmp_path / "trackio"
    shutil.copytree(SRC, root)
    with Index(tmp_path / "index.db") as index:
        index.index([root])
        bulk_log(
            root / "vision.db",
            BASELINE["id"],
            "baseline",
            [(s, {"train/loss": s / 10}) for s in range(12, 40)],
        )
        report = index.index([root])
        assert report.errors == []
        with index.reader() as reader:
            (key,) = [
                r["key"] for r in reader.runs_json(reader.run_keys()) if r["native_id"] == BASELINE["id"]
            ]
            steps, values, _stamps = reader.series(key, "train/loss")
    assert steps.tolist() == list(range(40))
    assert values[39] == 3.9


def test_rows_rewritten_under_the_cursor_start_the_run_over(tmp_path: Path) -> None:
    root = tmp_path / "trackio"
    shutil.copytree(SRC, root)
    reader = registry.reader_for("trackio")
    ref = _ref(root, BASELINE["id"])
    first = reader.read(ref, None)
    conn = sqlite3.connect(root / "vision.db")
    with conn:  # what Trackio's rename_run does to the rows (it also moves the media folder)
        conn.execute("UPDATE metrics SET run_name='renamed' WHERE run_id=?", (BASELINE["id"],))
        conn.execute("UPDATE configs SET run_name='renamed' WHERE run_id=?", (BASELINE["id"],))
    conn.close()
    renamed = reader.read(ref, first.cursor)
    assert renamed.name == "renamed" and renamed.metrics_reset
    assert {s.key: len(s.steps) for s in renamed.metrics}["train/loss"] == 12

    conn = sqlite3.connect(root / "vision.db")
    with conn:  # an older row deleted: the counts under the cursor no longer match
        conn.execute(
            "DELETE FROM metrics WHERE id = (SELECT MIN(id) FROM metrics WHERE run_id=?)", (BASELINE["id"],)
        )
    conn.close()
    shrunk = reader.read(ref, renamed.cursor)
    assert shrunk.metrics_reset
    assert {s.key: len(s.steps) for s in shrunk.metrics}["train/loss"] == 11


def test_reading_an_idle_project_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "trackio"
    shutil.copytree(SRC, root)
    before = snapshot(root)
    with Index(tmp_path / "index.db") as index:
        index.index([root])
        index.index([root], force=True)
    assert snapshot(root) == before


WRITER = r"""
import json, sqlite3, sys, time
from datetime import datetime, timezone
db, run_id, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
hold = sqlite3.connect(db, timeout=30.0)      # a second Trackio connection (the dashboard) keeps -wal alive
hold.execute("PRAGMA journal_mode = WAL")
hold.execute("SELECT COUNT(*) FROM metrics").fetchone()
for i in range(n):
    conn = sqlite3.connect(db, timeout=30.0)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    with conn:
        conn.execute(
            "INSERT INTO metrics (timestamp, run_id, run_name, step, metrics) VALUES (?, ?, 'baseline', ?, ?)",
            (datetime.now(timezone.utc).isoformat(), run_id, 100 + i, json.dumps({"live": i})),
        )
    conn.close()
print("written", flush=True)
sys.stdin.readline()                          # the test says when expdesk has stopped reading
hold.close()                                  # Trackio's last close: checkpoint, -wal and -shm removed
print("closed", flush=True)
"""


def test_reading_while_trackio_holds_the_file_and_writes(tmp_path: Path) -> None:
    root = tmp_path / "trackio"
    shutil.copytree(SRC, root)
    before = {p.name for p in root.iterdir()}
    writes = 150
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root / "vision.db"), BASELINE["id"], str(writes)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdin is not None
    with Index(tmp_path / "index.db") as index:
        passes = 0
        while passes < 3 or (writer.poll() is None and not _ready(writer)):
            index.index([root])
            passes += 1
        assert writer.stdout.readline().strip() == "written"
        index.index([root])
        writer.stdin.write("go\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "closed"
        _out, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err  # never "database is locked" for Trackio
        report = index.index([root])
        assert report.errors == []
        with index.reader() as reader:
            (run,) = [r for r in reader.runs_json(reader.run_keys()) if r["native_id"] == BASELINE["id"]]
    assert run["metrics"]["live"]["count"] == writes
    # what is left is what Trackio leaves: no -wal/-shm of ours, no journal, nothing new
    assert {p.name for p in root.iterdir()} == before
    conn = sqlite3.connect(f"file:{root / 'vision.db'}?mode=ro", uri=True)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def _ready(writer: subprocess.Popen[str]) -> bool:
    """True once the writer has printed a line (without blocking when it has not)."""
    import select

    assert writer.stdout is not None
    readable, _w, _x = select.select([writer.stdout], [], [], 0)
    return bool(readable)
