"""Files written while read: random-sized appends, a writer killed mid-line, truncate-and-rewrite, runs
deleted during a scan. Nothing is lost once the writer is done; nothing half-written is an error."""

from __future__ import annotations

import json
import os
import random
import shutil
import threading
from pathlib import Path

from expdesk.index.reader import IndexReader
from expdesk.index.service import Index


def _writer(path: Path, lines: list[bytes], seed: int, done: threading.Event) -> None:
    """Appends the lines in random chunks that cut lines anywhere, as a buffered writer does."""
    rng = random.Random(seed)
    data = b"".join(lines)
    pos = 0
    with open(path, "ab", buffering=0) as fh:
        while pos < len(data):
            step = rng.randint(1, 300)
            fh.write(data[pos : pos + step])
            pos += step
    done.set()


def test_random_chunk_appends_while_indexing(tmp_path: Path, db: Path) -> None:
    root = tmp_path / "root"
    jsonl_run, mlflow_like = root / "a", root / "b"
    jsonl_run.mkdir(parents=True)
    mlflow_like.mkdir()
    (jsonl_run / "metrics.jsonl").write_bytes(b"")
    (mlflow_like / "metrics.csv").write_bytes(b"step,loss\n")
    n = 3000
    jsonl = [json.dumps({"step": i, "loss": 1 / (i + 1)}).encode() + b"\n" for i in range(n)]
    csv_lines = [f"{i},{1 / (i + 1)}\n".encode() for i in range(n)]
    done = [threading.Event(), threading.Event()]
    threads = [
        threading.Thread(target=_writer, args=(jsonl_run / "metrics.jsonl", jsonl, 1, done[0])),
        threading.Thread(target=_writer, args=(mlflow_like / "metrics.csv", csv_lines, 2, done[1])),
    ]
    with Index(db) as index:
        for t in threads:
            t.start()
        passes = 0
        while not all(d.is_set() for d in done) or passes < 3:
            report = index.index([root])
            assert report.errors == [], report.errors  # a torn line is pending, never an error
            passes += 1
        for t in threads:
            t.join()
        index.index([root])
    with IndexReader(db) as reader:
        runs = reader.runs_json(reader.run_keys())
    assert sorted(r["metrics"]["loss"]["count"] for r in runs) == [n, n]
    assert all(r["metrics"]["loss"]["last_step"] == n - 1 for r in runs)


def test_writer_killed_mid_line_then_rewritten(tmp_path: Path, db: Path) -> None:
    run = tmp_path / "root" / "run"
    run.mkdir(parents=True)
    metrics = run / "metrics.jsonl"
    metrics.write_bytes(b'{"step": 0, "loss": 1}\n{"step": 1, "lo')  # the writer died here
    with Index(db) as index:
        index.index([run.parent])
        metrics.write_bytes(b'{"step": 0, "loss": 5}\n')  # truncate-and-rewrite (a restarted job)
        index.index([run.parent])
        tmp = run / "metrics.jsonl.tmp"
        tmp.write_bytes(b'{"step": 0, "loss": 7}\n{"step": 1, "loss": 6}\n')
        os.replace(tmp, metrics)  # atomic replace: a new inode
        index.index([run.parent])
    with IndexReader(db) as reader:
        [only] = reader.runs_json(reader.run_keys(), history=True)
    assert [p["value"] for p in only["metrics"]["loss"]["history"]] == [7.0, 6.0]
    assert only["error"] is None


def test_runs_deleted_during_a_scan(tmp_path: Path, db: Path) -> None:
    root = tmp_path / "root"
    for i in range(40):
        run = root / f"run-{i:02d}"
        run.mkdir(parents=True)
        (run / "metrics.jsonl").write_text('{"step": 0, "loss": 1}\n')
    calls = {"n": 0}

    def progress(done: int, total: int, path: str) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            for victim in sorted(root.iterdir())[20:]:
                shutil.rmtree(victim)  # moved to the trash mid-scan

    with Index(db) as index:
        report = index.index([root], progress=progress)
        assert report.found == 40
        again = index.index([root])
    assert again.found == 20 and len(again.gone) >= 1
