"""The runs table's rows, display-ready: ordered keys for a filter/sort, then pages of prepared rows.

No Qt and no SQL here: the index's `table` module queries raw values; these functions run on worker
threads with their own `IndexReader` and turn them into plain Python values that the model only stores
(its `data()` never computes). Texts are elided and single-lined here, so a 1 MB run name costs the GUI
thread nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from expdesk.index import table
from expdesk.index.reader import IndexReader
from expdesk.index.stale import is_stale
from expdesk.index.table import SUMMARIES, SortKey

ColumnKind = Literal["attr", "param", "tag", "metric"]
#: longest text a cell shows; the tooltip gets a little more, the detail panel the whole value
CELL_CHARS = 200
TOOLTIP_CHARS = 2000


@dataclass(frozen=True)
class Column:
    kind: ColumnKind
    key: str
    summary: str = ""  # metrics only: last / min / max / final

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.key}" + (f":{self.summary}" if self.summary else "")

    @staticmethod
    def from_id(text: str) -> Column:
        kind, _, rest = text.partition(":")
        if kind == "metric":
            key, _, summary = rest.rpartition(":")
            return Column("metric", key, summary if summary in SUMMARIES else "last")
        return Column(kind if kind in ("attr", "param", "tag") else "attr", rest)  # type: ignore[arg-type]

    @property
    def title(self) -> str:
        if self.kind == "attr":
            return ATTR_TITLES.get(self.key, self.key)
        if self.kind in ("param", "tag"):
            return self.key
        return f"{self.key} ({self.summary})"

    @property
    def path(self) -> str:
        """The key as the filter language names it: `params.lr`, `metrics.val/loss (min)`, `status`."""
        if self.kind == "attr":
            return self.key
        prefix = {"param": "params", "tag": "tags", "metric": "metrics"}[self.kind]
        return f"{prefix}.{self.key}" + (f" ({self.summary})" if self.summary else "")

    @property
    def numeric(self) -> bool:
        return self.kind == "metric" or (self.kind == "attr" and self.key == "duration")


ATTR_TITLES = {
    "star": "★",
    "name": "Name",
    "format": "Format",
    "status": "Status",
    "experiment": "Experiment",
    "start": "Start",
    "duration": "Duration",
    "labels": "Labels",
}
ATTR_COLUMNS = [Column("attr", k) for k in ATTR_TITLES]


def sort_key(column: Column | None, descending: bool) -> SortKey | None:
    """What the index sorts by for a clicked column (None: newest first)."""
    if column is None:
        return None
    return SortKey(column.kind, column.key, column.summary, descending)


@dataclass
class KeyList:
    """The answer to a filter/sort: every matching run key in order, and group boundaries if grouping."""

    keys: list[str]
    group_values: list[str] = field(default_factory=list)  # per row, when grouping by a param
    group_index: list[int] = field(default_factory=list)  # per row: 0, 1, 2... changes at each new group


def first_keys(
    reader: IndexReader,
    where_sql: str,
    params: tuple[Any, ...],
    sort: SortKey | None,
    group_param: str | None,
    limit: int,
) -> KeyList | None:
    """The first `limit` keys of `ordered_keys` when the index finds them quickly (see `table.first_keys`),
    else None; never grouped (a grouped order has no index)."""
    keys = table.first_keys(reader, where_sql, params, sort, group_param, limit)
    return None if keys is None else KeyList(keys)


def ordered_keys(
    reader: IndexReader,
    where_sql: str,
    params: tuple[Any, ...],
    sort: SortKey | None,
    group_param: str | None = None,
) -> KeyList:
    keys = table.ordered_keys(reader, where_sql, params, sort, group_param)
    result = KeyList(keys)
    if group_param and keys:
        values = table.param_values(reader, group_param, keys)
        group = -1
        previous: str | None = None
        for key in keys:
            value = values.get(key, "(none)")
            if value != previous:
                group += 1
                previous = value
            result.group_values.append(elide(f"{group_param} = {value}"))
            result.group_index.append(group)
    return result


@dataclass(slots=True)
class Row:
    """One prepared table row: display texts, tooltips for long values, flags the delegates need."""

    key: str
    texts: dict[int, str]  # column index -> text; sparse: a run has a few of the 2,000 value columns
    tooltips: dict[int, str]
    status: str
    stale: bool
    starred: bool
    error: str | None


def elide(text: str, limit: int = CELL_CHARS) -> str:
    """One line, at most `limit` characters (newlines and tabs shown as symbols, never interpreted)."""
    if len(text) <= limit and "\n" not in text and "\r" not in text and "\t" not in text:
        return text  # the common case, kept cheap: thousands of cells per page
    head = text[: limit + 1]
    head = head.replace("\r\n", "⏎").replace("\n", "⏎").replace("\r", "⏎").replace("\t", " ")
    return head if len(text) <= limit else head[:limit] + "…"


def fmt_number(value: float | None) -> str:
    if value is None:
        return ""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0 or math.isnan(seconds):
        return ""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def fmt_time(ts: float | None) -> str:
    if ts is None:
        return ""
    try:
        return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return ""


def _no_pause() -> None:
    pass


#: Python loop iterations between calls of `pause` (well under a millisecond of work)
PAUSE_EVERY = 256


def fetch_rows(
    reader: IndexReader,
    keys: list[str],
    columns: list[Column],
    now: float | None = None,
    pause: Callable[[], None] = _no_pause,
) -> list[Row]:
    """Display rows for `keys` (in that order) with exactly `columns`: a few IN (...) queries per chunk.

    `pause` is called between queries and every PAUSE_EVERY rows of Python work (the model passes the
    paint gate, so a table paint never competes with this loop for the GIL)."""
    now = time.time() if now is None else now
    attr_cols = [(i, col.key) for i, col in enumerate(columns) if col.kind == "attr"]
    param_cols: dict[str, int] = {}
    tag_cols: dict[str, int] = {col.key: i for i, col in enumerate(columns) if col.kind == "tag"}
    metric_cols: dict[str, list[tuple[int, int]]] = {}  # key -> [(column index, which of last/min/max)]
    for i, col in enumerate(columns):
        if col.kind == "param":
            param_cols[col.key] = i
        elif col.kind == "metric":
            metric_cols.setdefault(col.key, []).append((i, SUMMARIES.index(col.summary or "last")))
    rows: dict[str, Row] = {}
    for chunk in table.page_chunks(reader, keys):
        stars, labels = chunk.starred, chunk.labels
        pause()
        for n, (
            key,
            name,
            fmt,
            status,
            experiment,
            start,
            end_time,
            last_activity,
            error,
            deleted,
        ) in enumerate(chunk.runs):
            if not n % PAUSE_EVERY:
                pause()
            texts: dict[int, str] = {}
            tooltips: dict[int, str] = {}
            stale = is_stale(status, last_activity, now, reader.stale_after)
            # a run with no recorded end: time so far while it runs; otherwise unknown (mtimes of a copied or
            # cloned folder say nothing about how long the run took)
            end = end_time if end_time is not None else (last_activity if status == "running" else None)
            duration = None if start is None or end is None else end - start
            attrs = {
                "star": "★" if stars.get(key) else "",
                "name": (name or "")
                + (" (deleted)" if deleted else "")
                + (" (hidden)" if key in chunk.hidden else ""),
                # a joined run: its head's tool and how many more ("hydra +2"); the tooltip names them
                "format": fmt if "+" not in fmt else f"{fmt.split('+')[0]} +{fmt.count('+')}",
                "status": status + (" (stale)" if stale else "") + (" ⚠" if error else ""),
                "experiment": experiment or "",
                "start": fmt_time(start),
                "duration": fmt_duration(duration),
                "labels": ", ".join(labels.get(key, [])),
            }
            for i, attr in attr_cols:
                _put(texts, tooltips, i, attrs.get(attr, ""))
                if attr == "format" and "+" in fmt:
                    tooltips[i] = "One training job: " + " + ".join(fmt.split("+"))
            rows[key] = Row(key, texts, tooltips, status, stale, bool(stars.get(key)), error)
        if param_cols:
            pause()
            # with thousands of wanted keys the chunk returns every param of its runs: pick here
            for n, (run_key, key, value) in enumerate(chunk.params(param_cols)):
                if not n % PAUSE_EVERY:
                    pause()
                column = param_cols.get(key)
                row = rows.get(run_key)
                if column is not None and row is not None:
                    _put(row.texts, row.tooltips, column, value)
        if tag_cols:
            pause()
            for run_key, key, value in chunk.tags(tag_cols):
                row = rows.get(run_key)
                if row is not None:
                    _put(row.texts, row.tooltips, tag_cols[key], value)
        if metric_cols:
            pause()
            for n, s in enumerate(chunk.metrics(metric_cols)):
                if not n % PAUSE_EVERY:
                    pause()
                wanted = metric_cols.get(s[1])
                row = rows.get(s[0])
                if wanted is None or row is None or not (s[6] or s[7]):
                    continue
                values = table.metric_summary(s)  # exact: NaN and -0.0 survive
                for i, which in wanted:
                    number = values[which]
                    # min/max are NaN only when every point was NaN: show nothing rather than "NaN"
                    empty = which in (1, 2) and number is not None and math.isnan(number)
                    row.texts[i] = "" if empty else fmt_number(number)
    return [rows[k] for k in keys if k in rows]


def _put(texts: dict[int, str], tooltips: dict[int, str], i: int, value: str) -> None:
    texts[i] = elide(value)
    if len(value) > CELL_CHARS or "\n" in value:
        tooltips[i] = value[:TOOLTIP_CHARS] + ("…" if len(value) > TOOLTIP_CHARS else "")


def vocabulary(reader: IndexReader) -> dict[str, list[str]]:
    """Keys for completion and the column chooser."""
    return {"params": reader.param_keys(), "metrics": reader.metric_keys(), "tags": reader.tag_keys()}
