"""File > Export report: choose what the hand-over page shows for the selected runs (metrics charted, grouping,
media, title), then write it (`expdesk.compare.report`, the same page as `expdesk report`).

The runs' metrics and media are listed by a worker when the dialog opens; the page is built and written by
a worker too, never into a watched folder. Names are plain text everywhere in the dialog.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from expdesk.compare.report import MediaChoice, ReportOptions, build_report, write_report
from expdesk.compare.report.content import MAX_MEDIA_ITEM_BYTES, default_metrics
from expdesk.compare.report.media import IndexMedia
from expdesk.compare.series import XMode
from expdesk.gui.compare.group_bar import GroupBar
from expdesk.gui.compare.widgets import plain_label
from expdesk.gui.compare.workers import TaskRunner
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index

#: (runs JSON, media keys with their kind) the dialog lists
Listing = tuple[list[dict[str, Any]], list[tuple[str, str]]]


def _fill_checklist(widget: QListWidget, items: list[tuple[str, str]], checked: set[str]) -> None:
    widget.clear()
    for text, data in items:
        item = QListWidgetItem(text)
        item.setData(Qt.ItemDataRole.UserRole, data)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if data in checked else Qt.CheckState.Unchecked)
        widget.addItem(item)


def _checked(widget: QListWidget) -> list[str]:
    items = (widget.item(i) for i in range(widget.count()))
    return [
        str(it.data(Qt.ItemDataRole.UserRole)) for it in items if it.checkState() == Qt.CheckState.Checked
    ]


class ReportDialog(QDialog):
    written = Signal(str)  # the page's path

    def __init__(
        self, index: Index, run_keys: list[str], start_dir: Path, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Export report of {len(run_keys)} runs")
        self._keys = list(run_keys)
        self._start_dir = start_dir
        self._tasks = TaskRunner(index, self, threads=1)
        self._tasks.relay.finished.connect(self._on_finished)
        self._tasks.relay.failed.connect(self._on_failed)
        self.title = QLineEdit()
        self.title.setPlaceholderText(f"{len(run_keys)} runs compared")
        self.x_combo = QComboBox()
        for mode, text in (
            (XMode.STEP, "step"),
            (XMode.WALL, "wall time"),
            (XMode.RELATIVE, "relative time"),
        ):
            self.x_combo.addItem(text, mode)
        self.grouping = GroupBar()
        self.metrics = QListWidget()
        self.media = QListWidget()
        self.message = plain_label("Listing the runs' metrics and media…")
        self.message.setWordWrap(True)
        self.save_button = QPushButton("Save report…")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.choose_and_write)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        self.form = QFormLayout()
        self.form.addRow("Title", self.title)
        self.form.addRow("Charts over", self.x_combo)
        self.form.addRow("Curves", self.grouping)
        self.form.addRow("Metrics charted", self.metrics)
        self.form.addRow("Media shown (each run's last item)", self.media)
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        buttons.addWidget(close)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form, 1)
        layout.addLayout(buttons)
        self.resize(640, 620)
        self._tasks.submit("list", self._list_job)

    # -- listing ------------------------------------------------------------------------------------
    def _list_job(self, reader: IndexReader) -> Listing:
        runs = reader.runs_json(self._keys)
        source = IndexMedia(reader, MAX_MEDIA_ITEM_BYTES)
        media = sorted({(s.key, s.kind) for r in runs for s in source.series(r["key"])})
        return runs, media

    def _fill(self, listing: Listing) -> None:
        runs, media = listing
        metrics = sorted({m for r in runs for m in r.get("metrics") or {}})
        defaults = set(default_metrics(runs))
        self.grouping.set_runs(runs)
        _fill_checklist(self.metrics, [(m, m) for m in metrics], defaults)
        _fill_checklist(self.media, [(f"{key}  ({kind})", key) for key, kind in media], set())
        self.save_button.setEnabled(bool(runs))
        missing = len(self._keys) - len(runs)
        self.message.setText(
            f"{len(runs)} runs" + (f" ({missing} no longer in the index)" if missing else "")
            + (f", {len(media)} media keys" if media else ", no media")
        )  # fmt: skip

    # -- writing ------------------------------------------------------------------------------------
    def options(self) -> ReportOptions:
        return ReportOptions(
            title=self.title.text(),
            metrics=_checked(self.metrics),
            x_mode=XMode(self.x_combo.currentData()),
            group_by=self.grouping.group_by(),
            band=self.grouping.band(),
            media=[MediaChoice(key) for key in _checked(self.media)],
        )

    def choose_and_write(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save report", str(self._start_dir / "report.html"), "HTML page (*.html)"
        )
        if path:
            self.write_to(Path(path))

    def write_to(self, out: Path) -> None:
        """Build and write the page on a worker (the answer arrives as `written` or a message)."""
        if out.suffix.lower() not in (".html", ".htm"):
            out = out.with_name(out.name + ".html")
        options, keys = self.options(), list(self._keys)

        def job(reader: IndexReader) -> str:
            page = build_report(reader, keys, options, IndexMedia(reader, MAX_MEDIA_ITEM_BYTES))
            return str(write_report(page, out, reader.watched_folders()))

        self.save_button.setEnabled(False)
        self.message.setText(f"Writing {out.name}…")
        self._tasks.submit("write", job)

    def _on_finished(self, kind: str, generation: int, result: Any) -> None:
        if not self._tasks.is_current(kind, generation):
            return
        if kind == "list":
            self._fill(result)
        elif kind == "write":
            self.save_button.setEnabled(True)
            self.message.setText(f"Saved {result}")
            self.written.emit(str(result))

    def _on_failed(self, kind: str, generation: int, message: str) -> None:
        if self._tasks.is_current(kind, generation):
            self.save_button.setEnabled(kind == "write")
            self.message.setText(
                f"Could not {'list the runs' if kind == 'list' else 'write the report'}: {message}"
            )

    def done(self, result: int) -> None:
        self._tasks.shutdown()  # a page being written finishes first (it is one file)
        super().done(result)
