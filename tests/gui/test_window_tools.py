"""What issue 21 adds to the main window: the workspace charts follow the table's filter; a saved view brings
back the filter, columns, sort, grouping, chart panel and selection; File > Export Report for the selection."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt
from pytestqt.qtbot import QtBot

from expdesk.core.views import ChartPanel
from expdesk.gui.window.main_window import MainWindow
from tests.gui.helpers import add_and_wait, names, wait_idle

pytestmark = pytest.mark.filterwarnings(
    "ignore:Enum value .Qt..ApplicationAttribute.AA_UseHighDpiPixmaps:DeprecationWarning"
)


@pytest.fixture
def sweep(tmp_path: Path, runs_dir: Path) -> Path:
    target = tmp_path / "multirun"
    shutil.copytree(runs_dir / "hydra" / "multirun", target)
    return target


def _select(window: MainWindow, keys: list[str]) -> None:
    selection = QItemSelection()
    for key in keys:
        row = window.model.row_of(key)
        selection.select(window.model.index(row, 0), window.model.index(row, window.model.columnCount() - 1))
    window.table.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)


def _chart_runs(window: MainWindow) -> set[str]:
    chart = window.tools.charts.charts.chart
    return {
        line.get_gid().removeprefix("raw:")
        for ax in chart.axes.values()
        for line in ax.get_lines()
        if line.get_gid().startswith("raw:")
    }


def test_menus_are_in_place(window: MainWindow) -> None:
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles.index("&Views") == titles.index("&Run") - 1
    assert "Export Report…" in [a.text() for a in window.ui.menus["file"].actions()]
    assert "Workspace Charts" in [a.text() for a in window.ui.menus["view"].actions()]
    assert not window.tools.dock.isVisible()


def test_charts_follow_the_filter_and_a_view_comes_back(
    window: MainWindow, qtbot: QtBot, sweep: Path
) -> None:
    add_and_wait(qtbot, window, [sweep], rows=5)  # four jobs and the sweep, which logged no metric
    with qtbot.waitSignal(window.tools.charts.chart_ready, timeout=30_000):
        window.tools.dock.show()
    keys = window.model.all_keys()
    assert len(_chart_runs(window)) == 4 and _chart_runs(window) < set(keys)
    with qtbot.waitSignal(window.tools.charts.chart_ready, timeout=30_000):
        window.filter_bar.set_text('params.optimizer.name = "sgd"')
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=10_000)
    sgd = window.model.all_keys()
    assert _chart_runs(window) == set(sgd)
    # a view: this filter, sorted by name descending, one run selected, charts grouped by lr
    name_col = [c.key for c in window.model.columns()].index("name")
    window.table.sortByColumn(name_col, Qt.SortOrder.DescendingOrder)
    qtbot.waitUntil(lambda: names(window) == sorted(names(window), reverse=True), timeout=10_000)
    wait_idle(qtbot, window)
    _select(window, [sgd[0]])
    window.tools.charts.apply(ChartPanel(visible=True, metrics=("loss", "w"), group_by="params.optimizer.lr"))
    qtbot.waitUntil(lambda: "loss" in window.tools.charts.charts.chart.axes, timeout=30_000)
    views = window.tools.views_menu
    views.save_current("sgd runs")
    qtbot.waitUntil(lambda: views.names() == ["sgd runs"], timeout=10_000)
    saved = window.tools.capture_view("sgd runs")
    assert saved.filter == 'params.optimizer.name = "sgd"' and saved.selection == (sgd[0],)
    assert saved.sort == "attr:name" and saved.descending
    assert saved.charts == ChartPanel(visible=True, metrics=("loss", "w"), group_by="params.optimizer.lr")
    # change everything, then reopen the view
    window.filter_bar.set_text("")
    qtbot.waitUntil(lambda: window.model.rowCount() == 5, timeout=10_000)
    window.tools.dock.hide()
    window.table.sortByColumn(name_col, Qt.SortOrder.AscendingOrder)
    qtbot.waitUntil(lambda: names(window) == sorted(names(window)), timeout=10_000)
    _select(window, [])
    with qtbot.waitSignal(views.message, timeout=10_000) as said:
        views.reopen("sgd runs")
    assert said.args == ["View 'sgd runs'"]
    qtbot.waitUntil(
        lambda: window.model.rowCount() == 2 and window.selected_keys() == [sgd[0]], timeout=20_000
    )
    assert window.filter_bar.text() == 'params.optimizer.name = "sgd"'
    assert window.tools.dock.isVisible()
    qtbot.waitUntil(lambda: window.tools.capture_view("sgd runs") == saved, timeout=20_000)


def test_export_report_from_the_window(window: MainWindow, qtbot: QtBot, sweep: Path, tmp_path: Path) -> None:
    add_and_wait(qtbot, window, [sweep], rows=5)
    window.tools.open_report()
    assert window.tools.dialogs == []  # nothing selected: said in the status bar
    keys = window.model.all_keys()[:2]
    _select(window, keys)
    window.tools.report_action.trigger()
    (dialog,) = window.tools.dialogs
    qtbot.waitUntil(dialog.save_button.isEnabled, timeout=20_000)
    out = tmp_path / "r.html"
    with qtbot.waitSignal(dialog.written, timeout=30_000):
        dialog.write_to(out)
    text = out.read_text(encoding="utf-8")
    assert all(k in text for k in keys) and "<script" not in text
    dialog.close()
    qtbot.waitUntil(lambda: window.tools.dialogs == [], timeout=5_000)
