"""The runs table model: every matching key in order, rows fetched in pages by workers.

`data()` only reads `Row` objects prepared on a worker (texts elided, tooltips escaped). Every request
carries the generation it was made for; a reload bumps the generation, so late pages of an old filter or
sort are dropped instead of being inserted into the new result, and its queries still running are stopped.

A reload answers twice when it can: a screenful of first rows as soon as the index has them (newest
first, the default order: a few milliseconds at 100,000 runs), then, from the same read snapshot, every
matching key in order (what the count, `all_keys`, grouping and scrolling need; 0.1-0.3 s at 100,000 runs)
with the rest of the rows the table had loaded, appended below (`rows_completed`). The table paints from
the first answer; `counted` comes with the second.
"""

from __future__ import annotations

import html
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QModelRoleData,
    QModelRoleDataSpan,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor

from expdesk.gui.runs.query import (
    ATTR_COLUMNS,
    Column,
    KeyList,
    Row,
    fetch_rows,
    first_keys,
    ordered_keys,
    sort_key,
)
from expdesk.gui.workers.pool import PAINT_GATE, WorkerPool
from expdesk.index.reader import IndexReader

Index = QModelIndex | QPersistentModelIndex
KEY_ROLE = Qt.ItemDataRole.UserRole + 1
STARRED_ROLE = Qt.ItemDataRole.UserRole + 2
#: rows per page; also how many rows a reload re-fetches at most (scrolling fetches the rest again)
PAGE = 200
RELOAD_MAX = 400  # (rows kept loaded across a reload; the view fetches further pages on demand)
#: rows of a reload's first answer: a tall screen's worth. Finding and preparing rows costs about the same
#: per row, so a screenful paints ~3x sooner than a page (measured at 100,000 runs, bench_gui_open.py)
FIRST_ROWS = 64

_STATUS_COLORS = {
    "running": QColor("#2e8bcb"),
    "finished": QColor("#3a9a5b"),
    "failed": QColor("#d0453a"),
    "killed": QColor("#c0692a"),
    "interrupted": QColor("#c0692a"),
}
_STALE = QColor("#b8860b")
DISPLAY = Qt.ItemDataRole.DisplayRole
TOOLTIP = Qt.ItemDataRole.ToolTipRole
FOREGROUND = Qt.ItemDataRole.ForegroundRole
BACKGROUND = Qt.ItemDataRole.BackgroundRole
ALIGNMENT = Qt.ItemDataRole.TextAlignmentRole
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_CENTER = int(Qt.AlignmentFlag.AlignCenter)
_STAR = QColor("#e0a800")


#: (columns, group, keys, rows) of a reload's first answer
_Head = tuple[list[Column], str | None, KeyList, list[Row]]
#: a reload's answer: every matching key, rows, and the row they start at (0: they replace the table's rows;
#: past a first answer: they are appended to its rows); None once a newer reload made it moot
_Answer = tuple[KeyList, list[Row], int] | None


