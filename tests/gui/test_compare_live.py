"""The compare chart following live runs: every chart (a new one, a live reload) is built, laid out and rendered
on a worker, the user's zoom carried over; the GUI thread shows its pixels and draws nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure
from pytestqt.qtbot import QtBot

from expdesk.compare.chart_layout import ZoomStableLayout
from expdesk.core.entities import RunRef, Series
from expdesk.gui.compare import chart_tab
from expdesk.gui.compare.view import CompareView
from expdesk.gui.compare.workers import wait_retired
from expdesk.index import store
from expdesk.index.service import Index
from tests.compare.conftest import add_run

# matplotlib 3.11's Qt toolbar asks PySide6 >= 6.10 for AA_UseHighDpiPixmaps when it renders its icons,
# which PySide6 reports as deprecated; the attribute is a no-op in Qt 6, nothing of ours is involved
pytestmark = pytest.mark.filterwarnings(
    "ignore:Enum value .Qt..ApplicationAttribute.AA_UseHighDpiPixmaps:DeprecationWarning"
)

POINTS = 300


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    with Index(tmp_path / "i.db") as ix:
        yield ix


@pytest.fixture
def keys(index: Index, tmp_path: Path) -> list[str]:
    steps = np.arange(POINTS)
    return [
        add_run(
            index,
            tmp_path,
            f"run-{i}",
            {"lr": lr},
            {"val_loss": 2 / (1 + steps / 30) + 0.1 * i, "accuracy": np.linspace(0.1, 0.9, 50)},
        )
        for i, lr in enumerate(["0.1", "0.01"])
    ]


def charts_view(qtbot: QtBot, index: Index, keys: list[str]) -> CompareView:
    """A shown compare window on its Charts tab, its first chart drawn."""
    view = CompareView(index, keys)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.tabs.setCurrentIndex(view.tabs.indexOf(view.charts))
    with qtbot.waitSignal(view.chart_ready, timeout=60_000):
        view.show()
    return view


def append(index: Index, tmp_path: Path, name: str, start: int, values: np.ndarray) -> None:
    """New points at the end of a run's val_loss, as the indexer writes a live run's tail."""
    key = RunRef("generic", tmp_path / name, tmp_path).key
    steps = np.arange(start, start + len(values))
    more = Series("val_loss", steps, values, 1.7e12 + steps * 1000.0)
    index.writer.call(lambda c: store.append_series(c, key, more), {key})


def drawn_x(view: CompareView, key: str) -> np.ndarray:
    """The full-resolution x of a run's series behind the chart (what a zoom re-decimates)."""
    assert view.charts.chart is not None
    dec = view.charts.chart.decimators[view.charts.chart.axes["val_loss"]]
    return next(d.x for d in dec.drawn if d.series.run_key == key)


