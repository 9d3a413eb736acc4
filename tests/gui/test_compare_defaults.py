"""Chart defaults that respect the data (issue 20 #9): no smoothing on short series, default axes that most
runs have, parallel-coordinate labels readable at the figure's size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from matplotlib.lines import Line2D
from pytestqt.qtbot import QtBot

from expdesk.gui.compare.view import CompareView
from expdesk.index.service import Index
from tests.compare.conftest import add_run


@pytest.fixture
def view(qtbot: QtBot, index: Index, tmp_path: Path) -> Iterator[CompareView]:
    keys = [
        add_run(
            index,
            tmp_path,
            f"run-{i}",
            {"lr": f"0.{i + 1}", "batch": "32", **({"a_rare": "x"} if i == 0 else {})},
            {
                "val_loss": np.linspace(1.0, 0.2 + i / 10, 6),  # six epochs: too short to smooth
                "train_loss": np.linspace(2.0, 0.1, 400) + np.sin(np.arange(400)) * 0.05,
                **({"aux": [1.0, 2.0]} if i == 0 else {}),
            },
        )
        for i in range(4)
    ]
    compare = CompareView(index, keys)
    qtbot.addWidget(compare)
    compare.resize(1200, 760)
    with qtbot.waitSignal(compare.chart_ready, timeout=20_000):
        compare.show()
    yield compare
    compare.close()


def _lines(view: CompareView, metric: str) -> list[Line2D]:
    assert view.charts.chart is not None
    return list(view.charts.chart.axes[metric].lines)


def test_short_series_are_not_smoothed(view: CompareView, qtbot: QtBot) -> None:
    assert view.charts.selected_metrics() == ["val_loss"]
    lines = _lines(view, "val_loss")
    assert not [line for line in lines if str(line.get_gid()).startswith("smoothed:")]
    raw = [line for line in lines if str(line.get_gid()).startswith("raw:")]
    assert len(raw) == 4 and all((line.get_alpha() or 1.0) == 1.0 for line in raw)
    with qtbot.waitSignal(view.charts.chart_ready, timeout=20_000):
        view.charts.set_selected_metrics(["train_loss"])
    smoothed = [line for line in _lines(view, "train_loss") if str(line.get_gid()).startswith("smoothed:")]
    assert len(smoothed) == 4, "a long series keeps its smoothing"


def test_scatter_and_parallel_default_to_fields_most_runs_have(view: CompareView, qtbot: QtBot) -> None:
    view.tabs.setCurrentWidget(view.scatter)
    assert view.scatter.param_combo.currentText() == "lr"
    assert view.scatter.metric_combo.currentText() == "val_loss"
    view.tabs.setCurrentWidget(view.parallel)
    figure = view.parallel.canvas.figure
    ax = figure.axes[0]
    names = [t.get_text() for t in ax.get_xticklabels()]
    assert names[0] == "lr", names
    sizes = [t.get_fontsize() for t in ax.get_xticklabels()] + [t.get_fontsize() for t in ax.texts]
    assert min(sizes) >= 9, f"labels of {min(sizes)} pt"
