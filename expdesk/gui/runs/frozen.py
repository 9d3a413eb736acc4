"""The runs table's frozen columns: ★ and Name (and the group column) stay on screen while the table scrolls
sideways through hundreds of params and metrics.

Qt's "frozen column" recipe: a second view over the same model and selection model, laid over the left edge
of the table, showing only the frozen columns, scrolled vertically with the table. It reads the model like
the table does, so it costs no extra query.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QAbstractItemView, QFrame, QHeaderView, QTableView

from expdesk.gui.runs.model import RunsModel
from expdesk.gui.workers.pool import PAINT_GATE

#: the last column kept on screen; every column left of it (★, the group column) is frozen with it
ANCHOR = "name"


class FrozenColumns(QTableView):
    def __init__(self, table: QTableView, model: RunsModel) -> None:
        super().__init__(table)
        self._table = table
        self._model = model
        self.setObjectName("frozenColumns")
        self.setModel(model)
        self.setSelectionModel(table.selectionModel())
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setWordWrap(False)
        self.setShowGrid(False)
        self.setAlternatingRowColors(True)
        self.setTextElideMode(table.textElideMode())
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalHeader().hide()
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(table.verticalHeader().defaultSectionSize())
        header = self.horizontalHeader()
        # the frozen header covers the table's: resizing Name happens here and is passed on to the table
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.sectionResized.connect(self._resized)
        header.setHighlightSections(False)
        header.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header.setSectionsClickable(True)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(
            -1, Qt.SortOrder.AscendingOrder
        )  # (as the table: no sort until one is chosen)
        header.sectionClicked.connect(self._sort_by)
        # double-click (open the detail) and right-click (the runs' menu) act as they do on the table
        self.activated.connect(table.activated)
        self.doubleClicked.connect(table.doubleClicked)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(
            lambda pos: table.customContextMenuRequested.emit(
                table.viewport().mapFromGlobal(self.viewport().mapToGlobal(pos))
            )
        )
        table.viewport().stackUnder(self)
        main = table.horizontalHeader()
        main.sectionResized.connect(lambda *_: self.refresh())
        main.sectionMoved.connect(lambda *_: self.refresh())
        main.sortIndicatorChanged.connect(lambda section, order: header.setSortIndicator(section, order))
        model.modelReset.connect(self.refresh)
        # one vertical position for both views (the table owns the scroll bar)
        table.verticalScrollBar().valueChanged.connect(self.verticalScrollBar().setValue)
        self.verticalScrollBar().valueChanged.connect(table.verticalScrollBar().setValue)
        self.refresh()

    def frozen(self) -> list[int]:
        """Logical columns kept on screen, in their visual order (none when Name is not shown)."""
        columns = self._model.columns()
        keys = [c.key if c.kind == "attr" else "" for c in columns]
        if ANCHOR not in keys:
            return []
        offset = 1 if self._model.group_param() else 0
        main = self._table.horizontalHeader()
        anchor = main.visualIndex(keys.index(ANCHOR) + offset)
        return [
            main.logicalIndex(v) for v in range(anchor + 1) if not main.isSectionHidden(main.logicalIndex(v))
        ]

    def refresh(self) -> None:
        frozen = self.frozen()
        main = self._table.horizontalHeader()
        header = self.horizontalHeader()
        for logical in range(self._model.columnCount()):
            keep = logical in frozen
            self.setColumnHidden(logical, not keep)
            if keep:
                header.resizeSection(logical, main.sectionSize(logical))
                header.moveSection(header.visualIndex(logical), frozen.index(logical))
        self.setVisible(bool(frozen))
        self.update_geometry()

    def _resized(self, logical: int, _old: int, new: int) -> None:
        # only a drag on a shown section: hiding the columns that are not frozen also "resizes" them to 0
        if new <= 0 or self.isColumnHidden(logical) or logical not in self.frozen():
            return
        main = self._table.horizontalHeader()
        if main.sectionSize(logical) != new:
            main.resizeSection(logical, new)

    def width_frozen(self) -> int:
        main = self._table.horizontalHeader()
        return sum(main.sectionSize(logical) for logical in self.frozen())

    def update_geometry(self) -> None:
        table = self._table
        frame = table.frameWidth()
        self.setGeometry(
            table.verticalHeader().width() + frame,
            frame,
            self.width_frozen(),
            table.viewport().height() + table.horizontalHeader().height(),
        )
        self.horizontalHeader().setFixedHeight(table.horizontalHeader().height())

    def _sort_by(self, logical: int) -> None:
        main = self._table.horizontalHeader()
        same = main.sortIndicatorSection() == logical
        ascending = main.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
        order = Qt.SortOrder.DescendingOrder if same and ascending else Qt.SortOrder.AscendingOrder
        self._table.sortByColumn(logical, order)

    def paintEvent(self, event: QPaintEvent) -> None:
        with PAINT_GATE:  # as the table: workers preparing rows wait while the cells are painted
            super().paintEvent(event)
