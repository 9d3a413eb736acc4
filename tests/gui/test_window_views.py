"""The main window opens the compare view (Ctrl+D), shows lineage in the detail panel and exports a bundle."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QItemSelectionModel
from pytestqt.qtbot import QtBot

from expdesk.bundle.verify import verify
from expdesk.gui.compare.view import CompareView
from expdesk.gui.window.main_window import MainWindow
from tests.gui.helpers import add_and_wait, names

# matplotlib's Qt toolbar touches a deprecated PySide6 attribute (AA_UseHighDpiPixmaps) on import
pytestmark = pytest.mark.filterwarnings("ignore:.*AA_UseHighDpiPixmaps.*:DeprecationWarning")


@pytest.fixture
def mlflow_store(tmp_path: Path, runs_dir: Path) -> Path:
    target = tmp_path / "filestore"
    shutil.copytree(runs_dir / "mlflow" / "filestore", target)
    return target


def _select(window: MainWindow, wanted: list[str]) -> None:
    sel = window.table.selectionModel()
    sel.clear()
    for row, name in enumerate(names(window)):
        if name in wanted:
            sel.select(
                window.model.index(row, 0),
                QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
            )
            sel.setCurrentIndex(window.model.index(row, 0), QItemSelectionModel.SelectionFlag.NoUpdate)


def test_ctrl_d_opens_compare_for_the_selection(window: MainWindow, qtbot: QtBot, mlflow_store: Path) -> None:
    add_and_wait(qtbot, window, [mlflow_store], rows=8)
    _select(window, ["alpha=0.01", "alpha=0.001"])
    assert len(window.selected_keys()) == 2, names(window)
    window.ui.actions["compare"].trigger()
    assert len(window.views.compares) == 1
    view = window.views.compares[0]
    assert isinstance(view, CompareView)
    qtbot.waitUntil(lambda: view.isVisible())
    window.views.close_all()
    assert window.views.compares == []


def test_lineage_tab_and_export_dialog(
    window: MainWindow, qtbot: QtBot, mlflow_store: Path, tmp_path: Path
) -> None:
    add_and_wait(qtbot, window, [mlflow_store], rows=8)
    _select(window, ["sgd-baseline"])
    window.open_detail()
    tabs = window.detail.tabs
    assert "Lineage" in [tabs.tabText(i) for i in range(tabs.count())]
    qtbot.waitUntil(lambda: window.views.lineage.graph is not None, timeout=60_000)
    window.ui.actions["export"].trigger()
    dialog = window.views.dialogs[0]
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=60_000)
    dialog.out.setText(str(tmp_path))
    with qtbot.waitSignal(dialog.exported, timeout=60_000) as blocker:
        dialog.export_button.click()
    written = Path(blocker.args[0])
    assert written.is_file() and verify(written).ok
    window.views.close_all()


def test_push_action_opens_the_push_dialog(window: MainWindow, qtbot: QtBot, mlflow_store: Path) -> None:
    add_and_wait(qtbot, window, [mlflow_store], rows=8)
    window.ui.actions["push"].trigger()  # nothing selected: a hint, no dialog
    assert window.views.pushes == []
    _select(window, ["alpha=0.01", "alpha=0.001"])
    window.ui.actions["push"].trigger()
    (dialog,) = window.views.pushes
    qtbot.waitUntil(dialog.isVisible)
    window.views.close_all()
    assert window.views.pushes == []


def test_add_server_makes_it_a_source_polled_off_the_gui_thread(window: MainWindow, qtbot: QtBot) -> None:
    window.views.add_server("http://127.0.0.1:9")  # nothing listens: the refresher records the error
    qtbot.waitUntil(lambda: "mlflow+http://127.0.0.1:9" in window.views.servers, timeout=60_000)
    with window.index.reader() as reader:
        assert [r["path"] for r in reader.roots()] == ["mlflow+http://127.0.0.1:9"]
    refresher = window.views.servers["mlflow+http://127.0.0.1:9"]
    qtbot.waitUntil(lambda: refresher.refreshed >= 1, timeout=60_000)
    assert refresher.error
    window.views.close_all()
    assert window.views.servers == {}


def test_a_closed_compare_window_is_deleted(window: MainWindow, qtbot: QtBot, mlflow_store: Path) -> None:
    # its series are freed on close, and the window itself goes too (it held ~1 MB of widgets per compare)
    add_and_wait(qtbot, window, [mlflow_store], rows=8)
    _select(window, ["alpha=0.01", "alpha=0.001"])
    window.ui.actions["compare"].trigger()
    view = window.views.compares[0]
    qtbot.waitUntil(lambda: view.isVisible())
    view.close()
    qtbot.waitUntil(lambda: window.views.compares == [])
    assert not shiboken6.isValid(view)  # the C++ window is gone, not just hidden
