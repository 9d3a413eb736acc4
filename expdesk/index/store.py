"""Write tasks: turning a `RunUpdate` into rows. Runs on the writer thread only.

Metric points are stored as chunks of packed little-endian arrays (int64 steps, float64 values, float64
ms timestamps): bulk inserts run at array speed and NaN, ±inf and -0.0 survive exactly. Appends top up the
last chunk until it holds CHUNK_POINTS points, so live tailing does not leave millions of tiny chunks.

Two lossless encodings (`chunks.py`) halve what a typical series costs on disk: constant-stride steps and
close whole-millisecond timestamps.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from expdesk.core.codec import pack_exact, unpack_exact
from expdesk.core.entities import RunRef, RunUpdate, Series
from expdesk.core.summary import Summary, merge

# the codec's names stay importable from here, where readers and tests have always found them
from expdesk.index.chunks import _encode_steps as _encode_steps
from expdesk.index.chunks import _encode_ts as _encode_ts
from expdesk.index.chunks import _pack as _pack
from expdesk.index.chunks import decode_steps as decode_steps
from expdesk.index.chunks import decode_ts as decode_ts
from expdesk.index.chunks import stride_of as stride_of
from expdesk.index.chunks import unpack as unpack
from expdesk.index.finals import write_finals
from expdesk.index.media_store import apply_media

CHUNK_POINTS = 8192


def previous_activity(conn: sqlite3.Connection, key: str) -> float | None:
    row = conn.execute("SELECT last_activity FROM runs WHERE key=?", (key,)).fetchone()
    return None if row is None else row[0]


def newest(a: float | None, b: float | None) -> float | None:
    """The later of two activity times, either possibly unknown. A read from a cursor sees only new
    points, so the newest activity a run recorded is kept across reads rather than overwritten."""
    if a is None:
        return b
    return a if b is None else max(a, b)


def _real(value: float | None) -> float | None:
    """SQLite turns NaN into NULL; the exact value lives in the `exact` blob, REAL is for sorting/filters."""
    if value is None or math.isnan(value):
        return None
    return value


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def _load_summary(row: sqlite3.Row | tuple[Any, ...] | None) -> Summary:
    if row is None:
        return Summary()
    (count, first_step, last_step, _last, _min, _max, argmin_step, argmax_step, nan_count, last_ts, exact) = (
        row
    )
    last, vmin, vmax = unpack_exact(exact)
    return Summary(
        count=count,
        first_step=first_step,
        last_step=last_step,
        last=None if count == 0 else last,
        min=None if math.isnan(vmin) else vmin,
        max=None if math.isnan(vmax) else vmax,
        argmin_step=argmin_step,
        argmax_step=argmax_step,
        nan_count=nan_count,
        last_timestamp=last_ts,
    )


def _save_summary(conn: sqlite3.Connection, series_id: int, s: Summary) -> None:
    conn.execute(SAVE_SUMMARY, (*summary_values(s), series_id))


SAVE_SUMMARY = (
    "UPDATE series SET count=?, first_step=?, last_step=?, last=?, min=?, max=?, argmin_step=?,"
    " argmax_step=?, nan_count=?, last_timestamp=?, exact=? WHERE id=?"
)


def summary_values(s: Summary) -> tuple[Any, ...]:
    """A summary as the series row's columns (`SAVE_SUMMARY` without the id)."""
    return (
        s.count, s.first_step, s.last_step, _real(s.last), _real(s.min), _real(s.max), s.argmin_step,
        s.argmax_step, s.nan_count, s.last_timestamp, pack_exact(s.last, s.min, s.max),
    )  # fmt: skip


_SUMMARY_COLS = (
    "count, first_step, last_step, last, min, max, argmin_step, argmax_step, nan_count, last_timestamp, exact"
)


def append_series(conn: sqlite3.Connection, run_key: str, series: Series) -> None:
    row = conn.execute(
        f"SELECT id, {_SUMMARY_COLS} FROM series WHERE run_key=? AND key=?", (run_key, series.key)
    ).fetchone()
    if row is None:
        series_id = conn.execute(
            "INSERT INTO series (run_key, key) VALUES (?, ?)", (run_key, series.key)
        ).lastrowid
        summary = Summary()
    else:
        series_id = row[0]
        summary = _load_summary(row[1:])
        if series.replace:
            conn.execute("DELETE FROM chunks WHERE series_id=?", (series_id,))
            summary = Summary()
    assert series_id is not None
    if len(series.steps) == 0:
        _save_summary(conn, series_id, summary)
        return
    last = conn.execute(
        "SELECT seq, n, steps, vals, ts FROM chunks WHERE series_id=? ORDER BY seq DESC LIMIT 1", (series_id,)
    ).fetchone()
    rows, summary = appended(series_id, summary, series, last)
    conn.executemany(
        "INSERT OR REPLACE INTO chunks (series_id, seq, n, steps, vals, ts) VALUES (?,?,?,?,?,?)", rows
    )
    _save_summary(conn, series_id, summary)


