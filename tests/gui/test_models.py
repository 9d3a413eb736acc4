"""Every model passes qtmodeltester, with paging, grouping and hostile strings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from expdesk.gui.detail.kv_model import TextTableModel
from expdesk.gui.runs.model import FIRST_ROWS, PAGE
from expdesk.gui.runs.query import CELL_CHARS
from expdesk.gui.window.main_window import MainWindow
from expdesk.index import table
from tests.gui.helpers import add_and_wait, names, wait_idle


def _make_runs(root: Path, count: int) -> None:
    for i in range(count):
        run = root / f"run-{i:04d}"
        run.mkdir(parents=True)
        (run / "params.json").write_text(json.dumps({"lr": 10 ** -(i % 5), "seed": i}))
        (run / "metrics.jsonl").write_text(
            "".join(json.dumps({"step": s, "loss": 1 / (s + 1 + i)}) + "\n" for s in range(3))
        )


def test_runs_model_pages_and_passes_modeltester(
    window: MainWindow, qtbot: QtBot, qtmodeltester: ModelTester, tmp_path: Path
) -> None:
    _make_runs(tmp_path / "many", PAGE + 50)
    add_and_wait(qtbot, window, [tmp_path / "many"], rows=PAGE)
    model = window.model
    wait_idle(qtbot, window)  # the automatic columns reload after the vocabulary arrives
    assert model.total() == PAGE + 50
    assert model.canFetchMore()
    model.fetchMore()
    qtbot.waitUntil(lambda: model.rowCount() == PAGE + 50)
    assert not model.canFetchMore()
    qtmodeltester.check(model)
    # grouping adds a group column; the model stays consistent
    model.set_group("lr")
    qtbot.waitUntil(lambda: model.group_param() == "lr")
    assert model.index(0, 0).data().startswith("lr = ")
    qtmodeltester.check(model)


def test_filter_and_sort_swap_rows_without_reset(
    window: MainWindow, qtbot: QtBot, qtmodeltester: ModelTester, tmp_path: Path
) -> None:
    """Same columns: a filter or sort removes and inserts rows (no reset, so the 2,000-column header
    is not rebuilt); the selection and the detail panel survive the swap."""
    _make_runs(tmp_path / "some", 30)
    add_and_wait(qtbot, window, [tmp_path / "some"], rows=30)
    wait_idle(qtbot, window)
    model = window.model
    qtmodeltester.check(model)  # stays connected: checks the remove/insert signals below
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    row = names(window).index("run-0005")
    key = model.key_at(row)
    window.detail.show()
    window.table.selectRow(row)
    qtbot.waitUntil(lambda: window.detail.key == key)
    model.set_filter("r.name LIKE ?", ("run-000%",))
    qtbot.waitUntil(lambda: model.rowCount() == 10 and not window.pool.pending())
    assert sorted(names(window)) == [f"run-000{i}" for i in range(10)]
    assert window.selected_keys() == [key] and window.detail.key == key
    name = [c.key for c in model.columns()].index("name")
    model.sort(name, Qt.SortOrder.DescendingOrder)
    qtbot.waitUntil(lambda: names(window)[0] == "run-0009" and not window.pool.pending())
    assert names(window) == [f"run-000{i}" for i in reversed(range(10))]
    assert window.selected_keys() == [key] and window.detail.key == key
    model.set_filter("r.name = ?", ("nothing",))
    qtbot.waitUntil(lambda: model.rowCount() == 0 and model.total() == 0)
    model.set_filter("", ())
    qtbot.waitUntil(lambda: model.rowCount() == 30)
    assert resets == []
    qtmodeltester.check(model)


def test_text_table_model_passes_modeltester(qtmodeltester: ModelTester) -> None:
    model = TextTableModel(["Key", "Value"])
    model.set_rows([["a", "1"], ["<b>x</b>", "y" * 5000], ["short"]])
    qtmodeltester.check(model)
    assert model.index(1, 0).data() == "<b>x</b>"
    assert len(model.index(1, 1).data()) == CELL_CHARS + 1
    assert model.index(2, 1).data() == ""


def test_hostile_strings_render_literally(window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    root = tmp_path / "hostile"
    run = root / '<img src="x" onerror="alert(1)">'
    run.mkdir(parents=True)
    huge = "<b>x</b>\n" + "A" * 1_000_000
    (run / "params.json").write_text(
        json.dumps({"note": huge, "bidi": "abc\u202edef", "tag": "<a href='javascript:x'>y</a>"})
    )
    (run / "metrics.jsonl").write_text('{"step": 0, "$x$": 1}\n')
    add_and_wait(qtbot, window, [root], rows=1)
    ids = [c.id for c in window.model.columns()]
    qtbot.waitUntil(lambda: "param:note" in [c.id for c in window.model.columns()])
    ids = [c.id for c in window.model.columns()]
    qtbot.waitUntil(lambda: window.model.index(0, ids.index("param:note")).data() not in (None, ""))
    shown = window.model.index(0, ids.index("param:note")).data()
    assert shown.startswith("<b>x</b>⏎AAA") and len(shown) <= CELL_CHARS + 1
    tooltip = window.model.index(0, ids.index("param:note")).data(3)
    assert "&lt;b&gt;" in tooltip and "<b>" not in tooltip.replace("<p style='white-space:pre-wrap'>", "")
    window.table.selectRow(0)
    with qtbot.waitSignal(window.detail.loaded, timeout=60_000):
        window.open_detail()
    assert window.detail.title.text() == '<img src="x" onerror="alert(1)">'
    with qtbot.waitSignal(window.detail.metrics.rendered, timeout=60_000):
        window.detail.tabs.setCurrentWidget(window.detail.metrics)
        window.detail.metrics.show_run(window.detail.key, ["$x$"])


def test_a_reload_shows_its_first_rows_before_it_counts(
    window: MainWindow,
    qtbot: QtBot,
    qtmodeltester: ModelTester,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A screenful of first rows comes from the index before every matching key is known: those rows first,
    then the rest of the page below them and `counted`; a view asking for more rows in between gets them once
    the whole list is there."""
    monkeypatch.setattr(table, "FIRST_PAGE_BUDGET_S", 600.0)  # a loaded machine must not take the slow path
    _make_runs(tmp_path / "many", PAGE + 50)
    add_and_wait(qtbot, window, [tmp_path / "many"], rows=PAGE)
    wait_idle(qtbot, window)
    model = window.model
    qtmodeltester.check(model)
    events: list[tuple[str, int, int]] = []

    label = window.ui.count_label
    counted_text = label.text()

    def on_rows() -> None:
        events.append(("rows", model.rowCount(), model.total()))
        assert model.completing() and model.canFetchMore()
        model.fetchMore()  # before the whole list: remembered, served after `counted`
        # the status bar keeps the last count until this one's (not the first rows' number)
        window.filter_bar.state_changed.emit("")
        assert label.text() == counted_text

    model.rows_replaced.connect(on_rows)
    model.rows_completed.connect(lambda: events.append(("completed", model.rowCount(), model.total())))
    model.counted.connect(lambda total, _groups: events.append(("counted", model.rowCount(), total)))
    model.set_filter("", ())
    qtbot.waitUntil(lambda: model.rowCount() == PAGE + 50 and not window.pool.pending())
    # (a late "runs changed" from the indexing may reload once more: each reload answers the same way)
    assert events[:3] == [
        ("rows", FIRST_ROWS, FIRST_ROWS),
        ("completed", PAGE, PAGE + 50),
        ("counted", PAGE, PAGE + 50),
    ]
    assert model.total() == PAGE + 50 and not model.canFetchMore() and not model.completing()
    assert [model.key_at(r) for r in range(model.rowCount())] == model.all_keys()


