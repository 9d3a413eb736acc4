"""Two expdesk processes, one index: one writer at a time, the other follows; a killed process, a stale
lock and a read-only index each get one line and a sensible fallback. Real processes (`python -m expdesk`),
a real index; waits are on processes and listeners with generous ceilings, never on durations."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from expdesk.core.errors import ExpdeskError
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index
from expdesk.index.storage import FsInfo
from tests.hostile.conftest import DATA, cli, subprocess_env

CEILING = 300  # s: a loaded 2-core CI machine indexing twice in two processes

HOLD_LOCK_THEN_WAIT = """
import sys
from pathlib import Path
from expdesk.index.lock import WriterLock
lock = WriterLock(Path(sys.argv[1]))
assert lock.acquire(timeout=60)
print("held", flush=True)
sys.stdin.read()  # SIGKILLed here, holding the lock
"""


def _tools(dest: Path, tools: list[str]) -> Path:
    for tool in tools:
        shutil.copytree(DATA / tool, dest / tool, symlinks=True)
    return dest


def _state(db: Path) -> dict[str, tuple[str, int, int]]:
    """run key -> (status, series count, points): what a complete index of the run holds."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT r.key, r.status, COUNT(s.id), COALESCE(SUM(s.count), 0) FROM runs r"
            " LEFT JOIN series s ON s.run_key = r.key WHERE r.gone = 0 GROUP BY r.key"
        ).fetchall()
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    return {key: (status, n, points) for key, status, n, points in rows}


def _expected(tmp_path: Path, roots: list[Path]) -> dict[str, tuple[str, int, int]]:
    """Each root indexed alone, one after the other, by this process: the ground truth of the union."""
    db = tmp_path / "alone" / "index.sqlite"
    with Index(db) as index:
        for root in roots:
            assert not index.index([root]).errors
    return _state(db)


@pytest.fixture
def two_roots(tmp_path: Path) -> list[Path]:
    return [
        _tools(tmp_path / "a", ["plain", "mlflow", "tensorboard", "lightning"]),
        _tools(tmp_path / "b", ["hydra", "dvc", "sacred", "wandb", "transformers"]),
    ]


def test_two_processes_indexing_different_roots_end_with_the_union(
    tmp_path: Path, db: Path, two_roots: list[Path]
) -> None:
    expected = _expected(tmp_path, two_roots)
    assert len(expected) > 20
    # each process indexes its root twice (the second time forced: every run rewritten) while the other
    # one does the same, so their batches interleave for the whole run
    script = (
        "import sys\nfrom expdesk.cli import main\n"
        "for extra in ([], ['--force']):\n"
        "    code = main(['index', sys.argv[1], '--db', sys.argv[2], '-q', *extra])\n"
        "    if code:\n        sys.exit(code)\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(root), str(db)],
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for root in two_roots
    ]
    outputs = [proc.communicate(timeout=CEILING) for proc in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err and "database is locked" not in err, err
    assert _state(db) == expected


def test_a_window_follows_what_another_process_writes(tmp_path: Path, db: Path) -> None:
    """This process holds the index open (as the GUI does) and writes nothing; a CLI `index` in another
    process fills it; this process's listeners hear every run it wrote."""
    root = _tools(tmp_path / "root", ["plain", "hydra"])
    heard: set[str] = set()
    changed = threading.Event()

    def listener(keys: set[str]) -> None:
        heard.update(keys)
        changed.set()

    with Index(db) as index:
        index.writer.add_listener(listener)
        proc = subprocess.run(
            [sys.executable, "-m", "expdesk", "index", str(root), "--db", str(db), "-q"],
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=CEILING,
        )
        assert proc.returncode == 0, proc.stderr
        with IndexReader(db) as reader:
            written = set(reader.run_keys())
        assert written
        while not written <= heard:
            changed.clear()
            assert changed.wait(CEILING), f"never heard of {sorted(written - heard)}"


def test_a_killed_writer_is_taken_over_and_said_once(
    tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tools(tmp_path / "root", ["plain"])
    Index(db).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK_THEN_WAIT, str(db)],
        env=subprocess_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        holder.send_signal(signal.SIGKILL)  # dies holding the lock, its text left in the lock file
        holder.wait(CEILING)
    finally:
        for pipe in (holder.stdin, holder.stdout):
            if pipe is not None:
                pipe.close()
    assert cli("index", root, "--db", db, "-q") == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert f"pid {holder.pid}" in err[0] and "stopped while writing the index" in err[0]
    assert cli("index", root, "--db", db, "-q") == 0
    assert capsys.readouterr().err == ""  # said once: the next writer finds a clean lock
    assert _state(db)


def test_a_killed_indexing_process_loses_nothing(tmp_path: Path, db: Path) -> None:
    """A CLI `index` SIGKILLed mid-way: the index stays whole and the next pass completes it."""
    root = _tools(tmp_path / "root", ["plain", "mlflow", "tensorboard", "hydra", "dvc", "sacred"])
    expected = _expected(tmp_path, [root])
    proc = subprocess.Popen(
        [sys.executable, "-m", "expdesk", "index", str(root), "--db", str(db), "-q", "--force"],
        env=subprocess_env(),
        stderr=subprocess.PIPE,
    )
    started = threading.Event()

    def first_row() -> None:
        # wait for the first committed run (the other process is mid-pass), then kill it
        while proc.poll() is None and not started.is_set():
            if db.exists():
                try:
                    with IndexReader(db) as reader:
                        if reader.run_keys():
                            started.set()
                            return
                except (ExpdeskError, sqlite3.Error):
                    pass
            started.wait(0.01)

    watcher = threading.Thread(target=first_row)
    watcher.start()
    watcher.join(CEILING)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=CEILING)
    with Index(db) as index:
        assert not index.index([root]).errors
    assert _state(db) == expected


