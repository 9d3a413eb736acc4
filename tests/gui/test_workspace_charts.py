"""Workspace charts follow the runs the table shows: filter in, charts follow; metrics, x axis, smoothing and
grouping as a saved view sets them; loading never on the GUI thread's way."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from expdesk.compare.series import XMode
from expdesk.core.views import ChartPanel
from expdesk.gui.workspace import panel as panel_module
from expdesk.gui.workspace.panel import WorkspaceCharts
from expdesk.index.service import Index
from tests.groundtruth import RUNS

pytestmark = pytest.mark.filterwarnings(
    "ignore:Enum value .Qt..ApplicationAttribute.AA_UseHighDpiPixmaps:DeprecationWarning"
)


@pytest.fixture
def sweep(tmp_path: Path) -> Iterator[tuple[Index, list[str]]]:
    root = tmp_path / "multirun"
    shutil.copytree(RUNS / "hydra" / "multirun", root)
    index = Index(tmp_path / "i.db")
    index.index([root])
    with index.reader() as reader:
        # the job runs (the multirun's sweep folder is a run of its own, with no metrics)
        keys = [r["key"] for r in reader.runs_json(reader.run_keys()) if r["metrics"]]
    yield index, keys
    index.close()


def _raw_gids(panel: WorkspaceCharts, metric: str) -> list[str]:
    ax = panel.charts.chart.axes[metric]
    return sorted(line.get_gid() for line in ax.get_lines() if line.get_gid().startswith("raw:"))


@pytest.fixture
def panel(qtbot: QtBot, sweep: tuple[Index, list[str]]) -> Iterator[WorkspaceCharts]:
    index, _keys = sweep
    widget = WorkspaceCharts(index)
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    yield widget
    widget.shutdown()


def test_charts_follow_the_table(
    qtbot: QtBot, panel: WorkspaceCharts, sweep: tuple[Index, list[str]]
) -> None:
    _index, keys = sweep
    with qtbot.waitSignal(panel.chart_ready, timeout=20_000):
        panel.set_visible_keys(keys)
    assert panel.charts.selected_metrics() == ["loss"]  # the default: a loss
    assert _raw_gids(panel, "loss") == sorted(f"raw:{k}" for k in keys)
    assert panel.status.text() == "The 4 runs the table shows"
    with qtbot.waitSignal(panel.chart_ready, timeout=20_000):
        panel.set_visible_keys(keys[:2])  # a filter
    assert _raw_gids(panel, "loss") == sorted(f"raw:{k}" for k in keys[:2])
    with qtbot.waitSignal(panel.chart_ready, timeout=20_000):
        panel.set_visible_keys([])
    assert panel.status.text() == "No runs in the table"


def test_a_long_table_is_cut_and_says_so(
    qtbot: QtBot, panel: WorkspaceCharts, sweep: tuple[Index, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _index, keys = sweep
    monkeypatch.setattr(panel_module, "MAX_RUNS", 3)
    with qtbot.waitSignal(panel.chart_ready, timeout=20_000):
        panel.set_visible_keys(keys)
    assert _raw_gids(panel, "loss") == sorted(f"raw:{k}" for k in keys[:3])
    assert panel.status.text() == "The first 3 of the 4 runs the table shows (filter to see others)"


def test_a_saved_chart_panel_is_applied_and_read_back(
    qtbot: QtBot, panel: WorkspaceCharts, sweep: tuple[Index, list[str]]
) -> None:
    _index, keys = sweep
    wanted = ChartPanel(visible=True, metrics=("b", "w"), x="relative", smoothing=0.3, log_y=False)
    panel.apply(wanted)  # before any run is loaded: applied once they are
    with qtbot.waitSignal(panel.chart_ready, timeout=20_000):
        panel.set_visible_keys(keys)
    qtbot.waitUntil(lambda: set(panel.charts.chart.axes) == {"w", "b"}, timeout=20_000)
    assert panel.charts.chart.x_mode is XMode.RELATIVE
    assert panel.state() == wanted
    grouped = ChartPanel(visible=True, metrics=("loss",), group_by="params.optimizer.name", band="std")
    panel.apply(grouped)
    qtbot.waitUntil(
        lambda: any(
            line.get_gid() == "mean:sgd"
            for line in panel.charts.chart.axes.get("loss", _NoAxes()).get_lines()
        ),
        timeout=20_000,
    )
    assert panel.state() == grouped


class _NoAxes:
    def get_lines(self) -> list:
        return []


def test_a_hidden_panel_loads_nothing_until_shown(qtbot: QtBot, sweep: tuple[Index, list[str]]) -> None:
    index, keys = sweep
    widget = WorkspaceCharts(index)
    qtbot.addWidget(widget)
    try:
        widget.set_visible_keys(keys)
        qtbot.wait(400)  # longer than the settle time: a visible panel would have asked by now
        assert widget.charts.runs == [] and widget._tasks.pool.activeThreadCount() == 0
        with qtbot.waitSignal(widget.chart_ready, timeout=20_000):
            widget.show()
        assert _raw_gids(widget, "loss") == sorted(f"raw:{k}" for k in keys)
    finally:
        widget.shutdown()
