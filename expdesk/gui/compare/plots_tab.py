"""The compare window's Parallel coordinates and Scatter tabs: drawn from the runs' summaries, when shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from matplotlib.figure import Figure
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from expdesk.compare.diff import METRIC_STATS, DiffTable
from expdesk.compare.summary_figures import parallel_figure, scatter_figure
from expdesk.gui.compare.widgets import (
    by_coverage,
    common,
    default_metric,
    key_combo,
    new_canvas,
    plain_label,
    refill,
)

#: at most this many params become parallel-coordinate axes (the ones that differ)
MAX_PARALLEL_PARAMS = 8

ExportFigure = Callable[[Figure, str], None]


class _PlotTab(QWidget):
    """A bar of choices above a canvas; `draw()` when the tab is shown or a choice changes."""

    def __init__(self, name: str, export_figure: ExportFigure, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs: list[dict[str, Any]] = []
        self.table: DiffTable | None = None
        v = QVBoxLayout(self)
        self.bar = QHBoxLayout()
        v.addLayout(self.bar)
        self.canvas = new_canvas()
        v.addWidget(self.canvas, 1)
        self._export_btn = QPushButton("Export…")
        self._export_btn.clicked.connect(lambda: export_figure(self.canvas.figure, name))

    def _finish_bar(self, *widgets: QWidget) -> None:
        for w in widgets:
            self.bar.addWidget(w)
        self.bar.addStretch(1)
        self.bar.addWidget(self._export_btn)

    def set_runs(self, runs: list[dict[str, Any]], table: DiffTable) -> None:
        self.runs = runs
        self.table = table

    def draw(self) -> None:
        raise NotImplementedError


class ParallelTab(_PlotTab):
    def __init__(self, export_figure: ExportFigure, parent: QWidget | None = None) -> None:
        super().__init__("parallel", export_figure, parent)
        self.metric_combo = key_combo()
        self.stat_combo = QComboBox()
        self.stat_combo.addItems(list(METRIC_STATS))
        self._finish_bar(plain_label("colour by"), self.metric_combo, self.stat_combo)
        self.metric_combo.currentIndexChanged.connect(lambda _i: self.draw())
        self.stat_combo.currentIndexChanged.connect(lambda _i: self.draw())

    def set_runs(self, runs: list[dict[str, Any]], table: DiffTable) -> None:
        super().set_runs(runs, table)
        metrics = sorted({m for r in runs for m in r["metrics"]})
        refill(self.metric_combo, metrics, default_metric(metrics, runs))

    def draw(self) -> None:
        table = self.table
        differing = [r.key for r in table.rows if r.section == "param" and not r.same] if table else []
        # the axes most runs have come first: a param only one run has draws one line and hides the rest
        params = by_coverage(self.runs, "params", differing)
        metric = self.metric_combo.currentText() or None
        parallel_figure(
            self.runs,
            params[:MAX_PARALLEL_PARAMS],
            metric,
            self.stat_combo.currentText(),
            figure=self.canvas.figure,
        )
        self.canvas.canvas.draw_idle()


class ScatterTab(_PlotTab):
    def __init__(self, export_figure: ExportFigure, parent: QWidget | None = None) -> None:
        super().__init__("scatter", export_figure, parent)
        self.param_combo = key_combo()
        self.metric_combo = key_combo()
        self.stat_combo = QComboBox()
        self.stat_combo.addItems(list(METRIC_STATS))
        self._finish_bar(
            plain_label("param"), self.param_combo, plain_label("against"), self.metric_combo, self.stat_combo
        )
        for combo in (self.param_combo, self.metric_combo, self.stat_combo):
            combo.currentIndexChanged.connect(lambda _i: self.draw())

    def set_runs(self, runs: list[dict[str, Any]], table: DiffTable) -> None:
        super().set_runs(runs, table)
        metrics = sorted({m for r in runs for m in r["metrics"]})
        params = sorted({p for r in runs for p in r["params"]})
        refill(self.metric_combo, metrics, default_metric(metrics, runs))
        differing = [r.key for r in table.rows if r.section == "param" and not r.same]
        # x: the differing param most runs have (a param most runs lack leaves the plot nearly empty)
        candidates = common(runs, "params", differing) or by_coverage(runs, "params", differing)
        refill(self.param_combo, params, candidates[0] if candidates else None)

    def draw(self) -> None:
        fig = self.canvas.figure
        param, metric = self.param_combo.currentText(), self.metric_combo.currentText()
        if not param or not metric:
            fig.clear()
            self.canvas.canvas.draw_idle()
            return
        labels = self.table.legend if self.table else None
        scatter_figure(self.runs, param, metric, self.stat_combo.currentText(), labels=labels, figure=fig)
        self.canvas.canvas.draw_idle()
