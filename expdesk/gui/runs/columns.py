"""Column chooser: search over every attribute, param and metric summary; presets saved per user."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from expdesk.gui.runs.query import ATTR_COLUMNS, SUMMARIES, Column, elide
from expdesk.gui.window import settings

ID_ROLE = Qt.ItemDataRole.UserRole + 1


def default_columns(params: list[str], metrics: list[str]) -> list[Column]:
    """Automatic columns: attributes, every param, the last value of every metric."""
    return (
        list(ATTR_COLUMNS)
        + [Column("param", p) for p in params]
        + [Column("metric", m, "last") for m in metrics]
    )


class ColumnChooser(QDialog):
    def __init__(
        self, current: list[Column], params: list[str], metrics: list[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Columns")
        self.resize(520, 640)
        self._params, self._metrics = params, metrics
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search columns (e.g. loss, params.lr, max)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        self.list = QListWidget(self)
        self.list.setUniformItemSizes(True)
        self.count = QLabel(self)
        self.count.setTextFormat(Qt.TextFormat.PlainText)
        self.count.setObjectName("mutedLabel")
        check_shown = QPushButton("Check shown", self)
        check_shown.clicked.connect(lambda: self._set_shown(True))
        uncheck_shown = QPushButton("Uncheck shown", self)
        uncheck_shown.clicked.connect(lambda: self._set_shown(False))
        automatic = QPushButton("Automatic", self)
        automatic.setToolTip("Every param and the last value of every metric, following new keys")
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
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.count)
        layout.addLayout(row1)
        layout.addLayout(row2)
        layout.addWidget(buttons)
        self.automatic = False
        self._populate(current)
        self._reload_presets()

    def _populate(self, current: list[Column]) -> None:
        chosen = {c.id for c in current}
        self._order = [c.id for c in current]
        self.list.clear()
        every = (
            list(ATTR_COLUMNS)
            + [Column("param", p) for p in self._params]
            + [Column("metric", m, s) for m in self._metrics for s in SUMMARIES]
        )
        known = {c.id for c in every}
        every += [c for c in current if c.id not in known]  # chosen earlier, not in the index right now
        for column in every:
            label = {"attr": "attribute", "param": "params", "metric": "metrics"}[column.kind]
            text = f"{label}.{column.key}" + (f"  ({column.summary})" if column.summary else "")
            if column.kind == "attr":
                text = f"attribute: {column.title}"
            item = QListWidgetItem(elide(text, 160))
            item.setData(ID_ROLE, column.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if column.id in chosen else Qt.CheckState.Unchecked)
            self.list.addItem(item)
        self._filter(self.search.text())

    def _filter(self, text: str) -> None:
        words = text.lower().split()
        shown = 0
        for i in range(self.list.count()):
            item = self.list.item(i)
            hide = not all(w in item.text().lower() for w in words)
            item.setHidden(hide)
            shown += not hide
        self.count.setText(
            f"{shown:,} of {self.list.count():,} columns shown · {len(self.chosen_ids()):,} checked"
        )

    def _set_shown(self, on: bool) -> None:
        state = Qt.CheckState.Checked if on else Qt.CheckState.Unchecked
        for i in range(self.list.count()):
            item = self.list.item(i)
            if not item.isHidden():
                item.setCheckState(state)
        self._filter(self.search.text())

    def chosen_ids(self) -> list[str]:
        return [
            self.list.item(i).data(ID_ROLE)
            for i in range(self.list.count())
            if self.list.item(i).checkState() == Qt.CheckState.Checked
        ]

    def columns(self) -> list[Column]:
        """Checked columns: those already shown keep their order, new ones follow in list order."""
        chosen = self.chosen_ids()
        kept = [i for i in self._order if i in set(chosen)]
        added = [i for i in chosen if i not in set(kept)]
        return [Column.from_id(i) for i in kept + added]

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
