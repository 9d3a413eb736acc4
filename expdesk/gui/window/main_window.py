"""The main window: sources | runs table | run detail, with the filter bar on top and progress below.

Thread model: this class lives on the GUI thread and never touches the DB or the disk itself. Queries run
on `pool` (3 threads, a fresh read-only `IndexReader` per job); indexing and annotation writes run on
`index_pool` (1 thread, so passes queue instead of racing) and go through `Index` to its writer thread.
The writer's "runs changed" notifications (and the watcher's, when the watch package is present) arrive
through `IndexBridge` as a queued signal.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QResizeEvent,
    QShortcut,
)
from PySide6.QtWidgets import QFileDialog, QMainWindow, QWidget

from expdesk.core.paths import is_server_url
from expdesk.gui.runs.columns import ColumnChooser, default_columns
from expdesk.gui.runs.query import vocabulary
from expdesk.gui.window import settings
from expdesk.gui.window.layout import WindowLayout, local_folders
from expdesk.gui.window.parts_actions import PartsActions
from expdesk.gui.window.sources_panel import SourceInfo, load_sources
from expdesk.gui.window.views import WindowViews
from expdesk.gui.workers.pool import IndexBridge, WorkerPool
from expdesk.index.indexer import IndexReport
from expdesk.index.table import only_starred
from expdesk.watch.watcher import Watcher

PROGRESS_EVERY = 0.05  # s between progress signals from the indexer (the status bar needs no more)


class _Progress(QObject):
    changed = Signal(int, int)


class _Notices(QObject):
    """Carries the index's one-line notices (network filesystem, read-only, another process writing)
    from whichever thread noticed to the GUI thread; detached under a lock so no emit races teardown."""

    said = Signal(str)

    def __init__(self, index: Any, parent: QObject) -> None:
        super().__init__(parent)
        self._index = index
        self._lock = threading.Lock()
        self._closed = False
        if hasattr(index, "add_notice_listener"):
            index.add_notice_listener(self._on_notice)

    def _on_notice(self, line: str) -> None:
        with self._lock:
            if not self._closed:
                self.said.emit(line)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        if hasattr(self._index, "remove_notice_listener"):
            self._index.remove_notice_listener(self._on_notice)


class MainWindow(QMainWindow):
    #: an indexing pass finished (IndexReport); tests and `--self-test` wait on it
    indexing_finished = Signal(object)
    #: Ctrl+D with the selected run keys (the compare view connects here)
    compare_requested = Signal(list)
    #: a write (star/labels/note/root) finished
    write_finished = Signal()

    def __init__(self, index: Any, watch: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.setWindowTitle("expdesk")
        self.setAcceptDrops(True)
        self.pool = WorkerPool(3, self, "expdesk-query")
        self.index_pool = WorkerPool(1, self, "expdesk-index")
        self.pool.error.connect(self._show_error)
        self.index_pool.error.connect(self._show_error)
        self.watcher: Any = None
        if watch:
            self.watcher = Watcher(index)
        # with a watcher, its listeners hear every commit (once started) plus runs turning stale
        self.bridge = IndexBridge(self.watcher or index.writer, self)
        self.bridge.runs_changed.connect(self._on_runs_changed)
        self._progress = _Progress(self)
        self._progress.changed.connect(self._on_progress)
        self._notices = _Notices(index, self)
        self._notices.said.connect(self._show_notice)
        self._cancel = threading.Event()
        self._indexing = 0
        self._closed = False
        self._known_keys: set[str] | None = None
        self._pending_changes: set[str] = set()
        self._vocab: dict[str, list[str]] = {"params": [], "metrics": [], "tags": []}
        self._user_filter: tuple[str, tuple[Any, ...]] = ("", ())
        self._saved_selection: tuple[list[str], str | None, int] = ([], None, 0)
        self._replacing_rows = False
        self.ui = WindowLayout(self, self.pool, index.reader, self.open_folder_dialog)
        self.model = self.ui.model
        self.table = self.ui.table
        self.detail = self.ui.detail
        self.filter_bar = self.ui.filter_bar
        self.sources = self.ui.sources
        self._wire()
        self.views = WindowViews(self, index, self.index_pool, self.detail, self.reload_all)
        self.parts_actions = PartsActions(self)  # split / join in the table's context menu
        self.parts_actions.install_menu()
        self._restore_state()
        # coalesce bursts of "runs changed" into one reload + one toast
        self._change_timer = QTimer(self)
        self._change_timer.setSingleShot(True)
        self._change_timer.setInterval(400)
        self._change_timer.timeout.connect(self._apply_changes)
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(1000)
        self._status_timer.timeout.connect(self._update_watch_status)
        self.reload_all()
        self._load_known_keys()
        for line in getattr(index, "notices", []):  # said before this window existed (storage mode)
            self._show_notice(line)

    # -- wiring -------------------------------------------------------------------------------------
    def _wire(self) -> None:
        ui = self.ui
        self.model.counted.connect(self._on_counted)
        self.model.loading.connect(lambda busy: ui.busy.setVisible(busy))
        self.model.failed.connect(self._show_error)
        self.model.modelAboutToBeReset.connect(self._save_selection)
        self.model.modelReset.connect(self._restore_selection)
        self.model.rows_replacing.connect(self._on_rows_replacing)
        self.model.rows_replaced.connect(self._on_rows_replaced)
        self.filter_bar.applied.connect(self._on_filter)
        ui.starred_only.toggled.connect(lambda _on: self._apply_filter())
        ui.group_by.currentIndexChanged.connect(self._on_group)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
        self.table.activated.connect(lambda _i: self.open_detail())
        self.detail.star_requested.connect(lambda key, on: self.set_star([key], on))
        self.detail.labels_requested.connect(self._write_labels)
        self.detail.note_requested.connect(self._write_note)
        self.sources.add_requested.connect(self.open_folder_dialog)
        self.sources.remove_requested.connect(self.remove_root)
        self.sources.network_requested.connect(self.set_network)
        ui.cancel.clicked.connect(self.cancel_indexing)
        actions = ui.actions
        actions["open"].triggered.connect(self.open_folder_dialog)
        actions["refresh"].triggered.connect(self.refresh)
        actions["quit"].triggered.connect(self.close)
        actions["columns"].triggered.connect(self.choose_columns)
        actions["focus_filter"].triggered.connect(self.filter_bar.focus)
        actions["detail"].triggered.connect(self.open_detail)
        actions["star"].triggered.connect(self.toggle_star)
        actions["compare"].triggered.connect(lambda: self.open_compare(self.selected_keys()))
        actions["export"].triggered.connect(self.export_current)
        actions["push"].triggered.connect(lambda: self.views.open_push(self.selected_keys()))
        actions["add_server"].triggered.connect(lambda: self.views.ask_server())
        actions["toggle_sources"].toggled.connect(self.sources.setVisible)
        actions["toggle_detail"].toggled.connect(self.detail.setVisible)
        # single-key shortcuts: a QLineEdit claims printable keys first (ShortcutOverride), so typing
        # "/" or "s" in the filter or a note still types
        QShortcut(QKeySequence("/"), self, self.filter_bar.focus)
        QShortcut(QKeySequence("S"), self, self.toggle_star)
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            # context set explicitly: the constructor's keyword is not honoured by this PySide6, and a
            # window-wide Return would swallow Enter in the filter bar
            enter = QShortcut(QKeySequence(key), self.table)
            enter.setContext(Qt.ShortcutContext.WidgetShortcut)
            enter.activated.connect(self.open_detail)
        self._refresh_recent_menu()

    # -- folders ------------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if local_folders(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        folders = local_folders(event.mimeData())
        if folders:
            event.acceptProposedAction()
            self.add_folders(folders)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open run folder")
        if folder:
            self.add_folders([folder])

    def add_folders(self, folders: list[str], network: bool = False) -> None:
        """Add watched roots and index them on the index worker, with progress and a cancel button."""
        folders = [os.path.abspath(f) for f in dict.fromkeys(folders)]
        for folder in folders:
            settings.add_recent_folder(folder)
        self._refresh_recent_menu()
        self._run_index_job(folders, network)

    def _run_index_job(self, folders: list[str], network: bool = False) -> None:
        self._indexing += 1
        self._cancel.clear()
        self.ui.show_progress(0, 0, "Indexing " + ", ".join(Path(f).name or f for f in folders)[:120] + "…")
        for folder in folders:
            self.sources.set_status(folder, "indexing…")
        index, cancel, progress = self.index, self._cancel, self._progress
        last = [0.0]

        def report(done: int, total: int, _path: str) -> None:
            # indexer thread: throttled emits only
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY or done == total:
                last[0] = now
                progress.changed.emit(done, total)

        watcher = self.watcher

        def job() -> IndexReport:
            result = index.index(folders, progress=report, cancelled=cancel.is_set, network=network)
            if watcher is not None and not result.cancelled:
                for folder in folders:  # (writes the root row: so on this worker, not the GUI thread)
                    watcher.add_root(folder, network)
            return result

        def done(result: IndexReport) -> None:
            self._indexing -= 1
            for folder in folders:
                self.sources.set_status(folder, "cancelled" if result.cancelled else self._live_word(network))
            if self._indexing == 0:
                self.ui.hide_progress()
            word = "Cancelled after" if result.cancelled else "Indexed"
            errors = f", {len(result.errors)} with errors" if result.errors else ""
            self.ui.toast.show_message(f"{word} {result.found} runs{errors} ({result.seconds:.1f} s)")
            self.reload_all()
            self.indexing_finished.emit(result)

        def failed(message: str) -> None:
            self._indexing -= 1
            if self._indexing == 0:
                self.ui.hide_progress()
            for folder in folders:
                self.sources.set_status(folder, f"error: {message}")
            self._show_error(message)
            self.indexing_finished.emit(None)

        self.index_pool.submit(job, done, failed)

    def _live_word(self, network: bool) -> str:
        if self.watcher is None:
            return "indexed (not watched)"
        return "polling (network)" if network else "watching"

    def cancel_indexing(self) -> None:
        self._cancel.set()
        self.ui.progress_label.setText("Cancelling…")

    def _on_progress(self, done: int, total: int) -> None:
        if self._indexing:
            self.ui.show_progress(done, total, f"Indexing… {done:,} / {total:,} runs")

    def remove_root(self, path: str) -> None:
        if self.watcher is not None:
            self.watcher.remove_root(path)
        self.index_pool.submit(lambda: self.index.remove_root(path), lambda _r: self._after_write(True))

    def set_network(self, path: str, network: bool) -> None:
        watcher = self.watcher

        def job() -> None:
            if watcher is not None:
                watcher.remove_root(path)
                watcher.add_root(path, network)  # also updates the root row
            else:
                self.index.add_root(path, network)

        def done(_r: object) -> None:
            self.sources.set_status(path, self._live_word(network))
            self._after_write(True)

        self.index_pool.submit(job, done)

    def start_watching(self) -> None:
        """Watch the saved roots (the watcher indexes them first); without the watch package, re-index."""

        watcher = self.watcher

        def job() -> list[dict[str, Any]]:
            with self.index.reader() as reader:
                roots = reader.roots()
            folders = [r for r in roots if not is_server_url(r["path"])]
            for root in roots:
                if is_server_url(root["path"]):  # a tracking server is polled, not watched
                    self.views.watch_server(root["path"])
            if watcher is not None:
                for root in folders:
                    watcher.add_root(root["path"], bool(root["network"]))
                watcher.start()  # returns at once; its own thread schedules and indexes
            return folders

        def done(roots: list[dict[str, Any]]) -> None:
            if watcher is None:
                if roots:
                    self._run_index_job([r["path"] for r in roots])
                return
            self._status_timer.start()

        self.index_pool.submit(job, done)

    def _update_watch_status(self) -> None:
        if self.watcher is None:
            return
        for status in self.watcher.status():
            word = {"native": "watching", "polling": "polling (network)", "missing": "folder missing"}.get(
                status.mode, status.mode
            )
            if status.error:
                word += f" · error: {status.error}"
            if self.sources._status.get(status.path) != word and self._indexing == 0:
                self.sources.set_status(status.path, word)

    # -- queries ------------------------------------------------------------------------------------
    def reload_all(self) -> None:
        self.model.reload()
        self._load_sources()
        self._load_vocabulary()

    def refresh(self) -> None:
        """F5: re-read the index and re-index every root (unchanged runs cost a stat)."""
        self.start_reindex()

    def start_reindex(self) -> None:
        def job() -> list[str]:
            with self.index.reader() as reader:
                return [r["path"] for r in reader.roots()]

        self.pool.submit(job, lambda roots: self._run_index_job(roots) if roots else self.reload_all())

    def _load_sources(self) -> None:
        def job() -> list[SourceInfo]:
            with self.index.reader() as reader:
                return load_sources(reader)

        self.pool.submit(job, self._on_sources)

    def _on_sources(self, sources: list[SourceInfo]) -> None:
        self.sources.show_sources(sources)
        self.ui.update_empty_state(self.model.total(), bool(sources), self._filtering())

    def _load_vocabulary(self) -> None:
        def job() -> dict[str, list[str]]:
            with self.index.reader() as reader:
                return vocabulary(reader)

        self.pool.submit(job, self._on_vocabulary)

    def _on_vocabulary(self, vocab: dict[str, list[str]]) -> None:
        changed = vocab != self._vocab
        self._vocab = vocab
        self.filter_bar.set_vocabulary(vocab)
        self.ui.set_group_choices(vocab["params"])
        if changed and settings.current_columns() is None:
            self.model.set_columns(default_columns(vocab["params"], vocab["metrics"]))

    def _load_known_keys(self) -> None:
        def job() -> set[str]:
            with self.index.reader() as reader:
                return reader.all_keys()

        self.pool.submit(job, lambda keys: setattr(self, "_known_keys", keys | (self._known_keys or set())))

    def _filtering(self) -> bool:
        return bool(self._user_filter[0]) or self.ui.starred_only.isChecked()

    def _on_filter(self, where_sql: str, params: tuple[Any, ...]) -> None:
        self._user_filter = (where_sql, tuple(params))
        self._apply_filter()

    def _apply_filter(self) -> None:
        where_sql, params = self._user_filter
        if self.ui.starred_only.isChecked():
            where_sql, params = only_starred(where_sql, params)
        self.model.set_filter(where_sql, params)

    def _on_group(self, index: int) -> None:
        self.model.set_group(self.ui.group_by.itemData(index))

    def _on_counted(self, total: int, groups: int) -> None:
        text = f"{total:,} runs"
        if self._filtering():
            text += " match the filter"
        if groups:
            text += f" in {groups:,} groups"
        self.ui.count_label.setText(text)
        self.ui.update_empty_state(total, bool(self.sources.sources()), self._filtering())

    def choose_columns(self) -> None:
        dialog = ColumnChooser(self.model.columns(), self._vocab["params"], self._vocab["metrics"], self)
        if dialog.exec():
            if dialog.automatic:
                settings.save_current_columns(None)
                self.model.set_columns(default_columns(self._vocab["params"], self._vocab["metrics"]))
            else:
                settings.save_current_columns(dialog.columns())
                self.model.set_columns(dialog.columns())
        dialog.deleteLater()

    # -- live changes -------------------------------------------------------------------------------
    def _on_runs_changed(self, keys: set[str]) -> None:
        if "*" in keys:  # another process removed a root (or could not say what it changed)
            self.reload_all()
            return
        self.model.refresh_keys(keys)
        if self.detail.key in keys:
            self.detail.refresh()
        self._pending_changes |= keys
        self._change_timer.start()

    def _apply_changes(self) -> None:
        keys, self._pending_changes = self._pending_changes, set()
        known = self._known_keys
        new = set() if known is None else keys - known
        if known is not None:
            known |= keys
        if new:
            # a reload keeps the selection and scroll position (see _save/_restore_selection)
            self.model.reload()
            self._load_vocabulary()
            if not self._indexing:
                self.ui.toast.show_message(f"{len(new)} new run{'s' if len(new) > 1 else ''}")
        self._load_sources()

    def _save_selection(self) -> None:
        keys = self.selected_keys()
        current = self.model.key_at(self.table.currentIndex().row())
        self._saved_selection = (keys, current, self.table.verticalScrollBar().value())

    def _restore_selection(self) -> None:
        keys, current, scroll = self._saved_selection
        self.ui.restore_selection(keys, current, scroll)

    def _on_rows_replacing(self) -> None:
        # a filter/sort swaps the rows (remove + insert, no reset): the current row passes through
        # "none" on the way, which must not blank the detail panel as a reset would not have
        self._replacing_rows = True
        self._save_selection()

    def _on_rows_replaced(self) -> None:
        try:
            self._restore_selection()
        finally:
            self._replacing_rows = False

    # -- runs: detail, stars, compare ---------------------------------------------------------------
    def selected_keys(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [k for k in (self.model.key_at(r) for r in rows) if k]

    def _on_current_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self.detail.isVisible() and not self._replacing_rows:
            self.detail.show_run(self.model.key_at(current.row()))

    def open_detail(self) -> None:
        key = self.model.key_at(self.table.currentIndex().row())
        if key is None:
            return
        self.ui.actions["toggle_detail"].setChecked(True)
        self.detail.show()
        self.detail.show_run(key)

    def toggle_star(self) -> None:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        if not rows and self.table.currentIndex().isValid():
            rows = [self.table.currentIndex().row()]
        keys = [k for k in (self.model.key_at(r) for r in rows) if k]
        if keys:
            all_starred = all(self.model.index(r, 0).data(Qt.ItemDataRole.UserRole + 2) for r in rows)
            self.set_star(keys, not all_starred)

    def set_star(self, keys: list[str], on: bool) -> None:
        def job() -> None:
            for key in keys:
                self.index.set_star(key, on)

        self.index_pool.submit(job, lambda _r: self._after_write(False))

    def _write_labels(self, key: str, labels: list[str]) -> None:
        self.index_pool.submit(
            lambda: self.index.set_labels(key, labels), lambda _r: self._after_write(False)
        )

    def _write_note(self, key: str, note: str) -> None:
        self.index_pool.submit(lambda: self.index.set_note(key, note), lambda _r: self._after_write(False))

    def _after_write(self, roots_changed: bool) -> None:
        if roots_changed:
            self.reload_all()
        self.write_finished.emit()

    def open_compare(self, keys: list[str]) -> None:
        """Open a compare window for the selected runs (Ctrl+D)."""
        if len(keys) < 2:
            self.statusBar().showMessage("Select two or more runs to compare (Ctrl+D).", 4000)
            return
        self.compare_requested.emit(keys)
        self.views.open_compare(keys)

    def export_current(self) -> None:
        """Export the current run's model as a verifiable bundle (Ctrl+E): preview first, then write."""
        key = self.model.key_at(self.table.currentIndex().row()) or self.detail.key
        if key is None:
            self.statusBar().showMessage("Select a run to export its model (Ctrl+E).", 4000)
            return
        label = self.model.index(self.table.currentIndex().row(), 0).data() or key
        self.views.open_export(key, str(label))

    # -- state --------------------------------------------------------------------------------------
    def _refresh_recent_menu(self) -> None:
        menu = self.ui.recent_menu
        menu.clear()
        for folder in settings.recent_folders():
            action = QAction(folder.replace("&", "&&")[:200], menu)
            action.triggered.connect(lambda _c=False, f=folder: self.add_folders([f]))
            menu.addAction(action)
        menu.setEnabled(bool(menu.actions()))

    def _restore_state(self) -> None:
        s = settings.ui_settings()
        geometry = s.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1440, 880)
        splitter = s.value("window/splitter")
        if splitter is not None:
            self.ui.splitter.restoreState(splitter)
        header = s.value("window/header")
        if header is not None:
            self.ui.saved_header = header

    def _save_state(self) -> None:
        s = settings.ui_settings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/splitter", self.ui.splitter.saveState())

    def _show_notice(self, line: str) -> None:
        self.statusBar().showMessage(line[:300], 15000)

    def _show_error(self, message: str) -> None:
        self.statusBar().showMessage(message.splitlines()[0][:300] if message else "error", 8000)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.ui.toast.reposition()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop everything this window started; idempotent (close() and tests both call it)."""
        if self._closed:
            return
        self._closed = True
        self.views.close_all()
        self._save_state()
        self._cancel.set()
        self._change_timer.stop()
        self._status_timer.stop()
        self.ui.toast.stop()
        self.bridge.close()
        self._notices.close()
        # pools first: a queued job may still start the watcher or add a root to it
        self.pool.stop()
        self.index_pool.stop()
        if self.watcher is not None:
            self.watcher.stop()
        for dialog in list(self.detail.metrics.dialogs):
            dialog.close()
