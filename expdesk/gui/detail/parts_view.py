"""The detail panel's Parts tab: which tools' folders make up the run, what each gave, and why they are
one run (the join rule and its evidence). Shows the prepared run dict only: nothing is read here.

A run of one part says so; a joined run lists its head first. Notes about joins expdesk did not make (two
loggers of one kind in one place, a record that disagrees with the job) are listed under the table, and
the context menu of the runs table has Split and Join to change what was joined.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from expdesk.gui.runs.query import elide

HEADERS = ["Tool", "Folder", "Gave", "Joined by", "Evidence", "Part key"]
_RULES = {
    "head": "the run's own (its key)",
    "alone": "a run of one part",
    "same-folder": "same folder",
    "job-folder": "inside the job folder",
    "dvc-declared": "declared in dvc.yaml",
    "logger-versions": "same logger version",
    "names-run": "named by a record",
    "user": "joined by you",
}


def part_rows(run: dict[str, Any]) -> list[list[str]]:
    """The table's rows for a run JSON dict (tests check them without Qt widgets)."""
    rows = []
    folder = run["path"].rstrip("/")
    for part in run.get("parts", []):
        path = part["path"]
        shown = "." if path == folder else path[len(folder) + 1 :] if path.startswith(folder + "/") else path
        gave = part.get("gave")
        if gave:
            text = ", ".join(f"{n} {what}" for what, n in gave.items() if n)
        else:
            counts = (len(run.get("params", {})), len(run.get("metrics", {})), len(run.get("artifacts", [])))
            text = f"{counts[0]} params, {counts[1]} metrics, {counts[2]} artifacts"
        evidence = "; ".join(
            f"{k}: {_inside(str(v), folder)}" for k, v in part.get("evidence", {}).items() if k != "job"
        )
        rows.append(
            [
                part["label"],
                shown,
                text or "nothing yet",
                _RULES.get(part["rule"], part["rule"]),
                evidence,
                part["key"],
            ]
        )
    return rows


def _inside(value: str, folder: str) -> str:
    """A recorded path shown relative to the run's folder when it is inside it."""
    if value == folder:
        return "the run's folder"
    return value[len(folder) + 1 :] if value.startswith(folder + "/") else value


class PartsView(QWidget):
    """One item per part (tool and folder), its facts as child rows: fits the detail panel's width."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Part", ""])
        self.tree.setUniformRowHeights(True)
        self.tree.setWordWrap(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.summary = QLabel(self)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)  # user strings (paths, ids) are plain text
        self.summary.setWordWrap(True)
        self.notes = QLabel(self)
        self.notes.setTextFormat(Qt.TextFormat.PlainText)
        self.notes.setWordWrap(True)
        self.notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box = QVBoxLayout(self)
        box.setContentsMargins(6, 6, 6, 6)
        box.addWidget(self.summary)
        box.addWidget(self.tree, 1)
        box.addWidget(self.notes)
        self.rows: list[list[str]] = []

    def set_run(self, run: dict[str, Any]) -> None:
        rows = part_rows(run)
        self.rows = rows
        self.tree.clear()
        for tool, folder, gave, joined, evidence, key in rows:
            item = QTreeWidgetItem([tool, elide(folder, 200)])
            item.setToolTip(1, folder[:2000])
            for label, value in (
                ("joined", joined),
                ("gave", gave),
                ("evidence", evidence),
                ("part key", key),
            ):
                if value:
                    child = QTreeWidgetItem([label, elide(value, 300)])
                    child.setToolTip(1, value[:2000])
                    item.addChild(child)
            self.tree.addTopLevelItem(item)
            item.setExpanded(True)
        if len(rows) > 1:
            self.summary.setText(
                f"One training job, {len(rows)} parts: {' + '.join(r[0] for r in rows)}. Right-click the run in"
                " the table to split it."
            )
        else:
            self.summary.setText("A run of one part. Select runs in the table and right-click to join them.")
        notes = run.get("join_notes", [])
        self.notes.setText("\n".join(f"Note: {n}" for n in notes))
        self.notes.setVisible(bool(notes))
