"""Many runs at once, as columns: the named queries behind the Python API's DataFrames (`expdesk.api`).

The runs table pages through a few hundred runs at a time (`table`); a notebook asks for every matching run
in one go, as columns. So these queries take the run keys as one JSON array (`json_each`: one bound
parameter whatever their number, no 999-parameter chunks) and hand back each table's rows as a few JSON
arrays (position, name code, value) that `json.loads` parses in C; numpy groups them by name. No Python
object per row on the way, and no GROUP BY: sorting every value by name cost SQLite more than the rest.

Values come back as recorded (text for params and tags, the exact last value for metrics); turning them into
typed DataFrame columns is the API's job. They are runs' values, not parts' (issue 23): `run_rows` has one row
per run, and `run_params`/`run_tags`/`run_metrics` hold a joined run's merged values, as `expdesk runs` reads
them; a part's key given to `find_runs` means the run it is a part of. Callers that combine several of these wrap them in `snapshot`, so
the columns describe one state of the index even while the writer commits.

When most of the index's runs are wanted (a notebook's first `runs()` reads every run), the tables are read
whole instead (`column_scans`): one pass each, no join to the keys, the same columns.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from expdesk.core.codec import unpack_exact
from expdesk.index import column_scans as scans
from expdesk.index.finals import unpack as unpack_final
from expdesk.index.reader import IndexReader
from expdesk.index.stale import is_stale
from expdesk.index.table import only_hidden, only_shown

#: `expdesk.core.codec.pack_exact`'s layout: (last, min, max) as little-endian doubles, 24 bytes
_EXACT_DTYPE = np.dtype("<f8")
_EXACT_SIZE = scans.EXACT_SIZE
_RUN_FIELDS = (
    "name, experiment, format, status, native_status, native_id, deleted, start_time, end_time, last_activity,"
    " path, parent_key, error"
)


@dataclass(frozen=True)
class RunColumns:
    """The `runs` fields of some runs, one list per field, in the order of the keys asked for (keys the
    index does not hold are left out)."""

    keys: list[str]
    name: list[str | None]
    experiment: list[str | None]
    format: list[str]
    status: list[str]
    native_status: list[str | None]
    native_id: list[str | None]
    deleted: list[int]
    start_time: list[float | None]  # epoch seconds, as recorded
    end_time: list[float | None]
    last_activity: list[float | None]
    path: list[str]
    parent: list[str | None]  # the parent run's key, when the index resolved it
    error: list[str | None]
    stale: list[bool]  # says running, but no sign of life for the reader's `stale_after`


def _keys_json(keys: Sequence[str]) -> str:
    return json.dumps(list(keys), ensure_ascii=False)


@contextlib.contextmanager
def snapshot(reader: IndexReader) -> Iterator[None]:
    """One read transaction around several queries (re-entrant): what they return fits together."""
    with reader.snapshot():
        yield


def data_version(reader: IndexReader) -> int:
    """A number that changes whenever another connection (the writer, another process) commits to the
    index: equal numbers mean the reader's view has not changed in between (SQLite's `data_version`)."""
    return int(reader.conn.execute("PRAGMA data_version").fetchone()[0])


def matching_keys(
    reader: IndexReader,
    where_sql: str = "",
    params: Sequence[object] = (),
    order_sql: str | None = None,
    deleted: bool | None = False,
    hidden: bool | None = False,
) -> list[str]:
    """Keys of the runs a compiled filter matches, in a compiled sort's order (newest first without one),
    runs gone from disk left out. `deleted`: False = runs not deleted in their tool (what `expdesk runs`
    lists), True = only the deleted ones, None = both (`expdesk runs --all`). `hidden` likewise for runs
    the user hid in the window (Delete): False = not hidden, as the runs table lists them."""
    if deleted is True:
        where_sql = f"r.deleted = 1 AND ({where_sql})" if where_sql else "r.deleted = 1"
    if hidden is False:
        where_sql, params = only_shown(where_sql, tuple(params))
    elif hidden is True:
        where_sql, params = only_hidden(where_sql, tuple(params))
    if order_sql:
        return reader.run_keys(deleted is not False, where_sql, tuple(params), order_sql)
    return reader.run_keys(deleted is not False, where_sql, tuple(params))


def run_columns(reader: IndexReader, keys: Sequence[str]) -> RunColumns:
    """The run fields of `keys`, in their order (a joined run's are the job's: `run_rows`)."""
    fields = ", ".join("r." + f.strip() for f in _RUN_FIELDS.split(","))
    sql = f"SELECT w.value, {fields} FROM json_each(?) w JOIN run_rows r ON r.key = w.value ORDER BY w.key"
    cursor = reader.conn.cursor()
    cursor.row_factory = None  # plain tuples: zip(*rows) turns them into columns in C
    try:
        rows = cursor.execute(sql, (_keys_json(keys),)).fetchall()
    finally:
        cursor.close()
    cols: list[list[Any]] = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(14)]
    (keys_, name, experiment, fmt, status, native_status, native_id, deleted) = cols[:8]
    (start_time, end_time, last_activity, path, parent, error) = cols[8:]
    now = time.time()
    stale = [
        is_stale(s, activity, now, reader.stale_after)
        for s, activity in zip(status, last_activity, strict=True)
    ]
    return RunColumns(
        keys_,
        name,
        experiment,
        fmt,
        status,
        native_status,
        native_id,
        deleted,
        start_time,
        end_time,
        last_activity,
        path,
        parent,
        error,
        stale,
    )


@dataclass(frozen=True)
class TextColumn:
    """One param or tag across runs: `positions` index the keys asked for (in no particular order), `texts`
    are the values as recorded (the tool's own text), in the same order."""

    positions: np.ndarray  # int64
    texts: list[str]


#: the keys asked for, with their positions (`json_each` numbers array elements from 0), and whether each is
#: a joined run (whose values are in the `joined_*` tables, not in its head part's rows). Bulk reads pick the
#: table per run here rather than through the `run_*` views: a view's UNION ALL cannot use the per-part
#: tables' indexes for DISTINCT keys, which made a cold `runs()` several times slower at 10k runs.
_WANTED = (
    "w(run_key, pos, joined) AS MATERIALIZED (SELECT value, key,"
    " EXISTS (SELECT 1 FROM joined_runs j WHERE j.key = value) FROM json_each(?))"
)


def _names_sql(table: str, joined_table: str) -> str:
    """Every distinct key of a per-part table and its joined table, numbered in sort order (a key's code
    is its index in that order; a key no wanted run has is numbered and never used)."""
    return (
        f"names(key, code) AS MATERIALIZED (SELECT key, row_number() OVER (ORDER BY key) - 1"
        f" FROM (SELECT key FROM {table} UNION SELECT key FROM {joined_table}))"
    )


def _rows_sql(table: str, joined_table: str, columns: str, where: str = "1") -> str:
    """`rows(pos, key, ...)`: the wanted runs' rows of a per-part table (runs of one part) and of its joined
    table (joined runs), `columns` taken from either as `v`."""
    return (
        f"rows AS (SELECT w.pos AS pos, v.key AS key, {columns} FROM w JOIN {table} v ON v.run_key = w.run_key"
        f" WHERE NOT w.joined AND {where} UNION ALL SELECT w.pos, v.key, {columns} FROM w"
        f" JOIN {joined_table} v ON v.run_key = w.run_key WHERE w.joined AND {where})"
    )


def _split(names: list[str], positions: np.ndarray, codes: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(name, row indices of that name, in row order) for every name that has rows."""
    # a stable sort of narrow integers is a radix sort in numpy: a few ms for 200,000 rows
    narrow = codes.astype(np.int16) if len(names) <= np.iinfo(np.int16).max else codes
    order = np.argsort(narrow, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    return [
        (name, order[bounds[i] : bounds[i + 1]]) for i, name in enumerate(names) if bounds[i + 1] > bounds[i]
    ]


def _text_columns(
    reader: IndexReader, table: str, keys: Sequence[str], whole: bool | None
) -> dict[str, TextColumn]:
    with reader.snapshot():
        where = scans.places(reader.conn, keys, whole)
        if where is not None:
            positions, names, codes, texts = scans.text_rows(reader.conn, where, table)
        else:
            positions, names, codes, texts = _joined_text_rows(reader, table, keys)
    out: dict[str, TextColumn] = {}
    for name, rows in _split(names, positions, codes):
        out[name] = TextColumn(positions[rows], texts[rows].tolist())
    return out


def _joined_text_rows(
    reader: IndexReader, table: str, keys: Sequence[str]
) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    # One statement, no GROUP BY: sorting every value by name in SQLite cost more than the rest together.
    # The rows arrive as three JSON arrays (position, name code, text), parsed in C; numpy groups them.
    sql = (
        f"WITH {_WANTED}, {_names_sql(table, 'joined_' + table)},"
        f" {_rows_sql(table, 'joined_' + table, 'v.value AS value')}"
        " SELECT (SELECT json_group_array(key) FROM (SELECT key FROM names ORDER BY code)),"
        " json_group_array(r.pos), json_group_array(n.code), json_group_array(r.value)"
        " FROM rows r JOIN names n ON n.key = r.key"
    )
    row = reader.conn.execute(sql, (_keys_json(keys),)).fetchone()
    names = json.loads(row[0])
    positions = np.array(json.loads(row[1]), dtype=np.int64)
    codes = np.array(json.loads(row[2]), dtype=np.int64)
    texts = np.array(json.loads(row[3]), dtype=object)  # an object array: fancy indexing picks in C
    return positions, names, codes, texts


def param_columns(
    reader: IndexReader, keys: Sequence[str], whole: bool | None = None
) -> dict[str, TextColumn]:
    """Every param of the runs of `keys`, by param name (sorted), as recorded (text). `whole`: read the
    tables whole (True), join them to the keys (False), or whichever is cheaper for this many keys (None);
    both give the same columns (`column_scans`)."""
    return _text_columns(reader, "params", keys, whole)


def tag_columns(reader: IndexReader, keys: Sequence[str], whole: bool | None = None) -> dict[str, TextColumn]:
    """Every tool tag of the runs of `keys`, by tag name (sorted); `whole` as for `param_columns`."""
    return _text_columns(reader, "tags", keys, whole)


def metric_last_columns(
    reader: IndexReader, keys: Sequence[str], whole: bool | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Metric name (sorted) -> (positions int64, last value float64) for the runs of `keys` that logged
    at least one point of it; `whole` as for `param_columns`.

    The last value is exact: the `exact` blob keeps NaN and -0.0, which SQLite REAL columns lose. The blobs
    arrive concatenated as one hex string (one `bytes.fromhex`, one `np.frombuffer`), not row by row."""
    with reader.snapshot():
        where = scans.places(reader.conn, keys, whole)
        if where is not None:
            positions, names, codes, lasts, legacy = scans.metric_rows(reader.conn, where)
        else:
            positions, names, codes, lasts, legacy = _joined_metric_rows(reader, keys)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {
        name: (positions[rows], lasts[rows].astype(np.float64))
        for name, rows in _split(names, positions, codes)
    }
    for pos, name, last in legacy:
        old_pos, old_last = out.get(name, (np.empty(0, np.int64), np.empty(0)))
        out[name] = (np.append(old_pos, pos), np.append(old_last, np.nan if last is None else last))
    return dict(sorted(out.items()))


def _joined_metric_rows(
    reader: IndexReader, keys: Sequence[str]
) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray, list[tuple[int, str, float | None]]]:
    sql = (
        f"WITH {_WANTED}, {_names_sql('series', 'joined_metrics')},"
        f" {_rows_sql('series', 'joined_metrics', 'v.exact AS exact', f'v.count > 0 AND length(v.exact) = {_EXACT_SIZE}')}"
        " SELECT (SELECT json_group_array(key) FROM (SELECT key FROM names ORDER BY code)),"
        " json_group_array(r.pos), json_group_array(n.code), group_concat(hex(r.exact), '')"
        " FROM rows r JOIN names n ON n.key = r.key"
    )
    # rows written before the exact blob existed: their REAL column (few, if any)
    legacy_where = f"v.count > 0 AND (v.exact IS NULL OR length(v.exact) != {_EXACT_SIZE})"
    legacy_sql = (
        f"WITH {_WANTED}, {_rows_sql('series', 'joined_metrics', 'v.last AS last', legacy_where)}"
        " SELECT pos, key, last FROM rows"
    )
    wanted = _keys_json(keys)
    row = reader.conn.execute(sql, (wanted,)).fetchone()
    legacy = [(r[0], r[1], r[2]) for r in reader.conn.execute(legacy_sql, (wanted,)).fetchall()]
    names = json.loads(row[0])
    positions = np.array(json.loads(row[1]), dtype=np.int64)
    codes = np.array(json.loads(row[2]), dtype=np.int64)
    exact = np.frombuffer(bytes.fromhex(row[3] or ""), dtype=_EXACT_DTYPE).reshape(-1, 3)
    return positions, names, codes, exact[:, 0], legacy


def metric_final_columns(
    reader: IndexReader, keys: Sequence[str], whole: bool | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Metric name (sorted) -> (positions int64, final float64) for the runs of `keys` that reported a
    result for it (issue 23's `final`: a Trainer's `*_results.json`, a DVC stage's metrics file, a W&B
    summary), exactly as reported (NaN and -0.0 kept); `whole` as for `param_columns`."""
    with reader.snapshot():
        where = scans.places(reader.conn, keys, whole)
        if where is not None:
            rows = sorted(scans.final_rows(reader.conn, where), key=lambda r: (r[1], r[0]))
        else:
            rows = reader.conn.execute(
                f"WITH {_WANTED}, rows AS (SELECT w.pos AS pos, v.key AS key, v.exact AS exact FROM w"
                " JOIN finals v ON v.run_key = w.run_key WHERE NOT w.joined UNION ALL SELECT w.pos, v.key,"
                " v.final_exact FROM w JOIN joined_metrics v ON v.run_key = w.run_key WHERE w.joined"
                " AND v.final_exact IS NOT NULL) SELECT pos, key, exact FROM rows ORDER BY key, pos",
                (_keys_json(keys),),
            ).fetchall()
    grouped: dict[str, tuple[list[int], list[float]]] = {}
    for pos, name, blob in rows:
        value = unpack_final(blob)
        if value is None:
            continue
        positions, values = grouped.setdefault(name, ([], []))
        positions.append(pos)
        values.append(value)
    return {
        name: (np.array(positions, dtype=np.int64), np.array(values, dtype=np.float64))
        for name, (positions, values) in grouped.items()
    }


@dataclass(frozen=True)
class SeriesSummary:
    """Everything the index keeps about one metric of a run (no points): see `expdesk.core.summary`."""

    key: str
    count: int
    first_step: int | None
    last_step: int | None
    last: float | None
    min: float | None
    max: float | None
    argmin_step: int | None
    argmax_step: int | None
    nan_count: int
    last_timestamp: float | None  # ms
    final: float | None = None  # the value the run reported as its result, when it did (issue 23)
    final_source: str | None = None  # the file or record it came from


def series_summaries(reader: IndexReader, run_key: str) -> list[SeriesSummary]:
    """The summaries of one run's metrics, sorted by name. Exact last/min/max (NaN, -0.0 kept); a min or
    max of NaN (only NaN logged) and the last of an empty series are None. A reported result with no
    series (`eval_samples`) is a summary of no points and a `final`."""
    rows = reader.conn.execute(
        "SELECT key, count, first_step, last_step, exact, last, min, max, argmin_step, argmax_step, nan_count,"
        " last_timestamp, final_exact, final_source FROM run_metrics WHERE run_key = ? ORDER BY key",
        (run_key,),
    ).fetchall()
    out = []
    for r in rows:
        last, vmin, vmax = unpack_exact(r["exact"]) if r["exact"] else (r["last"], r["min"], r["max"])
        final = unpack_final(r["final_exact"]) if r["final_exact"] is not None else None
        out.append(
            SeriesSummary(
                r["key"],
                r["count"],
                r["first_step"],
                r["last_step"],
                last if r["count"] else None,
                None if vmin is None or vmin != vmin else vmin,
                None if vmax is None or vmax != vmax else vmax,
                r["argmin_step"],
                r["argmax_step"],
                r["nan_count"],
                r["last_timestamp"],
                final,
                r["final_source"] if final is not None else None,
            )
        )
    return out


def find_runs(reader: IndexReader, text: str, limit: int = 10) -> tuple[list[str], list[tuple[str, str]]]:
    """What `text` could mean as a run: (keys starting with it, up to `limit` + 1, an exact key first), and
    (key, why) of up to `limit` runs whose name or native id is `text` (for an error that names candidates
    when no key matches). A part's key means its run (a part is never a run of its own): the keys of parts
    and runs are searched alike and each answers with its run's key."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = reader.conn.execute(
        "SELECT run_key FROM part_runs WHERE part_key LIKE ? ESCAPE '\\'"
        " ORDER BY part_key != ?, part_key LIMIT ?",
        (escaped + "%", text, 4 * (int(limit) + 1)),  # a run's parts share its run key: room for them
    ).fetchall()
    by_key = list(dict.fromkeys(r[0] for r in rows))[: int(limit) + 1]
    named = reader.conn.execute(
        "SELECT key, CASE WHEN name = ? THEN 'name' ELSE 'native id' END FROM run_rows"
        " WHERE (name = ? OR native_id = ?) AND gone = 0 ORDER BY key LIMIT ?",
        (text, text, text, int(limit)),
    ).fetchall()
    return by_key, [(r[0], r[1]) for r in named]


def run_labels(reader: IndexReader, keys: Sequence[str]) -> dict[str, tuple[str | None, str]]:
    """Key -> (name, format) of the runs of `keys` the index holds."""
    rows = reader.conn.execute(
        "SELECT r.key, r.name, r.format FROM json_each(?) w JOIN run_rows r ON r.key = w.value",
        (_keys_json(keys),),
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def series_ids(
    reader: IndexReader, keys: Sequence[str], metrics: Sequence[str] | None = None
) -> list[tuple[str, str, int, int]]:
    """(run key, metric, series id, point count) of the series of `keys`: every metric of each run (sorted
    by name) when `metrics` is None, else the given metrics in their order, those a run lacks left out.
    Runs in the order of `keys`. The counts come from the chunks, as `IndexReader.series_concat` decodes
    them: call both inside one `snapshot`. A joined run's metrics are its own (`run_metrics`: each from the
    part that logged it); a reported result with no points has no series."""
    count = "(SELECT COALESCE(SUM(c.n), 0) FROM chunks c WHERE c.series_id = s.series_id)"
    if metrics is None:
        sql = (
            f"WITH {_WANTED} SELECT w.run_key, s.key, s.series_id, {count}"
            " FROM w JOIN run_metrics s ON s.run_key = w.run_key WHERE s.series_id IS NOT NULL"
            " ORDER BY w.pos, s.key"
        )
        args: tuple[str, ...] = (_keys_json(keys),)
    else:
        sql = (
            f"WITH {_WANTED}, m(name, pos) AS MATERIALIZED (SELECT value, key FROM json_each(?))"
            f" SELECT w.run_key, s.key, s.series_id, {count} FROM w CROSS JOIN m"
            " JOIN run_metrics s ON s.run_key = w.run_key AND s.key = m.name WHERE s.series_id IS NOT NULL"
            " ORDER BY w.pos, m.pos"
        )
        args = (_keys_json(keys), json.dumps(list(metrics), ensure_ascii=False))
    return [(r[0], r[1], r[2], r[3]) for r in reader.conn.execute(sql, args)]


@dataclass(frozen=True)
class IndexOverview:
    """What an index holds, in a few numbers (for a notebook's summary of it)."""

    runs: int  # on disk, deleted ones included (a joined run once, its parts not counted)
    deleted: int
    with_errors: int
    formats: dict[str, int]
    roots: list[tuple[str, int, int]]  # (root, runs, runs with errors)


def index_overview(reader: IndexReader) -> IndexOverview:
    rows = reader.conn.execute(
        "SELECT format, COUNT(*), SUM(deleted), SUM(error IS NOT NULL) FROM run_rows WHERE gone = 0"
        " GROUP BY format ORDER BY COUNT(*) DESC, format"
    ).fetchall()
    roots = [(r["path"], r["runs"], r["errors"]) for r in reader.roots()]
    return IndexOverview(
        runs=sum(r[1] for r in rows),
        deleted=sum(r[2] for r in rows),
        with_errors=sum(r[3] for r in rows),
        formats={r[0]: r[1] for r in rows},
        roots=roots,
    )
