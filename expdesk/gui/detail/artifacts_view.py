"""The detail panel's Artifacts tab: a tree with sizes and a preview (image, text, JSON/YAML, CSV table).

Previews are read on a worker, only from regular files that resolve inside the run's watched root, and
only up to a size cap; images are decoded (and scaled) into a QImage there, which Qt allows off the GUI
thread. Nothing here ever writes to the run folder.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from expdesk.core.artifact_uri import artifact_file
from expdesk.gui.detail.kv_model import TextTableModel
from expdesk.gui.runs.query import elide
from expdesk.gui.workers.pool import WorkerPool

TEXT_CAP = 256 * 1024
JSON_PARSE_CAP = 4 * 1024 * 1024
IMAGE_CAP = 40 * 1024 * 1024
CSV_ROWS = 500
TREE_CAP = 5000
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"}
TEXT_EXT = {
    ".txt",
    ".log",
    ".md",
    ".yaml",
    ".yml",
    ".py",
    ".cfg",
    ".ini",
    ".toml",
    ".out",
    ".err",
    ".jsonl",
    ".tsv",
}
PATH_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass
class Preview:
    kind: str  # "image" | "text" | "table" | "message"
    text: str = ""
    image: QImage | None = None
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


def read_preview(run_path: str, root: str, relative: str, artifact_dir: str | None = None) -> Preview:
    """`artifact_dir`: where the reader said the run's artifact paths are relative to (`info.artifact_dir`: a
    DB-backed run's path is its database file, its files live elsewhere)."""
    # the same resolver as `show` and the bundle (`core.artifact_uri`)
    info = {"artifact_dir": artifact_dir} if artifact_dir else {}
    path = artifact_file(run_path, root, info, relative)
    if path is None:
        return Preview(
            "message",
            "Not available: the file is missing, not a regular file, or outside the watched folder.",
        )
    ext = path.suffix.lower()
    size = os.stat(path).st_size
    if ext in IMAGE_EXT:
        if size > IMAGE_CAP:
            return Preview("message", f"Image too large to preview ({size:,} bytes).")
        image = QImage()
        if not image.load(str(path)):
            return Preview("message", "Could not decode this image.")
        if image.width() > 1200 or image.height() > 1200:
            image = image.scaled(
                1200, 1200, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        return Preview("image", image=image)
    with open(path, "rb") as fh:
        head = fh.read(min(size, max(TEXT_CAP, JSON_PARSE_CAP if ext == ".json" else 0)) + 1)
    if ext == ".csv":
        text = head[:TEXT_CAP].decode("utf-8", errors="replace")
        reader = csv.reader(io.StringIO(text))
        rows = []
        for i, row in enumerate(reader):
            if i > CSV_ROWS:
                break
            rows.append(row)
        if rows:
            headers = rows[0]
            width = max(len(r) for r in rows)
            headers = headers + [""] * (width - len(headers))
            return Preview("table", headers=headers, rows=rows[1:])
    if ext == ".json" and size <= JSON_PARSE_CAP:
        try:
            data = json.loads(head.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            pass
        else:
            pretty = json.dumps(data, indent=2, ensure_ascii=False)
            return Preview("text", _capped(pretty, size))
    if b"\0" in head[:8192] and ext not in TEXT_EXT:
        return Preview("message", f"Binary file ({size:,} bytes): no preview.")
    return Preview("text", _capped(head[:TEXT_CAP].decode("utf-8", errors="replace"), size))


def _capped(text: str, size: int) -> str:
    if len(text) > TEXT_CAP or size > TEXT_CAP:
        return text[:TEXT_CAP] + f"\n\n… (preview shows the first {TEXT_CAP // 1024} KB of {size:,} bytes)"
    return text


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


class ArtifactsView(QWidget):
    def __init__(self, pool: WorkerPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pool = pool
        self._run: dict[str, Any] = {}
        self._generation = 0
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(["Artifact", "Size"])
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setStretchLastSection(False)
        self.tree.setUniformRowHeights(True)
        self.tree.currentItemChanged.connect(lambda item, _prev: self._preview(item))
        self.message = QLabel(self)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setObjectName("emptyHint")
        self.image = QLabel(self)
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.table_model = TextTableModel([], self)
        self.table = QTableView(self)
        self.table.setModel(self.table_model)
        self.table.verticalHeader().hide()
        self.stack = QStackedWidget(self)
        for widget in (self.message, self.image, self.text, self.table):
            self.stack.addWidget(widget)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.tree)
        splitter.addWidget(self.stack)
        splitter.setSizes([200, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self.last_preview: Preview | None = None
        self.preview_ready: Callable[[Preview], None] | None = None

    def show_run(self, run: dict[str, Any]) -> None:
        self._run = run
        self._generation += 1
        self.tree.clear()
        artifacts = run.get("artifacts", [])
        folders: dict[str, QTreeWidgetItem] = {}
        for artifact in artifacts[:TREE_CAP]:
            parts = artifact["path"].split("/")
            parent: QTreeWidgetItem | None = None
            for depth in range(len(parts) - 1):
                prefix = "/".join(parts[: depth + 1])
                if prefix not in folders:
                    item = QTreeWidgetItem([elide(parts[depth], 120), ""])
                    (parent.addChild(item) if parent else self.tree.addTopLevelItem(item))
                    folders[prefix] = item
                parent = folders[prefix]
            leaf = QTreeWidgetItem([elide(parts[-1], 120), human_size(artifact["size"])])
            leaf.setData(0, PATH_ROLE, artifact["path"])
            leaf.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            (parent.addChild(leaf) if parent else self.tree.addTopLevelItem(leaf))
        if len(artifacts) > TREE_CAP:
            self.tree.addTopLevelItem(
                QTreeWidgetItem([f"… {len(artifacts) - TREE_CAP:,} more not shown", ""])
            )
        if len(folders) < 50:
            self.tree.expandAll()
        self.tree.resizeColumnToContents(1)
        self._show(
            Preview("message", "Select a file to preview it." if artifacts else "This run has no artifacts.")
        )

    def _preview(self, item: QTreeWidgetItem | None) -> None:
        relative = None if item is None else item.data(0, PATH_ROLE)
        if not relative:
            return
        self._generation += 1
        generation = self._generation
        run_path, root = self._run.get("path", ""), self._run.get("root", "")
        recorded = (self._run.get("info") or {}).get("artifact_dir")
        artifact_dir = recorded if isinstance(recorded, str) else None
        self._show(Preview("message", "Loading preview…"))

        def done(preview: Preview) -> None:
            if generation == self._generation:
                self._show(preview)

        self._pool.submit(
            lambda: read_preview(run_path, root, relative, artifact_dir),
            done,
            lambda message: done(Preview("message", f"Could not read this file: {message}")),
        )

    def _show(self, preview: Preview) -> None:
        self.last_preview = preview
        if preview.kind == "image" and preview.image is not None:
            self.image.setPixmap(QPixmap.fromImage(preview.image))
            self.stack.setCurrentWidget(self.image)
        elif preview.kind == "text":
            self.text.setPlainText(preview.text)
            self.stack.setCurrentWidget(self.text)
        elif preview.kind == "table":
            self.table_model.set_rows(preview.rows, preview.headers)
            self.stack.setCurrentWidget(self.table)
        else:
            self.message.setText(preview.text)
            self.stack.setCurrentWidget(self.message)
        if self.preview_ready is not None:
            self.preview_ready(preview)
