"""Indexing many small runs in batches keeps the per-run guarantees: progress per run, a prompt cancel, a
run deleted or unstorable mid-index costs only that run, and the rows are the ones the per-run path writes."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from expdesk.index import batch, indexer, store
from expdesk.index.service import Index
from expdesk.sources.base import Reader
from expdesk.sources.mlflow import files as mlflow_files

EXP = "123456789"


def write_sweep(root: Path, runs: int, metrics: int = 3, steps: int = 5) -> Path:
    """A small MLflow file store as MLflow 3 writes it (see benchmarks/mlflow_store.py)."""
    store_dir = root / "mlruns"
    exp = store_dir / EXP
    exp.mkdir(parents=True)
    (exp / "meta.yaml").write_text(
        f"artifact_location: file://{exp}\ncreation_time: 1700000000000\nexperiment_id: '{EXP}'\n"
        "last_update_time: 1700000000000\nlifecycle_stage: active\nname: sweep\n"
    )
    for r in range(runs):
        run_id = f"{r:032x}"
        run = exp / run_id
        for sub in ("artifacts", "metrics", "params", "tags"):
            (run / sub).mkdir(parents=True)
        (run / "meta.yaml").write_text(
            f"artifact_uri: file://{run}/artifacts\nend_time: 1700000100000\nentry_point_name: ''\n"
            f"experiment_id: '{EXP}'\nlifecycle_stage: active\nrun_id: {run_id}\nrun_name: run-{r}\n"
            "source_name: ''\nsource_type: 4\nsource_version: ''\nstart_time: 1700000000000\nstatus: 3\n"
            "tags: []\nuser_id: unknown\n"
        )
        (run / "params" / "lr").write_text(f"1e-{r % 5}")
        (run / "tags" / "mlflow.runName").write_text(f"run-{r}")
        for m in range(metrics):
            (run / "metrics" / f"m{m}").write_text(
                "".join(f"{1700000000000 + s} {r + m / 10 + s / 100!r} {s}\n" for s in range(steps))
            )
    return store_dir


def dump(db: Path) -> dict[str, Any]:
    """Every row the index holds for runs, params, tags, series and chunks (times of indexing left out)."""
    conn = sqlite3.connect(db)
    try:
        out: dict[str, Any] = {
            "runs": conn.execute(
                "SELECT key, name, experiment, status, start_time, end_time, error, fingerprint, cursor, info"
                " FROM runs ORDER BY key"
            ).fetchall(),
            "params": conn.execute("SELECT * FROM params ORDER BY run_key, key").fetchall(),
            "tags": conn.execute("SELECT * FROM tags ORDER BY run_key, key").fetchall(),
            "series": conn.execute(
                "SELECT run_key, key, count, first_step, last_step, last, min, max, argmin_step, argmax_step,"
                " nan_count, last_timestamp, exact FROM series ORDER BY run_key, key"
            ).fetchall(),
            "chunks": conn.execute(
                "SELECT s.run_key, s.key, c.seq, c.n, c.steps, c.vals, c.ts FROM chunks c"
                " JOIN series s ON s.id = c.series_id ORDER BY s.run_key, s.key, c.seq"
            ).fetchall(),
            "unread": conn.execute("SELECT * FROM unread ORDER BY run_key, path").fetchall(),
            "artifacts": conn.execute("SELECT * FROM artifacts ORDER BY run_key, path").fetchall(),
            "media": conn.execute(
                "SELECT s.run_key, s.key, s.kind, i.step, i.file FROM media_items i"
                " JOIN media_series s ON s.id = i.series_id ORDER BY s.run_key, s.key, i.id"
            ).fetchall(),
        }
    finally:
        conn.close()
    return out


def test_batched_rows_equal_the_per_run_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_sweep(tmp_path / "s", 40)
    runs = sorted((root / EXP).iterdir())
    with open(runs[5] / "metrics" / "m1", "a") as fh:
        fh.write("1700000000099 oops 7\n")  # a bad line: named in the run's error
    (runs[9] / "artifacts" / "model.txt").write_text("weights")
    (runs[9] / "artifacts" / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with Index(tmp_path / "batched.db") as index:
        report = index.index([root])
    assert report.read == 40 and [path for path, _ in report.errors] == [str(runs[5])]
    # the per-run path: one run per batch, each run read on its own and written by store.apply_update
    monkeypatch.setattr(indexer, "BATCH_RUNS", 1)
    monkeypatch.setattr(mlflow_files.MlflowFileReader, "read_batch", Reader.read_batch)

    def one_by_one(conn: sqlite3.Connection, entries: list[batch.Entry]) -> list[Any]:
        return batch._apply_one_by_one(conn, entries)

    monkeypatch.setattr(indexer, "apply_batch", one_by_one)
    monkeypatch.setattr(indexer, "prepare_batch", lambda updates: [u and store.prepare(u) for u in updates])
    with Index(tmp_path / "single.db") as index:
        assert index.index([root]).read == 40
    batched, single = dump(tmp_path / "batched.db"), dump(tmp_path / "single.db")
    assert batched["artifacts"]  # the comparison covers them
    assert batched == single


def test_progress_is_reported_for_every_run(tmp_path: Path) -> None:
    root = write_sweep(tmp_path / "s", 300, metrics=1, steps=2)
    seen: list[int] = []
    with Index(tmp_path / "i.db") as index:
        report = index.index([root], progress=lambda done, found, path: seen.append(done))
    assert report.read == 300
    assert seen == list(range(1, 301))


def test_cancel_stops_within_the_batches_in_flight(tmp_path: Path) -> None:
    root = write_sweep(tmp_path / "s", 600, metrics=1, steps=2)
    calls: list[int] = []
    with Index(tmp_path / "i.db", workers=2) as index:
        report = index.index(
            [root], progress=lambda done, found, path: calls.append(done), cancelled=lambda: len(calls) > 0
        )
    assert report.cancelled
    # what was already handed to the readers finishes; nothing new starts
    assert report.read <= 2 * indexer.BATCH_RUNS < 600


def test_a_run_deleted_mid_index_is_an_error_of_that_run_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_sweep(tmp_path / "s", 50)
    victim = sorted((root / EXP).iterdir())[7]
    real = mlflow_files.MlflowFileReader.read_batch

    def deleting(self: Any, items: Any, budget: int) -> Any:
        if victim.exists():
            shutil.rmtree(victim)  # between discovery and the read
        return real(self, items, budget)

    monkeypatch.setattr(mlflow_files.MlflowFileReader, "read_batch", deleting)
    with Index(tmp_path / "i.db") as index:
        report = index.index([root])
    assert report.read == 50
    assert [path for path, _ in report.errors] == [str(victim)]
    rows = dump(tmp_path / "i.db")
    assert len({r[0] for r in rows["series"]}) == 49


def test_a_run_sqlite_refuses_is_stored_escaped_and_the_batch_still_lands(tmp_path: Path) -> None:
    root = write_sweep(tmp_path / "s", 20)
    run = sorted((root / EXP).iterdir())[3]
    # a tag value with a byte that is not UTF-8: read with surrogateescape, refused by SQLite as is
    (run / "params" / "odd").write_bytes(b"caf\xe9")
    name = os.fsdecode(b"tag\xff")
    (run / "tags" / name).write_text("x")
    with Index(tmp_path / "i.db") as index:
        report = index.index([root])
    assert report.read == 20 and not report.errors
    rows = dump(tmp_path / "i.db")
    assert any(r[1] == "tag\\xff" for r in rows["tags"])
    assert len({r[0] for r in rows["series"]}) == 20


def test_a_run_that_cannot_be_stored_fails_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_sweep(tmp_path / "s", 30)
    victim = sorted((root / EXP).iterdir())[11]
    real = store.apply_update

    def refusing(conn: sqlite3.Connection, ref: Any, update: Any, *args: Any, **kwargs: Any) -> None:
        if ref.path == victim:
            raise ValueError("refused")
        real(conn, ref, update, *args, **kwargs)

    real_all = batch._apply_all

    def failing_batch(conn: sqlite3.Connection, entries: Any) -> None:
        if any(e.ref.path == victim for e in entries):
            raise ValueError("one of these")
        real_all(conn, entries)

    monkeypatch.setattr(store, "apply_update", refusing)
    monkeypatch.setattr(batch, "_apply_all", failing_batch)
    with Index(tmp_path / "i.db") as index:
        report = index.index([root])
    assert [path for path, _ in report.errors] == [str(victim)]
    assert "could not be stored" in report.errors[0][1]
    rows = dump(tmp_path / "i.db")
    assert len({r[0] for r in rows["series"]}) == 29
