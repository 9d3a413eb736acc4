"""The detail panel's large chart is built, laid out and rendered on a worker: showing it draws nothing on the
GUI thread (bench_soak.py measured 0.3 s stalls when it did)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from matplotlib.figure import Figure
from pytestqt.qtbot import QtBot

from expdesk.gui.chart_canvas import ChartCanvas
from expdesk.gui.window.main_window import MainWindow
from tests.gui.helpers import add_and_wait

# matplotlib's Qt toolbar asks PySide6 for AA_UseHighDpiPixmaps when it renders its icons (a shown pop-out)
pytestmark = pytest.mark.filterwarnings(
    "ignore:Enum value .Qt..ApplicationAttribute.AA_UseHighDpiPixmaps:DeprecationWarning"
)


def _run(root: Path) -> Path:
    run = root / "runs" / "run-a"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": 1.0 / (s + 1)}) + "\n" for s in range(500))
    )
    return root / "runs"


def test_the_large_chart_is_drawn_off_the_gui_thread(
    window: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_gui: list[Figure] = []
    real = Figure.draw

    def spy(self: Figure, renderer: Any) -> None:
        if threading.current_thread() is threading.main_thread() and self.axes:
            on_gui.append(self)
        real(self, renderer)

    monkeypatch.setattr(Figure, "draw", spy)
    add_and_wait(qtbot, window, [_run(tmp_path)], rows=1)
    window.table.selectRow(0)
    with qtbot.waitSignal(window.detail.loaded, timeout=10_000):
        window.open_detail()
    metrics = window.detail.metrics
    metrics.open_large("loss")
    qtbot.waitUntil(lambda: window.pool.pending() == 0 and len(metrics.dialogs) == 1, timeout=30_000)
    dialog = metrics.dialogs[0]
    qtbot.waitExposed(dialog, timeout=10_000)
    canvas = getattr(dialog, "canvas", None)
    assert isinstance(canvas, ChartCanvas)
    image = canvas.grab().toImage()
    colors = {image.pixel(x, y) for x in range(0, image.width(), 3) for y in range(0, image.height(), 3)}
    assert len(colors) > 5, "the worker's pixels are painted"
    assert not on_gui, "the pop-out's chart was drawn on the GUI thread"
    # a second click (fresh points) replaces it in place, drawn for the canvas it goes to
    metrics.open_large("loss")
    qtbot.waitUntil(lambda: window.pool.pending() == 0 and getattr(dialog, "canvas", None) is not canvas)
    dialog.canvas.grab()  # type: ignore[attr-defined]
    assert not on_gui
