"""Small pieces the compare tabs share: plain-text labels, a canvas with its toolbar, combo refills."""

from __future__ import annotations

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


def default_metric(metrics: list[str]) -> str | None:
    """A validation loss if there is one, else any loss, else the first metric."""
    for test in (lambda m: "val" in m.lower() and "loss" in m.lower(), lambda m: "loss" in m.lower()):
        for m in metrics:
            if test(m):
                return m
    return metrics[0] if metrics else None