def appended(
    series_id: int, summary: Summary, series: Series, last: tuple[Any, ...] | None
) -> tuple[list[tuple[Any, ...]], Summary]:
    """The chunk rows to write and the new summary when `series` (points after everything stored) is
    appended to a stored series whose last chunk is `last` = (seq, n, steps, vals, ts), or None."""
    steps, values, ts = series.steps, series.values, series.timestamps
    seq = 0
    if last is not None:
        seq, n = last[0], last[1]
        if n < CHUNK_POINTS:
            # top up the last, short chunk (live appends) instead of adding another tiny one
            old_s, old_v, old_t = unpack(last[2], last[3], last[4], n)
            steps = np.concatenate([old_s, steps])
            values = np.concatenate([old_v, values])
            ts = np.concatenate([old_t, ts])
        else:
            seq += 1
    rows = []
    for start in range(0, len(steps), CHUNK_POINTS):
        end = start + CHUNK_POINTS
        rows.append(
            (
                series_id,
                seq,
                len(steps[start:end]),
                *_pack(steps[start:end], values[start:end], ts[start:end]),
            )
        )
        seq += 1
    return rows, merge(summary, series.steps, series.values, series.timestamps)


def storable_text(value: str) -> str:
    """A str SQLite can store. Names read from disk may hold lone surrogates (invalid UTF-8 bytes kept by
    `surrogateescape`, or `"\\ud800"` in a JSON file); SQLite refuses them, so they are shown escaped
    (`\\xff`) instead of failing the whole run's write."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _storable_row(row: Any) -> Any:
    return tuple(storable_text(v) if isinstance(v, str) else v for v in row)


class _TextSafe:
    """The writer connection, with every bound str made storable (see `storable_text`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, _storable_row(params))

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        return self._conn.executemany(sql, (_storable_row(r) for r in rows))


def _num(value: str) -> float | None:
    try:
        v = float(value)
    except (ValueError, OverflowError):
        return None
    return v if math.isfinite(v) else None


def apply_update(
    conn: sqlite3.Connection,
    ref: RunRef,
    update: RunUpdate,
    fingerprint: str | None,
    prepared: list[PreparedSeries] | None = None,
) -> None:
    """Upsert one run and everything it owns. Idempotent for the same folders. `prepared` is
    `prepare(update)` when the caller already computed it off the writer thread."""
    conn = _TextSafe(conn)  # type: ignore[assignment]
    key = ref.key
    now = time.time()
    conn.execute(
        "INSERT INTO runs (key, format, path, root, store, native_id, first_seen) VALUES (?,?,?,?,?,?,?)"
        " ON CONFLICT(key) DO UPDATE SET root=excluded.root, gone=0",
        (
            key,
            ref.format,
            str(ref.path),
            str(ref.root),
            str(ref.store) if ref.store else None,
            ref.native_id,
            now,
        ),
    )
    conn.execute(
        "UPDATE runs SET name=?, experiment=?, status=?, native_status=?, deleted=?, start_time=?, end_time=?,"
        " last_activity=?, parent_native_id=?, info=?, error=?, fingerprint=?, cursor=?, indexed_at=? WHERE key=?",
        (
            update.name,
            update.experiment,
            str(update.status),
            update.native_status,
            int(update.deleted),
            update.start_time,
            update.end_time,
            update.last_activity
            if update.metrics_reset
            else newest(previous_activity(conn, key), update.last_activity),
            update.parent_native_id,
            json.dumps(update.info, sort_keys=True, default=str),
            update.error,
            fingerprint,
            json.dumps(update.cursor, sort_keys=True),
            now,
            key,
        ),
    )
    conn.execute("DELETE FROM params WHERE run_key=?", (key,))
    conn.executemany(
        "INSERT OR REPLACE INTO params (run_key, key, value, num) VALUES (?,?,?,?)",
        [(key, k, v, _num(v)) for k, v in update.params.items()],
    )
    conn.execute("DELETE FROM tags WHERE run_key=?", (key,))
    conn.executemany(
        "INSERT OR REPLACE INTO tags (run_key, key, value) VALUES (?,?,?)",
        [(key, k, v) for k, v in update.tags.items()],
    )
    conn.execute("DELETE FROM artifacts WHERE run_key=?", (key,))
    conn.executemany(
        "INSERT OR REPLACE INTO artifacts (run_key, path, size, mtime_ns) VALUES (?,?,?,?)",
        [(key, a.path, a.size, a.mtime_ns) for a in update.artifacts],
    )
    conn.execute("DELETE FROM files WHERE run_key=?", (key,))
    conn.executemany(
        "INSERT INTO files (run_key, direction, role, path, local, size, digests) VALUES (?,?,?,?,?,?,?)",
        [
            (key, f.direction, f.role, f.path, f.local, f.size, json.dumps(dict(f.digests), sort_keys=True))
            for f in update.files
        ],
    )
    conn.execute("DELETE FROM unread WHERE run_key=?", (key,))
    conn.executemany(
        "INSERT INTO unread (run_key, path, reason) VALUES (?,?,?)",
        [(key, path, reason) for path, reason in unread_rows(update.unread)],
    )
    conn.execute("DELETE FROM links WHERE run_key=?", (key,))
    conn.executemany(
        "INSERT INTO links (run_key, rule, target_native_id, target_path, evidence) VALUES (?,?,?,?,?)",
        [
            (key, ln.rule, ln.target_native_id, ln.target_path, json.dumps(dict(ln.evidence), sort_keys=True))
            for ln in update.links
        ],
    )
    write_finals(conn, key, update.finals)  # type: ignore[arg-type]
    if update.metrics_reset:
        conn.execute("DELETE FROM chunks WHERE series_id IN (SELECT id FROM series WHERE run_key=?)", (key,))
        conn.execute("DELETE FROM series WHERE run_key=?", (key,))
    apply_metrics(conn, key, update, prepared)
    apply_media(conn, key, update)


