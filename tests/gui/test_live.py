"""Live watching through the real Watcher: appended metrics update the row, new runs appear with a toast."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from expdesk.gui.window.main_window import MainWindow
from expdesk.index.service import Index
from tests.gui.helpers import add_and_wait, names


@pytest.fixture
def live_window(qtbot: QtBot, index: Index) -> Iterator[MainWindow]:
    win = MainWindow(index, watch=True)
    qtbot.addWidget(win)
    win.resize(1200, 700)
    win.show()
    win.start_watching()
    yield win
    win.close()
    win.deleteLater()


def _write_run(folder: Path, steps: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.json").write_text(json.dumps({"lr": 0.1}))
    with open(folder / "metrics.jsonl", "a") as fh:
        for step in range(steps):
            fh.write(json.dumps({"step": step, "loss": 1.0 / (step + 1)}) + "\n")


def test_watched_run_updates_and_new_run_appears(
    live_window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    root = tmp_path / "watched"
    _write_run(root / "a", 3)
    add_and_wait(qtbot, live_window, [root], rows=1)
    qtbot.waitUntil(lambda: "metric:loss:last" in [c.id for c in live_window.model.columns()], timeout=60_000)
    column = [c.id for c in live_window.model.columns()].index("metric:loss:last")
    qtbot.waitUntil(lambda: live_window.model.index(0, column).data() == "0.333333", timeout=60_000)
    qtbot.waitUntil(
        lambda: live_window.watcher.status() and live_window.watcher.status()[0].mode != "pending",
        timeout=60_000,
    )
    with open(root / "a" / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps({"step": 3, "loss": 0.125}) + "\n")
    qtbot.waitUntil(lambda: live_window.model.index(0, column).data() == "0.125", timeout=60_000)
    _write_run(root / "b", 2)
    qtbot.waitUntil(lambda: sorted(names(live_window)) == ["a", "b"], timeout=60_000)
    qtbot.waitUntil(lambda: live_window.ui.toast.isVisible() and "new run" in live_window.ui.toast.text())
