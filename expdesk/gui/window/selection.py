"""The runs table's selection, current run and scroll position kept across the model's reloads.

A reload replaces the rows (remove + insert, or a reset when the columns change); what was selected is
selected again by run key. A reload that shows its first rows before the rest (`RunsModel.rows_completed`)
is restored twice: at once for what the first rows hold, and again once the rest are there, for runs
selected or scrolled to below them, unless the user has selected or scrolled meanwhile.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, QObject
from PySide6.QtWidgets import QTableView

from expdesk.gui.runs.model import RunsModel
from expdesk.gui.window.layout import WindowLayout


class SelectionKeeper(QObject):
    def __init__(self, ui: WindowLayout, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ui = ui
        self.model: RunsModel = ui.model
        self.table: QTableView = ui.table
        #: the rows are being swapped: the current row passes through "none", which is no user's choice
        self.replacing = False
        self._saved: tuple[list[str], str | None, int] = ([], None, 0)
        self._saved_x = 0  # the sideways scroll position: a reset for new columns puts it back to 0
        self._pending = False  # restore again when the reload's rest of rows arrives
        self._scrolled = False  # the user moved the scroll bar since the last restore
        self._restoring = False
        self.model.modelAboutToBeReset.connect(self.save)
        self.model.modelReset.connect(self.restore)
        self.model.rows_replacing.connect(self._on_rows_replacing)
        self.model.rows_replaced.connect(self._on_rows_replaced)
        self.model.rows_completed.connect(self._on_rows_completed)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        # (user actions only: wheel, drag, page keys; not the view's own setValue)
        self.table.verticalScrollBar().actionTriggered.connect(self._on_scrolled)

    def selected_keys(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [k for k in (self.model.key_at(r) for r in rows) if k]

    def save(self) -> None:
        current = self.model.key_at(self.table.currentIndex().row())
        self._saved = (self.selected_keys(), current, self.table.verticalScrollBar().value())
        self._saved_x = self.table.horizontalScrollBar().value()

    def restore(self) -> None:
        keys, current, scroll = self._saved
        self._restore(keys, current, scroll)
        # (after `_restore`'s layout pass, which gives the scroll bar the new columns' range)
        self.table.horizontalScrollBar().setValue(self._saved_x)
        self._pending = self.model.completing() and bool(keys or current or scroll)

    def _restore(self, keys: list[str], current: str | None, scroll: int) -> None:
        # the view lays changed rows out later: until then the scroll bar's range is the old rows' and the
        # position would be cut to it (or cut later, to the new rows' range)
        self.table.doItemsLayout()
        self._restoring = True
        try:
            self.ui.restore_selection(keys, current, scroll)
        finally:
            self._restoring = False
        self._scrolled = False

    def _on_rows_replacing(self) -> None:
        # a filter/sort swaps the rows (remove + insert, no reset): the current row passes through
        # "none" on the way, which must not blank the detail panel as a reset would not have
        self.replacing = True
        self.save()

    def _on_rows_replaced(self) -> None:
        try:
            self.restore()
        finally:
            self.replacing = False

    def _on_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        if not self._restoring and not self.replacing:
            self._pending = False  # the user chose: what was selected before the reload no longer matters

    def _on_scrolled(self, _action: int) -> None:
        self._scrolled = True

    def _on_rows_completed(self) -> None:
        if not self._pending:
            return
        self._pending = False
        keys, current, scroll = self._saved
        if self._scrolled:
            scroll = self.table.verticalScrollBar().value()  # the user scrolled meanwhile: stay there
        self.replacing = True  # the current run is the one it was: the detail panel keeps showing it
        try:
            self._restore(keys, current, scroll)
        finally:
            self.replacing = False
