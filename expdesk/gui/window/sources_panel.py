"""The Sources panel: watched roots with run counts per format, live status and errors.

The panel only shows what `load_sources` (a worker job) prepared; removing a root or marking it a network
mount is asked of the window through signals, which does the write on a worker.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from expdesk.gui.runs.query import elide
from expdesk.index import table
from expdesk.index.reader import IndexReader

PATH_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass
class SourceInfo:
    path: str
    network: bool
    runs: int  # listed in the table: on disk, not deleted in their tool, not hidden (`table.run_counts`)
    errors: int
    formats: dict[str, int] = field(default_factory=dict)
    error_samples: list[tuple[str, str]] = field(default_factory=list)  # (run name, message)
    hidden: int = 0
    deleted: int = 0


def load_sources(reader: IndexReader) -> list[SourceInfo]:
    """Worker job: every root with its counts, in the table's words (a few small queries per root)."""
    out = []
    counts = table.root_counts(reader)
    for root in reader.roots():
        mine = counts.get(root["path"], table.RootCounts())
        info = SourceInfo(root["path"], bool(root["network"]), mine.runs, mine.errors)
        info.hidden, info.deleted = mine.hidden, mine.deleted
        # formats of every run on disk under the root (hidden and deleted included: the lines below say so)
        info.formats = dict(mine.formats)
        if root["errors"]:
            samples = reader.error_samples(root["path"], limit=20)
            info.error_samples = [(elide(name, 80), elide(error, 300)) for name, error in samples]
        out.append(info)
    return out


class SourcesPanel(QWidget):
    remove_requested = Signal(str)
    network_requested = Signal(str, bool)
    add_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel("Sources", self)
        title.setObjectName("panelTitle")
        add = QToolButton(self)
        add.setText("+")
        add.setToolTip("Add a folder (Ctrl+O)")
        add.clicked.connect(self.add_requested)
        top = QHBoxLayout()
        top.setContentsMargins(8, 6, 4, 2)
        top.addWidget(title)
        top.addStretch(1)
        top.addWidget(add)
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Folder", "Runs"])
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        # both ends of a folder name or a status say the most ("…(not watched)" said nothing)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._menu)
        self.empty = QLabel("No folders yet.\nDrop run folders on the window\nor press Ctrl+O.", self)
        self.empty.setTextFormat(Qt.TextFormat.PlainText)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setObjectName("emptyHint")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(top)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty, 1)
        self._status: dict[str, str] = {}
        self._sources: list[SourceInfo] = []
        self.show_sources([])

    def set_status(self, path: str, status: str) -> None:
        """Live status per root ("indexing…", "watching", "polling", "error: …")."""
        self._status[path] = status
        self.show_sources(self._sources)

    def status_of(self, path: str) -> str | None:
        return self._status.get(path)

    def sources(self) -> list[SourceInfo]:
        return list(self._sources)

    def show_sources(self, sources: list[SourceInfo]) -> None:
        self._sources = sources
        tops = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        expanded = {item.data(0, PATH_ROLE) for item in tops if item is not None and item.isExpanded()}
        self.tree.clear()
        for src in sources:
            name = src.path.rstrip("/").rsplit("/", 1)[-1] or src.path
            item = QTreeWidgetItem([elide(name, 120), str(src.runs)])
            item.setData(0, PATH_ROLE, src.path)
            status = self._status.get(src.path, "indexed")
            tip = [src.path, f"status: {status}"] + (["network mount (polled)"] if src.network else [])
            item.setToolTip(0, "<p style='white-space:pre-wrap'>" + html.escape("\n".join(tip)) + "</p>")
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            flags = [status] + (["network"] if src.network else [])
            QTreeWidgetItem(item, [" · ".join(flags), ""])
            for fmt, count in sorted(src.formats.items()):
                child = QTreeWidgetItem(item, [fmt, str(count)])
                child.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for word, count, note in (
                ("hidden", src.hidden, "hidden by you (View ▸ Show Hidden Runs, Ctrl+H)"),
                (
                    "deleted in tool",
                    src.deleted,
                    "soft-deleted in their tool: not listed (expdesk runs --all)",
                ),
            ):
                if count:
                    extra = QTreeWidgetItem(item, [word, str(count)])
                    extra.setToolTip(0, note)
                    extra.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if src.errors:
                errors = QTreeWidgetItem(item, ["⚠ read errors", str(src.errors)])
                errors.setToolTip(
                    0, "listed runs with files expdesk could not read (see each run's Errors tab)"
                )
                errors.setForeground(0, Qt.GlobalColor.red)
                for run, message in src.error_samples:
                    leaf = QTreeWidgetItem(errors, [f"{run}: {message}", ""])
                    leaf.setToolTip(0, "<p style='white-space:pre-wrap'>" + html.escape(message) + "</p>")
            self.tree.addTopLevelItem(item)
            item.setExpanded(src.path in expanded or len(sources) <= 3)
        self.tree.setVisible(bool(sources))
        self.empty.setVisible(not sources)

    def _menu(self, pos: QPoint) -> None:
        item = self.tree.itemAt(pos)
        while item is not None and item.parent() is not None:
            item = item.parent()
        if item is None:
            return
        path = item.data(0, PATH_ROLE)
        source = next((s for s in self._sources if s.path == path), None)
        menu = QMenu(self)
        network = QAction("Network mount (poll instead of watching)", menu)
        network.setCheckable(True)
        network.setChecked(bool(source and source.network))
        network.toggled.connect(lambda on: self.network_requested.emit(path, on))
        remove = QAction("Remove folder", menu)
        remove.triggered.connect(lambda: self.remove_requested.emit(path))
        menu.addAction(network)
        menu.addSeparator()
        menu.addAction(remove)
        menu.exec(self.tree.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def current_root(self) -> Any:
        item = self.tree.currentItem()
        while item is not None and item.parent() is not None:
            item = item.parent()
        return None if item is None else item.data(0, PATH_ROLE)
