"""Widgets, menus and actions of the main window (the window class wires behaviour to them)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QMimeData, Qt
from PySide6.QtGui import QAction, QFontMetrics, QKeySequence, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from expdesk.gui.detail.panel import DetailPanel
from expdesk.gui.elided_label import ElidedLabel
from expdesk.gui.runs.filter_bar import FilterBar
from expdesk.gui.runs.frozen import FrozenColumns
from expdesk.gui.runs.model import RunsModel
from expdesk.gui.runs.query import elide
from expdesk.gui.window.sources_panel import SourcesPanel
from expdesk.gui.window.toast import Toast
from expdesk.gui.workers.pool import PAINT_GATE, WorkerPool

if TYPE_CHECKING:
    from expdesk.index.reader import IndexReader

ATTR_WIDTHS = {
    "star": 30,
    "name": 230,
    "format": 96,
    "status": 96,
    "experiment": 140,
    "start": 128,
    "duration": 78,
}
#: the Name column fits the loaded names within these bounds
NAME_WIDTH = (120, 300)
#: a param or metric column is as wide as its title within these bounds (longer titles elide in the middle)
VALUE_WIDTH = (72, 180)


def local_folders(mime: QMimeData) -> list[str]:
    """Dropped local folders; a dropped file (e.g. an `mlflow.db`) adds the folder it is in."""
    out = []
    for url in mime.urls() if mime.hasUrls() else []:
        if not url.isLocalFile():
            continue
        path = url.toLocalFile()
        if os.path.isdir(path):
            out.append(path)
        elif os.path.isfile(path):
            out.append(os.path.dirname(path))
    return list(dict.fromkeys(out))


class RunsTable(QTableView):
    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSortingEnabled(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setShowGrid(False)
        self.setAlternatingRowColors(True)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vh = self.verticalHeader()
        vh.hide()
        # fixed row height: no per-row size hints, so 10,000 rows cost nothing to lay out
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(self.fontMetrics().height() + 10)
        hh = self.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setDefaultSectionSize(VALUE_WIDTH[0] + 30)
        hh.setHighlightSections(False)
        hh.setSectionsMovable(True)
        hh.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        hh.setTextElideMode(Qt.TextElideMode.ElideMiddle)

        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.frozen: FrozenColumns | None = None

    def paintEvent(self, event: QPaintEvent) -> None:
        # workers preparing rows wait at their next checkpoint: the cells' Python calls run uncontended
        with PAINT_GATE:
            super().paintEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.frozen is not None:
            self.frozen.update_geometry()


class WindowLayout:
    def __init__(
        self,
        window: QMainWindow,
        pool: WorkerPool,
        open_reader: Callable[[], IndexReader],
        open_folder: Callable[[], None],
    ) -> None:
        """Build the main window's widgets, menus and actions into `window`. `open_reader` gives a worker
        its own index connection; `open_folder` asks the user for folders to add."""
        self.window = window
        self._open_folder = open_folder
        #: a group-by param restored before the params are known (chosen when they are)
        self.wanted_group: str | None = None
        self.model = RunsModel(pool, open_reader, window)
        self.actions = self._actions(window)
        self._menus(window)
        # toolbar: filter bar, starred-only, group by, columns
        self.filter_bar = FilterBar(window)
        self.starred_only = QToolButton(window)
        self.starred_only.setText("★ Starred")
        self.starred_only.setCheckable(True)
        self.starred_only.setToolTip("Show starred runs only")
        self.group_by = QComboBox(window)
        self.group_by.setMinimumWidth(150)
        self.group_by.setToolTip("Group runs by a parameter")
        self.set_group_choices([])
        columns = QToolButton(window)
        columns.setDefaultAction(self.actions["columns"])
        compare = QToolButton(window)
        compare.setDefaultAction(self.actions["compare"])
        open_button = QToolButton(window)
        open_button.setDefaultAction(self.actions["open"])
        toolbar = QToolBar("Main", window)
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.addWidget(open_button)
        bar = QWidget(toolbar)
        row = QHBoxLayout(bar)
        row.setContentsMargins(6, 0, 6, 0)
        row.addWidget(self.filter_bar, 1)
        toolbar.addWidget(bar)
        toolbar.addWidget(self.starred_only)
        toolbar.addWidget(self.group_by)
        toolbar.addWidget(columns)
        toolbar.addWidget(compare)
        window.addToolBar(toolbar)
        # centre: sources | table (or the empty state) | detail
        self.sources = SourcesPanel(window)
        self.table = RunsTable(window)
        self.table.setModel(self.model)
        self.table.frozen = FrozenColumns(self.table, self.model)
        self.widths: dict[str, int] = {}
        self._sizing = False
        self.model.modelReset.connect(self._size_columns)
        self.table.horizontalHeader().sectionResized.connect(self._on_section_resized)
        self.empty = self._empty_page(window)
        self.stack = QStackedWidget(window)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.table)
        self.detail = DetailPanel(pool, open_reader, window)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, window)
        self.splitter.addWidget(self.sources)
        self.splitter.addWidget(self.stack)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(1, 1)
        self.default_splitter_sizes(1440)
        self.splitter.setChildrenCollapsible(False)
        window.setCentralWidget(self.splitter)
        # status bar: counts, a busy hint, indexing progress with cancel
        status = window.statusBar()
        # elided at the right: the run count leads, the reasons it differs follow (whole in the tooltip)
        self.count_label = ElidedLabel("", window, Qt.TextElideMode.ElideRight)
        self.busy = QLabel("loading…", window)
        self.busy.setObjectName("mutedLabel")
        self.busy.hide()
        self.progress_label = QLabel("", window)
        self.progress_label.setTextFormat(Qt.TextFormat.PlainText)
        self.progress = QProgressBar(window)
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(False)
        self.cancel = QPushButton("Cancel", window)
        status.addWidget(self.count_label, 1)
        status.addWidget(self.busy)
        status.addPermanentWidget(self.progress_label)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel)
        self.hide_progress()
        self.toast = Toast(window)

    def _actions(self, window: QMainWindow) -> dict[str, QAction]:
        def make(
            name: str, text: str, *keys: str | QKeySequence.StandardKey, checkable: bool = False
        ) -> QAction:
            action = QAction(text, window)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setCheckable(checkable)
            if checkable:
                action.setChecked(True)
            if keys:
                action.setToolTip(f"{text.rstrip('…')} ({QKeySequence(keys[0]).toString()})")
            window.addAction(action)
            return action

        return {
            "open": make("open", "Open Folder…", "Ctrl+O"),
            "refresh": make("refresh", "Refresh", "F5"),
            "quit": make("quit", "Quit", "Ctrl+Q"),
            "columns": make("columns", "Columns…", "Ctrl+Shift+C"),
            "focus_filter": make("focus_filter", "Filter", "Ctrl+F"),
            "detail": make("detail", "Open Detail"),
            "star": make("star", "Star / Unstar", "Ctrl+B"),
            "compare": make("compare", "Compare Selected", "Ctrl+D"),
            "export": make("export", "Export Model Bundle…", "Ctrl+E"),
            "push": make("push", "Push to MLflow Server…", "Ctrl+Shift+P"),
            "add_server": make("add_server", "Add MLflow Server…"),
            "toggle_sources": make("toggle_sources", "Sources Panel", checkable=True),
            "toggle_detail": make("toggle_detail", "Detail Panel", checkable=True),
            "open_run_folder": make("open_run_folder", "Open Run Folder", "Ctrl+Shift+O"),
            "copy_key": make("copy_key", "Copy Run Key", QKeySequence.StandardKey.Copy),
            "copy_path": make("copy_path", "Copy Path", "Ctrl+Alt+C"),
            "label": make("label", "Add Label…", "Ctrl+L"),
            "hide": make("hide", "Hide", QKeySequence.StandardKey.Delete),
            "undo_hide": make("undo_hide", "Undo Hide", QKeySequence.StandardKey.Undo),
            "show_hidden": make("show_hidden", "Show Hidden Runs", "Ctrl+H", checkable=True),
        }

    def _menus(self, window: QMainWindow) -> None:
        bar = window.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.actions["open"])
        file_menu.addAction(self.actions["add_server"])
        self.recent_menu = QMenu("Recent Folders", file_menu)
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.actions["quit"])
        view = bar.addMenu("&View")
        for name in ("focus_filter", "columns", "refresh"):
            view.addAction(self.actions[name])
        view.addSeparator()
        view.addAction(self.actions["toggle_sources"])
        view.addAction(self.actions["toggle_detail"])
        view.addAction(self.actions["show_hidden"])
        self.actions["show_hidden"].setChecked(False)
        run = bar.addMenu("&Run")
        for name in ("detail", "star", "label", "compare", "export", "push"):
            run.addAction(self.actions[name])
        run.addSeparator()
        for name in ("open_run_folder", "copy_key", "copy_path"):
            run.addAction(self.actions[name])
        run.addSeparator()
        run.addAction(self.actions["hide"])
        run.addAction(self.actions["undo_hide"])
        self.actions["hide"].setToolTip("Hide from the table (the run's files are never deleted) (Del)")
        # keys that mean something else in a text field act on runs only while the table has the focus
        for name in ("copy_key", "hide"):
            self.actions[name].setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.actions["detail"].setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.actions["detail"].setText("Open Detail (Enter)")
        # for parts of the window built elsewhere (window/tools.py) to add their entries
        self.menus = {"file": file_menu, "view": view, "run": run}

    def _empty_page(self, window: QMainWindow) -> QWidget:
        page = QWidget(window)
        box = QVBoxLayout(page)
        box.addStretch(2)
        self.empty_title = QLabel("Drop run folders here", page)
        self.empty_title.setObjectName("emptyTitle")
        self.empty_text = QLabel(
            "MLflow stores, TensorBoard logs, Lightning, Hydra, DVC, Sacred, W&B offline,\n"
            "Hugging Face Trainer and plain metrics.jsonl folders are read in place, never modified.\n\n"
            "Drag folders from your file manager, or use File ▸ Open Folder… (Ctrl+O).\n"
            "New here? Start with `expdesk --demo`.",
            page,
        )
        self.empty_text.setObjectName("emptyHint")
        open_button = QPushButton("Open Folder…", page)
        open_button.clicked.connect(self._open_folder)
        for label in (self.empty_title, self.empty_text):
            label.setWordWrap(True)  # a narrow window wraps the hint instead of growing its minimum width
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            box.addWidget(label)
        box.addSpacing(12)
        box.addWidget(open_button, 0, Qt.AlignmentFlag.AlignCenter)
        box.addStretch(3)
        return page

    # -- state updates --------------------------------------------------------------------------------
    def default_splitter_sizes(self, width: int) -> None:
        """Sources narrow, the detail pane about a quarter of the window: the table gets the room."""
        sources = 200 if width >= 1200 else 170
        detail = max(300, int(width * 0.26))
        self.splitter.setSizes([sources, max(300, width - sources - detail), detail])

    def set_group_choices(self, params: list[str]) -> None:
        current = self.group_by.currentData() or self.wanted_group
        self.group_by.blockSignals(True)
        self.group_by.clear()
        self.group_by.addItem("No grouping", None)
        for key in params[:2000]:
            self.group_by.addItem(f"Group by {elide(key, 60)}", key)
        i = self.group_by.findData(current)
        self.group_by.setCurrentIndex(max(i, 0))
        self.group_by.blockSignals(False)
        if self.wanted_group is not None and params:
            self.wanted_group = None
            if i > 0:
                self.group_by.currentIndexChanged.emit(i)  # a restored grouping: apply it now

    def update_empty_state(self, total: int, has_sources: bool, filtering: bool) -> None:
        if total or filtering:
            self.stack.setCurrentWidget(self.table)
            return
        if has_sources:
            self.empty_title.setText("No runs found yet")
        else:
            self.empty_title.setText("Drop run folders here")
        self.stack.setCurrentWidget(self.empty)

    def show_progress(self, done: int, total: int, text: str) -> None:
        self.progress_label.setText(text)
        self.progress.setRange(0, max(total, 0))
        self.progress.setValue(done)
        for w in (self.progress_label, self.progress, self.cancel):
            w.show()

    def hide_progress(self) -> None:
        for w in (self.progress_label, self.progress, self.cancel):
            w.hide()

    def _size_columns(self) -> None:
        """After a reset the header forgets widths: re-apply the user's (by column id) or our defaults."""
        header = self.table.horizontalHeader()
        offset = 1 if self.model.group_param() else 0
        metrics = header.fontMetrics()
        self._sizing = True
        try:
            if offset:
                header.resizeSection(0, self.widths.get("group", 180))
            for i, column in enumerate(self.model.columns()):
                if column.kind == "attr" and column.key == "name":
                    default = self._name_width(i + offset, metrics)
                elif column.kind == "attr":
                    default = ATTR_WIDTHS.get(column.key, 110)
                else:  # the title whole when it is short; a long key elides in the middle (tooltip: all)
                    low, high = VALUE_WIDTH
                    if column.kind == "metric":  # room for a number as shown: 6 digits and an exponent
                        low = max(low, metrics.horizontalAdvance("-0.000123456") + 16)
                    else:  # a param's values as loaded (a 9-digit seed whole, not "2334068…")
                        low = max(low, self._widest_value(i + offset, metrics, rows=50) + 16)
                    default = min(max(metrics.horizontalAdvance(column.title) + 26, low), high)
                width = self.widths.get(column.id, default)
                if header.sectionSize(i + offset) != width:
                    header.resizeSection(i + offset, width)
        finally:
            self._sizing = False
        if self.table.frozen is not None:
            self.table.frozen.refresh()
        self._point_sort()

    def _point_sort(self) -> None:
        """A reset leaves the header's sort arrow at its section's number: a column added before the sorted
        one (a key a live run logged first) would move the arrow onto its neighbour. The rows are in this
        order already, so the header says so without asking the model to sort again (signals blocked)."""
        section = self.model.sort_section()
        header = self.table.horizontalHeader()
        if section is None or header.sortIndicatorSection() == section:
            return
        order = header.sortIndicatorOrder()
        header.blockSignals(True)
        try:
            header.setSortIndicator(section, order)
        finally:
            header.blockSignals(False)
        if self.table.frozen is not None:  # (it follows the table's header through the blocked signal)
            self.table.frozen.horizontalHeader().setSortIndicator(section, order)

    def _widest_value(self, section: int, metrics: QFontMetrics, rows: int) -> int:
        """The width of the widest text among the first `rows` loaded rows of a column."""
        return max(
            (
                metrics.horizontalAdvance(str(self.model.index(r, section).data() or ""))
                for r in range(min(self.model.rowCount(), rows))
            ),
            default=0,
        )

    def _name_width(self, section: int, metrics: QFontMetrics) -> int:
        """As wide as the loaded names need (short sweep job names leave room for values), within bounds."""
        widest = self._widest_value(section, metrics, rows=200)
        low, high = NAME_WIDTH
        return min(max(widest + 24, low), high)

    def _on_section_resized(self, logical: int, _old: int, new: int) -> None:
        if self._sizing or new <= 0:  # (a hidden section reports 0: not a width the user chose)
            return
        offset = 1 if self.model.group_param() else 0
        columns = self.model.columns()
        if logical < offset:
            self.widths["group"] = new
        elif logical - offset < len(columns):
            self.widths[columns[logical - offset].id] = new

    def restore_selection(self, keys: list[str], current: str | None, scroll: int) -> None:
        selection = QItemSelection()
        for key in keys:
            row = self.model.row_of(key)
            if row >= 0:
                selection.select(
                    self.model.index(row, 0), self.model.index(row, self.model.columnCount() - 1)
                )
        selection_model = self.table.selectionModel()
        if not selection.isEmpty():
            selection_model.select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        if current is not None and self.model.row_of(current) >= 0:
            selection_model.setCurrentIndex(
                self.model.index(self.model.row_of(current), 0), QItemSelectionModel.SelectionFlag.NoUpdate
            )
        self.table.verticalScrollBar().setValue(scroll)
