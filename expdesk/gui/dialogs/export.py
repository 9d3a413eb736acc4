"""`ExportDialog`: preview a run's model bundle (which model files, tree, fingerprint, known gaps), then write
it, with progress and cancel. Planning and writing run on the thread pool through the `planner` and `writer`
the main window passes in, e.g.::

    planner = lambda progress, cancelled, with_training_state: plan_bundle(
        index.reader(), key, ExportOptions(with_training_state=with_training_state), progress, cancelled)
    writer = lambda plan, out, progress, cancelled: write_bundle(plan, out, progress, cancelled)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from expdesk.bundle.export import BundlePlan
from expdesk.gui.screen import fit_to_screen
from expdesk.gui.workers.lineage import Job

#: (progress, cancelled, with_training_state) -> plan
Planner = Callable[[Callable[[int, int, str], None], Callable[[], bool], bool], BundlePlan]
Writer = Callable[[BundlePlan, Path, Callable[[int, int, str], None], Callable[[], bool]], Path]


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _plain(label: QLabel) -> QLabel:
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class ExportDialog(QDialog):
    exported = Signal(str)  # path of the written zip

    def __init__(
        self, run_label: str, planner: Planner, writer: Writer, out_dir: Path, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export model bundle")
        self._planner, self._writer = planner, writer
        self._generation = 0
        self._job: Job | None = None
        self.plan: BundlePlan | None = None
        self.written: Path | None = None
        self.heading = _plain(QLabel(f"Bundle for run {run_label}"))
        self.fingerprint = _plain(QLabel("fingerprint: planning…"))
        self.model = _plain(QLabel("model: choosing…"))
        self.model.setWordWrap(True)
        # the model, not the training state: optimizer/scheduler/RNG state only when asked for (re-plans)
        self.training_state = QCheckBox(
            "Include the training state (optimizer, scheduler, RNG, training_args.bin)"
        )
        self.training_state.toggled.connect(self.replan)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["file", "size"])
        self.tree.setColumnWidth(0, 430)
        self.gaps = QListWidget()
        self.gaps.setWordWrap(True)
        self.gaps_title = _plain(QLabel("Known gaps"))
        self.out = QLineEdit(str(out_dir))
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._choose_folder)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.message = _plain(QLabel("planning the bundle…"))
        self.export_button = QPushButton("Export")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.start_export)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        gaps_box = QWidget()
        gaps_layout = QVBoxLayout(gaps_box)
        gaps_layout.setContentsMargins(0, 0, 0, 0)
        gaps_layout.addWidget(self.gaps_title)
        gaps_layout.addWidget(self.gaps)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.tree)
        split.addWidget(gaps_box)
        split.setSizes([560, 360])
        out_row = QHBoxLayout()
        out_row.addWidget(_plain(QLabel("Save into")))
        out_row.addWidget(self.out, 1)
        out_row.addWidget(self.browse)
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        for widget in (self.heading, self.fingerprint, self.model, self.training_state):
            layout.addWidget(widget)
        layout.addWidget(split, 1)
        layout.addLayout(out_row)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self.resize(fit_to_screen(parent, 960, 660))
        self.replan()

    def replan(self) -> None:
        """Plan (again) with the current options; a plan still running for older options is dropped."""
        if self._job is not None:
            self._job.cancel()
        self.plan = None
        self.export_button.setEnabled(False)
        self.model.setText("model: choosing…")
        self.message.setText("planning the bundle…")
        state = self.training_state.isChecked()
        self._run(lambda progress, cancelled: self._planner(progress, cancelled, state), self._on_planned)

    # -- jobs ---------------------------------------------------------------------------------------------
    def _run(self, fn: Callable[..., Any], done: Callable[[object], None]) -> None:
        self._generation += 1
        job = Job(self._generation, fn)
        job.signals.progress.connect(self._on_progress)
        job.signals.finished.connect(lambda gen, result: done(result) if gen == self._generation else None)
        job.signals.failed.connect(self._on_failed)
        self._job = job
        job.start()

    def _on_progress(self, generation: int, done: int, total: int, message: str) -> None:
        if generation != self._generation:
            return
        scale = max(total, 1)
        # bytes can exceed int32 for big models: show per-mille
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(1000 * done / scale))
        self.message.setText(message)

    def _on_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self._job = None
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.message.setText("cancelled" if message == "cancelled" else f"failed: {message}")
        self.export_button.setEnabled(self.plan is not None)

    def _on_planned(self, plan: object) -> None:
        assert isinstance(plan, BundlePlan)
        self._job = None
        self.plan = plan
        self.fingerprint.setText(f"fingerprint (sha256 of tagmanifest-sha256.txt): {plan.fingerprint}")
        self.model.setText(f"model: {plan.model}")
        self.heading.setText(
            f"{plan.zip_name} — {len(plan.runs)} run(s), {_size(plan.total_bytes)} before compression"
        )
        self._fill_tree(plan)
        self.gaps.clear()
        self.gaps.addItems(plan.gaps or ["none found"])
        self.gaps_title.setText(f"Known gaps ({len(plan.gaps)}) — listed in the model card")
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.message.setText("ready to export")
        self.export_button.setEnabled(True)

    def _fill_tree(self, plan: BundlePlan) -> None:
        self.tree.clear()
        root = QTreeWidgetItem([plan.base + "/", _size(plan.total_bytes)])
        self.tree.addTopLevelItem(root)
        folders: dict[str, QTreeWidgetItem] = {"": root}
        for name, size in plan.tree():
            parts = name.split("/")
            parent = root
            for depth in range(1, len(parts)):
                prefix = "/".join(parts[:depth])
                if prefix not in folders:
                    folders[prefix] = QTreeWidgetItem(parent, [parts[depth - 1] + "/", ""])
                parent = folders[prefix]
            QTreeWidgetItem(parent, [parts[-1], _size(size)])
        root.setExpanded(True)
        for prefix, item in folders.items():
            item.setExpanded(prefix.count("/") < 2 and not prefix.startswith("data/runs/"))

    # -- actions ------------------------------------------------------------------------------------------
    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save the bundle into", self.out.text())
        if folder:
            self.out.setText(folder)

    def start_export(self) -> None:
        if self.plan is None:
            return
        plan, out = self.plan, Path(self.out.text())
        self.export_button.setEnabled(False)
        self.message.setText("writing…")
        self._run(lambda progress, cancelled: self._writer(plan, out, progress, cancelled), self._on_written)

    def _on_written(self, path: object) -> None:
        self._job = None
        self.written = Path(str(path))
        self.message.setText(f"written: {self.written}")
        self.cancel_button.setText("Close")
        self.exported.emit(str(self.written))

    def cancel(self) -> None:
        """Cancel the running job; with none running, close."""
        if self._job is not None:
            self._job.cancel()
            self.message.setText("cancelling…")
        else:
            self.reject()
