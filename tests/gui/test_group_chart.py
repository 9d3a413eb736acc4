"""The compare window's group-by control: a Hydra sweep charted per optimizer (mean and band per group), back
to a curve per run, and the fields it offers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from expdesk.compare.groups import BandKind
from expdesk.compare.series import XMode
from expdesk.gui.compare.group_bar import group_fields
from expdesk.gui.compare.view import CompareView
from expdesk.index.service import Index
from tests.groundtruth import RUNS

pytestmark = pytest.mark.filterwarnings(
    "ignore:Enum value .Qt..ApplicationAttribute.AA_UseHighDpiPixmaps:DeprecationWarning"
)


@pytest.fixture
def sweep(tmp_path: Path) -> tuple[Index, list[str]]:
    root = tmp_path / "multirun"
    shutil.copytree(RUNS / "hydra" / "multirun", root)
    index = Index(tmp_path / "i.db")
    index.index([root])
    with index.reader() as reader:
        # the job runs (the multirun's sweep folder is a run of its own, with no metrics)
        keys = [r["key"] for r in reader.runs_json(reader.run_keys()) if r["metrics"]]
    yield index, keys
    index.close()


def test_group_by_switches_the_chart_to_group_means(qtbot: QtBot, sweep: tuple[Index, list[str]]) -> None:
    index, keys = sweep
    view = CompareView(index, keys)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    with qtbot.waitSignal(view.chart_ready, timeout=20_000):
        pass
    bar = view.charts.grouping
    offered = [bar.field_combo.itemData(i) for i in range(bar.field_combo.count())]
    # per run first, then params (beta is set only for momentum: missing is a group too)
    assert offered[:4] == ["", "params.optimizer.beta", "params.optimizer.lr", "params.optimizer.name"]
    assert not bar.band_combo.isEnabled()
    with qtbot.waitSignal(view.chart_ready, timeout=20_000):
        bar.field_combo.setCurrentIndex(bar.field_combo.findData("params.optimizer.name"))
    chart = view.charts.chart
    (metric,) = view.charts.selected_metrics()
    ax = chart.axes[metric]
    assert sorted(line.get_gid() for line in ax.get_lines()) == ["mean:momentum", "mean:sgd"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "params.optimizer.name=momentum (2 runs)",
        "params.optimizer.name=sgd (2 runs)",
    ]
    # the mean drawn is the mean of the members' lines (smoothed as chosen), per step
    mean = next(line for line in ax.get_lines() if line.get_gid() == "mean:sgd")
    members = [view.charts._raw[(k, metric)] for k in keys if (k, metric) in view.charts._raw]
    assert len(members) == 4 and len(mean.get_xdata()) == 8
    assert bar.band_combo.isEnabled()
    with qtbot.waitSignal(view.chart_ready, timeout=20_000):
        bar.band_combo.setCurrentIndex(bar.band_combo.findData(BandKind.STD.value))
    assert view.charts.chart.axes[metric].get_legend().get_title().get_text() == "mean ± std"
    # a time axis is not possible for groups: drawn over steps, and said
    with qtbot.waitSignal(view.chart_ready, timeout=20_000):
        view.charts.x_combo.setCurrentIndex(view.charts.x_combo.findData(XMode.WALL))
    assert view.charts.chart.x_mode is XMode.STEP
    assert "drawn over steps" in view.charts.hover.text()
    with qtbot.waitSignal(view.chart_ready, timeout=20_000):
        bar.set_choice("")
    ax = view.charts.chart.axes[metric]
    assert sorted(line.get_gid() for line in ax.get_lines() if line.get_gid().startswith("raw:")) == [
        f"raw:{k}" for k in sorted(keys)
    ]


def test_fields_worth_grouping_by() -> None:
    runs = [
        {
            "key": "a",
            "params": {"seed": "1", "lr": "0.1", "same": "x"},
            "tags": {"t": "u"},
            "experiment": "e",
        },
        {
            "key": "b",
            "params": {"seed": "2", "lr": "1e-1", "same": "x"},
            "tags": {"t": "v"},
            "experiment": "e",
        },
        {"key": "c", "params": {"seed": "3", "lr": "0.2", "same": "x"}, "experiment": "f"},
    ]
    # seed differs in every run (no group of two), same is one group; lr 0.1 == 1e-1; a missing tag is a group
    assert group_fields(runs) == ["params.lr", "experiment"]
    runs.append({"key": "d", "params": {"seed": "3"}, "tags": {}, "experiment": "f"})
    assert group_fields(runs) == ["params.lr", "params.same", "params.seed", "tags.t", "experiment"]
