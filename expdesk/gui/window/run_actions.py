"""What the user can do to the selected runs: the table's context menu and its shortcuts (compare, open the
run's folder, copy its path or key, star, label, hide with undo, export).

Hiding is the user's annotation in the index (expdesk never deletes run files): the run leaves the table
until "Show Hidden Runs", and Ctrl+Z brings back what the last Delete hid. Every write runs on the index
worker; the clipboard and the file manager are touched on the GUI thread with values a worker looked up.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QPoint, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QInputDialog, QMenu

#: the main window (typed loosely: importing its class here would make an import cycle with it)
MainWindow = Any

#: Delete presses remembered for Ctrl+Z
UNDO_DEPTH = 20


class RunActions:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.undo_stack: list[list[str]] = []
        actions = window.ui.actions
        actions["open_run_folder"].triggered.connect(self.open_folder)
        actions["copy_key"].triggered.connect(self.copy_keys)
        actions["copy_path"].triggered.connect(self.copy_paths)
        actions["label"].triggered.connect(self.add_label)
        actions["hide"].triggered.connect(lambda: self.set_hidden(self.keys(), True))
        actions["undo_hide"].triggered.connect(self.undo)
        actions["undo_hide"].setEnabled(False)
        window.table.customContextMenuRequested.connect(self.menu)
        window.table.addAction(actions["hide"])  # (widget-scoped shortcuts: Delete in a text field types)
        window.table.addAction(actions["copy_key"])

    def keys(self) -> list[str]:
        """The selected runs, or the current one when nothing is selected."""
        window = self.window
        keys = window.selected_keys()
        current = window.model.key_at(window.table.currentIndex().row())
        return keys or ([current] if current else [])

    def menu(self, pos: QPoint) -> None:
        window = self.window
        index = window.table.indexAt(pos)
        if index.isValid() and window.model.key_at(index.row()) not in window.selected_keys():
            window.table.selectRow(index.row())  # a right-click acts on the run under the pointer
        menu = self.build_menu(self.keys())
        if menu is not None:
            menu.exec(window.table.viewport().mapToGlobal(pos))
            menu.deleteLater()

    def build_menu(self, keys: list[str]) -> QMenu | None:
        """The context menu for `keys` (None when no run is selected)."""
        window = self.window
        if not keys:
            return None
        actions = window.ui.actions
        menu = QMenu(window.table)
        compare = menu.addAction(
            f"Compare {len(keys)} Runs" if len(keys) > 1 else "Compare (select two or more)"
        )
        compare.setShortcut(actions["compare"].shortcut())
        compare.setEnabled(len(keys) > 1)
        compare.triggered.connect(lambda: window.open_compare(keys))
        menu.addAction(actions["detail"])
        menu.addSeparator()
        for name in ("open_run_folder", "copy_path", "copy_key"):
            menu.addAction(actions[name])
        menu.addSeparator()
        for name in ("star", "label", "export"):
            menu.addAction(actions[name])
        menu.addSeparator()
        hide = menu.addAction(
            f"Unhide {len(keys)} Run(s)" if window.showing_hidden() else actions["hide"].text()
        )
        hide.setShortcut(actions["hide"].shortcut())
        hide.setToolTip(actions["hide"].toolTip())
        hide.triggered.connect(lambda: self.set_hidden(keys, not window.showing_hidden()))
        menu.addSeparator()
        window.parts_actions.add_to(menu, keys)  # split a joined run / join runs into one
        menu.setToolTipsVisible(True)
        return menu

    # -- hide / undo ----------------------------------------------------------------------------------
    def set_hidden(self, keys: list[str], hidden: bool, remember: bool = True) -> None:
        if not keys:
            return
        window = self.window

        def done(_r: object) -> None:
            if hidden and remember:
                self.undo_stack = [*self.undo_stack, keys][-UNDO_DEPTH:]
            window.ui.actions["undo_hide"].setEnabled(bool(self.undo_stack))
            word = "Hid" if hidden else "Showed"
            undo = " · Ctrl+Z to undo" if hidden else ""
            window.ui.toast.show_message(f"{word} {len(keys)} run{'s' if len(keys) > 1 else ''}{undo}")
            window.reload_all()
            window.write_finished.emit()

        window.index_pool.submit(lambda: window.index.set_hidden(keys, hidden), done)

    def undo(self) -> None:
        if self.undo_stack:
            keys = self.undo_stack.pop()
            self.set_hidden(keys, False, remember=False)

    # -- clipboard, file manager, labels ----------------------------------------------------------------
    def copy_keys(self) -> None:
        keys = self.keys()
        if keys:
            QGuiApplication.clipboard().setText("\n".join(keys))
            self.window.statusBar().showMessage(f"Copied {len(keys)} run key(s)", 3000)

    def _paths(self, keys: list[str], then: object) -> None:
        window = self.window

        def job() -> list[str]:
            with window.index.reader() as reader:
                basics = [reader.run_basics(k) for k in keys]
            return [b.path for b in basics if b is not None]

        window.pool.submit(job, then)  # type: ignore[arg-type]

    def copy_paths(self) -> None:
        def done(paths: list[str]) -> None:
            QGuiApplication.clipboard().setText("\n".join(paths))
            self.window.statusBar().showMessage(f"Copied {len(paths)} path(s)", 3000)

        self._paths(self.keys(), done)

    def open_folder(self) -> None:
        """The run's folder in the file manager (a file run, e.g. an mlflow.db, opens the folder it is in)."""
        window = self.window
        keys = self.keys()[:5]  # a slip of Ctrl+A must not open a window per run

        def job() -> list[str]:
            with window.index.reader() as reader:
                paths = [b.path for b in (reader.run_basics(k) for k in keys) if b is not None]
            return [p if os.path.isdir(p) else os.path.dirname(p) for p in paths]  # (a stat: worker side)

        def done(folders: list[str]) -> None:
            for folder in folders:
                QDesktopServices.openUrl(QUrl.fromLocalFile(folder))

        window.pool.submit(job, done)

    def add_label(self) -> None:
        keys = self.keys()
        if not keys:
            return
        window = self.window
        text, ok = QInputDialog.getText(window, "Add label", f"Label for {len(keys)} run(s):")
        label = text.strip()
        if not ok or not label:
            return

        def job() -> None:
            with window.index.reader() as reader:
                current = {r["key"]: r.get("labels", []) for r in reader.runs_json(keys)}
            for key in keys:
                window.index.set_labels(key, [*current.get(key, []), label])

        window.index_pool.submit(job, lambda _r: window.after_write(False))
