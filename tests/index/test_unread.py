"""Files a run holds but a reader could not read are stored with the reason and shown, never dropped."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from expdesk.core.entities import RunRef, RunUpdate, Status
from expdesk.index import store
from expdesk.index.service import Index


def _write(index: Index, ref: RunRef, update: RunUpdate) -> None:
    index.writer.call(lambda c: store.apply_update(c, ref, update, None))


def test_unread_files_round_trip_into_the_run_json(tmp_path: Path) -> None:
    ref = RunRef("generic", tmp_path / "run", tmp_path)
    update = RunUpdate(
        name="r",
        status=Status.FINISHED,
        unread=[
            ("metrics.json", "not read: unknown JSON shape"),
            ("a/params.yaml", "invalid YAML at line 3"),
            ("metrics.json", "over the size limit"),  # a second reason for one file is kept too
        ],
    )
    with Index(tmp_path / "i.db") as index:
        _write(index, ref, update)
        with index.reader() as reader:
            run = reader.run_json(ref.key)
    assert run["unread"] == [
        {"path": "a/params.yaml", "reason": "invalid YAML at line 3"},
        {"path": "metrics.json", "reason": "not read: unknown JSON shape; over the size limit"},
    ]


def test_a_later_read_replaces_the_list_and_an_unreadable_run_clears_it(tmp_path: Path) -> None:
    ref = RunRef("generic", tmp_path / "run", tmp_path)
    with Index(tmp_path / "i.db") as index:
        _write(index, ref, RunUpdate(unread=[("x.json", "bad")]))
        _write(index, ref, RunUpdate(unread=[("y.csv", "worse")]))
        with index.reader() as reader:
            assert reader.run_json(ref.key)["unread"] == [{"path": "y.csv", "reason": "worse"}]
        index.writer.call(lambda c: store.record_error(c, ref, "run folder is gone", None))
        with index.reader() as reader:
            run = reader.run_json(ref.key)
    assert run["unread"] == [] and run["error"] == "run folder is gone"


def test_removing_a_root_forgets_its_unread_rows(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "run").mkdir(parents=True)
    ref = RunRef("generic", root / "run", root)
    with Index(tmp_path / "i.db") as index:
        _write(index, ref, RunUpdate(unread=[("x.json", "bad")]))
        index.remove_root(root)
    conn = sqlite3.connect(tmp_path / "i.db")
    try:
        assert conn.execute("SELECT COUNT(*) FROM unread").fetchone()[0] == 0
    finally:
        conn.close()
