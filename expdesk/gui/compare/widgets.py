"""Small pieces the compare tabs share: plain-text labels, a canvas with its toolbar, combo refills."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg, NavigationToolbar2QT
from matplotlib.figure import Figure
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QVBoxLayout, QWidget


def plain_label(text: str = "") -> QLabel:
    """A label that never interprets run names or keys as rich text."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


class Canvas(QWidget):
    """A figure canvas with matplotlib's zoom/pan toolbar."""

    def __init__(self, figure: Figure, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure = figure
        self.canvas = FigureCanvasQTAgg(figure)
        self.toolbar = NavigationToolbar2QT(self.canvas, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.canvas, 1)


def new_canvas() -> Canvas:
    return Canvas(Figure(figsize=(8, 5), layout="constrained"))


def key_combo() -> QComboBox:
    """A combo of param/metric keys: as wide as ~14 characters (wider if the window is) whatever the keys (a 400-character key would
    set the window's minimum width); the popup shows them whole."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(14)
    view = combo.view()
    if view is not None:
        view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    return combo


def refill(combo: QComboBox, items: list[str], default: str | None) -> None:
    """Replace a combo's items, keeping the current choice when it is still there (no signal storm)."""
    current = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(items)
    wanted = current if current in items else default
    if wanted:
        combo.setCurrentText(wanted)
    combo.blockSignals(False)


def by_coverage(
    runs: Sequence[Mapping[str, Any]], section: str, keys: Iterable[str] | None = None
) -> list[str]:
    """Keys of a run section ("params", "metrics") that most runs have first, A to Z among equals."""
    counts: dict[str, int] = {}
    for run in runs:
        for key in run.get(section) or {}:
            counts[key] = counts.get(key, 0) + 1
    wanted = list(counts) if keys is None else [k for k in keys if k in counts]
    return sorted(wanted, key=lambda k: (-counts[k], k.lower(), k))


def common(runs: Sequence[Mapping[str, Any]], section: str, keys: Iterable[str] | None = None) -> list[str]:
    """`by_coverage` keys that at least half of the runs have (a default axis nobody lacks)."""
    ordered = by_coverage(runs, section, keys)
    half = (len(runs) + 1) // 2
    return [k for k in ordered if sum(1 for r in runs if k in (r.get(section) or {})) >= half]


def default_metric(metrics: list[str], runs: Sequence[Mapping[str, Any]] = ()) -> str | None:
    """A validation loss if there is one, else any loss, else the first metric; among the metrics at least
    half of `runs` have, when runs are given (a default axis most runs can be drawn on)."""
    if runs:
        metrics = common(runs, "metrics", metrics) or metrics
    for test in (lambda m: "val" in m.lower() and "loss" in m.lower(), lambda m: "loss" in m.lower()):
        for m in metrics:
            if test(m):
                return m
    return metrics[0] if metrics else None


#: series shorter than this are drawn unsmoothed: an EMA over a handful of points only shifts them
MIN_SMOOTHED_POINTS = 50


def smoothing_for(points: int, smoothing: float) -> float:
    """The smoothing a series of `points` gets: none when it is short."""
    return smoothing if points >= MIN_SMOOTHED_POINTS else 0.0
