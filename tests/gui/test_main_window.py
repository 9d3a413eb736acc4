"""The real window, offscreen: drop folders, see runs, filter, sort, open detail, star."""

from __future__ import annotations

import hashlib
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from expdesk.gui.runs.model import STARRED_ROLE
from expdesk.gui.runs.query import Column
from expdesk.gui.window.main_window import MainWindow
from expdesk.index.service import Index
from tests.gui.helpers import add_and_wait, names, wait_idle


def _tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        h.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            h.update(path.read_bytes())
            h.update(str(path.stat().st_mtime_ns).encode())
    return h.hexdigest()


def test_empty_window_invites_a_drop(window: MainWindow, qtbot: QtBot) -> None:
    qtbot.waitUntil(lambda: window.ui.stack.currentWidget() is window.ui.empty)
    assert window.ui.empty_title.text() == "Drop run folders here"
    assert window.ui.empty_title.textFormat() == Qt.TextFormat.PlainText


def test_drop_folder_shows_runs_and_sources(window: MainWindow, qtbot: QtBot, plain_runs: Path) -> None:
    before = _tree_digest(plain_runs)
    add_and_wait(qtbot, window, [plain_runs / "runs", plain_runs / "keras_runs"], rows=3)
    assert sorted(names(window)) == ["adam-16", "run-001", "run-002"]
    assert window.ui.stack.currentWidget() is window.table
    assert "3 runs" in window.ui.count_label.text()
    qtbot.waitUntil(lambda: len(window.sources.sources()) == 2)
    by_path = {s.path: s for s in window.sources.sources()}
    assert by_path[str(plain_runs / "runs")].formats == {"generic": 2}
    assert by_path[str(plain_runs / "keras_runs")].runs == 1
    wait_idle(qtbot, window)
    assert _tree_digest(plain_runs) == before, "a run folder was written to"


def test_sort_by_header_in_sql(window: MainWindow, qtbot: QtBot, plain_runs: Path) -> None:
    add_and_wait(qtbot, window, [plain_runs], rows=3)
    name_col = [c.key for c in window.model.columns()].index("name")
    window.table.sortByColumn(name_col, Qt.SortOrder.DescendingOrder)
    qtbot.waitUntil(lambda: names(window) == ["runs/run-002", "runs/run-001", "keras_runs/adam-16"])
    window.table.sortByColumn(name_col, Qt.SortOrder.AscendingOrder)
    qtbot.waitUntil(lambda: names(window) == ["keras_runs/adam-16", "runs/run-001", "runs/run-002"])


def test_param_and_metric_columns(window: MainWindow, qtbot: QtBot, plain_runs: Path) -> None:
    add_and_wait(qtbot, window, [plain_runs / "runs"], rows=2)

    def cell(run: str, column_id: str) -> str | None:
        ids = [c.id for c in window.model.columns()]
        if column_id not in ids:
            return None
        rows = [r for r in range(window.model.rowCount()) if names(window)[r] == run]
        return window.model.index(rows[0], ids.index(column_id)).data() if rows else None

    # chosen columns: params (nested config keys flattened) and a metric's last value
    window.custom_columns = [
        Column("attr", "name"),
        Column("param", "lr"),
        Column("param", "train.lr"),
        Column("metric", "loss", "last"),
    ]
    window._apply_columns()
    qtbot.waitUntil(lambda: cell("run-001", "param:lr") == "0.05")
    qtbot.waitUntil(lambda: cell("run-002", "param:train.lr") == "0.01")
    assert cell("run-001", "metric:loss:last")
    assert cell("run-002", "param:lr") == ""


def test_filter_bar_filters_and_reports_errors(window: MainWindow, qtbot: QtBot, plain_runs: Path) -> None:
    add_and_wait(qtbot, window, [plain_runs / "runs"], rows=2)
    window.activateWindow()
    window.filter_bar.focus()  # keys go where the user types: shortcuts follow the focus widget
    qtbot.waitUntil(window.filter_bar.edit.hasFocus)
    qtbot.keyClicks(window.filter_bar.edit, 'name ~ "001"')
    qtbot.keyClick(window.filter_bar.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: names(window) == ["run-001"])
    assert "match the filter" in window.ui.count_label.text()
    # (typed text opened the completion popup, which keeps the focus on the offscreen platform)
    window.filter_bar.edit.setText("params.lr <")
    window.filter_bar.focus()
    qtbot.keyClick(window.filter_bar.edit, Qt.Key.Key_Return)
    assert window.filter_bar.error.isVisible()
    lines = window.filter_bar.error.text().splitlines()
    assert lines[0] == "params.lr <"
    assert set(lines[1].strip()) == {"^"}
    assert window.filter_bar.error.textFormat() == Qt.TextFormat.PlainText
    assert names(window) == ["run-001"], "a bad filter must not change the table"
    window.filter_bar.set_text("")
    qtbot.waitUntil(lambda: window.model.rowCount() == 2)
    # completion offers the index's keys for the word at the cursor
    window.filter_bar.edit.setText("params.l")
    window.filter_bar._complete()
    assert window.filter_bar._completions.stringList() == ["params.lr"]
    window.filter_bar._insert_completion("params.lr")
    assert window.filter_bar.edit.text() == "params.lr"


def test_open_detail_and_star(window: MainWindow, qtbot: QtBot, plain_runs: Path, index: Index) -> None:
    add_and_wait(qtbot, window, [plain_runs / "runs"], rows=2)
    window.table.setFocus()
    window.table.selectRow(0)
    key = window.model.key_at(0)
    with qtbot.waitSignal(window.detail.loaded, timeout=60_000):
        qtbot.keyClick(window.table, Qt.Key.Key_Return)
    assert window.detail.key == key
    assert window.detail.title.text() == window.detail.run["name"]
    assert window.detail.params_model.rowCount() > 0
    with qtbot.waitSignal(window.write_finished, timeout=60_000):
        qtbot.keyClick(window.table, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: window.model.index(0, 0).data(STARRED_ROLE) is True)
    qtbot.waitUntil(lambda: window.detail.star.isChecked())
    with index.reader() as reader:
        assert reader.run_json(key)["starred"] is True
    # labels and notes go to the DB through the writer, never into the run folder
    window.detail.labels.setText("baseline, keep")
    window.detail.labels.editingFinished.emit()
    qtbot.waitUntil(lambda: window.detail.run.get("labels") == ["baseline", "keep"], timeout=60_000)


def test_keyboard_shortcuts_focus_filter(window: MainWindow, qtbot: QtBot) -> None:
    window.activateWindow()
    window.table.setFocus()
    window.ui.actions["focus_filter"].trigger()
    qtbot.waitUntil(lambda: window.filter_bar.edit.hasFocus())
    assert window.ui.actions["compare"].shortcut().toString() == "Ctrl+D"
    assert window.ui.actions["star"].shortcut().toString() == "Ctrl+B"


def test_remove_root(window: MainWindow, qtbot: QtBot, plain_runs: Path) -> None:
    add_and_wait(qtbot, window, [plain_runs / "runs", plain_runs / "keras_runs"], rows=3)
    qtbot.waitUntil(lambda: len(window.sources.sources()) == 2)
    window.remove_root(str(plain_runs / "keras_runs"))
    qtbot.waitUntil(
        lambda: window.model.rowCount() == 2 and len(window.sources.sources()) == 1, timeout=60_000
    )
