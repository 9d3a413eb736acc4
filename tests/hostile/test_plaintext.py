"""Guarantee 6 (plain text): hostile run names, params and tags render literally and quickly.

Covered: the main window's runs table and detail panel, the compare view and its diff-table model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from expdesk.gui.runs.query import CELL_CHARS
from expdesk.index.service import Index

pytestmark = [
    # matplotlib's Qt toolbar asks PySide6 for a Qt 5 attribute that Qt 6 reports deprecated (see tests/gui)
    pytest.mark.filterwarnings(
        "ignore:Enum value .Qt..ApplicationAttribute.AA_UseHighDpiPixmaps:DeprecationWarning"
    ),
    # legends drawn with a param value holding \r: DejaVu has no glyph for it (cosmetic, reported)
    pytest.mark.filterwarnings("ignore:Glyph 13 .* missing from font:UserWarning"),
]

HOSTILE = {
    "img": '<img src="file:///etc/passwd">',
    "link": '<a href="javascript:alert(1)">click</a>',
    "bold": "<b>x</b>",
    "bidi": "\u202etxt.exe",
    "zwj": "a\u200db\u200cc",
    "newline": "line1\nline2\r\nline3",
    "table": "<table>" * 10_000,
    "huge": "M" * 1_000_000,
    "math": "$\\frac{1}{$ and $x^$",
}


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    with Index(tmp_path / "i.db") as ix:
        yield ix


@pytest.fixture
def keys(index: Index, tmp_path: Path) -> list[str]:
    from tests.compare.conftest import add_run

    out = []
    # long values are cut here: their chart-legend cost is the xfail'd compare bug below; the 1 MB and
    # 10^4-tag strings go through the diff table in test_a_one_megabyte_cell_does_not_freeze_the_diff_table
    for i, (label, text) in enumerate((k, v[:1000]) for k, v in HOSTILE.items()):
        out.append(
            add_run(
                index,
                tmp_path,
                f"{label}-{i}",
                {"p": text, "n": str(i)},
                {"loss": np.linspace(1, 0, 20) + i},
                tags={"t": text},
            )
        )
    return out


# a 1000-character legend entry is wider than the figure: the compare legend bug below, not a crash
@pytest.mark.filterwarnings("ignore:constrained_layout not applied:UserWarning")
def test_compare_view_shows_hostile_strings_literally_and_stays_responsive(
    qtbot: QtBot, index: Index, keys: list[str]
) -> None:
    from expdesk.gui.compare.view import CompareView

    view = CompareView(index, keys)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    with (
        qtbot.waitSignal(view.table_ready, timeout=20_000),
        qtbot.waitSignal(view.chart_ready, timeout=20_000),
    ):
        view.show()
    view.charts.chart.figure.canvas.draw()  # legends and titles hold run names: drawn, not parsed as mathtext
    model = view.table_tab.table_view.model()
    texts = [
        str(model.data(model.index(r, c), Qt.ItemDataRole.DisplayRole))
        for r in range(model.rowCount())
        for c in range(model.columnCount())
    ]
    assert any('<img src="file:///etc/passwd">' in t for t in texts)  # shown as typed, not interpreted
    for r in range(model.rowCount()):
        for c in range(model.columnCount()):
            tip = model.data(model.index(r, c), Qt.ItemDataRole.ToolTipRole)
            assert tip is None or "<img" not in tip  # rich-text tooltips are escaped
    for label in view.findChildren(QLabel):
        if "<" in label.text():
            assert label.textFormat() == Qt.TextFormat.PlainText, label.text()[:80]


def _runs(index: Index, tmp_path: Path, text: str) -> list[dict[str, object]]:
    from tests.compare.conftest import add_run

    keys = [
        add_run(
            index, tmp_path, name, {"p": value, "q": value}, {"loss": np.linspace(1, 0, 5)}, tags={"t": value}
        )
        for name, value in ((text, text), ("plain", "x"))
    ]
    with index.reader() as reader:
        return reader.runs_json(keys)


def test_a_one_megabyte_cell_does_not_freeze_the_diff_table(
    qtbot: QtBot, index: Index, tmp_path: Path
) -> None:
    from PySide6.QtWidgets import QTableView

    from expdesk.compare.diff import build_diff
    from expdesk.gui.compare.model import DiffTableModel

    model = DiffTableModel()
    runs = _runs(index, tmp_path, HOSTILE["huge"]) + _runs(index, tmp_path / "t", HOSTILE["table"])
    model.set_table(build_diff(runs))
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(1000, 600)
    view.show()
    qtbot.waitExposed(view)
    view.viewport().repaint()
    # what keeps a paint short is that no cell lays out more than one bounded line (speed itself is a
    # benchmark's business, not a test's)
    shown = [
        str(model.index(r, c).data()) for r in range(model.rowCount()) for c in range(model.columnCount())
    ]
    assert shown and all(len(s) <= CELL_CHARS + 1 and "\n" not in s for s in shown)
    assert any(s.endswith("…") for s in shown)  # the 1 MB value, cut


def test_chart_legend_labels_are_bounded(index: Index, tmp_path: Path) -> None:
    from expdesk.compare.diff import legend_labels

    labels = legend_labels(_runs(index, tmp_path, HOSTILE["huge"]))
    assert max(len(label) for label in labels) <= 1000


@pytest.fixture
def window(qtbot: QtBot, index: Index) -> Iterator[object]:
    from expdesk.gui.window.main_window import MainWindow

    win = MainWindow(index, watch=False)
    qtbot.addWidget(win)
    win.resize(1300, 800)
    win.show()
    yield win
    win.close()
    win.deleteLater()


def test_runs_table_and_detail_panel_show_hostile_strings_literally(
    qtbot: QtBot, window: Any, tmp_path: Path
) -> None:
    import json

    from tests.gui.helpers import add_and_wait

    root = tmp_path / "runs"
    folder_names = [v for k, v in HOSTILE.items() if k in ("img", "link", "bold", "bidi", "zwj", "math")]
    for i, name in enumerate(folder_names):
        run = root / name.replace("/", "_")
        run.mkdir(parents=True)
        (run / "metrics.jsonl").write_text('{"step": 0, "loss": 1}\n')
        params = {
            "p": HOSTILE["huge"] if i == 0 else name,
            "html": HOSTILE["table"],
            "nl": HOSTILE["newline"],
        }
        (run / "params.json").write_text(json.dumps(params))
    add_and_wait(qtbot, window, [root], len(folder_names))
    model = window.model
    shown = {
        str(model.index(r, c).data()) for r in range(model.rowCount()) for c in range(model.columnCount())
    }
    # folder names cannot hold `/`: the name arrives as <img src="file:___etc_passwd">, shown as typed
    assert any('<img src="file:___etc_passwd">' in s for s in shown), sorted(shown)[:20]
    assert any("\u202etxt.exe" in s for s in shown)
    for r in range(model.rowCount()):
        for c in range(model.columnCount()):
            tip = model.index(r, c).data(Qt.ItemDataRole.ToolTipRole)
            assert tip is None or "<img src" not in str(tip) or "&lt;img" in str(tip)
    keys = [model.key_at(r) for r in range(model.rowCount())]
    assert all(keys)
    for key in keys:
        with qtbot.waitSignal(window.detail.loaded, timeout=20_000):
            window.detail.show_run(key, force=True)
        window.repaint()
        for label in window.detail.findChildren(QLabel):
            if "<" in label.text():
                assert label.textFormat() == Qt.TextFormat.PlainText, label.text()[:80]
        # a 1 MB param is laid out as one bounded line, so painting it cannot freeze the window (speed
        # itself is a benchmark's business, not a test's)
        params = window.detail.params_model
        cells = [
            str(params.index(r, c).data())
            for r in range(params.rowCount())
            for c in range(params.columnCount())
        ]
        assert cells and all(len(c) <= CELL_CHARS + 1 for c in cells)
