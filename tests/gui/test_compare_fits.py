"""The compare window fits its screen whatever the runs hold, and closes from the keyboard (issue 20 #1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from expdesk.gui.compare.view import CompareView
from expdesk.gui.window.main_window import MainWindow
from expdesk.index.service import Index
from tests.compare.conftest import add_run


@pytest.fixture
def long_keys(index: Index, tmp_path: Path) -> list[str]:
    shared = "/data/" + "x" * 3000  # the same long word in every run: goes to the "constant" summary
    return [
        add_run(
            index,
            tmp_path,
            f"run-{i}",
            {"token": f"{i}" + "t" * 3000, "path": shared, "lr": f"0.{i + 1}", "k" * 400: "v"},
            {"val_loss": np.linspace(1.0, 0.1 * (i + 1), 40)},
        )
        for i in range(2)
    ]


@pytest.fixture
def view(qtbot: QtBot, index: Index, long_keys: list[str]) -> Iterator[CompareView]:
    compare = CompareView(index, long_keys)
    qtbot.addWidget(compare)
    with qtbot.waitSignal(compare.table_ready, timeout=15_000):
        compare.show()
    yield compare
    compare.close()


def _screen_width() -> int:
    screen = QGuiApplication.primaryScreen()
    assert screen is not None
    return screen.availableGeometry().width()


def test_long_values_do_not_widen_the_window(view: CompareView, qtbot: QtBot) -> None:
    limit = min(_screen_width(), 1600)
    for i in range(view.tabs.count()):
        view.tabs.setCurrentIndex(i)
        qtbot.waitUntil(lambda: view.minimumSizeHint().width() <= limit, timeout=5_000)
        assert view.minimumSizeHint().width() <= limit, view.tabs.tabText(i)
        assert view.minimumSize().width() <= limit
    header = view.table_tab.table_view.horizontalHeader()
    widest = max(header.sectionSize(i) for i in range(header.count()))
    assert widest <= 600, "a column sized to a 3,000-character value"


@pytest.mark.parametrize(
    "key",
    [
        (Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier),
        (Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier),
    ],
)
def test_escape_and_ctrl_w_close_a_compare_window(
    view: CompareView, qtbot: QtBot, key: tuple[Qt.Key, Qt.KeyboardModifier]
) -> None:
    view.activateWindow()
    view.table_tab.table_view.setFocus()  # where the keyboard is after a click in the table
    qtbot.keyClick(view.table_tab.table_view, key[0], key[1])
    qtbot.waitUntil(lambda: not view.isVisible(), timeout=5_000)


def test_compare_window_opens_within_a_small_screen(
    window: MainWindow, qtbot: QtBot, long_keys: list[str]
) -> None:
    compare = window.views.open_compare(long_keys)
    try:
        with qtbot.waitSignal(compare.table_ready, timeout=15_000):
            pass
        area = compare.screen().availableGeometry()
        assert compare.width() <= area.width() and compare.height() <= area.height()
    finally:
        compare.close()
