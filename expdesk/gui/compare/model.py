"""Qt model of the diff table: prepared cells only; `data()` reads, never computes or queries."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from expdesk.compare.diff import Cell, DiffRow, DiffTable
from expdesk.gui.compare.text import plain_tooltip
from expdesk.gui.runs.query import elide

_Index = QModelIndex | QPersistentModelIndex
_BEST_BRUSH = QBrush(QColor(198, 239, 206))
_MISSING_BRUSH = QBrush(QColor(245, 245, 245))
_BOLD = QFont()
_BOLD.setBold(True)
_DIRECTION_WORD = {"min": "lower is better", "max": "higher is better"}


class DiffTableModel(QAbstractTableModel):
    """Rows = fields, columns = runs; `transposed` swaps them. Best cells bold on green, missing cells blank."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._table: DiffTable | None = None
        self._rows: list[DiffRow] = []
        self._only_differences = True
        self._transposed = False

    # -- configuration ------------------------------------------------------------------------------
    def set_table(self, table: DiffTable | None) -> None:
        self.beginResetModel()
        self._table = table
        self._rows = table.visible_rows(self._only_differences) if table else []
        self.endResetModel()

    def table(self) -> DiffTable | None:
        return self._table

    def set_only_differences(self, on: bool) -> None:
        self._only_differences = on
        self.set_table(self._table)

    def set_transposed(self, on: bool) -> None:
        self._transposed = on
        self.set_table(self._table)

    def transposed(self) -> bool:
        return self._transposed

    def visible_rows(self) -> list[DiffRow]:
        return list(self._rows)

    # -- helpers ------------------------------------------------------------------------------------
    def row_at(self, index: _Index) -> DiffRow | None:
        """The diff row behind a cell (whichever orientation)."""
        if not index.isValid():
            return None
        i = index.column() if self._transposed else index.row()
        return self._rows[i] if 0 <= i < len(self._rows) else None

    def _cell(self, index: _Index) -> tuple[DiffRow, int, Cell]:
        r, c = (index.column(), index.row()) if self._transposed else (index.row(), index.column())
        row = self._rows[r]
        return row, c, row.cells[c]

    # -- QAbstractTableModel --------------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 (Qt's idiom)
        if parent.isValid() or self._table is None:
            return 0
        return len(self._table.run_keys) if self._transposed else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() or self._table is None:
            return 0
        return len(self._rows) if self._transposed else len(self._table.run_keys)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self._table is None:
            return None
        if index.row() >= self.rowCount() or index.column() >= self.columnCount():
            return None
        row, col, cell = self._cell(index)
        best = col in row.best
        if role == Qt.ItemDataRole.DisplayRole:
            # one bounded line: a 1 MB value laid out in a cell on every paint would freeze the view; the
            # whole value stays in the tooltip and in the CSV export
            return elide(cell.text)
        if role == Qt.ItemDataRole.ToolTipRole:
            if not cell.present:
                return "missing in this run"
            if best:
                return f"best in this row ({row.direction}: {_DIRECTION_WORD.get(str(row.direction), '')})"
            return plain_tooltip(cell.copy_text)  # the exact number behind a rounded one
        if role == Qt.ItemDataRole.BackgroundRole:
            return _BEST_BRUSH if best else _MISSING_BRUSH if not cell.present else None
        if role == Qt.ItemDataRole.FontRole:
            return _BOLD if best else None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if cell.number is not None:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if self._table is None or section < 0:
            return None
        runs_axis = Qt.Orientation.Vertical if self._transposed else Qt.Orientation.Horizontal
        if orientation == runs_axis:
            if section >= len(self._table.run_keys):
                return None
            if role == Qt.ItemDataRole.DisplayRole:
                return self._table.run_names[section]
            if role == Qt.ItemDataRole.ToolTipRole:
                legend = self._table.legend[section] if self._table.legend else ""
                return plain_tooltip(
                    f"{self._table.run_names[section]}\n{legend}\n{self._table.run_keys[section]}"
                )
            return None
        if section >= len(self._rows):
            return None
        row = self._rows[section]
        if role == Qt.ItemDataRole.DisplayRole:
            arrow = {"min": " ↓", "max": " ↑"}.get(str(row.direction), "") if row.section == "metric" else ""
            return row.label + arrow
        if role == Qt.ItemDataRole.ToolTipRole and row.section == "metric":
            return plain_tooltip(f"{row.key}: best = {row.direction} (right-click to change)")
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
