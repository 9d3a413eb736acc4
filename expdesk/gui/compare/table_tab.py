"""The compare window's Table tab: the diff table with its options, copy and CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QMenu,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from expdesk.compare.diff import DiffTable, Direction, infer_direction
from expdesk.gui.compare.model import DiffTableModel
from expdesk.gui.elided_label import ElidedLabel

#: wider tables get a fixed column width: measuring every cell of hundreds of columns costs seconds
MAX_FITTED_COLUMNS = 60
#: a column fitted to its contents is no wider than this (long values elide; the tooltip has them whole)
MAX_COLUMN_WIDTH = 360


class TableTab(QWidget):
    """Shows a `DiffTable`; asks its owner for a new one when the step changes or a direction is chosen."""

    #: the "value at step" option changed: the owner rebuilds the table (it needs the index)
    step_changed = Signal()
    #: the user chose which way is best for a metric (None: back to the name-based guess)
    direction_chosen = Signal(str, object)

    def __init__(self, write_later: Callable[[str, bytes], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._write_later = write_later
        v = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.only_diff = QCheckBox("Only differences")
        self.only_diff.setChecked(True)
        self.transpose = QCheckBox("Transpose")
        self.at_step_box = QCheckBox("Value at step")
        self.step_spin = QSpinBox()
        self.step_spin.setRange(0, 2**31 - 1)
        self.step_spin.setEnabled(False)
        copy_btn = QPushButton("Copy")
        csv_btn = QPushButton("Export CSV…")
        for w in (self.only_diff, self.transpose, self.at_step_box, self.step_spin):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(copy_btn)
        bar.addWidget(csv_btn)
        v.addLayout(bar)
        # one line elided to the window's width (a 3,000-character constant value would otherwise set the
        # window's minimum width); the whole text is its tooltip and its "Copy"
        self.summary = ElidedLabel()
        self.summary.setStyleSheet("color: #666")
        v.addWidget(self.summary)
        self.model = DiffTableModel(self)
        self.table_view = QTableView()
        self.table_view.setModel(self.model)
        self.table_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table_view.customContextMenuRequested.connect(self._table_menu)
        self.table_view.setWordWrap(False)
        # row names are param/metric keys of any length: the header elides them in the middle
        rows_header = self.table_view.verticalHeader()
        rows_header.setMaximumWidth(MAX_COLUMN_WIDTH)
        rows_header.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table_view.horizontalHeader().setTextElideMode(Qt.TextElideMode.ElideMiddle)
        v.addWidget(self.table_view, 1)
        self.only_diff.toggled.connect(self._on_only_diff)
        self.transpose.toggled.connect(self._on_transpose)
        self.at_step_box.toggled.connect(self.step_spin.setEnabled)
        self.at_step_box.toggled.connect(lambda _on: self.step_changed.emit())
        self.step_spin.editingFinished.connect(self.step_changed.emit)
        copy_btn.clicked.connect(self.copy_table)
        csv_btn.clicked.connect(self._ask_csv)

    # -- data ---------------------------------------------------------------------------------------
    def step(self) -> int | None:
        """The step whose values the table shows, or None for the series summaries."""
        return self.step_spin.value() if self.at_step_box.isChecked() else None

    def table(self) -> DiffTable | None:
        return self.model.table()

    def show_table(self, table: DiffTable) -> None:
        self.model.set_table(table)
        self._update_summary()
        self._fit_columns()

    # -- options ------------------------------------------------------------------------------------
    def _on_only_diff(self, on: bool) -> None:
        self.model.set_only_differences(on)
        self._update_summary()

    def _on_transpose(self, on: bool) -> None:
        self.model.set_transposed(on)
        self._fit_columns()

    def _fit_columns(self) -> None:
        if self.model.columnCount() <= MAX_FITTED_COLUMNS:
            self.table_view.resizeColumnsToContents()
            header = self.table_view.horizontalHeader()
            for i in range(header.count()):
                if header.sectionSize(i) > MAX_COLUMN_WIDTH:
                    header.resizeSection(i, MAX_COLUMN_WIDTH)
        else:
            self.table_view.horizontalHeader().setDefaultSectionSize(110)

    def _update_summary(self) -> None:
        table = self.model.table()
        text = table.constant_summary() if table and self.only_diff.isChecked() else ""
        self.summary.set_full_text(text)
        self.summary.setVisible(bool(text))

    def _table_menu(self, pos: QPoint) -> None:
        row = self.model.row_at(self.table_view.indexAt(pos))
        if row is None or row.section != "metric":
            return
        menu = QMenu(self)
        guess = infer_direction(row.key)
        for text, value in (
            (f"Automatic ({guess})", None),
            ("Lower is better (min)", Direction.MIN),
            ("Higher is better (max)", Direction.MAX),
            ("No best value", Direction.NONE),
        ):
            action = menu.addAction(text)
            action.triggered.connect(lambda _c=False, v=value, m=row.key: self.direction_chosen.emit(m, v))
        menu.exec(self.table_view.viewport().mapToGlobal(pos))

    # -- copy and export ----------------------------------------------------------------------------
    def table_text(self, separator: str = "\t") -> str:
        table = self.model.table()
        if table is None:
            return ""
        buf = io.StringIO()
        csv.writer(buf, delimiter=separator, lineterminator="\n").writerows(
            # the table shows 6 significant digits; what leaves it (copy, CSV) is exact
            table.as_matrix(self.only_diff.isChecked(), self.transpose.isChecked(), exact=True)
        )
        return buf.getvalue()

    def copy_table(self) -> None:
        QGuiApplication.clipboard().setText(self.table_text("\t"))

    def export_csv(self, path: str) -> None:
        """Write the visible table as CSV (by the owner's workers: no file I/O on the GUI thread)."""
        self._write_later(path, self.table_text(",").encode("utf-8"))

    def _ask_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export table", "compare.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)
