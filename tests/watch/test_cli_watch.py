"""`expdesk watch` as a process: indexes, follows an append, exits 0 on SIGTERM/SIGINT with a sound DB."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from expdesk.cli import main
from expdesk.index.reader import IndexReader
from tests.watch.conftest import append, plain_run

REPO = Path(__file__).resolve().parents[2]


def _read_until(proc: subprocess.Popen[str], marker: str) -> list[str]:
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:  # blocks on the child's output; the kill timer below bounds it
        lines.append(line)
        if marker in line:
            return lines
    pytest.fail(f"expdesk watch ended before printing {marker!r}: {''.join(lines)}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_watch_process_follows_appends_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    root = tmp_path / "root"
    run = plain_run(root)
    db = tmp_path / "index.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "expdesk", "watch", str(root), "--db", str(db), "--stale-after", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    killer = threading.Timer(120, proc.kill)  # a ceiling, far above what it needs
    killer.start()
    try:
        head = _read_until(proc, "press Ctrl-C to stop")
        assert "1 runs found" in head[0] and f"watching {root} (native)" in "".join(head)
        append(run / "metrics.jsonl", '{"step": 777, "loss": 0.0625}\n')
        _read_until(proc, "run(s) updated")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)  # a ceiling: it must exit on the signal, not hang
        assert proc.returncode == 0, err
        assert "stopped" in out
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with IndexReader(db) as reader:
        (key,) = reader.run_keys()
        assert reader.run_json(key)["metrics"]["loss"]["last"] == 0.0625


def test_watch_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch"]) == 2
    assert main(["watch", str(tmp_path / "nope")]) == 2
    assert main(["watch", str(tmp_path), "--stale-after", "0"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
