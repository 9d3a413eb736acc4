"""GUI test fixtures: QSettings in a temp dir, a fresh index per test, and a leak check after each test
(no expdesk thread, no visible top-level widget, no running pool job outlives a test)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QSettings
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from expdesk.gui.compare.workers import wait_retired
from expdesk.gui.window.main_window import MainWindow
from expdesk.index.service import Index


@pytest.fixture(autouse=True)
def _isolated_qsettings(qapp: QApplication, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("qsettings")
    QCoreApplication.setOrganizationName("expdesk-tests")
    QCoreApplication.setApplicationName("expdesk-tests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    yield folder


def _expdesk_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("expdesk") and t.is_alive())


@pytest.fixture(autouse=True)
def _no_leaks(qapp: QApplication) -> Iterator[None]:
    before_threads = _expdesk_threads()
    before_widgets = {id(w) for w in qapp.topLevelWidgets()}
    yield
    wait_retired()  # the last task of a compare window closed while it ran
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    qapp.processEvents()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert _expdesk_threads() == before_threads, "a thread outlived the test"
    leftover = [w for w in qapp.topLevelWidgets() if id(w) not in before_widgets and w.isVisible()]
    assert not leftover, f"visible widgets outlived the test: {leftover}"


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    idx = Index(tmp_path / "index.sqlite")
    yield idx
    idx.close()


@pytest.fixture
def plain_runs(tmp_path: Path, runs_dir: Path) -> Path:
    """A writable copy of the plain-folder corpus (tests never touch tests/data in place)."""
    target = tmp_path / "plain"
    shutil.copytree(runs_dir / "plain", target)
    return target


@pytest.fixture
def window(qtbot: QtBot, index: Index) -> Iterator[MainWindow]:
    win = MainWindow(index, watch=False)
    qtbot.addWidget(win)
    win.resize(1300, 800)
    win.show()
    yield win
    win.close()
    win.deleteLater()
