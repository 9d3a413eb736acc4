"""Detail panel defaults a researcher expects: params A to Z, one pop-out per chart (issue 20 #5, #11)."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from expdesk.gui.window.main_window import MainWindow
from tests.gui.helpers import add_and_wait


def _run(root: Path) -> Path:
    run = root / "runs" / "run-a"
    run.mkdir(parents=True)
    params = {"zeta": 1, "alpha": 2, "Model": "resnet", "beta": 0.5, "lr": 0.1}
    (run / "params.json").write_text(json.dumps(params))
    (run / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": 1.0 / (s + 1), "acc": s / 50}) + "\n" for s in range(50))
    )
    return root / "runs"


def _open_detail(qtbot: QtBot, window: MainWindow) -> None:
    window.table.selectRow(0)
    with qtbot.waitSignal(window.detail.loaded, timeout=10_000):
        window.open_detail()


def test_params_tab_sorts_a_to_z(window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    add_and_wait(qtbot, window, [_run(tmp_path)], rows=1)
    _open_detail(qtbot, window)
    proxy = window.detail.params_proxy
    keys = [proxy.index(r, 0).data() for r in range(proxy.rowCount())]
    assert keys == sorted(keys, key=str.lower), keys
    assert window.detail.params_table.horizontalHeader().sortIndicatorOrder() == Qt.SortOrder.AscendingOrder


def test_one_pop_out_per_chart_reused(window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    add_and_wait(qtbot, window, [_run(tmp_path)], rows=1)
    _open_detail(qtbot, window)
    metrics = window.detail.metrics
    for _ in range(3):
        metrics.open_large("loss")
    # (pending() drops to 0 only once every job's callback has run on the GUI thread)
    qtbot.waitUntil(lambda: window.pool.pending() == 0 and len(metrics.dialogs) >= 1, timeout=10_000)
    assert len(metrics.dialogs) == 1, "each click opened another window"
    metrics.open_large("loss")  # a click on the chart of an open pop-out brings that one back
    qtbot.waitUntil(lambda: window.pool.pending() == 0, timeout=10_000)
    assert len(metrics.dialogs) == 1
    metrics.open_large("acc")
    qtbot.waitUntil(lambda: len(metrics.dialogs) == 2, timeout=10_000)
    dialog = metrics.dialogs[0]
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: len(metrics.dialogs) == 1, timeout=10_000)