def test_a_selection_below_the_first_rows_is_kept_across_a_reload(
    window: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs selected below the first screenful are selected again once the rest of the rows arrive, with the
    same current run and scroll position."""
    monkeypatch.setattr(table, "FIRST_PAGE_BUDGET_S", 600.0)
    _make_runs(tmp_path / "many", PAGE + 50)
    add_and_wait(qtbot, window, [tmp_path / "many"], rows=PAGE)
    wait_idle(qtbot, window)
    model, view = window.model, window.table
    chosen = [model.key_at(3), model.key_at(FIRST_ROWS + 40), model.key_at(PAGE - 1)]
    selection = QItemSelection()
    for key in chosen:
        row = model.row_of(key)
        selection.select(model.index(row, 0), model.index(row, model.columnCount() - 1))
    view.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
    current = model.index(model.row_of(chosen[1]), 0)
    view.selectionModel().setCurrentIndex(current, QItemSelectionModel.SelectionFlag.NoUpdate)
    view.scrollTo(current)
    scroll = view.verticalScrollBar().value()
    assert scroll > 0
    completed: list[int] = []
    model.rows_completed.connect(lambda: completed.append(model.rowCount()))
    model.reload()
    qtbot.waitUntil(lambda: bool(completed) and not window.pool.pending())
    assert completed[0] == PAGE
    assert sorted(window.selected_keys()) == sorted(chosen)
    assert model.key_at(view.currentIndex().row()) == chosen[1]
    assert view.verticalScrollBar().value() == scroll


def test_a_newer_filter_stops_the_last_ones_queries(window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    """A query that would never end (SQL that counts forever) is interrupted by the next filter: the pool
    empties, the table shows the new answer and no error is reported."""
    _make_runs(tmp_path / "few", 5)
    add_and_wait(qtbot, window, [tmp_path / "few"], rows=5)
    wait_idle(qtbot, window)
    errors: list[str] = []
    window.model.failed.connect(errors.append)
    endless = "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT MAX(x) FROM c) > 0"
    window.model.set_filter(endless, ())
    qtbot.waitUntil(lambda: window.model._cancel._reader is not None)  # the endless query is running
    window.model.set_filter("r.name LIKE ?", ("run-000%",))
    qtbot.waitUntil(lambda: not window.pool.pending(), timeout=60_000)
    assert window.model.rowCount() == 5 and errors == []
