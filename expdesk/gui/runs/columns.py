"""Column chooser: every attribute, param, metric summary and tag of the listed runs, in four groups, with
search, "only differing" and presets (saved per user).

The window passes the `Workspace` (keys with their spread over the listed runs), so the chooser can say per
key how many runs have it and hide the constant ones on request, without touching the index itself.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from expdesk.gui.runs.default_columns import Workspace, join_groups
from expdesk.gui.runs.query import ATTR_COLUMNS, SUMMARIES, Column, elide
from expdesk.gui.screen import fit_to_screen
from expdesk.gui.window import settings

ID_ROLE = Qt.ItemDataRole.UserRole + 1
#: the chooser's groups: (title, column kind, the workspace section its keys come from)
GROUPS = (("System", "attr", ""), ("Params", "param", "params"), ("Metrics", "metric", "metrics"),
          ("Tags", "tag", "tags"))  # fmt: skip


class ColumnChooser(QDialog):
    def __init__(self, current: list[Column], workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Columns")
        self.resize(fit_to_screen(parent, 560, 680))
        self._workspace = workspace
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search columns (e.g. loss, params.lr, max)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _t: self._filter())
        self.only_differing = QCheckBox("Show only differing", self)
        self.only_differing.setToolTip("Hide params and tags that have the same value in every run")
        self.only_differing.toggled.connect(lambda _on: self._filter())
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(["Column", "Runs"])
        self.tree.setUniformRowHeights(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, self.tree.header().ResizeMode.Stretch)
        self.count = QLabel(self)
        self.count.setTextFormat(Qt.TextFormat.PlainText)
        self.count.setObjectName("mutedLabel")
        check_shown = QPushButton("Check shown", self)
        check_shown.clicked.connect(lambda: self._set_shown(True))
        uncheck_shown = QPushButton("Uncheck shown", self)
        uncheck_shown.clicked.connect(lambda: self._set_shown(False))
        automatic = QPushButton("Automatic", self)
        automatic.setToolTip(
            "Name, status, start, duration, the params that differ and the metrics most runs have,"
            " following new keys"
        )
        automatic.clicked.connect(self._automatic)
        self.presets = QComboBox(self)
        self.presets.setPlaceholderText("Presets")
        self.presets.activated.connect(self._load_preset)
        save = QPushButton("Save preset…", self)
        save.clicked.connect(self._save_preset)
        delete = QPushButton("Delete preset", self)
        delete.clicked.connect(self._delete_preset)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.only_differing)
        row1 = QHBoxLayout()
        row1.addWidget(check_shown)
        row1.addWidget(uncheck_shown)
        row1.addStretch(1)
        row1.addWidget(automatic)
        row2 = QHBoxLayout()
        row2.addWidget(self.presets, 1)
        row2.addWidget(save)
        row2.addWidget(delete)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.count)
        layout.addLayout(row1)
        layout.addLayout(row2)
        layout.addWidget(buttons)
        self.automatic = False
        self._populate(current)
        self._reload_presets()

    # -- the tree -------------------------------------------------------------------------------------
    def _every(self, current: list[Column]) -> dict[str, list[Column]]:
        stats = self._workspace.stats
        every: dict[str, list[Column]] = {
            "attr": list(ATTR_COLUMNS),
            "param": [Column("param", k) for k in sorted(stats.get("params", {}), key=str.lower)],
            "metric": [
                Column("metric", k, s)
                for k in sorted(stats.get("metrics", {}), key=str.lower)
                for s in SUMMARIES
            ],
            "tag": [Column("tag", k) for k in sorted(stats.get("tags", {}), key=str.lower)],
        }
        known = {c.id for group in every.values() for c in group}
        for column in current:  # chosen earlier, not on any listed run right now
            if column.id not in known:
                every[column.kind].append(column)
        return every

    def _populate(self, current: list[Column]) -> None:
        chosen = {c.id for c in current}
        self._order = list(current)
        self.tree.clear()
        self._items: list[tuple[QTreeWidgetItem, Column, bool]] = []  # (item, column, differs)
        every = self._every(current)
        for title, kind, section in GROUPS:
            group = QTreeWidgetItem([title, ""])
            group.setFlags(group.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            self.tree.addTopLevelItem(group)
            for column in every[kind]:
                stat = self._workspace.stats.get(section, {}).get(column.key) if section else None
                item = QTreeWidgetItem(
                    group, [elide(_label(column), 160), "" if stat is None else f"{stat.runs:,}"]
                )
                item.setData(0, ID_ROLE, column.id)
                item.setToolTip(0, elide(column.path, 2000))
                item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(
                    0, Qt.CheckState.Checked if column.id in chosen else Qt.CheckState.Unchecked
                )
                differs = kind in ("attr", "metric") or self._workspace.differs(section, column.key)
                self._items.append((item, column, differs))
            group.setExpanded(kind != "tag")
        self.tree.resizeColumnToContents(1)
        self._filter()

    def _filter(self) -> None:
        words = self.search.text().lower().split()
        only_differing = self.only_differing.isChecked()
        shown = 0
        for item, column, differs in self._items:
            text = column.path.lower()
            hide = not all(w in text for w in words) or (only_differing and not differs)
            item.setHidden(hide)
            shown += not hide
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            if group is not None:
                children = (group.child(j) for j in range(group.childCount()))
                visible = any(c is not None and not c.isHidden() for c in children)
                group.setHidden(not visible)
                if words and visible:
                    group.setExpanded(True)
        self.count.setText(
            f"{shown:,} of {len(self._items):,} columns shown · {len(self.chosen_ids()):,} checked"
        )

    def shown_texts(self) -> list[str]:
        """The labels of the columns the search and "only differing" leave in the list (tests read these)."""
        return [item.text(0) for item, _c, _d in self._items if not item.isHidden()]

    def _set_shown(self, on: bool) -> None:
        state = Qt.CheckState.Checked if on else Qt.CheckState.Unchecked
        for item, _column, _differs in self._items:
            if not item.isHidden():
                item.setCheckState(0, state)
        self._filter()

    def chosen_ids(self) -> list[str]:
        return [c.id for item, c, _d in self._items if item.checkState(0) == Qt.CheckState.Checked]

    def columns(self) -> list[Column]:
        """Checked columns: those already shown keep their order, new ones join their group."""
        chosen = set(self.chosen_ids())
        kept = [c for c in self._order if c.id in chosen]
        kept_ids = {c.id for c in kept}
        added = [c for item, c, _d in self._items if c.id in chosen and c.id not in kept_ids]
        return join_groups(kept, added)

    def _automatic(self) -> None:
        self.automatic = True
        self.accept()

    def accept(self) -> None:
        if not self.automatic and not self.chosen_ids():
            self.count.setText("Choose at least one column.")
            return
        super().accept()

    # -- presets (QSettings, per user) ----------------------------------------------------------------
    def _reload_presets(self) -> None:
        self.presets.clear()
        for name in sorted(settings.column_presets()):
            self.presets.addItem(name)
        self.presets.setCurrentIndex(-1)

    def _load_preset(self, index: int) -> None:
        ids = settings.column_presets().get(self.presets.itemText(index), [])
        self._populate([Column.from_id(i) for i in ids])

    def _save_preset(self) -> None:
        name, ok = QInputDialog.getText(self, "Save column preset", "Preset name:")
        name = name.strip()
        if ok and name:
            presets = settings.column_presets()
            presets[name] = [c.id for c in self.columns()]
            settings.save_column_presets(presets)
            self._reload_presets()
            self.presets.setCurrentText(name)

    def _delete_preset(self) -> None:
        name = self.presets.currentText()
        presets = settings.column_presets()
        if name in presets:
            del presets[name]
            settings.save_column_presets(presets)
            self._reload_presets()


def _label(column: Column) -> str:
    if column.kind == "attr":
        return column.title if column.key != "star" else "★ star"
    return column.key + (f"  ({column.summary})" if column.summary else "")
