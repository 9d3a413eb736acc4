"""The Media tab (run detail and compare window): images and text on a runs x keys grid with a step slider
(each cell shows its nearest step at or before the slider), histograms over steps as a heat map or ridge
plot, and a list of the other media. Click a cell to enlarge it.

Nothing here reads files or queries the index on the GUI thread: the overview, thumbnails, text samples
and histograms come from a `MediaLoader`. A tab that is not shown does not load; it loads when shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSlider,
    QStackedWidget,
    QStyledItemDelegate,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from expdesk.compare.media import Overview, histogram_grid, load_overview
from expdesk.gui.media.dialog import MediaDialog
from expdesk.gui.media.grid import MediaGrid, MediaGridModel
from expdesk.gui.media.loader import MediaLoader
from expdesk.index.reader import IndexReader

#: (kind in the index, label of the view)
VIEWS = (("image", "Images"), ("histogram", "Histograms"), ("text", "Text"), ("other", "Other media"))
OTHER_KINDS = ("audio", "table", "other")


def _plain(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


class MediaView(QWidget):
    """Media of one run (`set_run`, the detail panel) or several (`set_runs`, the compare window)."""

    #: an overview was loaded and shown (tests wait on it)
    loaded = Signal()
    #: a histogram figure was drawn
    histograms_drawn = Signal()

    def __init__(self, reader_factory: Callable[[], IndexReader], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loader = MediaLoader(reader_factory, self)
        self.loader.relay.done.connect(self._on_done)
        self.loader.relay.failed.connect(self._on_failed)
        self.runs: list[tuple[str, str]] = []
        self.overview = Overview([])
        self.steps = np.empty(0, dtype=np.int64)
        self._dirty = False
        self._canvas: Any = None
        self._build()

    def _build(self) -> None:
        self.status = _plain("No run selected")
        self.kind = QComboBox()
        self.kind.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter keys")
        self.filter.setClearButtonEnabled(True)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setMinimumWidth(200)
        self.step_label = _plain("")
        bar = QHBoxLayout()
        for w in (self.kind, self.filter):
            bar.addWidget(w)
        self.step_caption = _plain("step")
        bar.addWidget(self.step_caption)
        bar.addWidget(self.slider, 1)
        bar.addWidget(self.step_label)
        self.images_model = MediaGridModel(self.loader, self)
        self.images = MediaGrid(self.images_model, self)
        self.text_model = MediaGridModel(self.loader, self)
        self.text_model.kind = "text"
        self.texts = MediaGrid(self.text_model, self)
        self.texts.setItemDelegate(QStyledItemDelegate(self.texts))  # text cells: plain text, no thumbnails
        self.texts.setWordWrap(True)
        self.texts.horizontalHeader().setDefaultSectionSize(360)
        self.texts.horizontalHeader().setStretchLastSection(True)
        self.texts.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.hist_key = QComboBox()
        self.hist_mode = QComboBox()
        self.hist_mode.addItem("Heat map", "heatmap")
        self.hist_mode.addItem("Ridge", "ridge")
        self.hist_panel = QWidget()
        hist_box = QVBoxLayout(self.hist_panel)
        hist_bar = QHBoxLayout()
        hist_bar.addWidget(_plain("histogram"))
        hist_bar.addWidget(self.hist_key, 1)
        hist_bar.addWidget(self.hist_mode)
        hist_box.addLayout(hist_bar)
        self.hist_note = _plain("")
        hist_box.addWidget(self.hist_note)
        self.others = QTableWidget(0, 5)
        self.others.setHorizontalHeaderLabels(["Run", "Key", "Kind", "Items", "Note"])
        self.others.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.others.horizontalHeader().setStretchLastSection(True)
        self.others.verticalHeader().hide()
        self.stack = QStackedWidget()
        for page in (self.images, self.hist_panel, self.texts, self.others):
            self.stack.addWidget(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.status)
        layout.addLayout(bar)
        layout.addWidget(self.stack, 1)
        self.kind.currentIndexChanged.connect(lambda _i: self._show_kind())
        self.filter.textChanged.connect(lambda _t: self._show_kind())
        self.slider.valueChanged.connect(self._on_slider)
        self.hist_key.currentIndexChanged.connect(lambda _i: self._request_histograms())
        self.hist_mode.currentIndexChanged.connect(lambda _i: self._request_histograms())
        self.images.doubleClicked.connect(lambda index: self._enlarge(self.images_model, index))
        self.texts.doubleClicked.connect(lambda index: self._enlarge(self.text_model, index))
        # thumbnails arrive in bursts: one repaint of the visible cells per burst
        self._repaint = QTimer(self)
        self._repaint.setSingleShot(True)
        self._repaint.setInterval(15)
        self._repaint.timeout.connect(self.images.viewport().update)
        self.loader.relay.thumb.connect(lambda *_a: self._repaint.start())

    # -- what to show -------------------------------------------------------------------------------
    def set_run(self, key: str | None) -> None:
        """The detail panel's hook: called for each run shown (and again when it changed)."""
        self.set_runs([] if key is None else [(key, "")])

    def set_runs(self, runs: list[tuple[str, str]]) -> None:
        """(run key, label) per run; labels name the grid's rows (empty for a single run)."""
        self.runs = list(runs)
        self.images.verticalHeader().setVisible(len(runs) > 1)
        self.texts.verticalHeader().setVisible(len(runs) > 1)
        if self.isVisible():
            self.reload()
        else:
            self._dirty = True

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._dirty:
            self.reload()

    def reload(self) -> None:
        self._dirty = False
        keys = [k for k, _label in self.runs]
        if not keys:
            self._apply(Overview([]))
            return
        self.loader.submit("overview", lambda reader: load_overview(reader, keys))

    def _on_done(self, kind: str, generation: int, result: Any) -> None:
        if not self.loader.is_current(kind, generation):
            return
        if kind == "overview":
            self._apply(result)
        elif kind == "histograms":
            self._draw_histograms(result)
        elif kind == "full" and self._dialog is not None:
            self._dialog.show_payload(result)

    def _on_failed(self, kind: str, _generation: int, message: str) -> None:
        self.status.setText(f"Could not load the media ({kind}): {message}")

    def _apply(self, overview: Overview) -> None:
        old = self.overview.signature()
        new = overview.signature()
        if any(k in old and old[k][0] != v[0] for k, v in new.items()):
            # a run was re-read from the start: its item ids may now name other items
            self.loader.clear_cache()
            self.images_model.texts.clear()
            self.text_model.texts.clear()
        self.overview = overview
        total = overview.count()
        series = len(overview)
        if not self.runs:
            self.status.setText("No run selected")
        elif not total:
            self.status.setText(
                "No media logged" + (" by these runs" if len(self.runs) > 1 else " by this run")
            )
        else:
            self.status.setText(f"{total:,} media items in {series} series")
        current = self.kind.currentData()
        self.kind.blockSignals(True)
        self.kind.clear()
        for kind, label in VIEWS:
            kinds = OTHER_KINDS if kind == "other" else (kind,)
            count = sum(overview.count(k) for k in kinds)
            if count:
                self.kind.addItem(f"{label} ({count:,})", kind)
        if self.kind.count() == 0:
            self.kind.addItem("No media", None)
        wanted = self.kind.findData(current)
        self.kind.setCurrentIndex(max(0, wanted))
        self.kind.blockSignals(False)
        self._show_kind()
        self.loaded.emit()

    def _keys(self, kind: str) -> list[str]:
        needle = self.filter.text().strip().lower()
        return [k for k in self.overview.keys(kind) if needle in k.lower()]

    def _show_kind(self) -> None:
        kind = self.kind.currentData() or "image"
        self.loader.drop_pending()
        if kind == "histogram":
            self.stack.setCurrentWidget(self.hist_panel)
            self._set_steps(np.empty(0, dtype=np.int64))
            current = self.hist_key.currentText()
            self.hist_key.blockSignals(True)
            self.hist_key.clear()
            self.hist_key.addItems(self._keys("histogram"))
            if current:
                self.hist_key.setCurrentText(current)
            self.hist_key.blockSignals(False)
            self._request_histograms()
        elif kind == "other":
            self.stack.setCurrentWidget(self.others)
            self._set_steps(np.empty(0, dtype=np.int64))
            self._fill_others()
        else:
            model, grid = (
                (self.text_model, self.texts) if kind == "text" else (self.images_model, self.images)
            )
            self.stack.setCurrentWidget(grid)
            self._set_steps(self.overview.steps(kind))
            model.set_content(self.overview, self.runs, kind, self._keys(kind))
            model.set_step(self._step())

    # -- the step slider: every step any shown series has; a cell shows its nearest at or before ---
    def _set_steps(self, steps: np.ndarray) -> None:
        for w in (self.step_caption, self.slider, self.step_label):
            w.setVisible(len(steps) > 0)  # histograms and other media have no slider
        at_end = self.slider.value() >= self.slider.maximum()
        previous = self._step()
        self.steps = steps
        self.slider.blockSignals(True)
        self.slider.setEnabled(len(steps) > 1)
        self.slider.setRange(0, max(0, len(steps) - 1))
        if len(steps) and previous is not None and not at_end:
            self.slider.setValue(int(np.searchsorted(steps, previous, side="right")) - 1)
        else:
            self.slider.setValue(max(0, len(steps) - 1))
        self.slider.blockSignals(False)
        self._label_step()

    def _step(self) -> int | None:
        if not len(self.steps):
            return None
        return int(self.steps[min(max(0, self.slider.value()), len(self.steps) - 1)])

    def _label_step(self) -> None:
        step = self._step()
        self.step_label.setText(
            "" if step is None else f"{step:,}  ({self.slider.value() + 1} of {len(self.steps)})"
        )

    def _on_slider(self, _value: int) -> None:
        self.loader.drop_pending()  # thumbnails of the step just left are no longer wanted
        self._label_step()
        step = self._step()
        self.images_model.set_step(step)
        self.text_model.set_step(step)

    def step_to(self, step: int) -> None:
        """Move the slider to the nearest step at or before `step`."""
        if len(self.steps):
            self.slider.setValue(max(0, int(np.searchsorted(self.steps, step, side="right")) - 1))

    # -- histograms ---------------------------------------------------------------------------------
    def _request_histograms(self) -> None:
        key = self.hist_key.currentText()
        if not key:
            self.hist_note.setText("No histograms" + (" match the filter" if self.filter.text() else ""))
            return
        cells = [(self.overview.cell("histogram", run, key), label or run) for run, label in self.runs]
        wanted = [(c, label) for c, label in cells if c is not None]
        self.hist_note.setText("Loading…")
        self.loader.submit(
            "histograms", lambda reader: [histogram_grid(reader, c, label) for c, label in wanted]
        )

    def _draw_histograms(self, grids: list[Any]) -> None:
        from expdesk.compare.media_figures import histogram_figure

        if self._canvas is None:
            # matplotlib's Qt canvas is imported when a histogram is first drawn, not at window start-up
            from expdesk.gui.compare.widgets import new_canvas

            self._canvas = new_canvas()
            self.hist_panel.layout().addWidget(self._canvas)  # type: ignore[union-attr]
        histogram_figure(grids, self.hist_mode.currentData(), figure=self._canvas.figure)
        self._canvas.canvas.draw_idle()
        problems = [p for g in grids for p in g.problems]
        self.hist_note.setText("" if not problems else f"⚠ {len(problems)} step(s) not drawn: {problems[0]}")
        self.histograms_drawn.emit()

    # -- other media --------------------------------------------------------------------------------
    def _fill_others(self) -> None:
        labels = dict(self.runs)
        rows = []
        for kind in OTHER_KINDS:
            for key in self._keys(kind):
                for run, _label in self.runs:
                    cell = self.overview.cell(kind, run, key)
                    if cell is not None:
                        errors = list(cell.errors.values())
                        note = (
                            f"⚠ {errors[0]}"
                            if errors
                            else "save one with: expdesk media RUN KEY --step N --out FILE"
                        )
                        rows.append((labels[run] or run, key, kind, str(len(cell)), note))
        self.others.setRowCount(len(rows))
        for i, values in enumerate(rows):
            for j, value in enumerate(values):
                self.others.setItem(i, j, QTableWidgetItem(value))
        self.others.resizeColumnsToContents()

    # -- enlarge ------------------------------------------------------------------------------------
    _dialog: MediaDialog | None = None

    def _enlarge(self, model: MediaGridModel, index: QModelIndex) -> None:
        cell, row = model.cell_at(index)
        if cell is None or row is None:
            return
        label = model.runs[index.row()][1]
        self._dialog = MediaDialog(cell, row, label, self)
        self._dialog.show()
        self.loader.submit("full", lambda reader: MediaDialog.load(reader, cell, row))

    def shutdown(self) -> None:
        """Wait for the loader's threads (the window calls this before it goes)."""
        self.loader.shutdown()
