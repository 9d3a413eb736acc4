"""Listing many runs fast (issue 19: a 100,000-run index opens and filters at once): the first page read
through the newest-first index is the head of the whole ordered list whatever the filter; a first page that
takes too long is given up; a running query stops when interrupted; counts and vocabulary agree with a count
by hand over the rows."""

from __future__ import annotations

import random
import sqlite3
import struct
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from expdesk.index import table
from expdesk.index.filter import compile_filter
from expdesk.index.reader import NEWEST_FIRST, NEWEST_FIRST_INDEXED, IndexReader
from expdesk.index.service import Index

RUNS = 5000
EXACT = struct.Struct("<3d")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Runs straight into the tables, shaped to catch ordering mistakes: start times with many ties and some
    missing, runs gone from disk, deleted in their tool, hidden, starred, failed to read, in two roots."""
    path = tmp_path_factory.mktemp("listing") / "index.sqlite"
    rng = random.Random(19)
    runs, params, series, notes = [], [], [], []
    for i in range(RUNS):
        key = f"k{rng.randrange(10**9):09d}-{i}"  # key order unrelated to insertion order
        start = None if rng.random() < 0.05 else float(rng.randrange(200)) * 3600  # ties on purpose
        runs.append(
            (
                key,
                rng.choice(["generic", "mlflow"]),
                f"/root{i % 2}/run-{i}",
                f"/root{i % 2}",
                f"run-{i:05d}",
                rng.choice(["finished", "failed", "running"]),
                start,
                int(rng.random() < 0.03),  # deleted in the tool
                int(rng.random() < 0.03),  # gone from disk
                "boom" if rng.random() < 0.04 else None,
            )
        )
        for k in rng.sample([f"p{j}" for j in range(8)], 3):
            value = rng.choice([0.1, 0.01, 0.001])
            params.append((key, k, str(value), value))
        low = rng.random()
        series.append((key, "loss", 10, 0, 9, low, low, 1.0, EXACT.pack(low, low, 1.0)))
        if rng.random() < 0.08:
            notes.append((key, int(rng.random() < 0.6), int(rng.random() < 0.4)))

    def write(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT INTO runs (key, format, path, root, name, status, start_time, deleted, gone, error)"
            " VALUES (?,?,?,?,?,?,?,?,?,?)",
            runs,
        )
        conn.executemany("INSERT INTO params (run_key, key, value, num) VALUES (?,?,?,?)", params)
        conn.executemany(
            "INSERT INTO series (run_key, key, count, first_step, last_step, last, min, max, exact)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            series,
        )
        conn.executemany("INSERT INTO annotations (run_key, starred, hidden) VALUES (?,?,?)", notes)

    with Index(path) as index:
        index.writer.call(write)
    yield path


@pytest.fixture
def reader(db: Path) -> Iterator[IndexReader]:
    with IndexReader(db) as r:
        yield r


def _filter(text: str) -> tuple[str, tuple[Any, ...]]:
    where, params = compile_filter(text) if text else ("", [])
    return where, tuple(params)


FILTERS = ["", "params.p1 < 0.05", 'status = "failed"', 'name ~ "7"', "starred", 'name ~ "no such run"']


@pytest.mark.parametrize("text", FILTERS)
@pytest.mark.parametrize("shown", [True, False])
@pytest.mark.parametrize("starred", [False, True])
def test_first_page_is_the_head_of_the_whole_list(
    reader: IndexReader, text: str, shown: bool, starred: bool
) -> None:
    where, params = _filter(text)
    if starred:
        where, params = table.only_starred(where, params)
    if shown:
        where, params = table.only_shown(where, params)
    whole = table.ordered_keys(reader, where, params, None)
    for limit in (1, 50, 400):
        head = table.first_keys(reader, where, params, None, None, limit, budget_s=600)
        assert head == whole[:limit]


def test_only_the_default_order_has_a_first_page(reader: IndexReader) -> None:
    by_name = table.SortKey("attr", "name")
    assert table.first_keys(reader, "", (), by_name, None, 50) is None
    assert table.first_keys(reader, "", (), None, "p1", 50) is None


def test_both_spellings_of_newest_first_are_one_order(reader: IndexReader) -> None:
    """Runs without a start time last, ties by key: the indexed spelling and the scanned one agree."""
    scanned = reader.run_keys(True, order_sql=NEWEST_FIRST)
    assert scanned == reader.run_keys(True, order_sql=NEWEST_FIRST_INDEXED)
    starts = dict(_rows(reader, "SELECT key, start_time FROM runs"))
    expected = sorted(scanned, key=lambda k: (starts[k] is None, -(starts[k] or 0), k))
    assert scanned == expected and starts[scanned[-1]] is None


def _rows(reader: IndexReader, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in reader.conn.execute(sql)]


def _plan(reader: IndexReader, sql: str) -> str:
    return " | ".join(r[3] for r in reader.conn.execute("EXPLAIN QUERY PLAN " + sql))


def test_a_page_walks_the_index_and_a_whole_list_does_not(reader: IndexReader) -> None:
    """The speed of both depends on the plan: a LIMIT in the indexed spelling stops after its rows; a whole
    list scans the table and sorts (through the index it would look every run up by key, 2-6x slower)."""
    base = "SELECT r.key FROM run_rows r WHERE r.gone = 0 AND r.deleted = 0 AND r.status = 'failed'"
    page = _plan(reader, f"{base} ORDER BY {NEWEST_FIRST_INDEXED} LIMIT 400")
    assert "run_rows_newest_first" in page and "TEMP B-TREE" not in page
    assert "run_rows_newest_first" not in _plan(reader, f"{base} ORDER BY {NEWEST_FIRST}")


def test_a_first_page_over_its_budget_is_given_up(reader: IndexReader) -> None:
    # nothing matches: the index is walked to its end (tens of thousands of SQLite steps), past a 0 s budget
    assert table.run_keys_within(reader, 0.0, 10, where_sql="r.name = 'no such run'") is None
    # the connection is left as it was: the next query runs to its end
    assert len(reader.run_keys(where_sql="r.name LIKE 'run-%'")) > 100
    assert table.run_keys_within(reader, 600, 10, where_sql="r.name = 'no such run'") == []


ENDLESS = "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT MAX(x) FROM c) > 0"


def test_interrupt_stops_the_running_query(reader: IndexReader) -> None:
    outcome: list[BaseException] = []

    def endless() -> None:
        try:
            reader.run_keys(where_sql=ENDLESS)
        except sqlite3.OperationalError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=endless)
    thread.start()
    # an interrupt before the statement starts is a no-op: repeat until the thread is out
    while thread.is_alive():
        reader.interrupt()
        thread.join(0.05)
    assert outcome and "interrupt" in str(outcome[0])
    assert reader.run_keys(where_sql="r.name = 'run-00001'")  # the reader still works


def test_interrupt_after_close_is_a_no_op(db: Path) -> None:
    reader = IndexReader(db)
    reader.close()
    reader.interrupt()


def test_counts_agree_with_a_count_by_hand(reader: IndexReader) -> None:
    rows = _rows(reader, "SELECT key, root, format, deleted, gone, error FROM runs")
    hidden = {r[0] for r in _rows(reader, "SELECT run_key FROM annotations WHERE hidden = 1")}
    by_root: dict[str, Counter[str]] = {}
    formats: dict[str, Counter[str]] = {}
    for key, root, fmt, deleted, gone, error in rows:
        if gone:
            continue
        counts = by_root.setdefault(root, Counter())
        formats.setdefault(root, Counter())[fmt] += 1
        if deleted:
            counts["deleted"] += 1
        elif key in hidden:
            counts["hidden"] += 1
        else:
            counts["runs"] += 1
            counts["errors"] += error is not None
    roots = table.root_counts(reader)
    assert set(roots) == set(by_root) == {"/root0", "/root1"}
    for root, counts in by_root.items():
        got = roots[root]
        assert (got.runs, got.hidden, got.deleted, got.errors) == (
            counts["runs"],
            counts["hidden"],
            counts["deleted"],
            counts["errors"],
        )
        assert got.formats == dict(formats[root])
    total = table.run_counts(reader)
    assert total == {
        "runs": sum(c["runs"] for c in by_root.values()),
        "hidden": sum(c["hidden"] for c in by_root.values()),
        "deleted": sum(c["deleted"] for c in by_root.values()),
        "errors": sum(c["errors"] for c in by_root.values()),
        "gone": sum(1 for r in rows if r[4]),
    }
    where, params = table.only_shown("", ())
    assert total["runs"] == len(reader.run_keys(where_sql=where, params=params))


def test_vocabulary_is_every_key_once_in_order(reader: IndexReader, tmp_path: Path) -> None:
    assert reader.param_keys() == sorted({r[0] for r in _rows(reader, "SELECT key FROM params")})
    assert reader.metric_keys() == ["loss"]
    with Index(tmp_path / "empty.sqlite"), IndexReader(tmp_path / "empty.sqlite") as empty:
        assert empty.param_keys() == empty.metric_keys() == empty.tag_keys() == []


def test_a_joined_run_is_listed_once(tmp_path: Path) -> None:
    """Issue 23: a job joined from parts is one row of `run_rows`; the first page, the whole list, the counts
    and the vocabulary see the run, not its parts (a part's own row is not listed)."""
    path = tmp_path / "joined.sqlite"

    def write(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT INTO runs (key, format, path, root, name, status, start_time) VALUES (?,?,?,?,?,?,?)",
            [
                ("head", "generic", "/r/job", "/r", "job", "finished", 100.0),
                ("part", "mlflow", "/r/job/mlruns/1", "/r", "job (mlflow)", "finished", 101.0),
                ("alone", "generic", "/r/other", "/r", "other", "finished", 50.0),
            ],
        )
        conn.execute(
            "INSERT INTO joined_runs (key, path, name, status, start_time, formats) VALUES (?,?,?,?,?,?)",
            ("head", "/r/job", "job", "finished", 200.0, "generic+mlflow"),
        )
        conn.executemany(
            "INSERT INTO parts (part_key, run_key, rule, label, rank) VALUES (?,?,?,?,?)",
            [("head", "head", "test", "generic", 0), ("part", "head", "test", "mlflow", 1)],
        )
        conn.execute(
            "INSERT INTO joined_params (run_key, key, value, num, part_key) VALUES ('head', 'lr', '0.1', 0.1, 'part')"
        )

    with Index(path) as index:
        index.writer.call(write)
    with IndexReader(path) as r:
        whole = table.ordered_keys(r, "", (), None)
        assert whole == ["head", "alone"]  # the joined run's own start time (200) puts it first
        assert table.first_keys(r, "", (), None, None, 1, budget_s=600) == ["head"]
        assert table.first_keys(r, "", (), None, None, 5, budget_s=600) == whole
        assert table.run_counts(r)["runs"] == 2
        counts = table.root_counts(r)["/r"]
        assert (counts.runs, counts.formats) == (2, {"generic": 2, "mlflow": 1})
        assert "lr" in r.param_keys()
        assert table.key_stats(r) == _key_stats_through_views(r)


def _key_stats_through_views(reader: IndexReader) -> tuple[int, dict[str, dict[str, table.KeyStats]]]:
    """`table.key_stats` the slow, obvious way: grouped over the `run_*` views (issue 23's definition)."""
    listed = (
        "SELECT r.key FROM run_rows r WHERE r.gone = 0 AND r.deleted = 0 AND NOT EXISTS (SELECT 1 FROM"
        f" annotations a WHERE a.run_key = r.key AND a.hidden = 1) ORDER BY {NEWEST_FIRST} LIMIT"
        f" {table.KEY_STATS_SAMPLE}"
    )
    total = _rows(reader, f"SELECT COUNT(*) FROM ({listed})")[0][0]
    out: dict[str, dict[str, table.KeyStats]] = {}
    for kind in ("params", "tags"):
        sql = f"SELECT key, COUNT(*), COUNT(DISTINCT value) FROM run_{kind} WHERE run_key IN ({listed}) GROUP BY key"
        out[kind] = {k: table.KeyStats(n, v) for k, n, v in _rows(reader, sql)}
    sql = f"SELECT key, COUNT(*) FROM run_metrics WHERE run_key IN ({listed}) GROUP BY key"
    out["metrics"] = {k: table.KeyStats(n, 0) for k, n in _rows(reader, sql)}
    return total, out


def test_key_stats_are_the_run_views_counts(reader: IndexReader) -> None:
    assert table.key_stats(reader) == _key_stats_through_views(reader)
    assert table.key_stats(reader, sample=100) != _key_stats_through_views(reader)  # (the sample is used)
