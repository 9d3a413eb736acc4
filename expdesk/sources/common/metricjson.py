"""A job's own metrics JSON, recognised by its structure rather than by key names.

Jobs save histories in a handful of shapes, under whatever key they chose:

* records: a list of per-step dicts (`[{"step": 0, "loss": 1.0}, ...]`), bare or under any key (`history`,
  `steps`, `log`, ...); nested dicts inside a record use the slash convention (`train/loss`);
* columns: a dict of equal-purpose lists (`{"epoch": [0, 1], "loss": [1.0, 0.5]}`, Keras' `History.history`),
  at the top level or under any key.

The x axis is the first of `step`, `global_step`, `_step`, `iteration`, `iter`, then `epoch`, found in the
table; without one it is the row's position. A document with one table keeps the bare field names; with
several, each field is named after its table's key (`train/loss`, `val/acc`), since that is what tells them
apart. Top-level scalars are the run's summary (final numbers), not a history.

Anything else (a list of lists, a list of bare numbers without a name) is reported, never guessed at: the
caller lists the file as not read with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from expdesk.core.entities import Series
from expdesk.core.summary import json_number
from expdesk.sources.common.tables import (
    EPOCH_KEYS,
    STEP_KEYS,
    TIME_KEYS,
    Columns,
    as_step,
    flatten_record,
    number,
    records_to_columns,
    to_ms,
)

#: how deep below the top a table may sit (`{"metrics": {"train": [...]}}` is two levels)
MAX_DEPTH = 4
#: the reason given when nothing in a document is a history
UNKNOWN_SHAPE = "not read: unknown JSON shape (no per-step records or columns)"


@dataclass
class MetricDoc:
    """What a metrics document holds: its histories, its top-level numbers, and what could not be read."""

    series: list[Series] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    #: reasons for parts not read (empty when everything was understood)
    unread: list[str] = field(default_factory=list)

    @property
    def has_history(self) -> bool:
        return bool(self.series)


@dataclass
class _Table:
    path: str  # where in the document ("" = the top level)
    records: list[Mapping[str, Any]] | None = None
    columns: dict[str, list[Any]] | None = None


def _is_number_list(value: Any) -> bool:
    # a column: a non-empty list whose items are numbers (null for a missing value is allowed)
    if not isinstance(value, list) or not value:
        return False
    seen = False
    for item in value:
        if item is None:
            continue
        if isinstance(item, (list, dict)) or number(item) is None:
            return False
        seen = True
    return seen


def _is_record_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _find(
    doc: Any, path: str, depth: int, tables: list[_Table], odd: list[str], scalars: dict[str, Any]
) -> None:
    """Walk a document for tables; lists that are neither records nor columns go to `odd`."""
    if _is_record_list(doc):
        tables.append(_Table(path, records=doc))
        return
    if isinstance(doc, list):
        odd.append(path or "the document")
        return
    if not isinstance(doc, Mapping):
        return
    columns = {str(k): v for k, v in doc.items() if _is_number_list(v)}
    if columns:
        tables.append(_Table(path, columns=columns))
    for key, value in doc.items():
        name = f"{path}/{key}" if path else str(key)
        if str(key) in columns:
            continue
        if isinstance(value, (list, Mapping)):
            if depth >= MAX_DEPTH:
                odd.append(name)
            elif isinstance(value, Mapping) and not any(
                isinstance(v, (list, Mapping)) for v in value.values()
            ):
                if depth == 0:
                    scalars[str(key)] = value  # `{"final": {"acc": 0.9}}`: a nested summary
            else:
                _find(value, name, depth + 1, tables, odd, scalars)
        elif depth == 0:
            scalars[str(key)] = value


def _records_series(table: _Table, prefix: str) -> list[Series]:
    cols = Columns()
    records_to_columns(table.records or [], cols)
    out = cols.series(replace=True)
    for s in out:
        s.key = f"{prefix}{s.key}"
    return out


#: a table that is one named metric: `{"loss": {"steps": [...], "values": [...]}}` (Sacred's metrics.json, and
#: hand-written files in its image) - the values column takes the table's name
VALUE_COLUMNS = ("values", "value")
PAIR_STEP_COLUMNS = ("steps",)


def _columns_series(table: _Table, prefix: str) -> list[Series]:
    columns = table.columns or {}
    pair = table.path and any(k in columns for k in VALUE_COLUMNS)
    x_candidates = (PAIR_STEP_COLUMNS if pair else ()) + STEP_KEYS + EPOCH_KEYS
    x_key = next((k for k in x_candidates if k in columns), None)
    time_key = next((k for k in TIME_KEYS + (("timestamps",) if pair else ()) if k in columns), None)
    xs = columns.get(x_key, []) if x_key else []
    stamps = columns.get(time_key, []) if time_key else []
    out = []
    for key, values in columns.items():
        if key in (x_key, time_key) or key in STEP_KEYS or key in EPOCH_KEYS or key in TIME_KEYS:
            continue
        if pair and key in ("timestamps",):
            continue
        # a value column is the metric its table is named after; any other column is named in that table
        name = table.path if pair and key in VALUE_COLUMNS else f"{prefix}{key}"
        steps, vals, ts = [], [], []
        for i, raw in enumerate(values):
            v = number(raw)
            if v is None:
                continue  # null: nothing logged at this row
            recorded = as_step(xs[i]) if x_key and i < len(xs) and len(xs) == len(values) else None
            steps.append(i if recorded is None else recorded)
            vals.append(v)
            ts.append(to_ms(stamps[i]) if i < len(stamps) and len(stamps) == len(values) else math.nan)
        if steps:
            out.append(Series.from_lists(name, steps, vals, ts, replace=True))
    return out


def _summary(scalars: Mapping[str, Any]) -> dict[str, Any] | None:
    """Top-level final values (`final_loss`, nested dicts as `a/b`), numbers in strict-JSON form."""
    out: dict[str, Any] = {}
    for key, value in flatten_record(scalars).items():
        if isinstance(value, str):
            out[key] = value
        elif (v := number(value)) is not None:
            out[key] = json_number(v)
    return out or None


def parse_metric_doc(doc: Any) -> MetricDoc:
    """Every history a parsed metrics document holds, by structure (see the module docstring)."""
    tables: list[_Table] = []
    odd: list[str] = []
    scalars: dict[str, Any] = {}
    try:
        _find(doc, "", 0, tables, odd, scalars)
    except RecursionError:
        return MetricDoc(unread=["not read: JSON nested too deeply"])
    named = [t for t in tables if t.path]
    series: list[Series] = []
    for table in tables:
        # one table keeps bare names; several are told apart by their key (a top-level dict of columns never
        # needs a prefix: its names are the job's own)
        prefix = f"{table.path}/" if table.path and len(named) > 1 else ""
        series += (
            _records_series(table, prefix) if table.records is not None else _columns_series(table, prefix)
        )
    result = MetricDoc(series=series, summary=_summary(scalars))
    if not series and (odd or tables):
        result.unread.append(UNKNOWN_SHAPE)
    elif odd:
        shown = ", ".join(f"'{p}'" for p in odd[:5]) + (" ..." if len(odd) > 5 else "")
        result.unread.append(f"not read: {shown} (neither per-step records nor columns)")
    return result
