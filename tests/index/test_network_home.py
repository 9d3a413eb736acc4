"""An index on a network home (NFS, SMB, sshfs...): rollback journal, no memory-mapped reads, said once.
The filesystem is injected (`Index(fs_probe=...)`); the DB itself is real and checked after every step."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from expdesk.cli import main as cli
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index
from expdesk.index.storage import FsInfo
from tests.sql import query

DATA = Path(__file__).resolve().parents[1] / "data" / "runs"


def nfs(_folder: Path) -> FsInfo:
    return FsInfo("nfs4")


def local(_folder: Path) -> FsInfo:
    return FsInfo("ext4")


def _mode(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        conn.close()


def _series_statements(index: Index) -> list[str]:
    """Every SQL statement a chart load (`series_many`) runs, as SQLite traces them."""
    with index.reader() as reader:
        pairs = [(r["run_key"], r["key"]) for r in query(reader, "SELECT run_key, key FROM series LIMIT 5")]
        assert pairs
        statements: list[str] = []
        reader.conn.set_trace_callback(statements.append)
        loaded = reader.series_many(pairs)
        reader.conn.set_trace_callback(None)
    assert len(loaded) == len(pairs) and all(len(v[0]) for v in loaded.values())
    return statements


@pytest.fixture
def root(tmp_path: Path) -> Path:
    target = tmp_path / "runs" / "plain"
    shutil.copytree(DATA / "plain", target)
    return target.parent


def test_network_home_uses_a_rollback_journal_and_plain_reads(tmp_path: Path, root: Path) -> None:
    db = tmp_path / "home" / "index.sqlite"
    with Index(db, fs_probe=nfs) as index:
        assert index.storage.network
        [notice] = index.notices
        assert "network filesystem (nfs4)" in notice and "rollback journal" in notice
        report = index.index([root])
        assert report.found > 0 and not report.errors
        assert _mode(db) == "delete"
        assert not any("mmap_size=" in s for s in _series_statements(index))
    assert not (db.parent / "index.sqlite-wal").exists() and not (db.parent / "index.sqlite-shm").exists()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_local_disk_keeps_wal_and_memory_mapped_chart_loads(tmp_path: Path, root: Path) -> None:
    db = tmp_path / "index.sqlite"
    with Index(db, fs_probe=local) as index:
        assert index.notices == []
        index.index([root])
        assert _mode(db) == "wal"
        assert any("mmap_size=" in s for s in _series_statements(index))


def test_an_index_moved_to_a_network_home_leaves_wal(tmp_path: Path, root: Path) -> None:
    """Built on a local disk (WAL), then opened from NFS: it switches to the rollback journal."""
    db = tmp_path / "index.sqlite"
    with Index(db, fs_probe=local) as index:
        index.index([root])
    assert _mode(db) == "wal"
    with Index(db, fs_probe=nfs) as index:
        assert _mode(db) == "delete"
        assert len(index.notices) == 1
        with index.reader() as reader:
            assert reader.run_keys()


def test_a_network_index_held_open_in_wal_is_said_not_hidden(tmp_path: Path, root: Path) -> None:
    """Another process keeps the WAL index open: the switch cannot happen; the user is told so."""
    db = tmp_path / "index.sqlite"
    with Index(db, fs_probe=local) as index:
        index.index([root])
    other = sqlite3.connect(db)
    other.execute("BEGIN")
    other.execute("SELECT COUNT(*) FROM runs").fetchone()  # a read snapshot: the WAL stays in use
    try:
        with Index(db, fs_probe=nfs) as index:
            assert any("stays in WAL mode" in n for n in index.notices), index.notices
    finally:
        other.rollback()
        other.close()


def test_direct_readers_decide_mmap_by_the_filesystem(tmp_path: Path) -> None:
    db = tmp_path / "index.sqlite"
    Index(db, fs_probe=local).close()
    with IndexReader(db, mmap_reads=False) as reader:
        assert reader.mmap_reads is False
    with IndexReader(db) as reader:  # the real probe: this test machine's tmp is not a network mount
        assert reader.mmap_reads is True


def test_cli_says_network_home_once_on_stderr(
    tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("expdesk.index.storage.probe_filesystem", nfs)
    db = tmp_path / "index.sqlite"
    assert cli(["index", str(root), "--db", str(db), "-q"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("expdesk: the index at") and "nfs4" in err[0]
    assert _mode(db) == "delete"
