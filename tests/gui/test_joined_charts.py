"""Workspace charts and grouped curves on joined runs (issue 23 x issue 21): a script's output folder with
Lightning's CSV and TensorBoard loggers over two fits is two runs of two parts each; each run is one curve
of its series (the loggers' copies are one metric, not two curves), grouped by the run's param."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from expdesk.core.views import ChartPanel
from expdesk.gui.runs.query import Column
from expdesk.gui.window.main_window import MainWindow
from expdesk.gui.workspace.panel import WorkspaceCharts
from expdesk.index.service import Index
from tests.gui.helpers import add_and_wait, wait_idle
from tests.gui.test_window_tools import _select

JOBS = Path(__file__).resolve().parents[1] / "data" / "jobs"
METRIC = "train_loss_step"

pytestmark = pytest.mark.filterwarnings(
    "ignore:Enum value .Qt..ApplicationAttribute.AA_UseHighDpiPixmaps:DeprecationWarning"
)


@pytest.fixture
def loggers(tmp_path: Path) -> Iterator[tuple[Index, dict[str, str]]]:
    shutil.copytree(JOBS / "lightning_loggers", tmp_path / "lightning_loggers", symlinks=True)
    index = Index(tmp_path / "i.db")
    index.index([tmp_path / "lightning_loggers"])
    with index.reader() as reader:
        runs = reader.runs_json(reader.run_keys())
    assert [len(r["parts"]) for r in runs] == [2, 2]
    yield index, {r["params"]["lr"]: r["key"] for r in runs}
    index.close()


def test_joined_runs_chart_once_and_group_by_their_params(
    qtbot: QtBot, loggers: tuple[Index, dict[str, str]]
) -> None:
    index, by_lr = loggers
    gt = json.loads((JOBS / "lightning_loggers" / "GROUND_TRUTH.json").read_text(encoding="utf-8"))
    counts = {v["hparams"].split(":")[1].strip(): v["csv"][METRIC] for v in gt["versions"].values()}
    widget = WorkspaceCharts(index)
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    try:
        widget.apply(ChartPanel(visible=True, metrics=(METRIC,)))
        with qtbot.waitSignal(widget.chart_ready, timeout=20_000):
            widget.set_visible_keys(list(by_lr.values()))
        qtbot.waitUntil(lambda: METRIC in widget.charts.chart.axes, timeout=20_000)
        lines = {
            line.get_gid(): line
            for line in widget.charts.chart.axes[METRIC].get_lines()
            if line.get_gid().startswith("raw:")
        }
        # one curve per run (not one per logger), with the points CSVLogger wrote
        assert sorted(lines) == sorted(f"raw:{k}" for k in by_lr.values())
        for lr, key in by_lr.items():
            assert len(lines[f"raw:{key}"].get_xdata()) == counts[lr], lr
        widget.apply(ChartPanel(visible=True, metrics=(METRIC,), group_by="params.lr", band="minmax"))
        qtbot.waitUntil(
            lambda: (
                {f"mean:{lr}" for lr in by_lr}
                <= {line.get_gid() for line in widget.charts.chart.axes[METRIC].get_lines()}
            ),
            timeout=20_000,
        )
    finally:
        widget.shutdown()


def test_a_saved_view_of_joined_runs_comes_back(window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    """A view whose filter and column are a reported result, selecting a joined run, with charts grouped
    by a param of the joined runs: saved, changed, reopened."""
    folders = []
    for name in ("trainer_best", "lightning_loggers"):
        shutil.copytree(JOBS / name, tmp_path / name, symlinks=True)
        folders.append(tmp_path / name)
    add_and_wait(qtbot, window, folders, rows=3)  # the Trainer run, the loggers' two fits (2 parts each)
    trainer = json.loads((JOBS / "trainer_best" / "GROUND_TRUTH.json").read_text(encoding="utf-8"))
    with window.index.reader() as reader:
        runs = reader.runs_json(reader.run_keys())
    fits = sorted(r["key"] for r in runs if len(r["parts"]) == 2)
    assert len(fits) == 2
    # a filter on the loggers' runs, a final column, charts grouped by the fits' param; one fit selected
    where = "format = lightning and metrics.train_loss_step.count > 0"
    window.filter_bar.set_text(where)
    qtbot.waitUntil(lambda: sorted(window.model.all_keys()) == fits, timeout=20_000)
    window.use_columns([Column("attr", "name"), Column("metric", "eval_loss", "final")])
    wait_idle(qtbot, window)
    _select(window, fits[:1])
    panel = ChartPanel(visible=True, metrics=(METRIC,), group_by="params.lr")
    window.tools.charts.apply(panel)
    views = window.tools.views_menu
    views.save_current("fits")
    qtbot.waitUntil(lambda: views.names() == ["fits"], timeout=10_000)
    saved = window.tools.capture_view("fits")
    assert saved.filter == where and saved.selection == (fits[0],)
    assert "metric:eval_loss:final" in saved.columns
    # the Trainer's reported result as a filter: the run whose final is the best model's evaluation
    final = trainer["results"]["eval_results.json"]["eval_loss"]
    window.filter_bar.set_text(f"metrics.eval_loss.final = {final!r}")
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=20_000)
    column = [c.id for c in window.model.columns()].index("metric:eval_loss:final")
    assert window.model.index(0, column).data() == f"{final:.6g}"  # the table shows 6 significant digits
    with qtbot.waitSignal(views.message, timeout=10_000):
        views.reopen("fits")
    qtbot.waitUntil(
        lambda: sorted(window.model.all_keys()) == fits and window.selected_keys() == [fits[0]],
        timeout=20_000,
    )
    qtbot.waitUntil(lambda: window.tools.capture_view("fits") == saved, timeout=20_000)
