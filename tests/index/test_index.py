"""The index: idempotent re-index, exact NaN/inf/-0.0 round trip, chunked history, annotations surviving rebuilds."""

from __future__ import annotations

import math
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from expdesk.core.entities import RunRef, RunUpdate, Series, Status
from expdesk.index import store
from expdesk.index.service import Index
from tests.groundtruth import RUNS
from tests.sql import query

TABLES = ("runs", "params", "tags", "series", "chunks", "artifacts", "files", "links")


def _dump(db: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(db)
    try:
        out = {}
        for t in TABLES:
            cols = [
                r[1]
                for r in conn.execute(f"PRAGMA table_info({t})")
                if r[1] not in ("indexed_at", "first_seen", "id", "series_id")
            ]
            out[t] = sorted(conn.execute(f"SELECT {', '.join(cols)} FROM {t}").fetchall(), key=repr)
        return out
    finally:
        conn.close()


def test_indexing_twice_gives_identical_rows_and_reads_nothing(tmp_path: Path) -> None:
    roots = [RUNS / "mlflow", RUNS / "plain"]
    with Index(tmp_path / "a.db") as index:
        first = index.index(roots)
        second = index.index(roots)
    assert first.read == first.found == 21 and first.errors == []
    assert second.read == 0 and second.unchanged == 21
    with Index(tmp_path / "b.db") as index:
        index.index(roots)
    assert _dump(tmp_path / "a.db") == _dump(tmp_path / "b.db")


def test_keys_are_stable_across_rebuilt_databases(tmp_path: Path) -> None:
    keys = []
    for name in ("one.db", "two.db"):
        with Index(tmp_path / name) as index:
            index.index([RUNS / "plain"])
            with index.reader() as reader:
                keys.append(sorted(reader.run_keys()))
    assert keys[0] == keys[1] and all(len(k) == 16 for k in keys[0])


def _synthetic(index: Index, tmp_path: Path, series: list[Series], reset: bool = False) -> str:
    ref = RunRef("generic", tmp_path / "run", tmp_path)
    update = RunUpdate(name="synthetic", status=Status.RUNNING, metrics=series, metrics_reset=reset)
    index.writer.call(lambda c: store.apply_update(c, ref, update, None))
    return ref.key


def test_non_finite_values_survive_exactly(tmp_path: Path) -> None:
    values = [math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, 1.7976931348623157e308]
    with Index(tmp_path / "i.db") as index:
        key = _synthetic(index, tmp_path, [Series.from_lists("v", list(range(7)), values, [1.0] * 7)])
        with index.reader() as reader:
            _steps, got, _ts = reader.series(key, "v")
            summary = reader.run_json(key)["metrics"]["v"]
    assert [repr(v) for v in got.tolist()] == [repr(v) for v in values]
    assert math.copysign(1.0, got[3]) == -1.0
    assert summary == {
        "count": 7,
        "first_step": 0,
        "last_step": 6,
        "last": 1.7976931348623157e308,
        "min": "-Infinity",
        "max": "Infinity",
        "nan_count": 1,
    }


def test_appends_extend_history_and_summary_like_one_big_write(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    values = rng.standard_normal(20000)
    steps = np.arange(20000)
    with Index(tmp_path / "i.db") as index:
        key = _synthetic(index, tmp_path, [Series("loss", steps[:5], values[:5], np.zeros(5))])
        for start in range(5, 20000, 3331):
            end = min(start + 3331, 20000)
            _synthetic(
                index, tmp_path, [Series("loss", steps[start:end], values[start:end], np.zeros(end - start))]
            )
        with index.reader() as reader:
            got_steps, got_values, _ = reader.series(key, "loss")
            summary = reader.run_json(key)["metrics"]["loss"]
            n_chunks = query(reader, "SELECT COUNT(*) FROM chunks")[0][0]
    assert np.array_equal(got_steps, steps) and np.array_equal(got_values, values)
    assert summary["min"] == values.min() and summary["max"] == values.max() and summary["last"] == values[-1]
    assert n_chunks == math.ceil(20000 / store.CHUNK_POINTS)


def test_last_is_value_at_highest_step_ties_by_write_order(tmp_path: Path) -> None:
    with Index(tmp_path / "i.db") as index:
        key = _synthetic(
            index, tmp_path, [Series.from_lists("m", [0, 5, 2, 5, 1], [1.0, 2.0, 3.0, 4.0, 0.5])]
        )
        with index.reader() as reader:
            assert reader.run_json(key)["metrics"]["m"]["last"] == 4.0
        _synthetic(index, tmp_path, [Series.from_lists("m", [5], [9.0])])
        with index.reader() as reader:
            assert reader.run_json(key)["metrics"]["m"]["last"] == 9.0


def test_replace_and_reset_drop_old_points(tmp_path: Path) -> None:
    with Index(tmp_path / "i.db") as index:
        key = _synthetic(
            index, tmp_path, [Series.from_lists("a", [0, 1], [1.0, 2.0]), Series.from_lists("b", [0], [1.0])]
        )
        _synthetic(index, tmp_path, [Series.from_lists("a", [0], [7.0], replace=True)])
        with index.reader() as reader:
            assert reader.run_json(key)["metrics"]["a"]["count"] == 1
            assert "b" in reader.run_json(key)["metrics"]
        _synthetic(index, tmp_path, [Series.from_lists("c", [0], [1.0])], reset=True)
        with index.reader() as reader:
            assert list(reader.run_json(key)["metrics"]) == ["c"]


def test_annotations_survive_a_rebuilt_cache_and_never_touch_runs(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    shutil.copytree(RUNS / "plain", root)
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}
    with Index(tmp_path / "i.db") as index:
        index.index([root])
        with index.reader() as reader:
            key = reader.run_keys()[0]
        index.set_star(key, True)
        index.set_note(key, "best so far <b>really</b>")
        index.set_labels(key, ["keep", "paper", "keep"])
        index.remove_root(root)
        index.index([root])
        with index.reader() as reader:
            run = reader.run_json(key)
    assert (
        run["starred"] and run["note"] == "best so far <b>really</b>" and run["labels"] == ["keep", "paper"]
    )
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}
    assert after == before


def test_vanished_runs_are_marked_gone_and_come_back(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    shutil.copytree(RUNS / "plain", root)
    with Index(tmp_path / "i.db") as index:
        index.index([root])
        shutil.move(root / "runs" / "run-001", tmp_path / "away")
        report = index.index([root])
        assert len(report.gone) == 1
        with index.reader() as reader:
            assert len(reader.run_keys()) == 2
        shutil.move(tmp_path / "away", root / "runs" / "run-001")
        index.index([root])
        with index.reader() as reader:
            assert len(reader.run_keys()) == 3


def test_unreadable_run_is_listed_with_its_reason_and_others_index_on(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    shutil.copytree(RUNS / "mlflow" / "filestore" / "mlruns", root)
    victim = next(root.glob("*/09af6528384e45e589bb3863b8763caf"))
    (victim / "meta.yaml").write_text("run_id: [unclosed\n")
    with Index(tmp_path / "i.db") as index:
        report = index.index([root])
        with index.reader() as reader:
            runs = reader.runs_json(reader.run_keys(include_deleted=True))
    assert len(runs) == 9
    bad = [r for r in runs if r["error"]]
    assert len(bad) == 1 and "meta.yaml" in bad[0]["error"] and "invalid YAML" in bad[0]["error"]
    assert len(report.errors) == 1


def test_schema_snapshot(tmp_path: Path) -> None:
    with Index(tmp_path / "i.db"):
        pass
    conn = sqlite3.connect(tmp_path / "i.db")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    migrations = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY rowid")]
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert {
        "runs",
        "params",
        "tags",
        "series",
        "chunks",
        "artifacts",
        "files",
        "links",
        "roots",
        "hashes",
        "annotations",
        "user_tags",
        "unread",
        "media_series",
        "media_items",
        "changes",
        "finals",
        "parts",
        "part_choices",
        "join_notes",
        "joined_runs",
        "joined_params",
        "joined_tags",
        "joined_metrics",
        "_sqlite_migrations",
    } <= tables
    assert "views" in tables
    assert migrations[0] == "m001_initial" and mode == "wal"
    assert {"m015_changes", "m017_unread", "m020_hidden", "m021_media", "m021_views"} <= set(migrations)
    # issue 19's list order indexes m023's run_rows: after it (the last, until the lead renumbers)
    assert migrations.index("m023_parts") < migrations.index("m019_list_order") == len(migrations) - 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_db_location_is_a_clear_error(tmp_path: Path) -> None:
    from expdesk.core.errors import ExpdeskError

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    with pytest.raises(ExpdeskError, match="cannot open the index"):
        Index(locked / "sub" / "i.db")
