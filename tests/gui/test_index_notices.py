"""The index's one-line notices reach the window's status bar: a network home, a read-only index, another
process writing. The filesystem is injected; the index is real."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from expdesk.gui.window.main_window import MainWindow
from expdesk.index.service import Index
from expdesk.index.storage import FsInfo


@pytest.fixture
def make_window(qtbot: QtBot) -> Iterator[object]:
    opened: list[tuple[MainWindow, Index]] = []

    def make(index: Index) -> MainWindow:
        window = MainWindow(index, watch=False)
        qtbot.addWidget(window)
        window.show()
        opened.append((window, index))
        return window

    yield make
    for window, index in opened:
        window.close()
        window.deleteLater()
        index.close()


def test_network_home_is_said_in_the_status_bar(tmp_path: Path, make_window: object, qtbot: QtBot) -> None:
    index = Index(tmp_path / "index.sqlite", fs_probe=lambda _folder: FsInfo("nfs4"))
    window = make_window(index)  # type: ignore[operator]
    qtbot.waitUntil(
        lambda: "network filesystem (nfs4)" in window.statusBar().currentMessage(), timeout=60_000
    )


def test_read_only_index_is_said_and_a_star_is_refused_in_one_line(
    tmp_path: Path, make_window: object, qtbot: QtBot, plain_runs: Path
) -> None:
    db = tmp_path / "index.sqlite"
    with Index(db) as writable:
        writable.index([plain_runs])
    index = Index(db, fs_probe=lambda _folder: FsInfo("ext4", read_only=True))
    window = make_window(index)  # type: ignore[operator]
    qtbot.waitUntil(lambda: window.model.rowCount() > 0, timeout=60_000)
    assert "read-only" in window.statusBar().currentMessage()
    key = window.model.key_at(0)
    assert key is not None
    window.set_star([key], True)
    qtbot.waitUntil(lambda: "read-only" in window.statusBar().currentMessage(), timeout=60_000)
    message = window.statusBar().currentMessage()
    assert "\n" not in message and "Traceback" not in message


def test_a_notice_from_the_writer_thread_reaches_the_status_bar(
    tmp_path: Path, make_window: object, qtbot: QtBot
) -> None:
    index = Index(tmp_path / "index.sqlite")
    window = make_window(index)  # type: ignore[operator]
    # from another thread, as the writer thread says it while it waits for another process's lock
    line = "waiting for expdesk watch (pid 4242) to finish writing the index"
    thread = threading.Thread(target=index.writer._notice, args=(line,))
    thread.start()
    thread.join(60)
    qtbot.waitUntil(lambda: "pid 4242" in window.statusBar().currentMessage(), timeout=60_000)