def apply_metrics(
    conn: sqlite3.Connection, key: str, update: RunUpdate, prepared: list[PreparedSeries] | None
) -> None:
    """New series of a run are inserted, existing ones appended to (after any reset was applied)."""
    if prepared is None:
        prepared = prepare(update)
    existing = {row[0] for row in conn.execute("SELECT key FROM series WHERE run_key=?", (key,))}
    _insert_new_series(conn, key, [p for p in prepared if p.series.key not in existing])
    for p in prepared:
        if p.series.key in existing:
            append_series(conn, key, p.series)


def unread_rows(unread: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One row per path, in path order; two reasons for one file are both kept (joined), never one lost."""
    reasons: dict[str, list[str]] = {}
    for path, reason in unread:
        kept = reasons.setdefault(str(path), [])
        if reason not in kept:
            kept.append(str(reason))
    return [(path, "; ".join(found)) for path, found in sorted(reasons.items())]


@dataclass
class PreparedSeries:
    """One metric of an update, ready to store. For a series the index does not hold yet, its summary and
    encoded chunks (seq 0, 1, ...) are computed up front: `prepare` runs on a reader thread, so the writer
    thread only binds bytes."""

    series: Series
    summary_row: tuple[Any, ...] | None = None  # the series row's summary columns
    chunks: list[tuple[int, bytes, bytes, bytes]] | None = None  # (n, steps, vals, ts) per chunk


def prepare(update: RunUpdate) -> list[PreparedSeries]:
    """Merge an update's series by key (several Series for one key, e.g. two files, append in order) and,
    when the update replaces every series (`metrics_reset`), encode them in full. Pure: no DB access."""
    merged = merged_series(update)
    if not update.metrics_reset:
        # appends: which series exist is only known on the writer, which encodes as it goes
        return [PreparedSeries(s) for s in merged]
    return [_encode_new(s) for s in merged]


def merged_series(update: RunUpdate) -> list[Series]:
    """The update's series, one per key (later Series of a key append to earlier ones unless they replace)."""
    merged: dict[str, Series] = {}
    for s in update.metrics:
        if s.key in merged and not s.replace:
            m = merged[s.key]
            merged[s.key] = Series(
                s.key,
                np.concatenate([m.steps, s.steps]),
                np.concatenate([m.values, s.values]),
                np.concatenate([m.timestamps, s.timestamps]),
                m.replace,
            )
        else:
            merged[s.key] = s
    return list(merged.values())


def _encode_new(s: Series) -> PreparedSeries:
    summ = merge(Summary(), s.steps, s.values, s.timestamps)
    summary_row = (
        summ.count, summ.first_step, summ.last_step, _real(summ.last), _real(summ.min), _real(summ.max),
        summ.argmin_step, summ.argmax_step, summ.nan_count, summ.last_timestamp,
        pack_exact(summ.last, summ.min, summ.max),
    )  # fmt: skip
    chunks = []
    for start in range(0, len(s.steps), CHUNK_POINTS):
        end = start + CHUNK_POINTS
        chunks.append(
            (
                len(s.steps[start:end]),
                *_pack(s.steps[start:end], s.values[start:end], s.timestamps[start:end]),
            )
        )
    return PreparedSeries(s, summary_row, chunks)


def _insert_new_series(conn: sqlite3.Connection, run_key: str, new: list[PreparedSeries]) -> None:
    """Series this run did not have yet, in two `executemany`s (the cold-index hot path): ids are assigned
    here, which is safe because this connection is the only writer."""
    if not new:
        return
    next_id = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM series").fetchone()[0]
    series_rows = []
    chunk_rows = []
    for offset, p in enumerate(new):
        if p.summary_row is None or p.chunks is None:
            p = _encode_new(p.series)
        assert p.summary_row is not None and p.chunks is not None
        series_id = next_id + offset
        series_rows.append((series_id, run_key, p.series.key, *p.summary_row))
        chunk_rows += [(series_id, seq, *chunk) for seq, chunk in enumerate(p.chunks)]
    conn.executemany(
        "INSERT INTO series (id, run_key, key, count, first_step, last_step, last, min, max, argmin_step,"
        " argmax_step, nan_count, last_timestamp, exact) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        series_rows,
    )
    conn.executemany(
        "INSERT INTO chunks (series_id, seq, n, steps, vals, ts) VALUES (?,?,?,?,?,?)", chunk_rows
    )


def record_error(conn: sqlite3.Connection, ref: RunRef, error: str, fingerprint: str | None) -> None:
    """A run that could not be read at all still appears, with its reason."""
    conn = _TextSafe(conn)  # type: ignore[assignment]
    now = time.time()
    # the reason replaces whatever an earlier read listed as not read: the whole run is unreadable now
    conn.execute("DELETE FROM unread WHERE run_key=?", (ref.key,))
    conn.execute(
        "INSERT INTO runs (key, format, path, root, store, native_id, name, error, fingerprint, first_seen,"
        " indexed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(key) DO UPDATE SET error=excluded.error, fingerprint=excluded.fingerprint,"
        " indexed_at=excluded.indexed_at, gone=0",
        (
            ref.key,
            ref.format,
            str(ref.path),
            str(ref.root),
            str(ref.store) if ref.store else None,
            ref.native_id,
            ref.native_id or ref.path.name,
            error,
            fingerprint,
            now,
            now,
        ),
    )


_PARENT = (
    "(SELECT p.key FROM runs p WHERE runs.parent_native_id IS NOT NULL AND p.store = runs.store"
    " AND p.native_id = runs.parent_native_id AND p.format = runs.format ORDER BY p.key LIMIT 1)"
)
_TARGET = (
    "COALESCE("
    "(SELECT t.key FROM runs t, runs s WHERE s.key = links.run_key AND links.target_native_id IS NOT NULL"
    " AND t.native_id = links.target_native_id AND (t.store IS s.store OR s.store IS NULL) ORDER BY t.key LIMIT 1),"
    " (SELECT t.key FROM runs t WHERE links.target_path IS NOT NULL AND t.path = links.target_path"
    " ORDER BY t.key LIMIT 1))"
)


def resolve_links(conn: sqlite3.Connection) -> None:
    """Turn recorded parent ids and link targets into run keys (the target may be indexed after the source).

    Deterministic (ties broken by key) and idempotent: only rows whose answer changed are written, so a pass
    over an unchanged index writes nothing, and a pass after a crash repairs what the crash left unresolved.
    """
    conn.execute(f"UPDATE runs SET parent_key = {_PARENT} WHERE parent_key IS NOT {_PARENT}")
    conn.execute(f"UPDATE links SET target_key = {_TARGET} WHERE target_key IS NOT {_TARGET}")


def mark_gone(conn: sqlite3.Connection, root: str, seen: set[str]) -> list[str]:
    """Runs under `root` that a complete scan did not find are marked gone (annotations stay)."""
    rows = conn.execute("SELECT key FROM runs WHERE root=? AND gone=0", (root,)).fetchall()
    missing = [r[0] for r in rows if r[0] not in seen]
    conn.executemany("UPDATE runs SET gone=1 WHERE key=?", [(k,) for k in missing])
    return missing


def set_server_location(conn: sqlite3.Connection, key: str, url: str) -> None:
    """A run listed from a tracking server lives at the server's URL: path, root and store are the URL
    verbatim (a `RunRef` holds `Path`s, which fold the `//` of a URL)."""
    conn.execute("UPDATE runs SET path=?, root=?, store=? WHERE key=?", (url, url, url, key))
