"""The runs table's queries: the ordered keys of a filter and a sort, and the raw values of a page of rows.

Raw values only: eliding, formatting numbers and times, and deciding what a cell says is the GUI's
worker-side code (`expdesk.gui.runs.query`). Everything here runs on a worker thread with its own reader.

Rows come back as plain tuples, not `sqlite3.Row`s: tuples of scalars leave the cyclic GC's lists at the
next young collection, whereas thousands of surviving `sqlite3.Row`s per page kept triggering full
collections, each of which stops every thread, the GUI thread included (measured: 100-400 ms). A page is
queried a chunk of keys at a time, and each chunk's params and metrics only when the caller asks for
them, so the caller can let the GUI paint between queries (its `pause()`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from expdesk.core.codec import unpack_exact
from expdesk.index.finals import unpack as unpack_final
from expdesk.index.reader import NEWEST_FIRST, NEWEST_FIRST_INDEXED, IndexReader

#: the metric summaries a column or sort can show (`final`: the value the run reported as its result)
SUMMARIES = ("last", "min", "max", "final")
#: keys per `IN (...)` query: well under SQLite's 999 bound parameters, with room for wanted keys
PAGE_CHUNK = 500
_GROUP_CHUNK = 900
#: wanted params or metrics up to this many are filtered in SQL; more, and a chunk's runs fetch all of
#: theirs and the caller picks in Python (thousands of `?` cost more than the rows they skip)
_FILTER_IN_SQL = 200

# (key, name, formats, status, experiment, start_time, end_time, last_activity, error, deleted); formats is
# the run's tools joined with "+" (one for a run of one part)
RunFields = tuple[
    str, str | None, str, str, str | None, float | None, float | None, float | None, str | None, int
]
# (run_key, key, value)
ParamFields = tuple[str, str, str]
# (run_key, key, exact, last, min, max, count, final exact): decode with `metric_summary`
MetricFields = tuple[str, str, bytes | None, float | None, float | None, float | None, int, bytes | None]

#: CPU seconds the first page of a filter may take in the index's order before the whole list is asked for
#: instead (`first_keys`). At 100,000 runs a first page of 64 rows takes 0.1-5 ms of CPU (5 ms: a filter
#: matching 2%); a filter matching nothing walks the whole index (0.2 s of CPU, where a table scan and sort
#: take 0.1 s), so the budget is what a rare filter loses. CPU time of the querying thread, not wall time:
#: a loaded machine stretches both paths alike and must not change which one is taken.
FIRST_PAGE_BUDGET_S = 0.015
#: SQLite virtual-machine steps between two looks at the clock of `run_keys_within` (~1-2 ms of work)
_PROGRESS_STEPS = 20_000
# the runs table's attribute columns, as sort keys over `runs r`; an unknown one sorts by start time
_ATTRIBUTE_ORDER = {
    "star": "COALESCE((SELECT a.starred FROM annotations a WHERE a.run_key = r.key), 0)",
    "name": "r.name COLLATE NOCASE",
    "format": "r.format",
    "status": "r.status",
    "experiment": "r.experiment COLLATE NOCASE",
    "start": "r.start_time",
    "duration": "(COALESCE(r.end_time, CASE WHEN r.status = 'running' THEN r.last_activity END) - r.start_time)",
    "labels": "(SELECT group_concat(u.tag, ', ') FROM user_tags u WHERE u.run_key = r.key)",
}
# starred runs are few: listed from `annotations` and looked up by key (15 ms for 2,000 of 100,000 runs),
# not an EXISTS tried on every run (100 ms)
_STARRED = "r.key IN (SELECT a.run_key FROM annotations a WHERE a.starred = 1)"
_SHOWN = "NOT EXISTS (SELECT 1 FROM annotations a WHERE a.run_key = r.key AND a.hidden = 1)"


@dataclass(frozen=True)
class SortKey:
    """One column to sort by: an attribute of the table (`star`, `name`, ... `labels`), a param, or a
    metric summary (`last`, `min`, `max`)."""

    kind: str  # "attr" | "param" | "tag" | "metric"
    key: str
    summary: str = ""  # metrics only
    descending: bool = False


def _literal(text: str) -> str:
    """A SQLite string literal (quotes doubled): ORDER BY clauses cannot take parameters."""
    return "'" + text.replace("'", "''") + "'"


def _per_run(select: str, part_table: str, joined_table: str, key_sql: str) -> str:
    """`select` on run `r`'s row for one key: from the merged table for a joined run, else from the part's
    own (one subquery per run, picked by `r.joined`: cheaper than a view over both)."""
    alias = part_table[-1]

    def one(table: str) -> str:
        return f"(SELECT {select} FROM {table} WHERE {alias}.run_key = r.key AND {alias}.key = {key_sql})"

    return f"(CASE WHEN r.joined THEN {one(joined_table)} ELSE {one(part_table)} END)"


def _param_sql(key: str) -> tuple[str, str]:
    """A param's numeric and text values for run `r`, as scalar subqueries."""
    lit = _literal(key)
    num = _per_run("p.num", "params p", "joined_params p", lit)
    text = _per_run("p.value", "params p", "joined_params p", lit)
    return num, text


