"""Automatic columns follow a live sweep: a metric every run starts to log after its first epoch, or a param
that starts to differ, joins the columns while the runs keep logging, without F5 and without losing the
user's selection, sort, scroll position or column widths; the user's own columns are never replaced."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QObject, Qt, QTimer
from pytestqt.qtbot import QtBot

import expdesk.gui.window.main_window as main_window_module
from expdesk.gui.runs.query import Column, fmt_number
from expdesk.gui.window.main_window import MainWindow
from expdesk.index.service import Index
from tests.gui.helpers import add_and_wait, wait_idle

RUNS = ("a", "b")
#: epoch from which every run also logs a validation result (as a trainer does after its first epoch)
VAL_FROM = 3


@pytest.fixture
def live_window(qtbot: QtBot, index: Index) -> Iterator[MainWindow]:
    win = MainWindow(index, watch=True)
    qtbot.addWidget(win)
    win.resize(700, 500)  # narrow: the table scrolls sideways
    win.show()
    win.start_watching()
    yield win
    win.close()
    win.deleteLater()


class Sweep(QObject):
    """Two runs logging an epoch each every 150 ms, as a live sweep does; `val/acc` from `VAL_FROM` on."""

    def __init__(self, root: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.root = root
        self.epoch = 0
        self.val = True  # log val/acc once past VAL_FROM
        for i, name in enumerate(RUNS):
            folder = root / name
            folder.mkdir(parents=True)
            (folder / "params.json").write_text(json.dumps({"lr": 0.1 * (i + 1), "seed": 1}))
        for _ in range(VAL_FROM):
            self.log()
        self.timer = QTimer(self)
        self.timer.setInterval(150)
        self.timer.timeout.connect(self.log)

    def log(self) -> None:
        for i, name in enumerate(RUNS):
            row: dict[str, Any] = {"step": self.epoch, "loss": round(1.0 / (self.epoch + 1 + i), 6)}
            if self.val and self.epoch >= VAL_FROM:
                row["val/acc"] = round(0.5 + 0.01 * self.epoch + 0.1 * i, 6)
            with open(self.root / name / "metrics.jsonl", "a") as fh:
                fh.write(json.dumps(row) + "\n")
        self.epoch += 1


def _ids(window: MainWindow) -> list[str]:
    return [c.id for c in window.model.columns()]


def _start(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> Sweep:
    sweep = Sweep(tmp_path / "sweep")
    add_and_wait(qtbot, window, [sweep.root], rows=2)
    qtbot.waitUntil(lambda: "metric:loss:last" in _ids(window), timeout=60_000)
    qtbot.waitUntil(
        lambda: window.watcher.status() and window.watcher.status()[0].mode != "pending", timeout=60_000
    )
    wait_idle(qtbot, window)
    assert "param:lr" in _ids(window) and "param:seed" not in _ids(window), "a constant param on screen"
    assert "metric:val/acc:last" not in _ids(window)
    return sweep


def test_a_metric_first_logged_while_live_joins_the_automatic_columns(
    live_window: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = live_window
    sweep = _start(qtbot, window, tmp_path)
    table, header = window.table, window.table.horizontalHeader()
    # the user's state: sorted by loss (descending), a wider loss column, run "b" selected, scrolled right
    loss = _ids(window).index("metric:loss:last")
    table.sortByColumn(loss, Qt.SortOrder.DescendingOrder)
    # (run "a" has the higher loss at every epoch)
    qtbot.waitUntil(lambda: window.model.rowCount() == 2 and _name(window, 0) == "a", timeout=60_000)
    header.resizeSection(loss, 173)
    table.selectRow(1)
    assert _name(window, 1) == "b"
    table.horizontalScrollBar().setValue(table.horizontalScrollBar().maximum())
    scroll = table.horizontalScrollBar().value()
    assert scroll > 0, "the table should scroll sideways at this width"
    calls = _count_key_stats(monkeypatch)

    sweep.timer.start()
    qtbot.waitUntil(lambda: "metric:val/acc:last" in _ids(window), timeout=60_000)
    # a param that starts to differ (the sweep's second run re-seeded) joins too, still without F5
    (sweep.root / "b" / "params.json").write_text(json.dumps({"lr": 0.2, "seed": 2}))
    qtbot.waitUntil(lambda: "param:seed" in _ids(window), timeout=60_000)
    ids = _ids(window)
    assert ids.index("param:seed") < ids.index("metric:loss:last"), "a new param joins the params"

    # more points of known keys recompute nothing (the sweep keeps logging; the keys' spread stays)
    qtbot.waitUntil(lambda: window.workspace.stats["metrics"]["val/acc"].runs == 2, timeout=60_000)
    wait_idle(qtbot, window)
    before = calls[0]
    until = sweep.epoch + 8
    qtbot.waitUntil(lambda: sweep.epoch >= until, timeout=60_000)
    sweep.timer.stop()
    last = fmt_number(round(1.0 / sweep.epoch, 6))  # run "a" at the last epoch logged
    loss = _ids(window).index("metric:loss:last")
    qtbot.waitUntil(lambda: window.model.index(0, loss).data() == last, timeout=60_000)
    wait_idle(qtbot, window)
    assert calls[0] == before, f"{calls[0] - before} key spread recomputes for points of known keys"
    assert 1 <= before <= 12, f"{before} recomputes: live updates are not coalesced"

    # what the user had set is as it was
    assert header.sortIndicatorSection() == loss
    assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    assert [_name(window, r) for r in range(2)] == ["a", "b"]
    assert _name(window, table.currentIndex().row()) == "b"
    assert [window.model.key_at(i.row()) for i in table.selectionModel().selectedRows()] == [
        window.model.key_at(table.currentIndex().row())
    ]
    assert header.sectionSize(loss) == 173
    assert table.horizontalScrollBar().value() == min(scroll, table.horizontalScrollBar().maximum())


def test_the_users_own_columns_are_never_replaced_by_live_keys(
    live_window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    window = live_window
    sweep = _start(qtbot, window, tmp_path)
    own = [Column("attr", "name"), Column("metric", "loss", "min"), Column("param", "lr")]
    window.use_columns(own)
    qtbot.waitUntil(lambda: window.model.columns() == own, timeout=60_000)
    sweep.timer.start()
    # the recompute happened (the chooser knows the new key) and the user's columns stayed
    qtbot.waitUntil(lambda: "val/acc" in window.workspace.stats["metrics"], timeout=60_000)
    sweep.timer.stop()
    wait_idle(qtbot, window)
    assert window.model.columns() == own and window.model.requested_columns() == own


def _name(window: MainWindow, row: int) -> str:
    return str(window.model.index(row, _ids(window).index("attr:name")).data())


def _count_key_stats(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the window's key spread queries (the costly part of a workspace answer)."""
    calls = [0]
    real = main_window_module.key_stats

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(main_window_module, "key_stats", counting)
    return calls


def test_a_sweep_that_never_pauses_still_has_its_changes_applied(window: MainWindow, qtbot: QtBot) -> None:
    """Changes wait for a quiet moment to be applied together, but a sweep committing more often than that
    is never quiet: they are applied after `CHANGES_AT_MOST_MS` all the same."""
    wait_idle(qtbot, window)
    applied = window._workspace_generation  # (each application of changes loads the workspace again)
    feeder = QTimer(window)
    feeder.setInterval(main_window_module.CHANGES_QUIET_MS // 4)
    feeder.timeout.connect(lambda: window._on_runs_changed({"a-run-logging"}))
    feeder.start()
    try:
        qtbot.waitUntil(lambda: window._workspace_generation > applied, timeout=60_000)
        assert feeder.isActive()
    finally:
        feeder.stop()
