"""A day of real use in the main window (issue 20): it remembers per index, hides with undo, explains its
filter and its counts, and has a context menu on runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot

from expdesk.gui.runs.query import Column
from expdesk.gui.window.main_window import MainWindow
from expdesk.index.service import Index
from tests.groundtruth import RUNS
from tests.gui.helpers import add_and_wait, names, wait_idle
from tests.gui.test_main_window import _tree_digest


def _reopen(qtbot: QtBot, index: Index) -> MainWindow:
    again = MainWindow(index, watch=False)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: again.model.rowCount() > 0, timeout=15_000)
    wait_idle(qtbot, again)
    return again


def _close(window: MainWindow) -> None:
    window.close()  # (qtbot deletes it)


def test_window_remembers_per_index(
    window: MainWindow, qtbot: QtBot, plain_runs: Path, tmp_path: Path
) -> None:
    add_and_wait(qtbot, window, [plain_runs], rows=3)
    wait_idle(qtbot, window)
    chosen = [
        Column("attr", "name"),
        Column("attr", "status"),
        Column("param", "lr"),
        Column("param", "gone"),
    ]
    window.custom_columns = chosen
    window._apply_columns()  # "gone": a key no run has any more, dropped on restore
    qtbot.waitUntil(
        lambda: [c.id for c in window.model.columns()] == ["attr:name", "attr:status", "param:lr"]
    )
    header = window.table.horizontalHeader()
    header.moveSection(2, 1)  # drag "lr" before "status"
    header.resizeSection(0, 333)
    window.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    qtbot.waitUntil(lambda: names(window) == ["runs/run-002", "runs/run-001", "keras_runs/adam-16"])
    window.filter_bar.set_text('name ~ "run-"')
    qtbot.waitUntil(lambda: window.model.rowCount() == 2)
    window.resize(760, 640)
    window.ui.splitter.setSizes([150, 350, 200])
    sizes = window.ui.splitter.sizes()
    assert sizes != [200, 300, 200]
    window.detail.tabs.setCurrentIndex(2)
    sizes = window.ui.splitter.sizes()
    window.ui.actions["toggle_sources"].setChecked(False)
    window.close()  # saves (the fixture deletes it)

    again = _reopen(qtbot, window.index)
    try:
        qtbot.waitUntil(
            lambda: [c.id for c in again.model.columns()] == ["attr:name", "param:lr", "attr:status"]
        )
        assert again.table.horizontalHeader().sectionSize(0) == 333
        qtbot.waitUntil(lambda: names(again) == ["runs/run-002", "runs/run-001"], timeout=10_000)
        assert again.table.horizontalHeader().sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
        assert again.filter_bar.text() == 'name ~ "run-"'
        assert not again.ui.actions["toggle_sources"].isChecked() and not again.sources.isVisible()
        # the detail pane as it was (a fresh window gives it a quarter); the table has the hidden sources' room
        qtbot.waitUntil(lambda: again.ui.splitter.sizes()[2] == sizes[2])
        assert again.detail.tabs.currentIndex() == 2
    finally:
        _close(again)

    with Index(tmp_path / "other.sqlite") as other:  # another index remembers its own table
        fresh = MainWindow(other, watch=False)
        qtbot.addWidget(fresh)
        try:
            assert fresh.filter_bar.text() == ""
            assert fresh.ui.actions["toggle_sources"].isChecked()
            wait_idle(qtbot, fresh)
        finally:
            _close(fresh)


def test_delete_hides_with_undo_and_never_touches_runs(
    window: MainWindow, qtbot: QtBot, plain_runs: Path
) -> None:
    before = _tree_digest(plain_runs)
    add_and_wait(qtbot, window, [plain_runs], rows=3)
    wait_idle(qtbot, window)
    window.activateWindow()
    window.table.setFocus()
    window.table.selectRow(0)
    hidden = window.model.key_at(0)
    with qtbot.waitSignal(window.write_finished, timeout=10_000):
        qtbot.keyClick(window.table, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: window.model.rowCount() == 2 and window.model.row_of(hidden) < 0, timeout=10_000)
    qtbot.waitUntil(lambda: "1 hidden" in window.ui.count_label.text(), timeout=10_000)
    assert window.ui.count_label.text().startswith("2 runs")
    window.ui.actions["show_hidden"].setChecked(True)  # listed again, and marked
    qtbot.waitUntil(lambda: window.model.row_of(hidden) >= 0, timeout=10_000)
    assert any(n.endswith(" (hidden)") for n in names(window))
    window.ui.actions["show_hidden"].setChecked(False)
    qtbot.waitUntil(lambda: window.model.row_of(hidden) < 0, timeout=10_000)
    with qtbot.waitSignal(window.write_finished, timeout=10_000):
        qtbot.keyClick(window.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=10_000)
    qtbot.waitUntil(lambda: "hidden" not in window.ui.count_label.text(), timeout=10_000)
    window.table.selectRow(1)
    qtbot.keyClick(window.table, Qt.Key.Key_Escape)
    assert not window.table.selectionModel().hasSelection()
    wait_idle(qtbot, window)
    assert _tree_digest(plain_runs) == before, "hiding wrote into a run folder"


def test_context_menu_on_runs(
    window: MainWindow, qtbot: QtBot, plain_runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_and_wait(qtbot, window, [plain_runs], rows=3)
    window.table.selectAll()
    menu = window.run_actions.build_menu(window.run_actions.keys())
    assert isinstance(menu, QMenu)
    texts = [a.text() for a in menu.actions() if a.text()]
    menu.deleteLater()
    for wanted in (
        "Compare 3 Runs",
        "Open Run Folder",
        "Copy Path",
        "Copy Run Key",
        "Star / Unstar",
        "Add Label…",
        "Hide",
    ):
        assert any(t.startswith(wanted) for t in texts), (wanted, texts)
    assert any(t.startswith("Export") for t in texts)
    actions = window.ui.actions
    assert actions["hide"].shortcut().matches(Qt.Key.Key_Delete)
    assert actions["copy_key"].shortcut().toString() == "Ctrl+C"
    window.table.selectRow(0)
    window.run_actions.copy_keys()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == window.model.key_at(0)


def test_filter_explains_unknown_keys_and_syntax_errors(
    window: MainWindow, qtbot: QtBot, plain_runs: Path
) -> None:
    add_and_wait(qtbot, window, [plain_runs / "runs"], rows=2)
    wait_idle(qtbot, window)
    window.filter_bar.set_text("metrics.los.last < 10")
    qtbot.waitUntil(lambda: window.model.rowCount() == 0, timeout=10_000)
    message = window.filter_bar.error.text()
    assert window.filter_bar.error.isVisible()
    assert "no run has the metric 'los'" in message and "did you mean metrics.loss" in message
    assert "no run has" in window.ui.count_label.text()
    window.filter_bar.set_text("metrics.loss.last < 10")
    qtbot.waitUntil(lambda: window.model.rowCount() >= 1, timeout=10_000)
    assert not window.filter_bar.error.isVisible()
    count = window.ui.count_label.text()
    window.filter_bar.set_text("metrics.loss.last <")  # does not parse: the old number must not stand
    assert window.ui.count_label.text() != count
    assert "Filter not applied" in window.ui.count_label.text()


def test_counts_agree_between_sources_and_table(window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    store = tmp_path / "mlflow"
    shutil.copytree(RUNS / "mlflow" / "filestore", store)
    with qtbot.waitSignal(window.indexing_finished, timeout=30_000):
        window.add_folders([str(store)])
    qtbot.waitUntil(lambda: window.model.rowCount() > 0 and window.counts.get("runs", 0) > 0, timeout=10_000)
    wait_idle(qtbot, window)
    (source,) = window.sources.sources()
    assert source.runs == window.model.total() == window.counts["runs"]
    assert source.deleted >= 1, "the store has a soft-deleted run"
    label = window.ui.count_label.text()
    assert label.startswith(f"{window.model.total()} runs") and "deleted in their tool" in label
    tree = window.sources.tree
    top = tree.topLevelItem(0)
    assert top is not None and top.text(1) == str(window.model.total())
    assert any(top.child(i).text(0) == "deleted in tool" for i in range(top.childCount()))


def test_a_window_saved_on_a_bigger_screen_fits_this_one(
    window: MainWindow, qtbot: QtBot, plain_runs: Path
) -> None:
    add_and_wait(qtbot, window, [plain_runs], rows=3)
    window.resize(5000, 4000)
    window.move(3000, 2000)
    window.close()
    again = _reopen(qtbot, window.index)
    try:
        area = again.screen().availableGeometry()
        frame = again.frameGeometry()
        assert (
            area.contains(frame.topLeft())
            and frame.width() <= area.width()
            and frame.height() <= area.height()
        )
        assert again.minimumSizeHint().width() <= area.width()
    finally:
        _close(again)
