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

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from expdesk.core.codec import unpack_exact
from expdesk.index.finals import unpack as unpack_final
from expdesk.index.reader import IndexReader

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

_DEFAULT_ORDER = "r.start_time IS NULL, r.start_time DESC, r.key"
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
_STARRED = "EXISTS (SELECT 1 FROM annotations a WHERE a.run_key = r.key AND a.starred = 1)"
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
        return _DEFAULT_ORDER
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


def only_hidden(where_sql: str, params: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """A compiled filter narrowed to runs the user has hidden."""
    return (f"({where_sql}) AND NOT {_SHOWN}" if where_sql else f"NOT {_SHOWN}"), params


def run_counts(reader: IndexReader) -> dict[str, int]:
    """The runs of the index by what the table does with them, so every count can say why it differs:
    `runs` (listed: on disk, not deleted in their tool, not hidden), `hidden`, `deleted` (in their tool, on
    disk), `errors` (listed runs that could not be read completely), `gone` (no longer on disk)."""
    row = reader.conn.execute(
        "SELECT"
        f" COALESCE(SUM(r.gone = 0 AND r.deleted = 0 AND {_SHOWN}), 0),"
        f" COALESCE(SUM(r.gone = 0 AND r.deleted = 0 AND NOT {_SHOWN}), 0),"
        " COALESCE(SUM(r.gone = 0 AND r.deleted = 1), 0),"
        f" COALESCE(SUM(r.gone = 0 AND r.deleted = 0 AND {_SHOWN} AND r.error IS NOT NULL), 0),"
        " COALESCE(SUM(r.gone = 1), 0)"
        " FROM run_rows r"
    ).fetchone()
    return dict(zip(("runs", "hidden", "deleted", "errors", "gone"), (int(v) for v in row), strict=True))


def root_counts(reader: IndexReader) -> dict[str, dict[str, int]]:
    """`run_counts` per watched root (the sources panel's numbers, in the same words as the table's)."""
    out: dict[str, dict[str, int]] = {}
    for root, runs, hidden, deleted, errors in reader.conn.execute(
        "SELECT r.root,"
        f" SUM(r.deleted = 0 AND {_SHOWN}), SUM(r.deleted = 0 AND NOT {_SHOWN}), SUM(r.deleted = 1),"
        f" SUM(r.deleted = 0 AND {_SHOWN} AND r.error IS NOT NULL)"
        " FROM run_rows r WHERE r.gone = 0 GROUP BY r.root"
    ):
        out[root] = {"runs": runs, "hidden": hidden, "deleted": deleted, "errors": errors}
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
        f"SELECT r.key FROM run_rows r WHERE r.gone = 0 AND r.deleted = 0 AND {_SHOWN}"
        f" ORDER BY {_DEFAULT_ORDER} LIMIT {int(sample)}"
    )
    total = reader.conn.execute(f"SELECT COUNT(*) FROM ({listed})").fetchone()[0]
    out: dict[str, dict[str, KeyStats]] = {"params": {}, "tags": {}, "metrics": {}}
    for kind, table in (("params", "run_params"), ("tags", "run_tags")):
        sql = (
            f"SELECT key, COUNT(*), COUNT(DISTINCT value) FROM {table}"
            f" WHERE run_key IN ({listed}) GROUP BY key"
        )
        out[kind] = {key: KeyStats(runs, values) for key, runs, values in _tuples(reader, sql, ())}
    sql = f"SELECT key, COUNT(*) FROM run_metrics WHERE run_key IN ({listed}) GROUP BY key"
    out["metrics"] = {key: KeyStats(runs, 0) for key, runs in _tuples(reader, sql, ())}
    return int(total), out


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
