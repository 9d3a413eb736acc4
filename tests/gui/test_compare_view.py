"""The compare flow in the widget: table, charts, parallel/scatter, exports, live updates, lifetime."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backend_bases import MouseEvent
from PySide6.QtGui import QGuiApplication
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from expdesk.compare.chart_layout import render_idle
from expdesk.compare.diff import Direction
from expdesk.compare.series import XMode
from expdesk.core.entities import RunRef, Series
from expdesk.gui.compare.view import CompareView
from expdesk.index import store
from expdesk.index.service import Index
from tests.compare.conftest import add_run

# matplotlib 3.11's Qt toolbar asks PySide6 >= 6.10 for AA_UseHighDpiPixmaps when it renders its icons,
# which PySide6 reports as deprecated; the attribute is a no-op in Qt 6, nothing of ours is involved
pytestmark = pytest.mark.filterwarnings(
    "ignore:Enum value .Qt..ApplicationAttribute.AA_UseHighDpiPixmaps:DeprecationWarning"
)


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    with Index(tmp_path / "i.db") as ix:
        yield ix


@pytest.fixture
def keys(index: Index, tmp_path: Path) -> list[str]:
    rng = np.random.default_rng(0)
    return [
        add_run(
            index,
            tmp_path,
            f"run-{i}",
            {"lr": lr, "opt": opt, "seed": "0"},
            {
                "val_loss": 2 / (1 + np.arange(300) / 30) + rng.normal(size=300) * 0.05,
                "accuracy": np.linspace(0.1, 0.9 - i * 0.1, 50),
            },
        )
        for i, (lr, opt) in enumerate([("0.1", "sgd"), ("0.01", "adam"), ("0.001", "<b>adam</b>")])
    ]


def open_view(qtbot: QtBot, index: Index, keys: list[str]) -> CompareView:
    view = CompareView(index, keys)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    return view


def test_table_chart_and_figures_after_loading(qtbot: QtBot, index: Index, keys: list[str]) -> None:
    view = CompareView(index, keys)
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.chart_ready, timeout=60_000):
        pass
    ModelTester(None).check(view.table_tab.model)  # qtmodeltester, both orientations
    rows = {r.label: r for r in view.table_tab.model.visible_rows()}
    assert "params.lr" in rows and "params.seed" not in rows
    assert "params.seed=0" in view.table_tab.summary.text()
    assert rows["val_loss · last"].direction is Direction.MIN
    assert rows["accuracy · last"].best == frozenset({0})
    view.table_tab.transpose.setChecked(True)
    ModelTester(None).check(view.table_tab.model)
    assert view.table_tab.model.rowCount() == 3
    view.table_tab.only_diff.setChecked(False)
    assert any(r.label == "params.seed" for r in view.table_tab.model.visible_rows())
    assert not view.table_tab.summary.isVisible()
    # the chart: default metric is the validation loss, smoothed, raw faint behind, legend by differing params
    assert view.charts.selected_metrics() == ["val_loss"]
    ax = view.charts.chart.axes["val_loss"]
    assert sorted(line.get_gid() for line in ax.get_lines())[:3] == [f"raw:{k}" for k in sorted(keys)]
    assert sorted(p.get_gid() for p in ax.patches) == [f"band:{k}" for k in sorted(keys)]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "lr=0.1, opt=sgd",
        "lr=0.01, opt=adam",
        "lr=0.001, opt=<b>adam</b>",
    ]
    assert not view.parallel.canvas.figure.axes, "drawn when its tab is shown"
    view.tabs.setCurrentIndex(2)
    ax = view.parallel.canvas.figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["lr (log)", "opt", "val_loss · last"]
    view.tabs.setCurrentIndex(3)
    assert view.scatter.canvas.figure.axes[0].get_xlabel() == "lr"


def test_chart_options_and_small_multiples(qtbot: QtBot, index: Index, keys: list[str]) -> None:
    view = open_view(qtbot, index, keys)
    with qtbot.waitSignal(view.chart_ready, timeout=60_000):
        pass
    view.charts.log_y.setChecked(True)
    qtbot.waitUntil(lambda: view.charts.chart.axes["val_loss"].get_yscale() == "log", timeout=60_000)
    view.charts.x_combo.setCurrentIndex(view.charts.x_combo.findData(XMode.RELATIVE))
    qtbot.waitUntil(lambda: view.charts.chart.x_mode is XMode.RELATIVE, timeout=60_000)
    # the step chart loaded no timestamps: the time axis loaded them (300 points 1 s apart)
    assert view.charts.chart.axes["val_loss"].get_xlim() == (0.0, 299.0)
    with qtbot.waitSignal(view.chart_ready, timeout=60_000):
        view.charts.set_selected_metrics(["val_loss", "accuracy"])
    assert set(view.charts.chart.axes) == {"val_loss", "accuracy"}
    with qtbot.waitSignal(view.chart_ready, timeout=60_000):
        view.charts.smooth_spin.setValue(0.0)
        view.charts.smooth_spin.editingFinished.emit()
    ax = view.charts.chart.axes["val_loss"]
    assert not any(line.get_gid().startswith("smoothed") for line in ax.get_lines())
    assert all(p.get_alpha() == 1.0 for p in ax.patches), "without smoothing the raw data is drawn opaque"


def test_hover_reports_run_step_value(qtbot: QtBot, index: Index, keys: list[str]) -> None:
    view = open_view(qtbot, index, keys)
    view.show()
    with qtbot.waitSignal(view.chart_ready, timeout=60_000):
        pass
    view.tabs.setCurrentIndex(1)
    canvas = view.charts.canvas.canvas
    canvas.draw()
    ax = view.charts.chart.axes["val_loss"]
    line = next(line for line in ax.get_lines() if line.get_gid() == f"raw:{keys[1]}")
    x, y = line.get_xdata()[100], line.get_ydata()[100]
    px, py = ax.transData.transform((x, y))
    canvas.callbacks.process("motion_notify_event", MouseEvent("motion_notify_event", canvas, px, py))
    assert "lr=0.01, opt=adam" in view.charts.hover.text() and "step 100" in view.charts.hover.text()


def test_direction_override_and_value_at_step(qtbot: QtBot, index: Index, keys: list[str]) -> None:
    view = open_view(qtbot, index, keys)
    with qtbot.waitSignal(view.table_ready, timeout=60_000):
        pass
    view.set_direction("accuracy", Direction.MIN)
    rows = {r.label: r for r in view.table_tab.model.visible_rows()}
    assert rows["accuracy · last"].best == frozenset({2})
    with qtbot.waitSignal(view.table_ready, timeout=60_000):
        view.table_tab.step_spin.setValue(10)
        view.table_tab.at_step_box.setChecked(True)
    rows = {r.label: r for r in view.table_tab.model.visible_rows()}
    assert "val_loss · @step 10" in rows and rows["accuracy · @step 10"].best == frozenset({2})


def test_copy_and_exports(qtbot: QtBot, index: Index, keys: list[str], tmp_path: Path) -> None:
    view = open_view(qtbot, index, keys)
    with qtbot.waitSignal(view.chart_ready, timeout=60_000):
        pass
    view.table_tab.copy_table()
    copied = QGuiApplication.clipboard().text()
    assert copied.startswith("\trun-0\trun-1\trun-2\n")
    # the table shows 6 significant digits; the clipboard gets the exact value (shortest round-trip text)
    cells = next(line.split("\t")[1:] for line in copied.splitlines() if line.startswith("val_loss · last"))
    shown = next(r for r in view.table_tab.model.visible_rows() if r.label == "val_loss · last").cells
    for text, cell in zip(cells, shown, strict=True):
        assert float(text) == cell.number and repr(float(text)) == text and cell.text == f"{cell.number:.6g}"
        assert len(text) > len(cell.text)
    out = tmp_path / "t.csv"
    with qtbot.waitSignal(view._tasks.relay.finished, timeout=60_000):
        view.table_tab.export_csv(out)
    assert out.read_text().splitlines()[0] == ",run-0,run-1,run-2"
    for name in ("c.png", "c.svg"):
        with qtbot.waitSignal(view._tasks.relay.finished, timeout=60_000):
            view.export_figure(view.charts.canvas.figure, tmp_path / name)
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG" and b"<svg" in (
        tmp_path / "c.svg"
    ).read_bytes()[:1000]


def test_live_update_reloads_changed_runs(
    qtbot: QtBot, index: Index, keys: list[str], tmp_path: Path
) -> None:
    view = open_view(qtbot, index, keys)
    with qtbot.waitSignal(view.chart_ready, timeout=60_000):
        pass
    ref = RunRef("generic", tmp_path / "run-0", tmp_path)
    more = Series("val_loss", np.arange(300, 400), np.full(100, 0.01), np.full(100, 1.7e12))
    with qtbot.waitSignal(view.chart_ready, timeout=60_000):
        index.writer.call(lambda c: store.append_series(c, ref.key, more), {ref.key})
    raw = next(
        line for line in view.charts.chart.axes["val_loss"].get_lines() if line.get_gid() == f"raw:{keys[0]}"
    )
    assert raw.get_xdata()[-1] == 399
    rows = {r.label: r for r in view.table_tab.model.visible_rows()}
    assert rows["val_loss · last"].cells[0].text == "0.01"


def test_closing_lets_go_of_the_series(qtbot: QtBot, index: Index, keys: list[str]) -> None:
    view = open_view(qtbot, index, keys)
    with qtbot.waitSignal(view.chart_ready, timeout=60_000):
        pass
    assert view.charts.chart is not None and view.charts._raw
    chart = weakref.ref(view.charts.chart)
    view.close()
    assert view.charts.chart is None and not view.charts._raw
    render_idle()  # the figure is cleared on the render thread, not the GUI's
    assert not view.charts.canvas.figure.axes
    gc.collect()
    assert chart() is None, "nothing holds on to the chart (and its series) once the view is closed"


def test_unknown_and_missing_runs(qtbot: QtBot, index: Index, keys: list[str]) -> None:
    view = open_view(qtbot, index, [keys[0], "nope"])
    with qtbot.waitSignal(view.table_ready, timeout=60_000):
        pass
    assert "1 no longer in the index" in view.status.text()


def test_shutdown_is_prompt_and_listener_goes_quiet(
    qtbot: QtBot, index: Index, keys: list[str], tmp_path: Path
) -> None:
    view = CompareView(index, keys)
    view.shutdown()
    view.deleteLater()
    # a commit after the view is gone must not reach it (nor crash the writer thread)
    add_run(index, tmp_path, "run-0", {"lr": "0.5"})
    assert index.writer._thread.is_alive()


def test_tabs_not_shown_are_made_when_first_shown(qtbot: QtBot, index: Index, keys: list[str]) -> None:
    """Opening a comparison builds the Table and Charts tabs only: Parallel coordinates, Scatter and Media
    are made when first shown, from the runs loaded by then, in their places."""
    view = open_view(qtbot, index, keys)
    with qtbot.waitSignal(view.table_ready, timeout=60_000):
        view.show()
    titles = [view.tabs.tabText(i) for i in range(view.tabs.count())]
    assert titles == ["Table", "Charts", "Parallel coordinates", "Scatter", "Media"]
    assert view._parallel.made() is None and view._scatter.made() is None and view._media.made() is None
    changes: list[int] = []
    view.tabs.currentChanged.connect(changes.append)
    view.tabs.setCurrentIndex(3)
    scatter = view._scatter.made()
    assert scatter is not None and view.tabs.widget(3) is scatter and view.tabs.currentIndex() == 3
    assert changes == [3], "made in place: one change of tab, the user's"
    assert scatter.param_combo.count() > 0, "filled from the runs loaded before it was made"
    assert view._parallel.made() is None and view._media.made() is None
    view.tabs.setCurrentIndex(4)
    media = view._media.made()
    assert media is not None and [key for key, _label in media.runs] == keys
    assert [view.tabs.tabText(i) for i in range(view.tabs.count())] == titles
