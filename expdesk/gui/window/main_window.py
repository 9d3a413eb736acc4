"""The main window: sources | runs table | run detail, with the filter bar on top and progress below.

Thread model: this class lives on the GUI thread and never touches the DB or the disk itself. Queries run
on `pool` (3 threads, a fresh read-only `IndexReader` per job); indexing and annotation writes run on
`index_pool` (1 thread, so passes queue instead of racing) and go through `Index` to its writer thread.
The writer's "runs changed" notifications (and the watcher's, when the watch package is present) arrive
through `IndexBridge` as a queued signal. Folders and indexing (`folders`), the runs' context menu
(`run_actions`) and what the window remembers (`state`) live in their own modules.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QResizeEvent,
    QShortcut,
    QShowEvent,
)
from PySide6.QtWidgets import QMainWindow, QWidget

from expdesk.gui.runs.columns import ColumnChooser
from expdesk.gui.runs.default_columns import Workspace, default_columns
from expdesk.gui.runs.query import Column
from expdesk.gui.window.counts import count_text
from expdesk.gui.window.folders import Folders
from expdesk.gui.window.key_watch import KeysAnswer, KeysRequest, KeyWatch, measure
from expdesk.gui.window.layout import WindowLayout
from expdesk.gui.window.notices import Notices
from expdesk.gui.window.parts_actions import PartsActions
from expdesk.gui.window.run_actions import RunActions
from expdesk.gui.window.selection import SelectionKeeper
from expdesk.gui.window.sources_panel import SourceInfo, load_sources
from expdesk.gui.window.state import WindowState
from expdesk.gui.window.tools import WorkspaceTools
from expdesk.gui.window.views import WindowViews
from expdesk.gui.workers.pool import IndexBridge, WorkerPool
from expdesk.index.table import key_stats, only_shown, only_starred, run_counts
from expdesk.watch.watcher import Watcher

#: sources, vocabulary, key spread and counts of the listed runs; a sources job answers the first and
#: last (None for the others), a keys job the middle two (`_load_workspace`)
WorkspaceAnswer = tuple[
    list[SourceInfo] | None, dict[str, list[str]] | None, Workspace | None, dict[str, int] | None
]
#: a live burst waits for a quiet moment this long, but never longer than `CHANGES_AT_MOST_MS` (a sweep
#: logging every few hundred ms is never quiet, and its new runs and keys must still show)
CHANGES_QUIET_MS = 400
CHANGES_AT_MOST_MS = 2000


class MainWindow(QMainWindow):
    #: an indexing pass finished (IndexReport); tests and `--self-test` wait on it
    indexing_finished = Signal(object)
    #: Ctrl+D with the selected run keys (the compare view connects here)
    compare_requested = Signal(list)
    #: a write (star/labels/note/root/hide) finished
    write_finished = Signal()
    #: the columns, counts and vocabulary of the listed runs were loaded (tests wait on it)
    workspace_loaded = Signal()

    def __init__(self, index: Any, watch: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.setWindowTitle("expdesk")
        self.setAcceptDrops(True)
        self.pool = WorkerPool(3, self, "expdesk-query")
        self.index_pool = WorkerPool(1, self, "expdesk-index")
        self.pool.error.connect(self.show_error)
        self.index_pool.error.connect(self.show_error)
        self.watcher: Any = None
        if watch:
            self.watcher = Watcher(index)
        # with a watcher, its listeners hear every commit (once started) plus runs turning stale
        self.bridge = IndexBridge(self.watcher or index.writer, self)
        self.bridge.runs_changed.connect(self._on_runs_changed)
        self._notices = Notices(index, self)
        self._notices.said.connect(self._show_notice)
        self._closed = False
        self._known_keys: set[str] | None = None
        self._pending_changes: set[str] = set()
        self._vocab: dict[str, list[str]] = {"params": [], "metrics": [], "tags": []}
        self.workspace = Workspace(0, {})
        self._workspace_generation = 0
        self._sources_waiting = False  # the current generation's sources answer is still to come
        self.keys = KeyWatch()  # when the key spread is measured again (one keys job at a time)
        self.counts: dict[str, int] = {}
        self._user_filter: tuple[str, tuple[Any, ...]] = ("", ())
        self.ui = WindowLayout(self, self.pool, index.reader, self.open_folder_dialog)
        self.model = self.ui.model
        self.table = self.ui.table
        self.selection = SelectionKeeper(self.ui, self)
        self.detail = self.ui.detail
        self.filter_bar = self.ui.filter_bar
        self.sources = self.ui.sources
        self.folders = Folders(self)
        self.state = WindowState(self)
        #: the user's own columns for this index, or None while automatic (defaults follow the runs)
        self.custom_columns = self.state.saved_columns()
        self._wire()
        self.run_actions = RunActions(self)
        self.views = WindowViews(self, index, self.index_pool, self.detail, self.reload_all)
        self.parts_actions = PartsActions(self)  # split / join, in the runs table's context menu
        # workspace charts, Views menu, File > Export Report
        self.tools = WorkspaceTools(
            self, index, self.pool, self.ui, self.selected_keys, lambda: self._known_keys, self.use_columns
        )
        self.state.restore_window()
        self.ui.widths.update(self.state.widths)
        # coalesce bursts of "runs changed" into one reload + one toast
        self._change_timer = QTimer(self)
        self._change_timer.setSingleShot(True)
        self._change_timer.setInterval(CHANGES_QUIET_MS)
        self._change_timer.timeout.connect(self._apply_changes)
        self._change_deadline = QTimer(self)
        self._change_deadline.setSingleShot(True)
        self._change_deadline.setInterval(CHANGES_AT_MOST_MS)
        self._change_deadline.timeout.connect(self._apply_changes)
        self.status_timer = QTimer(self)
        self.status_timer.setInterval(1000)
        self.status_timer.timeout.connect(self.folders.update_watch_status)
        if self.custom_columns:
            self.model.set_columns(list(self.custom_columns))  # shown with the first reload
        self.state.restore_view()
        self._apply_filter()
        self._load_workspace()
        self._load_known_keys()
        for line in getattr(index, "notices", []):  # said before this window existed (storage mode)
            self._show_notice(line)

    # -- wiring -------------------------------------------------------------------------------------
    def _wire(self) -> None:
        ui = self.ui
        self.model.counted.connect(self._on_counted)
        self.model.loading.connect(lambda busy: ui.busy.setVisible(busy))
        self.model.failed.connect(self.show_error)
        self.model.modelReset.connect(self._apply_pending_sort)
        self.model.modelReset.connect(self._on_rows_shown)
        self.model.rows_replaced.connect(self._on_rows_shown)
        self.filter_bar.applied.connect(self._on_filter)
        self.filter_bar.state_changed.connect(lambda _s: self._on_counted(self.model.total(), 0))
        ui.starred_only.toggled.connect(lambda _on: self._apply_filter())
        ui.group_by.currentIndexChanged.connect(self._on_group)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
        self.table.activated.connect(lambda _i: self.open_detail())
        self.detail.star_requested.connect(lambda key, on: self.set_star([key], on))
        self.detail.labels_requested.connect(self._write_labels)
        self.detail.note_requested.connect(self._write_note)
        self.sources.add_requested.connect(self.open_folder_dialog)
        self.sources.remove_requested.connect(self.remove_root)
        self.sources.network_requested.connect(self.folders.set_network)
        ui.cancel.clicked.connect(self.folders.cancel_indexing)
        actions = ui.actions
        actions["open"].triggered.connect(self.open_folder_dialog)
        actions["refresh"].triggered.connect(self.folders.reindex)
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
        actions["show_hidden"].toggled.connect(lambda _on: self._apply_filter())
        # single-key shortcuts: a QLineEdit claims printable keys first (ShortcutOverride), so typing
        # "/" or "s" in the filter or a note still types
        QShortcut(QKeySequence("/"), self, self.filter_bar.focus)
        QShortcut(QKeySequence("S"), self, self.toggle_star)
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape):
            # context set explicitly: the constructor's keyword is not honoured by this PySide6, and a
            # window-wide Return would swallow Enter in the filter bar
            shortcut = QShortcut(QKeySequence(key), self.table)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
            if key == Qt.Key.Key_Escape:
                shortcut.activated.connect(self.table.clearSelection)
            else:
                shortcut.activated.connect(self.open_detail)
        self.folders.refresh_recent_menu()

    # -- folders (see folders.py) -------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self.folders.drag_enter(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self.folders.drop(event)

    def open_folder_dialog(self) -> None:
        self.folders.ask()

    def add_folders(self, folders: list[str], network: bool = False) -> None:
        self.folders.add(folders, network)

    def remove_root(self, path: str) -> None:
        self.folders.remove(path)

    def start_watching(self) -> None:
        self.folders.start_watching()

    def refresh(self) -> None:
        """F5: re-read the index and re-index every root (unchanged runs cost a stat)."""
        self.folders.reindex()

    # -- queries ------------------------------------------------------------------------------------
    def reload_all(self) -> None:
        self.model.reload()
        self._load_workspace()

    def _load_workspace(self, keys_too: bool = True, changed: set[str] | None = None) -> None:
        """Sources and counts of the listed runs, and their vocabulary and key spread (what the automatic
        columns are chosen by): separate worker jobs, so that the columns do not wait for the counts (at
        100,000 runs the first take ~0.2 s, the second ~0.1 s, both longer while the table loads). The key
        spread is measured again when runs came or went (`keys_too`) or when one of the `changed` runs logged
        a key or a param value it had not (`KeyWatch`); one keys job at a time, so its answers come in order.
        Sources jobs run in parallel: each answer carries its request's generation and a late, older one is
        dropped. `workspace_loaded` once the sources have answered and no keys job runs or waits."""
        self._workspace_generation += 1
        generation = self._workspace_generation
        self._sources_waiting = True
        if keys_too:
            self.keys.stale()
        self.keys.changed(changed or ())

        def sources_job() -> WorkspaceAnswer:
            with self.index.reader() as reader:
                return load_sources(reader), None, None, run_counts(reader)

        self.pool.submit(sources_job, lambda answer: self._on_workspace(generation, answer))
        self._request_keys()

    def _request_keys(self) -> None:
        request = self.keys.request()
        if request is None:
            return

        def keys_job() -> KeysAnswer:
            with self.index.reader() as reader:
                return measure(reader, request, key_stats)

        def failed(message: str) -> None:
            self.keys.answered(request, None)  # (tried again with the next change, not in a loop now)
            self.show_error(message)
            self._loaded_when_done()

        self.pool.submit(keys_job, lambda answer: self._on_keys(request, answer), failed)

    def _on_keys(self, request: KeysRequest, answer: KeysAnswer) -> None:
        self.keys.answered(request, answer)
        self._request_keys()  # what changed while this job ran
        if answer.workspace is None:
            self._loaded_when_done()
        else:  # (keys answers come in order: the newest measured, whatever the sources' generation)
            self._on_workspace(self._workspace_generation, (None, answer.vocab, answer.workspace, None))

    def _on_workspace(self, generation: int, answer: WorkspaceAnswer) -> None:
        if generation != self._workspace_generation:
            return
        sources, vocab, workspace, counts = answer
        if sources is not None:
            self.sources.show_sources(sources)
            self._sources_waiting = False
        if counts is not None:
            self.counts = counts
        if vocab is not None and workspace is not None:
            changed = vocab != self._vocab or workspace != self.workspace
            self._vocab, self.workspace = vocab, workspace
            self.filter_bar.set_vocabulary(vocab)
            self.ui.set_group_choices(vocab["params"])
            if changed:
                self._apply_columns()
            self._apply_pending_sort()
        self._on_counted(self.model.total(), 0)
        self._loaded_when_done()

    def _loaded_when_done(self) -> None:
        if not self._sources_waiting and self.keys.in_flight is None:
            self.workspace_loaded.emit()

    def _apply_columns(self) -> None:
        """Automatic columns follow the runs; the user's own drop keys no listed run has any more."""
        if self.custom_columns is None:
            wanted = default_columns(self.workspace)
        else:
            sections = {"param": "params", "metric": "metrics", "tag": "tags"}
            stats = self.workspace.stats
            wanted = [
                c for c in self.custom_columns if c.kind == "attr" or c.key in stats.get(sections[c.kind], {})
            ]
        if wanted != self.model.requested_columns():
            self.model.set_columns(wanted)

    def _load_known_keys(self) -> None:
        def job() -> set[str]:
            with self.index.reader() as reader:
                return reader.all_keys()

        self.pool.submit(job, lambda keys: setattr(self, "_known_keys", keys | (self._known_keys or set())))

    def _filtering(self) -> bool:
        return bool(self._user_filter[0]) or self.ui.starred_only.isChecked()

    def showing_hidden(self) -> bool:
        return self.ui.actions["show_hidden"].isChecked()

    def _on_filter(self, where_sql: str, params: tuple[Any, ...]) -> None:
        self._user_filter = (where_sql, tuple(params))
        self._apply_filter()

    def _apply_filter(self) -> None:
        where_sql, params = self._user_filter
        if self.ui.starred_only.isChecked():
            where_sql, params = only_starred(where_sql, params)
        if not self.showing_hidden():
            where_sql, params = only_shown(where_sql, params)
        self.model.set_filter(where_sql, params)

    def _on_group(self, index: int) -> None:
        self.model.set_group(self.ui.group_by.itemData(index))

    def _on_counted(self, total: int, groups: int) -> None:
        if self.model.completing():
            return  # a reload showed its first rows and has not counted yet: its `counted` says how many
        groups = groups or self.model.groups()
        self.ui.count_label.setText(
            count_text(
                total, groups, self._filtering(), self.counts, self.filter_bar.state, self.showing_hidden()
            )
        )
        self.ui.update_empty_state(total, bool(self.sources.sources()), self._filtering())

    def choose_columns(self) -> None:
        dialog = ColumnChooser(self.model.columns(), self.workspace, self)
        if dialog.exec():
            self.custom_columns = None if dialog.automatic else dialog.columns()
            self._apply_columns()
            self.state.save(self.custom_columns)
        dialog.deleteLater()

    def use_columns(self, columns: list[Column]) -> None:
        """Columns chosen elsewhere (a saved view): the user's own from now on, as if chosen in the dialog."""
        self.custom_columns = list(columns)
        self._apply_columns()

    def _apply_pending_sort(self) -> None:
        """A sort restored from the last session, once its column is on screen (forgotten if it vanished)."""
        if self.state.pending_sort is None or not self.workspace.runs:
            return
        if self.model.requested_columns() != self.model.columns():
            return  # the columns the sort waits for are still loading: their reset calls again
        column_id, descending = self.state.pending_sort
        ids = [c.id for c in self.model.columns()]
        self.state.pending_sort = None
        if column_id in ids:
            order = Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder
            self.table.sortByColumn(ids.index(column_id) + (1 if self.model.group_param() else 0), order)

    # -- live changes -------------------------------------------------------------------------------
    def _on_runs_changed(self, keys: set[str]) -> None:
        if "*" in keys:  # another process removed a root (or could not say what it changed)
            self.reload_all()
            return
        self.model.refresh_keys(keys)
        if self.detail.key in keys:
            self.detail.refresh()
        self._pending_changes |= keys
        self._change_timer.start()  # (restarted by each change: waits for a quiet moment...)
        if not self._change_deadline.isActive() and not self.folders.indexing:
            self._change_deadline.start()  # (...but not for ever; a pass of ours reloads when it ends)

    def _apply_changes(self) -> None:
        self._change_timer.stop()
        self._change_deadline.stop()
        keys, self._pending_changes = self._pending_changes, set()
        known = self._known_keys
        new = set() if known is None else keys - known
        if known is not None:
            known |= keys
        if new:
            # a reload keeps the selection and scroll position (SelectionKeeper)
            self.model.reload()
            if not self.folders.indexing:
                self.ui.toast.show_message(f"{len(new)} new run{'s' if len(new) > 1 else ''}")
        # new runs may bring keys (they join their group of columns), and so may known runs: a metric
        # logged for the first time, a param's new value (measured again only then: `KeyWatch`)
        self._load_workspace(keys_too=bool(new), changed=keys - new)

    def _on_rows_shown(self) -> None:
        # a reload's first rows arrive before its count (RunsModel): the table replaces the empty page now
        if self.model.rowCount():
            self.ui.update_empty_state(self.model.total(), bool(self.sources.sources()), self._filtering())

    # -- runs: detail, stars, compare ---------------------------------------------------------------
    def selected_keys(self) -> list[str]:
        return self.selection.selected_keys()

    def _on_current_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self.detail.isVisible() and not self.selection.replacing:
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

        self.index_pool.submit(job, lambda _r: self.after_write(False))

    def _write_labels(self, key: str, labels: list[str]) -> None:
        self.index_pool.submit(lambda: self.index.set_labels(key, labels), lambda _r: self.after_write(False))

    def _write_note(self, key: str, note: str) -> None:
        self.index_pool.submit(lambda: self.index.set_note(key, note), lambda _r: self.after_write(False))

    def after_write(self, roots_changed: bool) -> None:
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

    # -- lifetime -----------------------------------------------------------------------------------
    def _show_notice(self, line: str) -> None:
        self.statusBar().showMessage(line[:300], 15000)

    def show_error(self, message: str) -> None:
        self.statusBar().showMessage(message.splitlines()[0][:300] if message else "error", 8000)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        # after the first layout pass: a splitter given sizes before it has its width rescales them
        QTimer.singleShot(0, self.state.apply_splitter)

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
        self.tools.shutdown()
        self.state.save(self.custom_columns)
        self.folders.cancel.set()
        self._change_timer.stop()
        self._change_deadline.stop()
        self.status_timer.stop()
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
