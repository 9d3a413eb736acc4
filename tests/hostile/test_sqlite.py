"""Guarantee 5 (durable index) without kill -9 (that is test_crash_loop.py): competing connections, two
expdesk processes, a full disk, an unwritable DB location, and a foreign `mlflow.db` written while read."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from expdesk.core.errors import ExpdeskError
from expdesk.index import db as index_db
from expdesk.index.service import Index
from tests.hostile.conftest import DATA, cli, snapshot, subprocess_env


def _integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def _count(db: Path, table: str = "runs") -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "watched"
    shutil.copytree(DATA, root)
    return root


def test_a_competing_writer_is_waited_for(store: Path, db: Path) -> None:
    index_db.ensure_db(db)
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO roots (path, added_at, network) VALUES ('/elsewhere', 0, 0)")
    release = threading.Timer(1.0, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        with Index(db) as index:
            report = index.index([store])
    finally:
        release.join()
        holder.close()
    assert report.found == _count(db) > 20
    assert _integrity(db) == "ok"
    assert _count(db, "roots") == 2  # the other writer's row survived too


def test_two_expdesk_processes_on_one_db(store: Path, db: Path) -> None:
    command = [sys.executable, "-m", "expdesk", "index", str(store), "--db", str(db), "-q", "--force"]
    procs = [subprocess.Popen(command, env=subprocess_env(), stderr=subprocess.PIPE) for _ in range(3)]
    with Index(db) as index:
        index.index([store])
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert _integrity(db) == "ok"
    assert cli("runs", "--db", db) == 0


def test_a_reader_snapshot_then_write_does_not_break_indexing(store: Path, db: Path) -> None:
    """A long-lived WAL read snapshot (the GUI's) while the writer commits, then the snapshot writes."""
    with Index(db) as index:
        index.index([store])
        reader = sqlite3.connect(db, isolation_level=None, timeout=30)
        reader.execute("BEGIN")
        before = reader.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        index.index([store], force=True)
        assert reader.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == before
        with pytest.raises(sqlite3.OperationalError):  # SQLITE_BUSY_SNAPSHOT: refused, not corrupted
            reader.execute("UPDATE annotations SET note='x'")
            reader.execute("INSERT INTO roots (path, added_at, network) VALUES ('/x', 0, 0)")
        reader.execute("ROLLBACK")
        reader.close()
    assert _integrity(db) == "ok"


def test_disk_full_is_one_clear_message_and_no_damage(
    store: Path, db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Index(db) as index:
        index.index([store / "plain"])
    good = _count(db)
    real_open = index_db.open_writer

    def tiny_disk(path: Path, journal_mode: str = "WAL") -> sqlite3.Connection:
        conn = real_open(path, journal_mode)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count={pages + 2}")  # SQLITE_FULL after two more pages
        return conn

    monkeypatch.setattr("expdesk.index.writer.open_writer", tiny_disk)
    with Index(db) as index, pytest.raises(ExpdeskError, match="full"):
        index.index([store])
    assert cli("index", store, "--db", db, "-q") == 1
    assert "full" in capsys.readouterr().err
    assert _integrity(db) == "ok"
    assert _count(db) >= good
    monkeypatch.undo()
    with Index(db) as index:
        index.index([store])
    assert _integrity(db) == "ok"


def test_unwritable_db_location_is_a_clear_message(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert cli("index", store / "plain", "--db", blocker / "index.sqlite", "-q") == 1
    assert "cannot open the index" in capsys.readouterr().err
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_db_folder_is_a_clear_message(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "index.sqlite"
    with Index(db) as index:
        index.index([store / "plain"])
    before = snapshot(folder)
    os.chmod(folder, 0o555)
    os.chmod(db, 0o444)
    try:
        assert cli("index", store, "--db", db, "-q") == 1
        assert "index" in capsys.readouterr().err
    finally:
        os.chmod(folder, 0o755)
        os.chmod(db, 0o644)
    assert _integrity(db) == "ok"
    del before


WRITER = r"""
import sqlite3, sys, time
db, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
conn = sqlite3.connect(db, timeout=5.0, isolation_level=None)   # pysqlite's default, as MLflow uses it
if mode == "wal":
    conn.execute("PRAGMA journal_mode=WAL")
run = conn.execute("SELECT run_uuid FROM runs LIMIT 1").fetchone()[0]
for i in range(n):
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES ('live', ?, ?, ?, ?, 0)",
        (i * 0.5, int(time.time() * 1000), run, 10_000 + i),
    )
    conn.execute("COMMIT")
print("done", n)
"""


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_mlflow_db_written_while_read_is_never_locked_or_altered(
    tmp_path: Path, db: Path, journal: str
) -> None:
    root = tmp_path / "watched"
    shutil.copytree(DATA / "mlflow" / "sqlite", root)
    mlflow_db = root / "mlflow.db"
    before_rows = sqlite3.connect(mlflow_db).execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
    writes = 300
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(mlflow_db), str(writes), journal],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with Index(db) as index:
        while writer.poll() is None:
            index.index([root])
        index.index([root])
    _out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err  # never "database is locked"
    conn = sqlite3.connect(f"file:{mlflow_db}?mode=ro", uri=True)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == before_rows + writes
    conn.close()
    # and what expdesk saw converges on what MLflow wrote
    with Index(db) as index:
        index.index([root])
    conn = sqlite3.connect(db)
    live = conn.execute("SELECT SUM(count) FROM series WHERE key='live'").fetchone()[0]
    conn.close()
    assert live == writes


def test_reading_a_wal_mlflow_db_leaves_no_files_behind(tmp_path: Path, db: Path) -> None:
    root = tmp_path / "watched"
    shutil.copytree(DATA / "mlflow" / "sqlite", root)
    conn = sqlite3.connect(root / "mlflow.db")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()  # the last close checkpoints and removes -wal/-shm: the state MLflow leaves behind
    before = snapshot(root)
    time.sleep(0.01)
    with Index(db) as index:
        index.index([root])
        index.index([root], force=True)
    assert snapshot(root) == before