def test_read_only_index_shows_what_it_holds_and_refuses_writes_in_one_line(
    tmp_path: Path, db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tools(tmp_path / "root", ["plain"])
    with Index(db) as index:
        index.index([root])
    before = _state(db)

    def read_only(_folder: Path) -> FsInfo:
        return FsInfo("ext4", read_only=True)

    with Index(db, fs_probe=read_only) as index:
        assert index.read_only is not None
        assert len(index.notices) == 1 and "read-only" in index.notices[0]
        with index.reader() as reader:
            assert set(reader.run_keys()) == set(before)
        with pytest.raises(ExpdeskError, match="read-only"):
            index.index([root])
        with pytest.raises(ExpdeskError, match="read-only"):
            index.set_star(next(iter(before)), True)
    monkeypatch.setattr("expdesk.index.storage.probe_filesystem", read_only)
    assert cli("index", root, "--db", db, "-q") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("expdesk:") for line in err) and any("read-only" in line for line in err)
    assert cli("runs", "--db", db) == 0
    assert _state(db) == before


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare for a private read-only mount")
def test_index_on_a_real_read_only_mount(tmp_path: Path, db: Path) -> None:
    """The same on a real read-only bind mount (a private mount namespace; skipped where not allowed)."""
    root = _tools(tmp_path / "root", ["plain"])
    with Index(db) as index:
        index.index([root])
    before = _state(db)
    folder = db.parent
    python = sys.executable
    script = (
        f"mount --bind {folder} {folder} && mount -o remount,ro,bind {folder} {folder} || exit 77\n"
        f"{python} -m expdesk index {root} --db {db} -q; echo index-exit=$?\n"
        f"{python} -m expdesk runs --db {db} >/dev/null; echo runs-exit=$?\n"
    )
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=CEILING,
    )
    if proc.returncode == 77 or "unshare:" in proc.stderr:
        pytest.skip(f"no private mounts here: {proc.stderr.strip()[:200]}")
    assert "index-exit=1" in proc.stdout and "runs-exit=0" in proc.stdout, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines and all(line.startswith("expdesk:") for line in lines), proc.stderr
    assert "Traceback" not in proc.stderr
    assert any("read-only" in line for line in lines), proc.stderr
    assert _state(db) == before


def test_a_run_read_twice_from_one_cursor_is_stored_once(
    tmp_path: Path, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes watching the same folder both re-read a run from the cursor they saw; the second
    write would store the new lines twice. It is refused (the cursor moved) and read again from the new
    cursor: every line once. (Two `Index` objects on one DB stand for the two processes.)"""
    run = tmp_path / "root" / "run-1"
    run.mkdir(parents=True)
    metrics = run / "metrics.jsonl"
    metrics.write_text("".join(f'{{"step": {s}, "loss": {1 / (s + 1)}}}\n' for s in range(100)))
    with Index(db) as a, Index(db) as b:
        a.index([run.parent])
        seen_by_b = b.indexer.known()  # b looks at the cursors...
        with open(metrics, "a", encoding="utf-8") as fh:
            fh.write("".join(f'{{"step": {s}, "loss": 0.5}}\n' for s in range(100, 150)))
        a.index([run.parent])  # ...a stores the 50 new lines and moves the cursor...
        real_known = b.indexer.known
        first = iter([seen_by_b])
        monkeypatch.setattr(b.indexer, "known", lambda: next(first, None) or real_known())
        report = b.index([run.parent])  # ...and b reads from the cursor it saw
        assert not report.errors
    with IndexReader(db) as reader:
        [only] = reader.runs_json(reader.run_keys(), history=True)
    steps = [p["step"] for p in only["metrics"]["loss"]["history"]]
    assert steps == list(range(150))
