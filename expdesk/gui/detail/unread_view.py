"""The detail tab that says what could not be read: the run's error, and every file that looks like metrics
or params but was not read, with the reason. Nothing is dropped in silence, so this tab names it.

Paths and reasons come from other people's folders: they go into an item view and a PlainText label only.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from expdesk.gui.detail.kv_model import TextTableModel

#: what the tab says when a run was read whole (no error, no unread file)
ALL_READ = "No errors: every file of this run that looks like metrics or params was read."


def tab_title(run: dict[str, Any]) -> str:
    """`Errors`, or `Not read (N) ⚠` / `Errors ⚠` when there is something to look at."""
    unread = run.get("unread") or []
    if unread:
        return f"Not read ({len(unread)}) ⚠"
    return "Errors ⚠" if run.get("error") else "Errors"


class UnreadView(QWidget):
    """The run's error (if any) above a two-column table: file, reason."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel(ALL_READ, self)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model = TextTableModel(["File", "Why it was not read"], self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)

    def show_run(self, run: dict[str, Any]) -> None:
        unread = run.get("unread") or []
        error = run.get("error") or ""
        lines = []
        if error:
            lines.append(f"Error: {error}")
        if unread:
            noun = "file" if len(unread) == 1 else "files"
            lines.append(
                f"{len(unread)} {noun} of this run could not be read (listed below, with the reason)."
            )
        self.summary.setText("\n".join(lines) or ALL_READ)
        self.model.set_rows([[item["path"], item["reason"]] for item in unread])
        self.table.setVisible(bool(unread))
        if unread:
            self.table.resizeColumnToContents(0)