@pytest.fixture
def gui_draws(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Charts drawn on the GUI thread (the first, empty canvas is not a chart)."""
    drawn: list[str] = []
    real = Figure.draw

    def spy(self: Figure, renderer: Any) -> None:
        if threading.current_thread() is threading.main_thread() and self.axes:
            drawn.append(threading.current_thread().name)
        real(self, renderer)

    monkeypatch.setattr(Figure, "draw", spy)
    return drawn


def test_a_live_reload_keeps_the_zoom_and_is_drawn_off_the_gui_thread(
    qtbot: QtBot, index: Index, keys: list[str], tmp_path: Path, gui_draws: list[str]
) -> None:
    view = charts_view(qtbot, index, keys)
    chart = view.charts.chart
    assert chart is not None
    ax = chart.axes["val_loss"]
    ax.set_xlim(50, 150)  # what the toolbar's zoom does
    ax.set_ylim(0.5, 1.5)
    with qtbot.waitSignal(view.chart_ready, timeout=60_000):
        append(index, tmp_path, "run-0", POINTS, np.full(100, 0.9))
    fresh = view.charts.chart
    assert fresh is not None and fresh is not chart and view.charts.canvas.figure is fresh.figure
    new_ax = fresh.axes["val_loss"]
    assert new_ax.get_xlim() == (50, 150) and new_ax.get_ylim() == (0.5, 1.5), "the user's zoom is kept"
    assert fresh.zoomed(new_ax), "and it is still a zoom: Home goes to the data"
    assert drawn_x(view, keys[0])[-1] == POINTS + 99
    engine = fresh.figure.get_layout_engine()
    assert isinstance(engine, ZoomStableLayout) and engine.layouts == 1, "laid out on the worker"
    image = view.charts.canvas.canvas.grab().toImage()  # paints the worker's pixels
    assert image.width() > 100 and len({image.pixel(x, image.height() // 2) for x in range(0, 800, 7)}) > 2
    assert not gui_draws, "the GUI thread drew no chart"


def test_a_chart_at_home_follows_the_new_points(
    qtbot: QtBot, index: Index, keys: list[str], tmp_path: Path, gui_draws: list[str]
) -> None:
    view = charts_view(qtbot, index, keys)
    chart = view.charts.chart
    assert chart is not None
    assert chart.axes["val_loss"].get_xlim() == (0, POINTS - 1)
    with qtbot.waitSignal(view.chart_ready, timeout=60_000):
        append(index, tmp_path, "run-1", POINTS, np.full(50, 1.0))
    chart = view.charts.chart
    assert chart is not None
    ax = chart.axes["val_loss"]
    assert ax.get_xlim() == (0, POINTS + 49), "the view follows the data while the user has not zoomed"
    assert not chart.zoomed(ax)
    assert not gui_draws
    # the toolbar's Home after a zoom and more points: the whole data, the new points included
    ax.set_xlim(10, 20)
    with qtbot.waitSignal(view.chart_ready, timeout=60_000):
        append(index, tmp_path, "run-1", POINTS + 50, np.full(10, 1.0))
    chart = view.charts.chart
    assert chart is not None
    ax = chart.axes["val_loss"]
    assert ax.get_xlim() == (10, 20)
    view.charts.canvas.toolbar.home()
    assert ax.get_xlim() == (0, POINTS + 59)
    view.charts.canvas.toolbar.back()
    assert ax.get_xlim() == (10, 20), "Back returns to the zoom"


def test_new_figures_are_built_and_rendered_on_a_worker(
    qtbot: QtBot, index: Index, keys: list[str], monkeypatch: pytest.MonkeyPatch, gui_draws: list[str]
) -> None:
    built_on: list[threading.Thread] = []
    real = chart_tab.metric_chart

    def spy(*args: Any, **kwargs: Any) -> Any:
        built_on.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(chart_tab, "metric_chart", spy)
    view = charts_view(qtbot, index, keys)
    first = view.charts.chart
    assert first is not None
    first.axes["val_loss"].set_xlim(100, 200)
    with qtbot.waitSignal(view.chart_ready, timeout=60_000):
        view.charts.set_selected_metrics(["val_loss", "accuracy"])
    chart = view.charts.chart
    assert chart is not None and chart is not first and view.charts.canvas.figure is chart.figure
    assert set(chart.axes) == {"val_loss", "accuracy"}
    assert built_on and threading.main_thread() not in built_on, "no figure is built on the GUI thread"
    assert chart.axes["val_loss"].get_xlim() == (100, 200), "a metric still shown keeps its zoom"
    with qtbot.waitSignal(view.chart_ready, timeout=60_000):
        view.charts.smooth_spin.setValue(0.9)
        view.charts.smooth_spin.editingFinished.emit()
    view.charts.canvas.canvas.grab()
    assert not gui_draws, "neither opening, a metric chosen, nor smoothing drew on the GUI thread"
    # hover and the toolbar work on the new canvas
    assert view.charts.canvas.toolbar.canvas is view.charts.canvas.canvas
    # the user's own zoom draws here, at once
    chart.axes["accuracy"].set_xlim(0, 10)
    view.charts.canvas.canvas.draw()
    assert gui_draws


def test_a_zoom_while_a_chart_is_drawn_is_not_undone(
    qtbot: QtBot, index: Index, keys: list[str], tmp_path: Path
) -> None:
    view = charts_view(qtbot, index, keys)
    chart = view.charts.chart
    assert chart is not None
    answers: list[Any] = []
    real = view.charts.show_loaded

    def late(answer: Any) -> None:
        if not answers:
            # the user zooms after the reload was asked for, before its chart arrives
            chart.axes["val_loss"].set_xlim(30, 40)
        answers.append(answer)
        real(answer)

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(view.charts, "show_loaded", late)
    try:
        with qtbot.waitSignal(view.chart_ready, timeout=60_000):
            append(index, tmp_path, "run-0", POINTS, np.full(10, 0.5))
    finally:
        monkeypatch.undo()
    assert len(answers) == 2, "the chart drawn without the zoom was dropped, one with it asked for"
    shown = view.charts.chart
    assert shown is not None and shown.axes["val_loss"].get_xlim() == (30, 40)


def test_a_live_reload_repaints_the_table_without_resetting_it(
    qtbot: QtBot, index: Index, keys: list[str], tmp_path: Path
) -> None:
    view = CompareView(index, keys)
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.table_ready, timeout=60_000):
        view.show()
    model = view.table_tab.model
    resets: list[None] = []
    repainted: list[None] = []
    model.modelReset.connect(lambda: resets.append(None))
    model.dataChanged.connect(lambda *_: repainted.append(None))
    widths = [view.table_tab.table_view.columnWidth(c) for c in range(model.columnCount())]
    before = view.table_tab.table_text()
    with qtbot.waitSignal(view.table_ready, timeout=60_000):
        append(index, tmp_path, "run-0", POINTS, np.full(5, 0.25))
    assert not resets and repainted, "fresh values of the same rows: a repaint, not a reset"
    assert view.table_tab.table_text() != before, "the new last value is shown"
    assert [view.table_tab.table_view.columnWidth(c) for c in range(model.columnCount())] == widths
    # other rows (the constant ones shown too): the table is laid out again
    view.table_tab.only_diff.setChecked(False)
    assert resets


def test_a_resized_chart_is_rendered_again_on_the_worker(
    qtbot: QtBot, index: Index, keys: list[str], gui_draws: list[str]
) -> None:
    view = charts_view(qtbot, index, keys)
    first = view.charts.chart
    assert first is not None
    with qtbot.waitSignal(view.chart_ready, timeout=60_000):
        view.resize(900, 600)  # the window, or a tab first shown at another size than it was drawn for
    canvas = view.charts.canvas.canvas
    chart = view.charts.chart
    assert chart is not None and chart is not first

    def fits() -> bool:
        bbox = view.charts.canvas.figure.bbox
        return abs(bbox.width - canvas.width()) < 1 and abs(bbox.height - canvas.height()) < 1

    qtbot.waitUntil(fits, timeout=60_000)
    view.charts.canvas.canvas.grab()
    assert not gui_draws, "a resize is not laid out and drawn on the GUI thread"


def test_a_window_closed_while_its_chart_loads_draws_nothing_for_nobody(
    qtbot: QtBot, index: Index, keys: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing a comparison while its chart's series load stops the job before it builds and renders a
    figure: that work only made the windows still open wait (bench_soak.py's stalls after a close)."""
    view = charts_view(qtbot, index, keys)
    loading, release = threading.Event(), threading.Event()
    real_load = chart_tab.load_series
    built: list[int] = []
    real_chart = chart_tab.metric_chart

    def slow_load(*args: Any, **kwargs: Any) -> Any:
        loading.set()
        release.wait(30)
        return real_load(*args, **kwargs)

    def spy_chart(*args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return real_chart(*args, **kwargs)

    monkeypatch.setattr(chart_tab, "load_series", slow_load)
    monkeypatch.setattr(chart_tab, "metric_chart", spy_chart)
    failures: list[str] = []
    view.failed.connect(failures.append)
    view.charts.forget(set(keys))
    view.charts.request()
    assert loading.wait(30)
    view.close()
    release.set()
    wait_retired()
    qtbot.wait(50)
    assert not built, "no chart built once its window closed"
    assert not failures, "and the stop is not reported as a failure"
