"""The group-by control of a chart: a curve per run, or per group of runs (by a param, a tag or an attribute that
varies among them) with a min/max or ± std band. The grouping itself is `expdesk.compare.groups` (no Qt)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QVBoxLayout, QWidget

from expdesk.compare.groups import GROUP_ATTRIBUTES, BandKind, Group, GroupBy, GroupCurve, value_identity
from expdesk.gui.compare.widgets import plain_label

BAND_TEXT = {BandKind.MINMAX: "band: min–max", BandKind.STD: "band: ± std", BandKind.NONE: "no band"}
#: a field is offered when it splits the runs into at most this many groups (a seed per run is no grouping)
MAX_GROUPS = 50
#: the combo's entries are elided to this many characters (the tooltip has the whole key)
SHOWN_CHARS = 60


@dataclass
class Grouped:
    """What a grouped chart draws: the groups in order and each metric's curves (computed on a worker)."""

    groups: list[Group]
    curves: dict[str, list[GroupCurve]]


def group_fields(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The fields worth grouping these runs by: params, tags and attributes with 2..MAX_GROUPS distinct
    values and at least one group of two or more runs (a field that differs in every run groups nothing),
    params first, each part sorted. One pass over the runs (it runs on the GUI thread for 1,000 runs)."""
    counts: dict[tuple[str, str], dict[tuple[str, float | str] | None, int]] = {}
    for run in runs:
        for section in ("params", "tags"):
            for key, value in (run.get(section) or {}).items():
                values = counts.setdefault((section, key), {})
                if len(values) <= MAX_GROUPS:
                    found = value_identity(str(value))
                    values[found] = values.get(found, 0) + 1
        for key in GROUP_ATTRIBUTES:
            values = counts.setdefault(("attr", key), {})
            value = run.get(key)
            ident = None if value is None else value_identity(str(value))
            values[ident] = values.get(ident, 0) + 1
    out: list[tuple[int, str]] = []
    for (section, key), values in counts.items():
        missing = len(runs) - sum(values.values()) if section != "attr" else 0
        n_groups = len(values) + (1 if missing else 0)
        if 2 <= n_groups <= MAX_GROUPS and (max(values.values()) > 1 or missing > 1):
            out.append(({"params": 0, "tags": 1, "attr": 2}[section], GroupBy(section, key).text))
    return [text for _, text in sorted(out)]


class GroupBar(QWidget):
    """`Curves: per run | by <field>` and the band; `changed` when either changes."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None, vertical: bool = False) -> None:
        """`vertical`: label and combos stacked, for a narrow side panel (the chart tabs' metric column:
        a compare window must fit an 800-pixel screen, so the chart's toolbar gets no wider)."""
        super().__init__(parent)
        layout: QHBoxLayout | QVBoxLayout = QVBoxLayout(self) if vertical else QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.field_combo = QComboBox()
        self.field_combo.setToolTip(
            "Chart each group's mean with a band instead of every run (runs aligned on steps: the mean at a"
            " step is over the runs that logged it, nothing interpolated)"
        )
        self.field_combo.addItem("per run", "")
        # as wide as its place allows, at least "by params.optimizer" (the list shows whole entries)
        self.field_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.field_combo.setMinimumContentsLength(12 if vertical else 18)
        self.band_combo = QComboBox()
        for band, text in BAND_TEXT.items():
            self.band_combo.addItem(text, band.value)
        self.band_combo.setEnabled(False)
        layout.addWidget(plain_label("Curves" if vertical else "curves:"))
        layout.addWidget(self.field_combo)
        layout.addWidget(self.band_combo)
        self.field_combo.currentIndexChanged.connect(self._on_field)
        self.band_combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self._wanted = ""  # a field asked for (saved view) before the runs that have it were known

    def set_runs(self, runs: Sequence[Mapping[str, Any]]) -> None:
        """Offer the fields these runs can be grouped by, keeping the current (or wanted) one."""
        current = self.field_combo.currentData() or self._wanted
        fields = group_fields(runs)
        if current and current not in fields:
            fields.append(current)  # kept: the runs may have changed for a moment, the choice stays
        self.field_combo.blockSignals(True)
        self.field_combo.clear()
        self.field_combo.addItem("per run", "")
        for f in fields:
            shown = f if len(f) <= SHOWN_CHARS else f[: SHOWN_CHARS - 1] + "…"
            self.field_combo.addItem(f"by {shown}", f)
            self.field_combo.setItemData(self.field_combo.count() - 1, f, Qt.ItemDataRole.ToolTipRole)
        self.field_combo.setCurrentIndex(max(self.field_combo.findData(current), 0))
        self.field_combo.blockSignals(False)
        self.band_combo.setEnabled(bool(self.field_combo.currentData()))

    def group_by(self) -> GroupBy | None:
        text = self.field_combo.currentData()
        return GroupBy.parse(text) if text else None

    def band(self) -> BandKind:
        return BandKind(self.band_combo.currentData())

    def set_choice(self, field: str, band: str = BandKind.MINMAX.value) -> None:
        """Choose a grouping by its text (`params.seed`; "" for per run), e.g. from a saved view."""
        self._wanted = field
        self.band_combo.blockSignals(True)
        self.band_combo.setCurrentIndex(max(self.band_combo.findData(band), 0))
        self.band_combo.blockSignals(False)
        if field and self.field_combo.findData(field) < 0:
            self.field_combo.addItem(f"by {field[:SHOWN_CHARS]}", field)
        self.field_combo.setCurrentIndex(max(self.field_combo.findData(field), 0))
        self.changed.emit()

    def _on_field(self, _index: int) -> None:
        self._wanted = self.field_combo.currentData() or ""
        self.band_combo.setEnabled(bool(self._wanted))
        self.changed.emit()
