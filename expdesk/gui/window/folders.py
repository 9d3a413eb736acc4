"""Watched folders of the main window: adding them (dialog, drop, recent, command line), indexing them on the
index worker with progress and cancel, removing them, marking them network mounts, and their live status.

Kept apart from the window class, which is about the runs table; this object owns no widget, it drives the
window's sources panel and progress bar.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog

from expdesk.core.paths import is_server_url
from expdesk.gui.window import settings
from expdesk.gui.window.layout import local_folders
from expdesk.index.indexer import IndexReport

#: the main window (typed loosely: importing its class here would make an import cycle with it)
MainWindow = Any

PROGRESS_EVERY = 0.05  # s between progress signals from the indexer (the status bar needs no more)


class _Progress(QObject):
    changed = Signal(int, int)


class Folders:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.indexing = 0
        self.cancel = threading.Event()
        self._progress = _Progress(window)
        self._progress.changed.connect(self._on_progress)

    # -- adding -------------------------------------------------------------------------------------
    def drag_enter(self, event: QDragEnterEvent) -> None:
        if local_folders(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def drop(self, event: QDropEvent) -> None:
        folders = local_folders(event.mimeData())
        if folders:
            event.acceptProposedAction()
            self.add(folders)

    def ask(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Open run folder")
        if folder:
            self.add([folder])

    def add(self, folders: list[str], network: bool = False) -> None:
        """Add watched roots and index them on the index worker, with progress and a cancel button."""
        folders = [os.path.abspath(f) for f in dict.fromkeys(folders)]
        for folder in folders:
            settings.add_recent_folder(folder)
        self.refresh_recent_menu()
        self.run_index_job(folders, network)

    def refresh_recent_menu(self) -> None:
        menu = self.window.ui.recent_menu
        menu.clear()
        for folder in settings.recent_folders():
            action = QAction(folder.replace("&", "&&")[:200], menu)
            action.triggered.connect(lambda _c=False, f=folder: self.add([f]))
            menu.addAction(action)
        menu.setEnabled(bool(menu.actions()))

    # -- indexing -----------------------------------------------------------------------------------
    def run_index_job(self, folders: list[str], network: bool = False) -> None:
        window, ui = self.window, self.window.ui
        self.indexing += 1
        self.cancel.clear()
        ui.show_progress(0, 0, "Indexing " + ", ".join(Path(f).name or f for f in folders)[:120] + "…")
        for folder in folders:
            window.sources.set_status(folder, "indexing…")
        index, cancel, progress = window.index, self.cancel, self._progress
        last = [0.0]

        def report(done: int, total: int, _path: str) -> None:
            # indexer thread: throttled emits only
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY or done == total:
                last[0] = now
                progress.changed.emit(done, total)

        watcher = window.watcher

        def job() -> IndexReport:
            result = index.index(folders, progress=report, cancelled=cancel.is_set, network=network)
            if watcher is not None and not result.cancelled:
                for folder in folders:  # (writes the root row: so on this worker, not the GUI thread)
                    watcher.add_root(folder, network)
            return result

        def done(result: IndexReport) -> None:
            self.indexing -= 1
            for folder in folders:
                window.sources.set_status(
                    folder, "cancelled" if result.cancelled else self.live_word(network)
                )
            if self.indexing == 0:
                ui.hide_progress()
            word = "Cancelled after" if result.cancelled else "Indexed"
            errors = f", {len(result.errors)} with errors" if result.errors else ""
            ui.toast.show_message(f"{word} {result.found} runs{errors} ({result.seconds:.1f} s)")
            window.reload_all()
            window.indexing_finished.emit(result)

        def failed(message: str) -> None:
            self.indexing -= 1
            if self.indexing == 0:
                ui.hide_progress()
            for folder in folders:
                window.sources.set_status(folder, f"error: {message}")
            window.show_error(message)
            window.indexing_finished.emit(None)

        window.index_pool.submit(job, done, failed)

    def live_word(self, network: bool) -> str:
        if self.window.watcher is None:
            return "not watched"  # (short: the Sources panel is narrow; the folder is indexed)
        return "polling (network)" if network else "watching"

    def cancel_indexing(self) -> None:
        self.cancel.set()
        self.window.ui.progress_label.setText("Cancelling…")

    def _on_progress(self, done: int, total: int) -> None:
        if self.indexing:
            self.window.ui.show_progress(done, total, f"Indexing… {done:,} / {total:,} runs")

    def reindex(self) -> None:
        """F5: re-index every root (unchanged runs cost a stat), or just re-read the index without roots."""
        window = self.window

        def job() -> list[str]:
            with window.index.reader() as reader:
                return [r["path"] for r in reader.roots()]

        window.pool.submit(job, lambda roots: self.run_index_job(roots) if roots else window.reload_all())

    # -- roots --------------------------------------------------------------------------------------
    def remove(self, path: str) -> None:
        window = self.window
        if window.watcher is not None:
            window.watcher.remove_root(path)
        window.index_pool.submit(lambda: window.index.remove_root(path), lambda _r: window.after_write(True))

    def set_network(self, path: str, network: bool) -> None:
        window = self.window
        watcher = window.watcher

        def job() -> None:
            if watcher is not None:
                watcher.remove_root(path)
                watcher.add_root(path, network)  # also updates the root row
            else:
                window.index.add_root(path, network)

        def done(_r: object) -> None:
            window.sources.set_status(path, self.live_word(network))
            window.after_write(True)

        window.index_pool.submit(job, done)

    def start_watching(self) -> None:
        """Watch the saved roots (the watcher indexes them first); without the watch package, re-index."""
        window = self.window
        watcher = window.watcher

        def job() -> list[dict[str, Any]]:
            with window.index.reader() as reader:
                roots = reader.roots()
            folders = [r for r in roots if not is_server_url(r["path"])]
            for root in roots:
                if is_server_url(root["path"]):  # a tracking server is polled, not watched
                    window.views.watch_server(root["path"])
            if watcher is not None:
                for root in folders:
                    watcher.add_root(root["path"], bool(root["network"]))
                watcher.start()  # returns at once; its own thread schedules and indexes
            return folders

        def done(roots: list[dict[str, Any]]) -> None:
            if watcher is None:
                if roots:
                    self.run_index_job([r["path"] for r in roots])
                return
            window.status_timer.start()

        window.index_pool.submit(job, done)

    def update_watch_status(self) -> None:
        watcher = self.window.watcher
        if watcher is None:
            return
        sources = self.window.sources
        for status in watcher.status():
            word = {"native": "watching", "polling": "polling (network)", "missing": "folder missing"}.get(
                status.mode, status.mode
            )
            if status.error:
                word += f" · error: {status.error}"
            if sources.status_of(status.path) != word and self.indexing == 0:
                sources.set_status(status.path, word)
