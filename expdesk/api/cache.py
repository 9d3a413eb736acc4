"""What `Workspace.runs` keeps between calls: every run's columns, as long as the index has not changed.

A notebook asks for runs again and again with other filters and sorts, and the index changes only when
something is indexed. The columns of every run are fetched once (the bulk of the cost: SQLite reads every
param, tag and metric row); later calls run only their filter (SQL) and pick their runs' rows from these
columns, until `column_queries.data_version` says another connection committed. Only a pull of most runs
fills it: fetching a few runs, or a filtered share, directly is cheaper than fetching all of them first.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from expdesk.index import column_queries as queries
from expdesk.index.reader import IndexReader
from expdesk.index.stale import is_stale

#: pulls of at least this many runs, and of at least half of the index's runs, fetch (and keep) every run's
#: columns
CACHE_FROM = 500


@dataclass(frozen=True)
class RunsColumns:
    """The columns of some runs, every position an index into `runs.keys`."""

    runs: queries.RunColumns
    params: dict[str, queries.TextColumn]
    tags: dict[str, queries.TextColumn]
    metrics: dict[str, tuple[np.ndarray, np.ndarray]]


def fetch(reader: IndexReader, keys: Sequence[str]) -> RunsColumns:
    """The columns of `keys` (call inside `queries.snapshot`)."""
    return RunsColumns(
        queries.run_columns(reader, keys),
        queries.param_columns(reader, keys),
        queries.tag_columns(reader, keys),
        with_finals(queries.metric_last_columns(reader, keys), queries.metric_final_columns(reader, keys)),
    )


def with_finals(
    lasts: dict[str, tuple[np.ndarray, np.ndarray]], finals: dict[str, tuple[np.ndarray, np.ndarray]]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The metric columns: `<name>` is the last value, `<name>.final` the value the run reported as its
    result (issue 23), named like the filter's `metrics.<name>.final`. A logged metric whose name is
    `<name>.final` keeps its column; that run's reported final stays on `Workspace.run(key).metrics`."""
    out = dict(lasts)
    for name, column in finals.items():
        out.setdefault(f"{name}.final", column)
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class _Kept:
    """Every run's columns as the cache holds them: lists as object arrays, so `select` picks rows in C."""

    keys: list[str]
    fields: dict[str, np.ndarray]  # each `queries.RunColumns` field but keys and stale: object arrays
    params: dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (positions, texts as an object array)
    tags: dict[str, tuple[np.ndarray, np.ndarray]]
    metrics: dict[str, tuple[np.ndarray, np.ndarray]]


_FIELDS = [name for name in queries.RunColumns.__dataclass_fields__ if name not in ("keys", "stale")]


def _kept(columns: RunsColumns) -> _Kept:
    def texts(table: dict[str, queries.TextColumn]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {name: (c.positions, np.array(c.texts, dtype=object)) for name, c in table.items()}

    runs = columns.runs
    return _Kept(
        keys=list(runs.keys),
        fields={name: np.array(getattr(runs, name), dtype=object) for name in _FIELDS},
        params=texts(columns.params),
        tags=texts(columns.tags),
        metrics=columns.metrics,
    )


def _select(kept: _Kept, keys: Sequence[str], stale_after: float) -> RunsColumns:
    """The columns of `keys` (each one the cache holds), in their order, with `stale` as of now."""
    where = {key: i for i, key in enumerate(kept.keys)}
    rows = np.fromiter((where[k] for k in keys), dtype=np.int64, count=len(keys))
    # the new position of each kept run (-1: not asked for)
    new = np.full(len(kept.keys), -1, dtype=np.int64)
    new[rows] = np.arange(len(rows), dtype=np.int64)
    fields = {name: kept.fields[name][rows].tolist() for name in _FIELDS}
    now = time.time()
    stale = [
        is_stale(status, activity, now, stale_after)
        for status, activity in zip(fields["status"], fields["last_activity"], strict=True)
    ]
    runs = queries.RunColumns(keys=list(keys), stale=stale, **fields)

    def moved(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows of a column that stay, their new positions), in the order of the new positions."""
        target = new[positions]
        stay = np.flatnonzero(target >= 0)
        order = stay[np.argsort(target[stay], kind="stable")]
        return order, target[order]

    def texts(table: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, queries.TextColumn]:
        out = {}
        for name, (positions, values) in table.items():
            order, target = moved(positions)
            if len(order):
                out[name] = queries.TextColumn(target, values[order].tolist())
        return out

    metrics = {}
    for name, (positions, lasts) in kept.metrics.items():
        order, target = moved(positions)
        if len(order):
            metrics[name] = (target, lasts[order])
    return RunsColumns(runs, texts(kept.params), texts(kept.tags), metrics)


def _first(columns: RunsColumns, n: int) -> RunsColumns:
    """The columns of the first `n` runs of `columns`."""
    if n == len(columns.runs.keys):
        return columns
    runs = columns.runs
    fields = {name: getattr(runs, name)[:n] for name in (*_FIELDS, "keys", "stale")}

    def texts(table: dict[str, queries.TextColumn]) -> dict[str, queries.TextColumn]:
        out = {}
        for name, c in table.items():
            stay = np.flatnonzero(c.positions < n)
            if len(stay) == len(c.positions):
                out[name] = c
            elif len(stay):
                out[name] = queries.TextColumn(c.positions[stay], [c.texts[i] for i in stay.tolist()])
        return out

    metrics = {}
    for name, (positions, lasts) in columns.metrics.items():
        stay = positions < n
        if stay.any():
            metrics[name] = (positions[stay], lasts[stay])
    return RunsColumns(queries.RunColumns(**fields), texts(columns.params), texts(columns.tags), metrics)


class RunsCache:
    """Every run's columns at one `data_version` of the index (see the module docstring)."""

    def __init__(self) -> None:
        self._version: int | None = None
        self._kept: _Kept | None = None
        # as fetched, until a later call needs them as `_Kept` (the first call returns them as they are)
        self._fetched: RunsColumns | None = None

    def columns(self, reader: IndexReader, keys: Sequence[str], stale_after: float) -> RunsColumns:
        """The columns of `keys`; call inside `queries.snapshot`, after the query that found `keys`."""
        version = queries.data_version(reader)
        if (self._kept is None and self._fetched is None) or self._version != version:
            self.clear()
            if len(keys) < CACHE_FROM:
                return fetch(reader, keys)
            everything = queries.matching_keys(reader, deleted=None, hidden=None)
            if len(keys) * 2 < len(everything):
                return fetch(reader, keys)  # a filtered pull: reading every run would cost it more
            # every run, those asked for first and in their order: this call's columns are the first ones
            asked = set(keys)
            fetched = fetch(reader, [*keys, *(key for key in everything if key not in asked)])
            self._fetched, self._version = fetched, version
            return _first(fetched, len(keys))
        if self._kept is None:
            assert self._fetched is not None
            self._kept, self._fetched = _kept(self._fetched), None
        return _select(self._kept, keys, stale_after)

    @property
    def holds(self) -> bool:
        """Whether every run's columns are kept (a pull of most runs filled it; the index unchanged yet is
        checked by the next call)."""
        return self._kept is not None or self._fetched is not None

    def clear(self) -> None:
        self._version = None
        self._kept = None
        self._fetched = None
