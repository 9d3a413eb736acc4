"""Joined runs in the window: one row per job (its tools in the Format cell), the Parts tab of the detail
panel, and Split / Join from the runs table's context menu."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtWidgets import QMenu
from pytestqt.qtbot import QtBot

from expdesk.gui.detail.parts_view import part_rows
from expdesk.gui.runs.query import Column, fetch_rows
from expdesk.gui.window.main_window import MainWindow
from expdesk.gui.window.sources_panel import load_sources
from tests.gui.helpers import add_and_wait, wait_idle

JOBS = Path(__file__).resolve().parents[1] / "data" / "jobs"


def _template(tmp_path: Path) -> Path:
    root = tmp_path / "logs"
    shutil.copytree(JOBS / "lightning_hydra" / "logs", root, symlinks=True)
    return root


def test_a_joined_run_is_one_row_with_its_parts_in_the_detail(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    add_and_wait(qtbot, window, [_template(tmp_path)], rows=1)
    with window.index.reader() as reader:
        (row,) = fetch_rows(reader, reader.run_keys(), [Column("attr", "format")])
    assert row.texts[0] == "hydra +2"  # (tools; the CSV and TensorBoard loggers are both Lightning's)
    assert "hydra + wandb + lightning" in row.tooltips[0]
    # the Sources panel counts runs per tool: the one job holds each tool's data once
    with window.index.reader() as reader:
        (source,) = load_sources(reader)
    assert source.runs == 1 and source.formats == {"hydra": 1, "wandb": 1, "lightning": 1}
    window.table.selectRow(0)
    key = window.model.key_at(0)
    with qtbot.waitSignal(window.detail.loaded, timeout=10_000):
        window.detail.show_run(key, force=True)
    detail = window.detail
    assert detail.tabs.tabText(5) == "Parts (4)"
    rows = detail.parts.rows
    tree = detail.parts.tree
    assert [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())] == [r[0] for r in rows]
    assert tree.topLevelItem(2).child(0).text(1) == "inside the job folder"
    assert [r[0] for r in rows] == [
        "hydra",
        "wandb",
        "lightning:csv/version_0",
        "lightning:tensorboard/version_0",
    ]
    assert rows[0][1] == "." and rows[2][1] == "csv/version_0"
    assert rows[2][3] == "inside the job folder" and rows[0][3] == "the run's own (its key)"
    assert "params" in rows[2][2] and "metrics" in rows[2][2]
    overview = {
        detail.fields.topLevelItem(i).text(0): detail.fields.topLevelItem(i).text(1)
        for i in range(detail.fields.topLevelItemCount())
    }
    assert overview["Format"] == "hydra + wandb + lightning"
    assert part_rows(detail.run or {}) == rows


def test_split_and_join_from_the_context_menu(window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    add_and_wait(qtbot, window, [_template(tmp_path)], rows=1)
    window.table.selectRow(0)
    menu = QMenu(window.table)
    split, join = window.parts_actions.add_to(menu, window.selected_keys())
    assert split.isEnabled() and not join.isEnabled()
    with qtbot.waitSignal(window.write_finished, timeout=10_000):
        split.trigger()
    qtbot.waitUntil(lambda: window.model.rowCount() == 4, timeout=10_000)
    wait_idle(qtbot, window)
    window.table.selectAll()
    keys = window.selected_keys()
    assert len(keys) == 4
    menu2 = QMenu(window.table)
    split2, join2 = window.parts_actions.add_to(menu2, keys)
    assert join2.isEnabled() and not split2.isEnabled() and join2.text() == "Join 4 Runs into One"
    with qtbot.waitSignal(window.write_finished, timeout=10_000):
        join2.trigger()
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=10_000)
    wait_idle(qtbot, window)
    menu.deleteLater()
    menu2.deleteLater()
