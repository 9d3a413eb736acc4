"""Split and Join in the runs table's context menu: the user's word on which parts are one run.

`add_to(menu, keys)` adds the two actions to any menu of the selected runs (the table's context menu calls
it); `install_menu()` gives the table a context menu of its own where the window has none. The writes go
through `Index.split`/`Index.join` on the index worker; the writer's change notification refreshes the table.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

#: the main window (typed loosely: importing its class here would make an import cycle with it)
MainWindow = Any


class PartsActions:
    def __init__(self, window: MainWindow) -> None:
        self.window = window

    def install_menu(self) -> None:
        table = self.window.table
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.customContextMenuRequested.connect(self._menu)

    def _menu(self, pos: QPoint) -> None:
        window = self.window
        index = window.table.indexAt(pos)
        if index.isValid() and window.model.key_at(index.row()) not in window.selected_keys():
            window.table.selectRow(index.row())  # a right-click acts on the run under the pointer
        keys = window.selected_keys()
        if not keys:
            return
        menu = QMenu(window.table)
        self.add_to(menu, keys)
        menu.exec(window.table.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def add_to(self, menu: QMenu, keys: list[str]) -> list[QAction]:
        """Split (one run) and Join (two or more) for the selected `keys`."""
        split = menu.addAction("Split into Parts")
        split.setToolTip("Make each tool's folder of this run a run of its own (kept in expdesk's index)")
        split.setEnabled(len(keys) == 1)
        split.triggered.connect(lambda: self.split(keys[0]))
        join = menu.addAction(
            f"Join {len(keys)} Runs into One" if len(keys) > 1 else "Join (select two or more)"
        )
        join.setToolTip("Make these runs one training job, keyed by the first (kept in expdesk's index)")
        join.setEnabled(len(keys) > 1)
        join.triggered.connect(lambda: self.join(keys))
        menu.setToolTipsVisible(True)
        return [split, join]

    def split(self, key: str) -> None:
        window = self.window

        def done(parts: list[str]) -> None:
            message = f"Split into {len(parts)} runs" if len(parts) > 1 else "This run has one part"
            window.ui.toast.show_message(message)
            window.reload_all()
            window.write_finished.emit()

        window.index_pool.submit(lambda: window.index.split(key), done)

    def join(self, keys: list[str]) -> None:
        window = self.window

        def done(run_key: str) -> None:
            window.ui.toast.show_message(f"Joined {len(keys)} runs into one")
            window.reload_all()
            window.detail.show_run(run_key, force=True)
            window.write_finished.emit()

        window.index_pool.submit(lambda: window.index.join(keys), done)
