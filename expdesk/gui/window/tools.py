"""What issue 21 adds to the main window, kept out of main_window.py: the workspace charts dock (charts of
the runs the table shows), the Views menu (saved views) and File > Export Report… for the selected runs.

`WorkspaceTools` is built by the window after its own widgets and implements `ViewHost`: what a view holds is
read from the window's widgets, and a saved view is given back to them (filter, columns, sort, table
grouping, starred toggle, chart panel, selection). Selection and sort wait for the table's next answer: rows
and columns are only known once the model has reloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QStandardPaths, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMainWindow

from expdesk.core.views import SavedView
from expdesk.gui.dialogs.report import ReportDialog
from expdesk.gui.runs.query import Column
from expdesk.gui.window.views_menu import ViewsMenu
from expdesk.gui.workspace.panel import WorkspaceCharts

if TYPE_CHECKING:
    from expdesk.gui.window.layout import WindowLayout
    from expdesk.gui.workers.pool import WorkerPool
    from expdesk.index.service import Index


class WorkspaceTools:
    def __init__(
        self,
        window: QMainWindow,
        index: Index,
        pool: WorkerPool,
        ui: WindowLayout,
        selected_keys: Callable[[], list[str]],
        known_keys: Callable[[], set[str] | None],
        use_columns: Callable[[list[Column]], None],
    ) -> None:
        """`selected_keys` and `known_keys` answer from the window: the runs selected in the table, and
        every run key the index holds (None until first read); `use_columns` makes columns the user's own
        (a reopened view's), so automatic columns do not replace them when the runs change."""
        self.window = window
        self.index = index
        self.ui = ui
        self._selected = selected_keys
        self._known = known_keys
        self._use_columns = use_columns
        self.charts = WorkspaceCharts(index)
        self.dock = QDockWidget("Workspace Charts", window)
        self.dock.setObjectName("workspaceCharts")
        self.dock.setWidget(self.charts)
        self.dock.setAllowedAreas(
            Qt.DockWidgetArea.BottomDockWidgetArea | Qt.DockWidgetArea.RightDockWidgetArea
        )
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        self.dock.hide()  # shown from View > Workspace Charts (or a saved view)
        toggle = self.dock.toggleViewAction()
        toggle.setShortcut("Ctrl+Shift+W")
        self.views_menu = ViewsMenu(index, pool, self, window)
        self.views_menu.message.connect(lambda text: window.statusBar().showMessage(text[:300], 6000))
        self.report_action = QAction("Export Report…", window)
        self.report_action.setShortcut("Ctrl+Shift+R")
        self.report_action.setToolTip(
            "One HTML page comparing the selected runs, to hand over (Ctrl+Shift+R)"
        )
        self.report_action.triggered.connect(self.open_report)
        window.addAction(self.report_action)
        # the layout's own menu objects: a wrapper found through QAction.menu() can be stale in PySide6
        menus = ui.menus
        menus["file"].insertAction(ui.actions["quit"], self.report_action)
        menus["file"].insertSeparator(ui.actions["quit"])
        menus["view"].addAction(toggle)
        window.menuBar().insertMenu(menus["run"].menuAction(), self.views_menu)
        ui.model.counted.connect(self._on_counted)
        self._after_reload: list[SavedView] = []
        self.dialogs: list[ReportDialog] = []

    # -- the table's runs -> charts -----------------------------------------------------------------
    def _on_counted(self, _total: int, _groups: int) -> None:
        self.charts.set_visible_keys(self.ui.model.all_keys())
        if self._after_reload:
            self._finish_apply(self._after_reload.pop())
            self._after_reload.clear()

    # -- File > Export Report… ----------------------------------------------------------------------
    def open_report(self) -> None:
        keys = self._selected()
        if not keys:
            self.window.statusBar().showMessage("Select the runs to report on (Ctrl+Shift+R).", 4000)
            return
        documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        dialog = ReportDialog(self.index, keys, Path(documents) if documents else Path.home(), self.window)
        dialog.written.connect(
            lambda path: self.window.statusBar().showMessage(f"Report saved: {path}", 8000)
        )
        dialog.finished.connect(lambda _r, d=dialog: self.dialogs.remove(d) if d in self.dialogs else None)
        self.dialogs.append(dialog)
        dialog.show()

    # -- ViewHost -----------------------------------------------------------------------------------
    def capture_view(self, name: str) -> SavedView:
        ui = self.ui
        model, header = ui.model, ui.table.horizontalHeader()
        offset = 1 if model.group_param() else 0
        columns = model.columns()
        visual = [
            columns[header.logicalIndex(v) - offset].id
            for v in range(header.count())
            if 0 <= header.logicalIndex(v) - offset < len(columns)
        ]
        section = header.sortIndicatorSection() - offset
        sort = columns[section].id if 0 <= section < len(columns) else ""
        charts = replace(self.charts.state(), visible=self.dock.isVisible())
        return SavedView(
            name=name,
            filter=ui.filter_bar.active_filter(),
            columns=tuple(visual),
            sort=sort,
            descending=bool(sort) and header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder,
            table_group=model.group_param() or "",
            starred_only=ui.starred_only.isChecked(),
            charts=charts,
            selection=tuple(self._selected()),
        )

    def apply_view(self, view: SavedView) -> str:
        ui = self.ui
        self._after_reload.append(view)
        ui.starred_only.blockSignals(True)
        ui.starred_only.setChecked(view.starred_only)
        ui.starred_only.blockSignals(False)
        if view.columns:
            self._use_columns([Column.from_id(c) for c in view.columns])
        i = ui.group_by.findData(view.table_group or None)
        if i >= 0:
            ui.group_by.setCurrentIndex(i)  # reloads through the window's own handler
        else:
            ui.wanted_group = view.table_group or None  # chosen in the combo once the params are listed
            ui.model.set_group(view.table_group or None)
        ui.filter_bar.set_text(view.filter)  # applies: the table reloads with everything above
        self.dock.setVisible(view.charts.visible)
        self.charts.apply(view.charts)
        known = self._known()
        missing = [k for k in view.selection if known is not None and k not in known]
        if missing:
            n = len(view.selection)
            return f"{len(missing)} of {n} selected run{'s' if n != 1 else ''} not in this index"
        return ""

    def _finish_apply(self, view: SavedView) -> None:
        """After the table answered: the sort (its column is on screen now) and the selection."""
        ui, known = self.ui, self._known()
        model = ui.model
        offset = 1 if model.group_param() else 0
        ids = [c.id for c in model.columns()]
        if view.sort in ids:
            order = Qt.SortOrder.DescendingOrder if view.descending else Qt.SortOrder.AscendingOrder
            ui.table.sortByColumn(ids.index(view.sort) + offset, order)
        shown = [k for k in view.selection if model.row_of(k) >= 0]
        ui.restore_selection(shown, shown[0] if shown else None, 0)
        if len(shown) < len(view.selection) and known is not None:
            hidden = [k for k in view.selection if k in known and model.row_of(k) < 0]
            if hidden:
                self.window.statusBar().showMessage(
                    f"{len(hidden)} selected run{'s' if len(hidden) != 1 else ''} of the view not in the table"
                    " now (filtered out, or further down)",
                    6000,
                )

    def shutdown(self) -> None:
        for dialog in list(self.dialogs):
            dialog.close()
        self.charts.shutdown()