def order_sql(sort: SortKey | None) -> str:
    """ORDER BY for one column, NULLs last in both directions, run key as tie-breaker; newest first when
    there is no sort."""
    if sort is None:
        return NEWEST_FIRST
    direction = "DESC" if sort.descending else "ASC"
    if sort.kind == "param":
        num, text = _param_sql(sort.key)
        return f"{text} IS NULL, {num} IS NULL, {num} {direction}, {text} {direction}, r.key"
    if sort.kind == "tag":
        expr = _per_run("t.value", "tags t", "joined_tags t", _literal(sort.key))
        return f"{expr} IS NULL, {expr} {direction}, r.key"
    if sort.kind == "metric":
        agg = sort.summary if sort.summary in SUMMARIES else "last"  # whitelisted: it reaches SQL text
        part = "(SELECT run_key, key, value AS final FROM finals) s" if agg == "final" else "series s"
        expr = _per_run(f"s.{agg}", part, "joined_metrics s", _literal(sort.key))
        return f"{expr} IS NULL, {expr} {direction}, r.key"
    expr = _ATTRIBUTE_ORDER.get(sort.key, "r.start_time")
    return f"{expr} IS NULL, {expr} {direction}, r.key"


def only_starred(where_sql: str, params: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """A compiled filter narrowed to starred runs (the toolbar's ★ toggle)."""
    return (f"({where_sql}) AND {_STARRED}" if where_sql else _STARRED), params


def only_shown(where_sql: str, params: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """A compiled filter narrowed to runs the user has not hidden."""
    return (f"({where_sql}) AND {_SHOWN}" if where_sql else _SHOWN), params


# Listed runs the user hid, by root: few, so found from `annotations` and looked up by key (CROSS JOIN keeps
# that order: the planner would otherwise walk every run by its root index and probe `annotations`)
_HIDDEN_BY_ROOT = (
    "SELECT r.root, COUNT(*), SUM(r.error IS NOT NULL) FROM annotations a CROSS JOIN run_rows r ON r.key = a.run_key"
    " WHERE a.hidden = 1 AND r.gone = 0 AND r.deleted = 0 GROUP BY r.root"
)


def only_hidden(where_sql: str, params: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """A compiled filter narrowed to runs the user has hidden."""
    return (f"({where_sql}) AND NOT {_SHOWN}" if where_sql else f"NOT {_SHOWN}"), params


def run_counts(reader: IndexReader) -> dict[str, int]:
    """The runs of the index by what the table does with them, so every count can say why it differs:
    `runs` (listed: on disk, not deleted in their tool, not hidden), `hidden`, `deleted` (in their tool, on
    disk), `errors` (listed runs that could not be read completely), `gone` (no longer on disk).

    One pass over `run_rows` with no lookup per run, then the hidden ones (60 ms at 100,000 runs; testing each
    run for being hidden took 120-280 ms)."""
    listed, errors, deleted, gone = _tuples(
        reader,
        "SELECT COALESCE(SUM(r.gone = 0 AND r.deleted = 0), 0),"
        " COALESCE(SUM(r.gone = 0 AND r.deleted = 0 AND r.error IS NOT NULL), 0),"
        " COALESCE(SUM(r.gone = 0 AND r.deleted = 1), 0), COALESCE(SUM(r.gone = 1), 0) FROM run_rows r NOT INDEXED",
        (),
    )[0]
    hidden = hidden_errors = 0
    for _root, n, n_errors in _tuples(reader, _HIDDEN_BY_ROOT, ()):
        hidden, hidden_errors = hidden + n, hidden_errors + n_errors
    return {
        "runs": int(listed - hidden),
        "hidden": int(hidden),
        "deleted": int(deleted),
        "errors": int(errors - hidden_errors),
        "gone": int(gone),
    }


@dataclass
class RootCounts:
    """`run_counts` of one watched root's runs still on disk, and its runs by format (hidden and deleted
    ones included)."""

    runs: int = 0
    hidden: int = 0
    deleted: int = 0
    errors: int = 0
    formats: dict[str, int] = field(default_factory=dict)


def root_counts(reader: IndexReader) -> dict[str, RootCounts]:
    """`RootCounts` of every root that holds runs on disk (the sources panel's numbers, in the table's
    words): one grouped pass over `run_rows` and the hidden ones, as `run_counts`."""
    out: dict[str, RootCounts] = {}
    # a table scan: grouping in the root index's order would look every run up by key (slower)
    sql = (
        "SELECT r.root, r.formats, r.deleted, SUM(r.error IS NOT NULL), COUNT(*) FROM run_rows r NOT INDEXED"
        " WHERE r.gone = 0 GROUP BY r.root, r.formats, r.deleted"
    )
    for root, formats, deleted, errors, n in _tuples(reader, sql, ()):
        counts = out.setdefault(root, RootCounts())
        # a job logged by several tools counts once for each of them (`run_rows.formats`: "tool+tool")
        for fmt in formats.split("+"):
            counts.formats[fmt] = counts.formats.get(fmt, 0) + n
        if deleted:
            counts.deleted += n
        else:
            counts.runs += n
            counts.errors += errors
    for root, n, errors in _tuples(reader, _HIDDEN_BY_ROOT, ()):
        counts = out.setdefault(root, RootCounts())
        counts.runs -= n
        counts.hidden += n
        counts.errors -= errors
    return out


@dataclass(frozen=True)
class KeyStats:
    """How a param, tag or metric key spreads over the listed runs (what default columns are chosen by)."""

    runs: int  # listed runs that have it
    values: int  # distinct values among them (params and tags; metrics: 0)


#: key spread is measured on this many of the newest listed runs (bounded cost on 100k-run indexes)
KEY_STATS_SAMPLE = 2000


def key_stats(
    reader: IndexReader, sample: int = KEY_STATS_SAMPLE
) -> tuple[int, dict[str, dict[str, KeyStats]]]:
    """(runs measured, {"params"|"tags"|"metrics": {key: KeyStats}}) over the newest `sample` runs the table
    lists (on disk, not deleted in their tool, not hidden): one grouped query per kind. The newest runs are
    the ones at the top of the table, and a bounded sample keeps this ~0.2 s on any index."""
    listed = (
        f"WITH listed(key, joined) AS (SELECT r.key, r.joined FROM run_rows r"
        f" WHERE r.gone = 0 AND r.deleted = 0 AND {_SHOWN} ORDER BY {NEWEST_FIRST_INDEXED} LIMIT {int(sample)})"
    )
    total = reader.conn.execute(f"{listed} SELECT COUNT(*) FROM listed").fetchone()[0]
    out: dict[str, dict[str, KeyStats]] = {"params": {}, "tags": {}, "metrics": {}}
    # what the `run_*` views hold for these runs, read from their tables: a run on its own from its part's
    # rows, a joined run from the merged ones (through the views: 1.3 s at 100,000 runs, this way 0.1 s)
    for kind, part, joined in (("params", "params", "joined_params"), ("tags", "tags", "joined_tags")):
        sql = (
            f"{listed} SELECT key, COUNT(*), COUNT(DISTINCT value) FROM ("
            f"SELECT p.key, p.value FROM listed l JOIN {part} p ON p.run_key = l.key WHERE NOT l.joined"
            f" UNION ALL SELECT p.key, p.value FROM listed l JOIN {joined} p ON p.run_key = l.key WHERE l.joined"
            ") GROUP BY key"
        )
        out[kind] = {key: KeyStats(runs, values) for key, runs, values in _tuples(reader, sql, ())}
    sql = (
        f"{listed} SELECT key, COUNT(*) FROM ("
        "SELECT s.key FROM listed l JOIN series s ON s.run_key = l.key WHERE NOT l.joined"
        " UNION ALL SELECT f.key FROM listed l JOIN finals f ON f.run_key = l.key WHERE NOT l.joined"
        " AND NOT EXISTS (SELECT 1 FROM series s WHERE s.run_key = f.run_key AND s.key = f.key)"
        " UNION ALL SELECT m.key FROM listed l JOIN joined_metrics m ON m.run_key = l.key WHERE l.joined"
        ") GROUP BY key"
    )
    out["metrics"] = {key: KeyStats(runs, 0) for key, runs in _tuples(reader, sql, ())}
    return int(total), out


def key_prints(reader: IndexReader, run_keys: Collection[str]) -> dict[str, str]:
    """{run key: digest of what `key_stats` counts of it}: its params' and tags' keys and values and its
    metrics' keys, not their points (plus whether it is listed). Equal digests before and after a live update
    mean the run changed nothing the key spread depends on, so the window need not measure it again. Read by
    the runs' primary keys: a few milliseconds for a sweep's runs on any index. A run not in the index gets
    the digest of nothing."""
    out: dict[str, str] = {}
    for chunk in _chunks(list(run_keys), PAGE_CHUNK):
        marks = ",".join("?" * len(chunk))
        # the same rows as `key_stats` reads per run (a joined run's merged rows, a run on its own its part's)
        sql = (
            f"WITH listed(key, joined, shown) AS (SELECT r.key, r.joined, r.gone = 0 AND r.deleted = 0 AND"
            f" {_SHOWN} FROM run_rows r WHERE r.key IN ({marks}))"
            " SELECT l.key, 'listed', '', l.shown FROM listed l"
            " UNION ALL SELECT l.key, 'p', p.key, p.value FROM listed l JOIN params p ON p.run_key = l.key"
            " WHERE NOT l.joined"
            " UNION ALL SELECT l.key, 'p', p.key, p.value FROM listed l JOIN joined_params p ON p.run_key = l.key"
            " WHERE l.joined"
            " UNION ALL SELECT l.key, 't', t.key, t.value FROM listed l JOIN tags t ON t.run_key = l.key"
            " WHERE NOT l.joined"
            " UNION ALL SELECT l.key, 't', t.key, t.value FROM listed l JOIN joined_tags t ON t.run_key = l.key"
            " WHERE l.joined"
            " UNION ALL SELECT l.key, 'm', s.key, NULL FROM listed l JOIN series s ON s.run_key = l.key"
            " WHERE NOT l.joined"
            " UNION ALL SELECT l.key, 'm', f.key, NULL FROM listed l JOIN finals f ON f.run_key = l.key"
            " WHERE NOT l.joined"
            " UNION ALL SELECT l.key, 'm', m.key, NULL FROM listed l JOIN joined_metrics m ON m.run_key = l.key"
            " WHERE l.joined"
        )
        digests = {key: hashlib.blake2b(digest_size=16) for key in chunk}
        # sorted here, not in SQL: the rows of one run are few, and a metric both in series and in finals
        # counts once in `key_stats` (as a set of keys does here)
        found = {
            (k, kind, key, "" if v is None else str(v))
            for k, kind, key, v in _tuples(reader, sql, tuple(chunk))
        }
        for run_key, kind, key, value in sorted(found):
            digests[run_key].update(json.dumps([kind, key, value]).encode())
        out.update({key: digest.hexdigest() for key, digest in digests.items()})
    return out


def ordered_keys(
    reader: IndexReader,
    where_sql: str,
    params: tuple[Any, ...],
    sort: SortKey | None,
    group_param: str | None = None,
) -> list[str]:
    """Every key matching a compiled filter, in the table's order; grouped by a param's value first (runs
    without it last, numbers numerically before text) when `group_param` is given."""
    order = order_sql(sort)
    if group_param:
        num, text = _param_sql(group_param)
        order = f"{text} IS NULL, {num}, {text}, {order}"
    return reader.run_keys(where_sql=where_sql, params=params, order_sql=order)


def first_keys(
    reader: IndexReader,
    where_sql: str,
    params: tuple[Any, ...],
    sort: SortKey | None,
    group_param: str | None,
    limit: int,
    budget_s: float | None = None,
) -> list[str] | None:
    """The first `limit` keys of `ordered_keys`, when an index serves the order and SQLite finds them within
    `budget_s` (default `FIRST_PAGE_BUDGET_S`); None otherwise (the caller computes the whole list). Only the
    default order (newest first, not grouped) has an index: any other sort has to see every matching run
    before its first row anyway."""
    if sort is not None or group_param:
        return None
    budget = FIRST_PAGE_BUDGET_S if budget_s is None else budget_s
    return run_keys_within(reader, budget, limit, where_sql=where_sql, params=params)


def run_keys_within(
    reader: IndexReader,
    seconds: float,
    limit: int,
    where_sql: str = "",
    params: tuple[Any, ...] = (),
    order_sql: str = NEWEST_FIRST_INDEXED,
) -> list[str] | None:
    """`reader.run_keys(..., limit=limit)`, or None when SQLite has not answered within `seconds` of this
    thread's CPU time (the query is stopped then). A first page in an indexed order is quick when the filter
    matches often (the walk stops after `limit` matches) and slow when it rarely does (the index is walked to
    its end, about 2x the CPU of a table scan and sort): past the budget the caller asks for the whole list."""
    deadline = time.thread_time() + seconds
    expired = False

    def over() -> bool:
        nonlocal expired
        expired = time.thread_time() > deadline
        return expired

    reader.conn.set_progress_handler(over, _PROGRESS_STEPS)
    try:
        return reader.run_keys(False, where_sql, params, order_sql, limit)
    except sqlite3.OperationalError:
        if expired:
            return None
        raise  # a real error, or `IndexReader.interrupt()`
    finally:
        reader.conn.set_progress_handler(None, 0)


def param_values(reader: IndexReader, param: str, keys: list[str]) -> dict[str, str]:
    """Run key -> the value of one param, for the runs of `keys` that have it."""
    values: dict[str, str] = {}
    for part in _chunks(keys, _GROUP_CHUNK):
        marks = ",".join("?" * len(part))
        sql = f"SELECT run_key, value FROM run_params WHERE key = ? AND run_key IN ({marks})"
        for run_key, value in _tuples(reader, sql, (param, *part)):
            values[run_key] = value
    return values


class PageChunk:
    """Raw values for up to PAGE_CHUNK runs: their `runs` fields, stars and labels on creation; params and
    metrics when asked (each one query)."""

    def __init__(self, reader: IndexReader, keys: list[str]) -> None:
        self._reader = reader
        self._keys = tuple(keys)
        self._marks = ",".join("?" * len(keys))
        self.runs: list[RunFields] = _tuples(  # type: ignore[assignment]
            reader,
            "SELECT key, name, formats, status, experiment, start_time, end_time, last_activity, error,"
            f" deleted FROM run_rows WHERE key IN ({self._marks})",
            self._keys,
        )
        sql = f"SELECT run_key, starred, hidden FROM annotations WHERE run_key IN ({self._marks})"
        marks = _tuples(reader, sql, self._keys)
        self.starred: dict[str, bool] = {r[0]: bool(r[1]) for r in marks}
        #: runs the user hid (listed only while "Show Hidden Runs" is on)
        self.hidden: set[str] = {r[0] for r in marks if r[2]}
        self.labels: dict[str, list[str]] = {}
        sql = f"SELECT run_key, tag FROM user_tags WHERE run_key IN ({self._marks}) ORDER BY tag"
        for run_key, tag in _tuples(reader, sql, self._keys):
            self.labels.setdefault(run_key, []).append(tag)

    def params(self, wanted: Collection[str]) -> list[ParamFields]:
        """(run_key, key, value) of these runs' params; with many `wanted` keys, every param of the runs
        (the caller picks)."""
        if len(wanted) <= _FILTER_IN_SQL:
            wanted_marks = ",".join("?" * len(wanted))
            sql = (
                f"SELECT run_key, key, value FROM run_params WHERE run_key IN ({self._marks})"
                f" AND key IN ({wanted_marks})"
            )
            return _tuples(self._reader, sql, (*self._keys, *wanted))  # type: ignore[return-value]
        sql = f"SELECT run_key, key, value FROM run_params WHERE run_key IN ({self._marks})"
        return _tuples(self._reader, sql, self._keys)  # type: ignore[return-value]

    def tags(self, wanted: Collection[str]) -> list[ParamFields]:
        """(run_key, key, value) of these runs' tool tags among `wanted` (tag columns are few: in SQL)."""
        wanted_marks = ",".join("?" * len(wanted))
        sql = (
            f"SELECT run_key, key, value FROM run_tags WHERE run_key IN ({self._marks})"
            f" AND key IN ({wanted_marks})"
        )
        return _tuples(self._reader, sql, (*self._keys, *wanted))  # type: ignore[return-value]

    def metrics(self, wanted: Collection[str]) -> list[MetricFields]:
        """Summary rows of these runs' metrics (see `MetricFields`); with many `wanted` keys, every metric
        of the runs (the caller picks)."""
        columns = "run_key, key, exact, last, min, max, count, final_exact"
        if len(wanted) <= _FILTER_IN_SQL:
            wanted_marks = ",".join("?" * len(wanted))
            sql = f"SELECT {columns} FROM run_metrics WHERE run_key IN ({self._marks}) AND key IN ({wanted_marks})"
            return _tuples(self._reader, sql, (*self._keys, *wanted))  # type: ignore[return-value]
        sql = f"SELECT {columns} FROM run_metrics WHERE run_key IN ({self._marks})"
        return _tuples(self._reader, sql, self._keys)  # type: ignore[return-value]


def page_chunks(reader: IndexReader, keys: list[str]) -> Iterator[PageChunk]:
    """The raw values of a page, PAGE_CHUNK keys at a time; each chunk is queried when the caller asks
    for the next one."""
    for part in _chunks(keys, PAGE_CHUNK):
        yield PageChunk(reader, part)


def metric_summary(row: MetricFields) -> tuple[float | None, float | None, float | None, float | None]:
    """(last, min, max, final) of a `MetricFields` row, exactly: the `exact` blobs keep NaN and -0.0, which
    SQLite REAL columns lose (older rows without it fall back to the columns). A metric with only a
    reported final has no last/min/max (None), a run that reported nothing no final (None)."""
    exact = row[2]
    last, vmin, vmax = unpack_exact(exact) if exact else (row[3], row[4], row[5])
    if not row[6]:
        last = vmin = vmax = None
    return last, vmin, vmax, unpack_final(row[7])


def _tuples(reader: IndexReader, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Rows as plain tuples (see the module docstring for why)."""
    cursor = reader.conn.cursor()
    cursor.row_factory = None
    try:
        return cursor.execute(sql, args).fetchall()
    finally:
        cursor.close()


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
