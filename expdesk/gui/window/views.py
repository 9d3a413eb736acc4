"""Wires the views written as standalone widgets (compare, lineage, export) into the main window.

Kept apart from main_window.py so the window stays about the runs table; each function here owns the life
cycle of what it opens (the window calls `close_all` on shutdown).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QStandardPaths, Qt
from PySide6.QtWidgets import QMainWindow, QWidget

from expdesk.gui.detail.lineage_view import LineageView
from expdesk.gui.media.view import MediaView
from expdesk.gui.screen import fit_to_screen
from expdesk.gui.window import settings
from expdesk.lineage.build import build_lineage

if TYPE_CHECKING:
    from expdesk.gui.compare.view import CompareView
    from expdesk.gui.detail.panel import DetailPanel
    from expdesk.gui.dialogs.export import ExportDialog
    from expdesk.gui.dialogs.push import PushDialog
    from expdesk.gui.workers.pool import WorkerPool
    from expdesk.index.service import Index
    from expdesk.remote.browse import ServerRefresher


class WindowViews:
    """The compare windows, the lineage tab and export dialogs of one main window."""

    def __init__(
        self,
        window: QMainWindow,
        index: Index,
        index_pool: WorkerPool,
        detail: DetailPanel,
        reload_all: Callable[[], None],
    ) -> None:
        """`window` parents the dialogs and shows messages; `index_pool` runs writes (adding a server);
        `reload_all` refreshes the runs table after one."""
        self.window = window
        self.index = index
        self.index_pool = index_pool
        self.reload_all = reload_all
        self.compares: list[CompareView] = []
        self.dialogs: list[ExportDialog] = []
        self.pushes: list[PushDialog] = []
        self.servers: dict[str, ServerRefresher] = {}
        self._lock = threading.Lock()  # watch_server is called from an index-pool worker

        def load_lineage(key: str) -> Any:
            # runs on a worker thread: its own read-only reader; hashes are cached through the writer
            with index.reader() as reader:
                return build_lineage(reader, key, writer_call=index.writer.call)

        self.lineage = LineageView(load_lineage, detail)
        self.lineage.run_activated.connect(lambda key: detail.show_run(key))
        detail.add_tab("Lineage", self.lineage, self.lineage.set_run)
        self.media = MediaView(index.reader, detail)
        detail.add_tab("Media", self.media, self.media.set_run)

    def open_compare(self, keys: list[str]) -> CompareView:
        # views are imported when first opened: they pull in matplotlib's Qt backend (start-up time)
        from expdesk.gui.compare.view import CompareView

        view = CompareView(self.index, keys)
        view.setWindowTitle(f"Compare {len(keys)} runs — expdesk")
        view.resize(fit_to_screen(self.window, 1280, 820))
        # the tab the user last looked at (Table, Charts, ...) opens again
        tab = str(settings.ui_settings().value("compare/tab", 0))
        view.tabs.setCurrentIndex(int(tab) if tab.isdigit() and int(tab) < view.tabs.count() else 0)
        view.tabs.currentChanged.connect(lambda i: settings.ui_settings().setValue("compare/tab", i))
        # closing deletes the window (its tasks are waited for and its listener closed in closeEvent)
        view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        view.destroyed.connect(
            lambda _o=None, v=view: self.compares.remove(v) if v in self.compares else None
        )
        self.compares.append(view)
        view.show()
        return view

    def open_export(self, key: str, label: str, parent: QWidget | None = None) -> ExportDialog:
        from expdesk.bundle.export import ExportOptions, plan_bundle, write_bundle
        from expdesk.gui.dialogs.export import ExportDialog

        index = self.index

        def planner(progress: Any, cancelled: Any, with_training_state: bool = False) -> Any:
            options = ExportOptions(with_training_state=with_training_state)
            with index.reader() as reader:  # the worker thread's own reader
                return plan_bundle(reader, key, options, progress, cancelled, writer_call=index.writer.call)

        out_dir = Path(
            QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation) or Path.home()
        )
        dialog = ExportDialog(label, planner, write_bundle, out_dir, parent or self.window)
        dialog.exported.connect(
            lambda path: self.window.statusBar().showMessage(f"Bundle written: {path}", 8000)
        )
        dialog.finished.connect(lambda _r, d=dialog: self.dialogs.remove(d) if d in self.dialogs else None)
        self.dialogs.append(dialog)
        dialog.show()
        return dialog

    def open_push(self, keys: list[str]) -> PushDialog | None:
        """Push the selected runs to an MLflow tracking server (Ctrl+Shift+P)."""
        from expdesk.gui.dialogs.push import PushDialog, index_pusher

        if not keys:
            self.window.statusBar().showMessage("Select the runs to push (Ctrl+Shift+P).", 4000)
            return None
        dialog = PushDialog(len(keys), index_pusher(self.index.db_path, keys), parent=self.window)
        dialog.finished.connect(lambda _r, d=dialog: self.pushes.remove(d) if d in self.pushes else None)
        self.pushes.append(dialog)
        dialog.show()
        return dialog

    def ask_server(self) -> None:
        """File > Add MLflow Server…: a tracking server becomes a source next to the folders (read-only)."""
        from PySide6.QtWidgets import QInputDialog

        text, ok = QInputDialog.getText(
            self.window,
            "Add MLflow server",
            "Tracking server URL (credentials come from the environment):",
            text="http://127.0.0.1:5000",
        )
        if ok and text.strip():
            self.add_server(text.strip())

    def add_server(self, url: str) -> None:
        """Remember the server as a root and keep its runs listed (a worker lists them, then polls)."""
        from expdesk.remote.http import source_url

        root = source_url(url if url.startswith("mlflow+") else f"mlflow+{url}")

        def job() -> None:
            self.index.add_root(root)
            self.watch_server(root)

        self.index_pool.submit(job, lambda _r: self.reload_all())

    def watch_server(self, url: str) -> None:
        """Keep a tracking server's runs in the index, refreshed on a timer (its own thread)."""
        from expdesk.remote.browse import ServerRefresher

        with self._lock:
            if url in self.servers:
                return
            refresher = ServerRefresher(self.index, url)
            self.servers[url] = refresher
        refresher.start()

    def close_all(self) -> None:
        self.media.shutdown()
        with self._lock:
            servers, self.servers = list(self.servers.values()), {}
        for refresher in servers:
            refresher.stop()
        for push in list(self.pushes):
            push.reject()
        self.pushes.clear()
        for view in list(self.compares):
            view.shutdown()
            view.close()
        for dialog in list(self.dialogs):
            dialog.reject()
        self.compares.clear()
        self.dialogs.clear()
