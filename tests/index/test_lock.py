"""The inter-process writer lock: exclusion, fair alternation, stop, and a crashed holder taken over."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from expdesk.index.lock import Holder, WriterLock

HOLD_AND_WAIT = """
import sys
from pathlib import Path
from expdesk.index.lock import WriterLock
lock = WriterLock(Path(sys.argv[1]))
assert lock.acquire(timeout=60)
print("held", flush=True)
sys.stdin.read()  # killed here
"""


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return int(proc.stdout)


@pytest.mark.parametrize("exclusive_file", [False, True], ids=["flock", "O_EXCL"])
def test_one_holder_at_a_time(tmp_path: Path, exclusive_file: bool) -> None:
    db = tmp_path / "index.sqlite"
    first, second = WriterLock(db, exclusive_file), WriterLock(db, exclusive_file)
    try:
        assert first.acquire(timeout=60)
        assert not second.acquire(timeout=0.05)
        holder = second.holder()
        assert holder is not None and holder.pid == os.getpid() and holder.host == socket.gethostname()
        first.release()
        assert second.acquire(timeout=60)
        assert not first.acquire(timeout=0.05)
        second.release()
        assert second.holder() is None  # a clean release leaves nothing that looks like a crash
    finally:
        first.close()
        second.close()


def test_a_stop_request_ends_the_wait(tmp_path: Path) -> None:
    db = tmp_path / "index.sqlite"
    holder, waiter = WriterLock(db), WriterLock(db)
    stop = threading.Event()
    told: list[Holder | None] = []
    waiter.REPORT_AFTER = 0.0
    assert holder.acquire(timeout=60)
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(waiter.acquire(stop, told.append)))
    thread.start()
    try:
        while not told:  # the waiter says whom it waits for, then keeps waiting
            thread.join(0.01)
        assert told[0] is not None and told[0].pid == os.getpid()
        stop.set()
        thread.join(30)
        assert result == [False]
    finally:
        holder.close()
        waiter.close()


def test_busy_writers_alternate(tmp_path: Path) -> None:
    """Two writers that want the lock back the moment they let go both get turns (the turnstile)."""
    db = tmp_path / "index.sqlite"
    turns: list[str] = []
    stop = threading.Event()
    both_ready = threading.Barrier(2)

    def writer(name: str) -> None:
        lock = WriterLock(db)
        both_ready.wait(30)
        try:
            while not stop.is_set() and len(turns) < 400:
                if lock.acquire(stop, timeout=30):
                    turns.append(name)
                    stop.wait(0.0005)  # a batch takes a moment
                    lock.release()
        finally:
            lock.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    stop.set()
    assert len(turns) >= 400
    assert turns.count("a") > 50 and turns.count("b") > 50, (turns.count("a"), turns.count("b"))


def test_a_killed_holder_is_taken_over_and_named(tmp_path: Path) -> None:
    db = tmp_path / "index.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_WAIT, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    lock = WriterLock(db)
    try:
        assert not lock.acquire(timeout=0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        assert lock.acquire(timeout=60)
        assert [h.pid for h in lock.taken_over] == [proc.pid]
    finally:
        lock.close()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


def test_exclusive_file_of_a_gone_owner_is_taken_over(tmp_path: Path) -> None:
    db = tmp_path / "index.sqlite"
    gone = _dead_pid()
    stale = {"pid": gone, "host": socket.gethostname(), "program": "expdesk watch"}
    (tmp_path / "index.sqlite.lock").write_text(json.dumps(stale))
    lock = WriterLock(db, force_exclusive_file=True)
    try:
        assert lock.acquire(timeout=60)
        assert lock.taken_over == [Holder(gone, socket.gethostname(), "expdesk watch")]
    finally:
        lock.close()
    assert not (tmp_path / "index.sqlite.lock").exists()


def test_exclusive_file_of_a_live_or_remote_owner_is_respected(tmp_path: Path) -> None:
    db = tmp_path / "index.sqlite"
    path = tmp_path / "index.sqlite.lock"
    lock = WriterLock(db, force_exclusive_file=True)
    try:
        for owner in (
            {"pid": os.getppid(), "host": socket.gethostname(), "program": "expdesk"},  # alive here
            {"pid": _dead_pid(), "host": "another-node", "program": "expdesk"},  # cannot be checked
        ):
            path.write_text(json.dumps(owner))
            assert not lock.acquire(timeout=0.05)
            assert path.read_text() == json.dumps(owner)
        assert "another-node" in (lock.holder() or Holder(0, "", "")).describe()
    finally:
        lock.close()
