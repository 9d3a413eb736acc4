"""Guarantee 4 (local failures): a hostile or corrupt run shows up with a clear `error`; the others index on;
half-written files are retried, not reported."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from expdesk.core.entities import RunRef, RunUpdate
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index
from expdesk.sources import registry
from tests.hostile.conftest import copy_tool


def _runs(db: Path) -> dict[str, dict[str, Any]]:
    with IndexReader(db) as reader:
        runs = reader.runs_json(reader.run_keys(include_deleted=True))
    # runs of a DB store share its path: their native id tells them apart
    return {r["path"] + ("#" + r["native_id"] if r["format"] == "mlflow-sqlite" else ""): r for r in runs}


def test_a_run_whose_rows_cannot_be_stored_is_an_error_not_a_crash(
    tmp_path: Path, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_tool("plain", tmp_path)
    generic = registry.reader_for("generic")
    real_read = generic.read
    victim = sorted(p.parent for p in (root / "runs").rglob("metrics.*"))[0]

    def read(ref: RunRef, cursor: dict[str, Any] | None) -> RunUpdate:
        update = real_read(ref, cursor)
        if ref.path == victim:
            update.params["bad"] = {"not": "a str"}  # type: ignore[assignment]  # SQLite refuses a dict
        return update

    monkeypatch.setattr(generic, "read", read)
    with Index(db) as index:
        report = index.index([root])
    runs = _runs(db)
    assert report.found == len(runs) >= 3
    assert "could not be stored" in (runs[str(victim)]["error"] or "")
    assert [p for p, r in runs.items() if r["error"]] == [str(victim)]


def test_invalid_utf8_and_lone_surrogates_are_stored_escaped(tmp_path: Path, db: Path) -> None:
    import os

    root = tmp_path / "root"
    root.mkdir()
    run = Path(os.fsdecode(os.fsencode(root) + b"/run-\xff"))
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 0, "loss\\ud800": 1.0}\n')
    (run / "params.json").write_text('{"name": "x\\udfff"}')
    with Index(db) as index:
        report = index.index([root])
    assert report.errors == []
    [only] = _runs(db).values()
    assert only["path"].endswith("run-\\xff")
    assert only["params"] == {"name": "x\\udfff"}


CORRUPT: dict[str, bytes] = {
    "python_tag.yaml": b"lr: !!python/object/apply:os.system ['touch MARKER']\n",
    "bomb.yaml": b"a: &a [x,x,x,x,x,x,x,x,x]\n"
    + b"".join(
        b"%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n" % ((c, c) + (c - 1,) * 9) for c in range(98, 108)
    ),
    "garbage.yaml": b"\x00\xff\xfe{[",
    "deep.json": b"[" * 100_000 + b"]" * 100_000,
    "scalar.json": b"42",
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_a_corrupt_config_is_the_runs_error_and_others_index_on(tmp_path: Path, db: Path, case: str) -> None:
    root = copy_tool("plain", tmp_path)
    victim = sorted(p.parent for p in (root / "runs").rglob("metrics.*"))[0]
    for old in victim.glob("*.y*ml"):
        old.unlink()
    for old in victim.glob("params.json"):
        old.unlink()
    name = "params.json" if case.endswith(".json") else "params.yaml"
    (victim / name).write_bytes(CORRUPT[case])
    with Index(db) as index:
        index.index([root])
    runs = _runs(db)
    assert str(victim / name) in (runs[str(victim)]["error"] or "")
    assert [p for p, r in runs.items() if r["error"]] == [str(victim)]
    assert not list(tmp_path.rglob("MARKER")) and not Path("MARKER").exists()


def test_mlflow_meta_yaml_missing_keys_and_garbage(tmp_path: Path, db: Path) -> None:
    root = copy_tool("mlflow", tmp_path) / "filestore"
    metas = sorted(p for p in root.rglob("meta.yaml") if (p.parent / "metrics").is_dir())
    metas[0].write_text("{}\n")
    metas[1].write_bytes(b"\x00\x01garbage: [")
    metas[2].write_text("- a list\n")
    with Index(db) as index:
        report = index.index([root])
    runs = _runs(db)
    assert report.found == len(runs)
    assert runs[str(metas[1].parent)]["error"]
    assert runs[str(metas[2].parent)]["error"]
    assert sum(1 for r in runs.values() if r["error"]) <= 3


def test_torn_files_are_retried_not_errors(tmp_path: Path, db: Path) -> None:
    """A torn last metric line and a half-rewritten results.json are left for the next read."""
    root = tmp_path / "root"
    run = root / "run"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_bytes(b'{"step": 0, "loss": 1.0}\n{"step": 1, "lo')
    (run / "params.json").write_text('{"lr": 0.1}')
    (run / "results.json").write_bytes(b'{"acc": 0.')
    with Index(db) as index:
        index.index([root])
        [first] = _runs(db).values()
        assert first["error"] is None
        assert first["metrics"]["loss"]["count"] == 1
        with open(run / "metrics.jsonl", "ab") as fh:
            fh.write(b'ss": 0.5}\n')
        (run / "results.json").write_text(json.dumps({"acc": 0.9}))
        index.index([root])
    [second] = _runs(db).values()
    assert second["error"] is None
    assert second["metrics"]["loss"]["count"] == 2


def test_mlflow_sqlite_store_with_a_broken_row_indexes_the_rest(tmp_path: Path, db: Path) -> None:
    root = copy_tool("mlflow", tmp_path) / "sqlite"
    conn = sqlite3.connect(root / "mlflow.db")
    with conn:
        victim = conn.execute("SELECT run_uuid FROM runs ORDER BY run_uuid LIMIT 1").fetchone()[0]
        conn.execute("UPDATE metrics SET value='oops', step='x' WHERE run_uuid=?", (victim,))
        conn.execute("UPDATE params SET value=? WHERE run_uuid=?", ("\x00" * 10 + "<img src=x>", victim))
    conn.close()
    with Index(db) as index:
        report = index.index([root / "mlflow.db"])
    runs = _runs(db)
    assert report.found == len(runs) > 1
    broken = runs[f"{root / 'mlflow.db'}#{victim}"]
    assert "metrics row" in broken["error"]
    assert broken["params"]  # what could be read is still there
    assert [r for r in runs.values() if r["error"]] == [broken]


def test_mlflow_db_with_a_damaged_schema_is_a_source_error(tmp_path: Path) -> None:
    """Found by test_fuzz: bytes spliced into the schema page make a column *name* invalid UTF-8."""
    from expdesk.core.errors import SourceError

    root = copy_tool("mlflow", tmp_path) / "sqlite"
    db_file = root / "mlflow.db"
    reader = registry.reader_for("mlflow-sqlite")
    ref = next(iter(reader.runs(db_file, root)))
    data = bytearray(db_file.read_bytes())
    data[248616:248619] = b"\x00\x00\x80"
    db_file.write_bytes(bytes(data))
    with contextlib.suppress(SourceError):
        reader.read(ref, None)


def test_forced_reindex_gives_the_same_rows(tmp_path: Path, db: Path) -> None:
    """Found by the crash loop: `index --force` appended every MLflow metric point a second time."""
    import shutil

    from tests.hostile.conftest import DATA

    root = tmp_path / "watched"
    shutil.copytree(DATA, root)

    def shape() -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(db)
        try:
            return conn.execute(
                "SELECT s.run_key, s.key, s.count, s.last_step, SUM(c.n) FROM series s"
                " LEFT JOIN chunks c ON c.series_id = s.id GROUP BY s.id ORDER BY s.run_key, s.key"
            ).fetchall()
        finally:
            conn.close()

    with Index(db) as index:
        index.index([root])
        first = shape()
        index.index([root], force=True)
        index.index([root], force=True)
    assert len(first) > 50
    assert shape() == first