class _Cancel:
    """Stops one reload's queries when a newer reload makes them moot (`IndexReader.interrupt`). The job
    attaches its reader while it queries; `cancel` comes from the GUI thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reader: IndexReader | None = None
        self.cancelled = False

    def attach(self, reader: IndexReader | None) -> bool:
        """Worker: the reader being queried (None when done); False if the reload is already moot."""
        with self._lock:
            self._reader = reader
            return not self.cancelled

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            if self._reader is not None:
                self._reader.interrupt()


def _tooltip(text: str) -> str:
    """Tooltips treat text that looks like HTML as rich text: escape, so `<img src=…>` stays literal."""
    return "<p style='white-space:pre-wrap'>" + html.escape(text) + "</p>"


class RunsModel(QAbstractTableModel):
    loading = Signal(bool)
    #: a filter/sort answer is about to replace the rows (columns unchanged, so no reset); views that
    #: keep a selection across reloads save it here and restore it on `rows_replaced`
    rows_replacing = Signal()
    rows_replaced = Signal()
    #: (matching runs, groups or 0) after each reload
    counted = Signal(int, int)
    failed = Signal(str)
    #: a reload that showed its first rows (`rows_replaced`) has every matching key and the rest of its rows
    rows_completed = Signal()
    #: (generation, _Head) from a reload's worker: queued to the GUI thread, where the model lives
    _head_ready = Signal(int, object)

    def __init__(
        self, pool: WorkerPool, reader_factory: Callable[[], IndexReader], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._pool = pool
        self._reader_factory = reader_factory
        # requested configuration; the model shows `_shown_*`, swapped in only inside a reset, so
        # columnCount() never changes behind the view's back while a reload is in flight
        self._columns: list[Column] = list(ATTR_COLUMNS)
        self._shown_columns: list[Column] = list(ATTR_COLUMNS)
        self._shown_group: str | None = None
        self._where: tuple[str, tuple[Any, ...]] = ("", ())
        self._sort: tuple[Column | None, bool] = (None, True)
        self._group_param: str | None = None
        self._generation = 0
        self._keys: KeyList = KeyList([])
        self._rows: list[Row] = []
        self._row_of: dict[str, int] = {}
        self._fetching = False
        # between a reload's first answer and its whole key list: `_keys` holds the loaded rows' keys only
        self._partial = False
        self._more_wanted = False  # the view asked for more rows while the key list was partial
        self._cancel = _Cancel()
        self._group_band = QBrush(QColor(127, 127, 127, 28))
        self._head_ready.connect(self._on_head)

    # -- configuration (each change reloads; the GUI thread only swaps prepared lists) --------------
    def columns(self) -> list[Column]:
        """The columns on screen now (a requested change shows after its reload)."""
        return list(self._shown_columns)

    def requested_columns(self) -> list[Column]:
        """The columns asked for last (on screen once their reload answers)."""
        return list(self._columns)

    def groups(self) -> int:
        """How many groups the rows on screen fall into (0 when not grouping)."""
        return (self._keys.group_index[-1] + 1) if self._keys.group_index else 0

    def set_columns(self, columns: list[Column]) -> None:
        self._columns = list(columns)
        self.reload()

    def set_filter(self, where_sql: str, params: tuple[Any, ...]) -> None:
        self._where = (where_sql, tuple(params))
        self.reload()

    def set_group(self, param: str | None) -> None:
        self._group_param = param or None
        self.reload()

    def group_param(self) -> str | None:
        return self._shown_group

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        col = self._column(column)
        self._sort = (col, order == Qt.SortOrder.DescendingOrder)
        self.reload()

    def sort_section(self) -> int | None:
        """The section of the column the rows are sorted by: None when sorted by none (the default order or
        the group), -1 when that column is not on screen."""
        column, _ = self._sort
        if column is None:
            return None
        shown = self._shown_columns
        return shown.index(column) + (1 if self._shown_group else 0) if column in shown else -1

    def key_at(self, row: int) -> str | None:
        return self._rows[row].key if 0 <= row < len(self._rows) else None

    def row_of(self, key: str) -> int:
        return self._row_of.get(key, -1)

    def completing(self) -> bool:
        """A reload has shown its first rows; its whole key list and the rest of its rows are to come."""
        return self._partial

    def total(self) -> int:
        """Matching runs; while a reload has shown its first rows but not yet counted, those rows (at least
        that many match: `counted` says how many)."""
        return len(self._keys.keys)

    def all_keys(self) -> list[str]:
        """Every matching key in order (once `counted`; before, the loaded rows' keys)."""
        return list(self._keys.keys)

    # -- loading ------------------------------------------------------------------------------------
    def reload(self) -> None:
        """Re-run the query; keeps about as many rows loaded as before (up to RELOAD_MAX)."""
        self._generation += 1
        generation = self._generation
        self._fetching = False
        self._more_wanted = False
        self._cancel.cancel()  # the last reload's queries, if still running, answer nothing anyone wants
        cancel = self._cancel = _Cancel()
        want = min(max(PAGE, len(self._rows)), RELOAD_MAX)
        where_sql, params = self._where
        column, descending = self._sort
        sort = sort_key(column, descending)
        columns = list(self._columns)
        group = self._group_param
        factory = self._reader_factory
        head_ready = self._head_ready

        def job() -> _Answer:
            with factory() as reader:
                if not cancel.attach(reader):
                    return None
                try:
                    # one snapshot: the first rows are the head of the whole list read after them
                    with reader.snapshot():
                        head = first_keys(reader, where_sql, params, sort, group, min(want, FIRST_ROWS))
                        start = 0
                        if head is not None:
                            rows = fetch_rows(reader, head.keys, columns, pause=PAINT_GATE.wait)
                            if len(head.keys) < min(want, FIRST_ROWS):
                                return head, rows, 0  # fewer than asked for: that is every match
                            head_ready.emit(generation, (columns, group, head, rows))
                            start = len(head.keys)
                        keys = ordered_keys(reader, where_sql, params, sort, group)
                        rest = fetch_rows(reader, keys.keys[start:want], columns, pause=PAINT_GATE.wait)
                        return keys, rest, start
                except sqlite3.Error:
                    if cancel.cancelled:
                        return None  # interrupted: a newer reload is on its way
                    raise
                finally:
                    cancel.attach(None)

        self.loading.emit(True)
        self._pool.submit(
            job, lambda result: self._on_reloaded(generation, columns, group, result), self._on_error
        )

    def _on_error(self, message: str) -> None:
        self.loading.emit(False)
        self.failed.emit(message)

    def _on_head(self, generation: int, head: _Head) -> None:
        """A reload's first rows: shown now; the whole key list follows (`_on_reloaded`)."""
        if generation != self._generation:
            return
        columns, group, keys, rows = head
        self._partial = True  # before the rows: a view reacting to them may ask for more (`fetchMore`)
        self._show(columns, group, keys, rows)

    def _on_reloaded(
        self, generation: int, columns: list[Column], group: str | None, result: _Answer
    ) -> None:
        if generation != self._generation or result is None:
            return  # an older filter/sort answered late (or was stopped)
        keys, rows, start = result
        if start and start != len(self._rows):
            # (not expected: a first answer is always shown before its reload's last one, and nothing adds
            # rows in between) rows that would not line up with their keys: ask again rather than show them
            self.reload()
            return
        if not start:
            self._partial = False
            self._show(columns, group, keys, rows)
        else:
            # the first rows on screen (`_on_head`) are this list's head: the rest go below them. Still
            # partial while they are inserted: a view asking for more meanwhile is served after (`fetchMore`)
            self._keys = keys
            if rows:
                self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
                for i, row in enumerate(rows, start):
                    self._row_of[row.key] = i
                self._rows.extend(rows)
                self.endInsertRows()
            self._partial = False
        self.loading.emit(False)
        if start:
            self.rows_completed.emit()
        self.counted.emit(len(keys.keys), (keys.group_index[-1] + 1) if keys.group_index else 0)
        if self._more_wanted:
            self._more_wanted = False
            self.fetchMore()

    def _show(self, columns: list[Column], group: str | None, keys: KeyList, rows: list[Row]) -> None:
        if columns == self._shown_columns and group == self._shown_group:
            self._replace_rows(keys, rows)
        else:
            self.beginResetModel()
            self._shown_columns = columns
            self._shown_group = group
            self._keys = keys
            self._rows = rows
            self._row_of = {row.key: i for i, row in enumerate(rows)}
            self.endResetModel()

    def _replace_rows(self, keys: KeyList, rows: list[Row]) -> None:
        """Same columns: remove the old rows and insert the new ones. A reset would make the view
        re-create and re-measure all header sections (2,000 columns: ~100 ms on the GUI thread)."""
        self.rows_replacing.emit()
        if self._rows:
            self.beginRemoveRows(QModelIndex(), 0, len(self._rows) - 1)
            self._rows = []
            self._row_of = {}
            self._keys = KeyList([])
            self.endRemoveRows()
        if rows:
            self.beginInsertRows(QModelIndex(), 0, len(rows) - 1)
        self._keys = keys
        self._rows = rows
        self._row_of = {row.key: i for i, row in enumerate(rows)}
        if rows:
            self.endInsertRows()
        self.rows_replaced.emit()

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008 - Qt signature
        return not parent.isValid() and (self._partial or len(self._rows) < len(self._keys.keys))

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        # asynchronous: the view asks again later if it still needs rows; one page in flight at a time
        if parent.isValid() or self._fetching or not self.canFetchMore(parent):
            return
        if self._partial:
            self._more_wanted = True  # served once the whole key list is here (`_on_reloaded`)
            return
        self._fetching = True
        generation = self._generation
        start = len(self._rows)
        keys = self._keys.keys[start : start + PAGE]
        columns = list(self._shown_columns)
        factory = self._reader_factory

        def job() -> list[Row]:
            with factory() as reader:
                return fetch_rows(reader, keys, columns, pause=PAINT_GATE.wait)

        self._pool.submit(job, lambda rows: self._on_page(generation, start, rows), self._on_error)

    def _on_page(self, generation: int, start: int, rows: list[Row]) -> None:
        if generation != self._generation:
            return  # (a reload cleared `_fetching`)
        self._fetching = False
        if start != len(self._rows):
            return  # rows were added meanwhile: the view asks again for what it still needs
        if not rows:
            return
        self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
        for i, row in enumerate(rows, start):
            self._row_of[row.key] = i
        self._rows.extend(rows)
        self.endInsertRows()

    def refresh_keys(self, keys: set[str]) -> None:
        """Re-fetch loaded rows whose runs changed (live metrics, a new star) without a reset."""
        loaded = [k for k in keys if k in self._row_of]
        if not loaded:
            return
        generation = self._generation
        columns = list(self._shown_columns)
        factory = self._reader_factory

        def job() -> list[Row]:
            with factory() as reader:
                return fetch_rows(reader, loaded, columns, pause=PAINT_GATE.wait)

        self._pool.submit(job, lambda rows: self._on_refreshed(generation, rows), self._on_error)

    def _on_refreshed(self, generation: int, rows: list[Row]) -> None:
        if generation != self._generation:
            return
        last = self.columnCount() - 1
        for row in rows:
            i = self._row_of.get(row.key, -1)
            if i < 0:
                continue
            self._rows[i] = row
            self.dataChanged.emit(self.index(i, 0), self.index(i, last))

    # -- Qt model interface: reads prepared values only ---------------------------------------------
    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        """Overridden only to save a Python entry per painted cell: the inherited index() calls back
        into rowCount() and columnCount() (3 entries per cell with multiData, now 2). Each entry
        re-takes the GIL, which costs a thread hand-off whenever a worker is assembling a page."""
        if parent.isValid() or row < 0 or column < 0 or row >= len(self._rows):
            return QModelIndex()
        if column >= len(self._shown_columns) + (1 if self._shown_group else 0):
            return QModelIndex()
        return self.createIndex(row, column)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._shown_columns) + (1 if self._shown_group else 0)

    def _column(self, section: int) -> Column | None:
        offset = 1 if self._shown_group else 0
        i = section - offset
        return self._shown_columns[i] if 0 <= i < len(self._shown_columns) else None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < self.columnCount():
            return None
        column = self._column(section)
        if role == Qt.ItemDataRole.DisplayRole:
            return "Group" if column is None else column.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(f"group by {self._shown_group}" if column is None else column.path)
        if role == Qt.ItemDataRole.TextAlignmentRole and column is not None and column.numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        return self._value(index.row(), index.column(), role)

    def multiData(self, index: Index, span: QModelRoleDataSpan | QModelRoleData) -> None:
        """All roles of a cell in one call: a paint enters Python once per cell instead of ~10 times
        (each entry also re-takes the GIL from busy workers)."""
        valid = index.isValid() and index.row() < len(self._rows)
        row, column = index.row(), index.column()
        # Qt always passes a span here (iterable, though PySide6's stubs do not say so); the stubs'
        # signature names the single-role form too, so the override keeps it
        for role_data in span:  # type: ignore[union-attr]
            value = self._value(row, column, role_data.role()) if valid else None
            if value is None:
                role_data.clearData()
            else:
                role_data.setData(value)

    def _value(self, r: int, section: int, role: int) -> Any:
        row = self._rows[r]
        col = section - (1 if self._shown_group else 0)
        if role == DISPLAY:
            if col < 0:
                return self._keys.group_values[r] if self._keys.group_values else ""
            return row.texts.get(col, "")
        if role == KEY_ROLE:
            return row.key
        if role == STARRED_ROLE:
            return row.starred
        if col < 0:
            if role == BACKGROUND and self._keys.group_index:
                return self._group_band if self._keys.group_index[r] % 2 else None
            return None
        column = self._shown_columns[col]
        if role == TOOLTIP:
            if col in row.tooltips:
                return _tooltip(row.tooltips[col])
            if row.error and column.kind == "attr" and column.key == "status":
                return _tooltip(row.error[:2000])
            return None
        if role == FOREGROUND and column.kind == "attr":
            if column.key == "status":
                return _STALE if row.stale else _STATUS_COLORS.get(row.status)
            if column.key == "star":
                return _STAR
            return None
        if role == BACKGROUND and self._keys.group_index:
            return self._group_band if self._keys.group_index[r] % 2 else None
        if role == ALIGNMENT:
            if column.numeric:
                return _RIGHT
            if column.kind == "attr" and column.key == "star":
                return _CENTER
        return None
