"""Many runs in one write task: the rows of a whole batch go in with one `executemany` per table.

A sweep is thousands of runs of a few hundred points each; written one run at a time, the per-statement
and per-task overheads (a dozen statements, a savepoint, a future and a thread hand-off per run) cost more
than the rows. `apply_batch` writes the same rows `store.apply_update` / `store.record_error` would, for
every run of the batch at once. If anything in the batch cannot be stored (a name SQLite refuses, a value a
reader should not have produced), the batch is rolled back and redone run by run, each in its own
savepoint, so the one bad run gets the error and every other run is stored as usual.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from expdesk.core.entities import RunRef, RunUpdate, Series
from expdesk.index import bulk, store
from expdesk.index.finals import FINALS_INSERT, final_rows
from expdesk.index.media_store import apply_media, delete_media
from expdesk.index.store import PreparedSeries

#: each run's rows are removed before its new rows go in (the run's whole small state is replaced)
_OWNED_TABLES = ("params", "tags", "artifacts", "files", "links", "finals")

_UPSERT_RUN = (
    "INSERT INTO runs (key, format, path, root, store, native_id, first_seen, name, experiment, status,"
    " native_status, deleted, start_time, end_time, last_activity, parent_native_id, info, error, fingerprint,"
    " cursor, indexed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT(key) DO UPDATE SET root=excluded.root, gone=0, name=excluded.name,"
    " experiment=excluded.experiment, status=excluded.status, native_status=excluded.native_status,"
    " deleted=excluded.deleted, start_time=excluded.start_time, end_time=excluded.end_time,"
    " last_activity=CASE WHEN excluded.last_activity IS NULL THEN runs.last_activity WHEN runs.last_activity IS NULL OR excluded.last_activity > runs.last_activity THEN excluded.last_activity ELSE runs.last_activity END, parent_native_id=excluded.parent_native_id, info=excluded.info,"
    " error=excluded.error, fingerprint=excluded.fingerprint, cursor=excluded.cursor,"
    " indexed_at=excluded.indexed_at"
)
_RECORD_ERROR = (
    "INSERT INTO runs (key, format, path, root, store, native_id, name, error, fingerprint, first_seen,"
    " indexed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT(key) DO UPDATE SET error=excluded.error, fingerprint=excluded.fingerprint,"
    " indexed_at=excluded.indexed_at, gone=0"
)


@dataclass
class Entry:
    """One run of a batch: what was read (or why not) and its series prepared for storage."""

    ref: RunRef
    key: str
    fingerprint: str
    update: RunUpdate | None
    error: str | None
    prepared: list[PreparedSeries] | None = None
    #: the run's cursor as canonical JSON when its read started (None: read from the start, no check)
    expected: str | None = None


class CursorMoved(Exception):
    """The run's stored cursor is not the one its read started from: another writer (another expdesk
    process on the same index, or an overlapping pass) stored a newer state meanwhile."""


def prepare_batch(updates: Sequence[RunUpdate | None]) -> list[list[PreparedSeries] | None]:
    """`store.prepare` of every update, with all short new series summarised and encoded in one numpy
    pass (`bulk.encode_many`). Runs on the reading thread; pure, no DB access."""
    out: list[list[PreparedSeries] | None] = []
    encoded_together: list[PreparedSeries] = []
    for update in updates:
        if update is None:
            out.append(None)
            continue
        merged = store.merged_series(update)
        prepared = [PreparedSeries(s) for s in merged]
        if update.metrics_reset:
            for p in prepared:
                if 1 <= len(p.series.steps) <= bulk.TOGETHER_MAX_POINTS:
                    encoded_together.append(p)
                else:
                    encoded = store._encode_new(p.series)
                    p.summary_row, p.chunks = encoded.summary_row, encoded.chunks
        out.append(prepared)
    for p, (row, chunks) in zip(
        encoded_together,
        bulk.encode_many([p.series for p in encoded_together], store.CHUNK_POINTS),
        strict=True,
    ):
        p.summary_row, p.chunks = row, chunks
    return out


def apply_batch(conn: sqlite3.Connection, entries: Sequence[Entry]) -> list[tuple[int, Exception]]:
    """Store every entry; returns (position in `entries`, why) of those not stored: a `CursorMoved` for a
    run another writer moved on since its read started (appending points read from an old cursor would
    store them twice; the caller re-reads it), any other exception for a run that could not be stored (its
    rows are rolled back; every other entry is stored). A DB that cannot be written at all
    (`OperationalError`) raises."""
    stored = _stored_cursors(conn, [e.key for e in entries if e.expected is not None])
    moved: list[tuple[int, Exception]] = [
        (i, CursorMoved(e.key))
        for i, e in enumerate(entries)
        if e.update is not None and e.expected is not None and stored.get(e.key) != e.expected
    ]
    skip = {i for i, _ in moved}
    keep = [i for i in range(len(entries)) if i not in skip]
    todo = [entries[i] for i in keep]
    conn.execute("SAVEPOINT batch")
    try:
        _apply_all(conn, todo)
    except sqlite3.OperationalError:
        conn.execute("ROLLBACK TO batch")
        conn.execute("RELEASE batch")
        raise
    except Exception:
        conn.execute("ROLLBACK TO batch")
        conn.execute("RELEASE batch")
        return moved + [(keep[j], exc) for j, exc in _apply_one_by_one(conn, todo)]
    conn.execute("RELEASE batch")
    return moved


def _stored_cursors(conn: sqlite3.Connection, keys: list[str]) -> dict[str, str | None]:
    """run key -> its stored cursor as canonical JSON (runs not in the index are left out)."""
    out: dict[str, str | None] = {}
    for part in _chunked(keys, 500):
        marks = ",".join("?" * len(part))
        for key, cursor in conn.execute(f"SELECT key, cursor FROM runs WHERE key IN ({marks})", part):
            out[key] = json.dumps(json.loads(cursor or "{}"), sort_keys=True)
    return out


def _apply_one_by_one(conn: sqlite3.Connection, entries: Sequence[Entry]) -> list[tuple[int, Exception]]:
    failed: list[tuple[int, Exception]] = []
    for i, entry in enumerate(entries):
        conn.execute("SAVEPOINT one")
        try:
            if entry.update is not None:
                store.apply_update(conn, entry.ref, entry.update, entry.fingerprint, entry.prepared)
            else:
                store.record_error(conn, entry.ref, entry.error or "", entry.fingerprint)
        except sqlite3.OperationalError:
            conn.execute("ROLLBACK TO one")
            conn.execute("RELEASE one")
            raise
        except Exception as exc:
            conn.execute("ROLLBACK TO one")
            failed.append((i, exc))
        conn.execute("RELEASE one")
    return failed


def _apply_all(conn: sqlite3.Connection, entries: Sequence[Entry]) -> None:
    """The rows of `store.apply_update` / `store.record_error` for every entry, table by table. Strings
    are bound as they are: one SQLite refuses (a lone surrogate) fails the batch, and the run-by-run redo
    stores it escaped."""
    now = time.time()
    read = [e for e in entries if e.update is not None]
    conn.executemany(
        _RECORD_ERROR,
        [
            (e.key, e.ref.format, str(e.ref.path), str(e.ref.root), _opt(e.ref.store), e.ref.native_id,
             e.ref.native_id or e.ref.path.name, e.error or "", e.fingerprint, now, now)
            for e in entries
            if e.update is None
        ],
    )  # fmt: skip
    runs = []
    for e in read:
        u = e.update
        assert u is not None
        runs.append(
            (
                e.key, e.ref.format, str(e.ref.path), str(e.ref.root), _opt(e.ref.store), e.ref.native_id,
                now, u.name, u.experiment, str(u.status), u.native_status, int(u.deleted), u.start_time,
                u.end_time, u.last_activity, u.parent_native_id,
                json.dumps(u.info, sort_keys=True, default=str), u.error, e.fingerprint,
                json.dumps(u.cursor, sort_keys=True), now,
            )
        )  # fmt: skip
    conn.executemany(_UPSERT_RUN, runs)
    keys = [(e.key,) for e in read]
    for table in _OWNED_TABLES:
        conn.executemany(f"DELETE FROM {table} WHERE run_key=?", keys)
    # an unreadable run's reason replaces what an earlier read listed as not read (store.record_error)
    conn.executemany("DELETE FROM unread WHERE run_key=?", [(e.key,) for e in entries])
    params, tags, artifacts, files, links, unread, finals = [], [], [], [], [], [], []
    for e in read:
        u, k = e.update, e.key
        assert u is not None
        params += [(k, name, v, store._num(v)) for name, v in u.params.items()]
        finals += final_rows(k, u.finals)
        unread += [(k, path, reason) for path, reason in store.unread_rows(u.unread)]
        tags += [(k, name, v) for name, v in u.tags.items()]
        artifacts += [(k, a.path, a.size, a.mtime_ns) for a in u.artifacts]
        files += [
            (k, f.direction, f.role, f.path, f.local, f.size, json.dumps(dict(f.digests), sort_keys=True))
            for f in u.files
        ]
        links += [
            (k, ln.rule, ln.target_native_id, ln.target_path, json.dumps(dict(ln.evidence), sort_keys=True))
            for ln in u.links
        ]
    conn.executemany("INSERT OR REPLACE INTO params (run_key, key, value, num) VALUES (?,?,?,?)", params)
    conn.executemany("INSERT OR REPLACE INTO tags (run_key, key, value) VALUES (?,?,?)", tags)
    conn.executemany(
        "INSERT OR REPLACE INTO artifacts (run_key, path, size, mtime_ns) VALUES (?,?,?,?)", artifacts
    )
    conn.executemany(
        "INSERT INTO files (run_key, direction, role, path, local, size, digests) VALUES (?,?,?,?,?,?,?)",
        files,
    )
    conn.executemany(
        "INSERT INTO links (run_key, rule, target_native_id, target_path, evidence) VALUES (?,?,?,?,?)", links
    )
    conn.executemany("INSERT INTO unread (run_key, path, reason) VALUES (?,?,?)", unread)
    conn.executemany(FINALS_INSERT, finals)
    _apply_series(conn, read)
    _apply_media(conn, read)


def _apply_media(conn: sqlite3.Connection, read: Sequence[Entry]) -> None:
    """`apply_media` of the runs that logged media; the others' old media go in one delete when their
    reader started over or lists the whole media every time (a sweep's runs mostly have none)."""
    cleared = []
    for e in read:
        assert e.update is not None
        if e.update.media:
            apply_media(conn, e.key, e.update)
        elif e.update.metrics_reset or e.update.media_complete:
            cleared.append(e.key)
    if cleared:
        delete_media(conn, cleared)


def _apply_series(conn: sqlite3.Connection, read: Sequence[Entry]) -> None:
    """Runs read from the start get all their series in two `executemany`s; runs read from a cursor
    append series by series, as `store.apply_update` does."""
    fresh = [e for e in read if e.update is not None and e.update.metrics_reset]
    resets = [(e.key,) for e in fresh]
    conn.executemany("DELETE FROM chunks WHERE series_id IN (SELECT id FROM series WHERE run_key=?)", resets)
    conn.executemany("DELETE FROM series WHERE run_key=?", resets)
    series_rows: list[tuple[object, ...]] = []
    chunk_rows: list[tuple[object, ...]] = []
    # ids are assigned here, which is safe because this connection is the only writer
    next_id = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM series").fetchone()[0]
    for e in fresh:
        assert e.update is not None
        prepared = e.prepared if e.prepared is not None else store.prepare(e.update)
        for p in prepared:
            if p.summary_row is None or p.chunks is None:
                p = store._encode_new(p.series)
            assert p.summary_row is not None and p.chunks is not None
            series_rows.append((next_id, e.key, p.series.key, *p.summary_row))
            chunk_rows += [(next_id, seq, *chunk) for seq, chunk in enumerate(p.chunks)]
            next_id += 1
    conn.executemany(
        "INSERT INTO series (id, run_key, key, count, first_step, last_step, last, min, max, argmin_step,"
        " argmax_step, nan_count, last_timestamp, exact) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        series_rows,
    )
    conn.executemany(
        "INSERT INTO chunks (series_id, seq, n, steps, vals, ts) VALUES (?,?,?,?,?,?)", chunk_rows
    )
    _append_all(conn, [e for e in read if e.update is not None and not e.update.metrics_reset])


def _append_all(conn: sqlite3.Connection, entries: Sequence[Entry]) -> None:
    """Runs read from a cursor: their new points appended to the series they have, with one query for the
    batch's series and one for their last chunks, then one `executemany` each for chunks and summaries
    (not four statements per series: an increment's cost is its new points, not the runs' series count).
    A series the run does not have yet, or one to replace, takes `store.apply_metrics`' own path."""
    if len({e.key for e in entries}) < len(entries):
        # one run twice in a batch (two refreshes queued together): in order, run by run
        for e in entries:
            assert e.update is not None
            store.apply_metrics(conn, e.key, e.update, e.prepared)
        return
    stored: dict[tuple[str, str], tuple[Any, ...]] = {}
    for part in _chunked([e.key for e in entries], 500):
        marks = ",".join("?" * len(part))
        for row in conn.execute(
            f"SELECT run_key, key, id, {store._SUMMARY_COLS} FROM series WHERE run_key IN ({marks})", part
        ):
            stored[(row[0], row[1])] = row[2:]
    plain: list[tuple[int, Series]] = []
    for e in entries:
        assert e.update is not None
        prepared = e.prepared if e.prepared is not None else store.prepare(e.update)
        other = []
        for p in prepared:
            row = stored.get((e.key, p.series.key))
            if row is None or p.series.replace or not len(p.series.steps):
                other.append(p)
            else:
                plain.append((row[0], p.series))
        if other:
            store.apply_metrics(conn, e.key, e.update, other)
    last: dict[int, tuple[Any, ...]] = {}
    for part_ids in _chunked([series_id for series_id, _ in plain], 500):
        marks = ",".join("?" * len(part_ids))
        for row in conn.execute(
            "SELECT c.series_id, c.seq, c.n, c.steps, c.vals, c.ts FROM chunks c JOIN (SELECT series_id,"
            f" MAX(seq) AS seq FROM chunks WHERE series_id IN ({marks}) GROUP BY series_id) m"
            " ON c.series_id = m.series_id AND c.seq = m.seq",
            part_ids,
        ):
            last[row[0]] = row[1:]
    summaries = {row[0]: store._load_summary(row[1:]) for row in stored.values()}
    chunk_rows: list[tuple[Any, ...]] = []
    summary_rows: list[tuple[Any, ...]] = []
    for series_id, series in plain:
        rows, summary = store.appended(series_id, summaries[series_id], series, last.get(series_id))
        chunk_rows += rows
        summary_rows.append((*store.summary_values(summary), series_id))
    conn.executemany(
        "INSERT OR REPLACE INTO chunks (series_id, seq, n, steps, vals, ts) VALUES (?,?,?,?,?,?)", chunk_rows
    )
    conn.executemany(store.SAVE_SUMMARY, summary_rows)


def _chunked(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _opt(path: object) -> str | None:
    return None if path is None else str(path)
