"""The Views menu: save the window's current view under a name, reopen, rename, delete, export and import
saved views (`expdesk.index.views`: stored in the index, never in a watched folder).

What a view holds is read from and given back to the window through `ViewHost`; the menu owns the rest.
Every read and write of the index runs on the window's worker pool; the list of views in the menu is the
answer of the last listing (refreshed after each change and when the menu is about to show).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu, QMessageBox, QWidget

from expdesk.core.errors import ExpdeskError
from expdesk.core.views import SavedView, check_name
from expdesk.gui.workers.pool import WorkerPool
from expdesk.index.service import Index
from expdesk.index.views import (
    ViewEntry,
    delete_view,
    export_view,
    import_view,
    list_views,
    load_view,
    rename_view,
    save_view,
)

#: menu entries are cut to this many characters (the name is whole in the tooltip)
MENU_CHARS = 60


class ViewHost(Protocol):
    """The window side of a view: what it shows now, and showing a saved one."""

    def capture_view(self, name: str) -> SavedView: ...

    def apply_view(self, view: SavedView) -> str:
        """Show `view`; returns a note for the status bar ("" when all went in)."""
        ...


def _menu_text(name: str) -> str:
    shown = name if len(name) <= MENU_CHARS else name[: MENU_CHARS - 1] + "…"
    return shown.replace("&", "&&")  # `&` marks a shortcut in a menu entry


class ViewsMenu(QMenu):
    #: what happened, for the status bar
    message = Signal(str)
    #: the list of saved views was read again
    listed = Signal()

    def __init__(self, index: Index, pool: WorkerPool, host: ViewHost, parent: QWidget | None = None) -> None:
        super().__init__("&Views", parent)
        self._index = index
        self._pool = pool
        self._host = host
        self.views: list[ViewEntry] = []
        self._save = self.addAction("&Save current view…")
        self._save.triggered.connect(self.ask_save)
        self.reopen_menu = self.addMenu("&Reopen")
        self.addSeparator()
        self._rename = self.addAction("Re&name a view…")
        self._rename.triggered.connect(self.ask_rename)
        self._delete = self.addAction("&Delete a view…")
        self._delete.triggered.connect(self.ask_delete)
        self.addSeparator()
        self._export = self.addAction("&Export a view…")
        self._export.triggered.connect(self.ask_export)
        self._import = self.addAction("&Import a view…")
        self._import.triggered.connect(self.ask_import)
        self.aboutToShow.connect(self.refresh)
        self._fill()
        self.refresh()

    # -- the list -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        def job() -> list[ViewEntry]:
            with self._index.reader() as reader:
                return list_views(reader)

        self._pool.submit(job, self._on_listed, self._on_error)

    def _on_listed(self, views: list[ViewEntry]) -> None:
        self.views = views
        self._fill()
        self.listed.emit()

    def _fill(self) -> None:
        self.reopen_menu.clear()
        for entry in self.views:
            action = QAction(_menu_text(entry.name), self.reopen_menu)
            action.setToolTip(entry.name)
            action.triggered.connect(lambda _checked=False, name=entry.name: self.reopen(name))
            self.reopen_menu.addAction(action)
        has = bool(self.views)
        self.reopen_menu.setEnabled(has)
        for action in (self._rename, self._delete, self._export):
            action.setEnabled(has)

    def names(self) -> list[str]:
        return [v.name for v in self.views]

    # -- the work (each on the pool; tests call these directly) -------------------------------------
    def _run(self, job: Callable[[], Any], done: Callable[[Any], None]) -> None:
        self._pool.submit(job, done, self._on_error)

    def _on_error(self, message: str) -> None:
        # the pool reports "module.ErrorType: text": the text is what the user needs
        self.message.emit(re.sub(r"^[\w.]*(?:Error|Exception): ", "", message))

    def save_current(self, name: str) -> None:
        view = self._host.capture_view(check_name(name))  # read from widgets: on the GUI thread
        self._run(lambda: save_view(self._index, view), lambda _r: self._changed(f"Saved view {view.name!r}"))

    def reopen(self, name: str) -> None:
        def job() -> SavedView:
            with self._index.reader() as reader:
                return load_view(reader, name)

        def done(view: SavedView) -> None:
            note = self._host.apply_view(view)
            self.message.emit(f"View {view.name!r}" + (f": {note}" if note else ""))

        self._run(job, done)

    def rename(self, old: str, new: str) -> None:
        self._run(
            lambda: rename_view(self._index, old, new),
            lambda _r: self._changed(f"Renamed to {new.strip()!r}"),
        )

    def delete(self, name: str) -> None:
        self._run(lambda: delete_view(self._index, name), lambda _r: self._changed(f"Deleted view {name!r}"))

    def export_to(self, name: str, path: Path) -> None:
        def job() -> Path:
            with self._index.reader() as reader:
                return export_view(load_view(reader, name), path, reader.watched_folders())

        self._run(job, lambda out: self.message.emit(f"Exported view {name!r} to {out}"))

    def import_from(self, path: Path, save_as: str | None = None) -> None:
        """Check the file through and through, store it (under `save_as` if given), then show it."""

        def job() -> SavedView:
            view = import_view(path)
            if save_as is not None:
                view = view.renamed(save_as)
            save_view(self._index, view)
            return view

        def done(view: SavedView) -> None:
            self._changed(f"Imported view {view.name!r}")
            note = self._host.apply_view(view)
            if note:
                self.message.emit(f"Imported view {view.name!r}: {note}")

        self._run(job, done)

    def _changed(self, text: str) -> None:
        self.message.emit(text)
        self.refresh()

    # -- asking the user ----------------------------------------------------------------------------
    def _pick(self, title: str) -> str | None:
        if not self.views:
            return None
        name, ok = QInputDialog.getItem(self.parentWidget(), title, "View:", self.names(), 0, False)
        return name if ok and name else None

    def ask_save(self) -> None:
        name, ok = QInputDialog.getText(self.parentWidget(), "Save view", "Name of the view:")
        if not ok or not name.strip():
            return
        if name.strip() in self.names():
            answer = QMessageBox.question(
                self.parentWidget(), "Save view", f"Replace the view {name.strip()!r}?"
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        try:
            self.save_current(name)
        except ExpdeskError as exc:  # ViewError: an empty or odd name
            self.message.emit(str(exc))

    def ask_rename(self) -> None:
        old = self._pick("Rename a view")
        if old is None:
            return
        new, ok = QInputDialog.getText(self.parentWidget(), "Rename a view", "New name:", text=old)
        if ok and new.strip() and new.strip() != old:
            self.rename(old, new)

    def ask_delete(self) -> None:
        name = self._pick("Delete a view")
        if name is not None:
            self.delete(name)

    def ask_export(self) -> None:
        name = self._pick("Export a view")
        if name is None:
            return
        safe = "".join(c if c.isalnum() or c in "-_ " else "_" for c in name).strip() or "view"
        path, _ = QFileDialog.getSaveFileName(
            self.parentWidget(), "Export view", f"{safe}.expdesk-view.json", "expdesk view (*.json)"
        )
        if path:
            self.export_to(name, Path(path))

    def ask_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.parentWidget(), "Import view", "", "expdesk view (*.json)")
        if path:
            self.import_from(Path(path))
