"""`PushDialog`: push selected runs to an MLflow tracking server, with progress, cancel and clear errors.

The push runs on the thread pool (`Job`); the dialog only shows what the job reports. The main window opens
it with the selected run keys, e.g.::

    dialog = PushDialog(len(keys), index_pusher(index.db_path, keys), url=last_server_url, parent=self)
    dialog.pushed.connect(lambda report: self.statusBar().showMessage(f"pushed {len(report.runs)} runs"))
    dialog.open()
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from expdesk.core.paths import is_server_url
from expdesk.gui.screen import fit_to_screen
from expdesk.gui.workers.lineage import Job
from expdesk.remote.push import PushReport

Progress = Callable[[int, int, str], None]
#: (server URL, experiment or None, progress, cancelled) -> report; raises RemoteError / InterruptedError
PushFn = Callable[[str, str | None, Progress, Callable[[], bool]], PushReport]


def index_pusher(db_path: Path, keys: list[str]) -> PushFn:
    """The real push: runs `keys` of the index at `db_path`, read on the worker thread's own connection."""

    def push(
        url: str, experiment: str | None, progress: Progress, cancelled: Callable[[], bool]
    ) -> PushReport:
        from expdesk.index.reader import IndexReader
        from expdesk.remote.http import MlflowRest
        from expdesk.remote.push import push_runs

        with IndexReader(db_path) as reader:
            return push_runs(reader, keys, MlflowRest(url), experiment, True, progress, cancelled)

    return push


def _plain(label: QLabel) -> QLabel:
    label.setTextFormat(Qt.TextFormat.PlainText)  # server messages and run names are never markup
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class PushDialog(QDialog):
    pushed = Signal(object)  # the PushReport of a completed push

    def __init__(
        self, run_count: int, push: PushFn, url: str = "", experiment: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Push to server")
        self._push = push
        self._generation = 0
        self._job: Job | None = None
        self._close_when_done = False
        self.report: PushReport | None = None
        self.url = QLineEdit(url)
        self.url.setPlaceholderText("http://tracking-server:5000")
        self.experiment = QLineEdit(experiment)
        self.experiment.setPlaceholderText("each run's own experiment")
        self.heading = _plain(QLabel(f"{run_count} run(s) to push to an MLflow tracking server"))
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.message = _plain(
            QLabel("credentials come from EXPDESK_MLFLOW_TOKEN / MLFLOW_TRACKING_* or the keyring")
        )
        self.details = QPlainTextEdit()  # plain text: errors and conflicts are shown verbatim, selectable
        self.details.setReadOnly(True)
        self.details.setVisible(False)
        self.push_button = QPushButton("Push")
        self.push_button.setDefault(True)
        self.push_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Close")
        self.cancel_button.clicked.connect(self.reject)
        form = QFormLayout()
        form.addRow("Server URL", self.url)
        form.addRow("Experiment", self.experiment)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.push_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.details, 1)
        layout.addLayout(buttons)
        self.resize(fit_to_screen(parent, 620, 360))

    @property
    def running(self) -> bool:
        return self._job is not None

    # -- actions ------------------------------------------------------------------------------------
    def start(self) -> None:
        url = self.url.text().strip()
        if not is_server_url(url, plain_http=True):
            self._show_error("Enter the server URL, e.g. http://tracking-server:5000")
            return
        if self.running:
            return
        experiment = self.experiment.text().strip() or None
        self._generation += 1
        job = Job(
            self._generation, lambda progress, cancelled: self._push(url, experiment, progress, cancelled)
        )
        job.signals.progress.connect(self._on_progress)
        job.signals.finished.connect(self._on_finished)
        job.signals.failed.connect(self._on_failed)
        self._job = job
        self.details.clear()
        self.details.setVisible(False)
        self.progress.setValue(0)
        self.message.setText("connecting…")
        self.push_button.setEnabled(False)
        self.url.setEnabled(False)
        self.experiment.setEnabled(False)
        self.cancel_button.setText("Cancel")
        job.start()

    def reject(self) -> None:
        """Cancel a running push (the dialog closes once the worker has stopped); otherwise close."""
        if self._job is not None:
            self._job.cancel()
            self._close_when_done = True
            self.message.setText("cancelling…")
            return
        super().reject()

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.message.setText("cancelling…")

    # -- job answers (GUI thread, through queued signals) ------------------------------------------
    def _idle(self) -> None:
        self._job = None
        self.push_button.setEnabled(True)
        self.url.setEnabled(True)
        self.experiment.setEnabled(True)
        self.cancel_button.setText("Close")
        if self._close_when_done:
            self._close_when_done = False
            super().reject()

    def _on_progress(self, generation: int, done: int, total: int, message: str) -> None:
        if generation != self._generation:
            return
        self.progress.setValue(int(1000 * done / max(total, 1)))
        self.message.setText(message)

    def _on_finished(self, generation: int, report: object) -> None:
        if generation != self._generation:
            return
        assert isinstance(report, PushReport)
        self.report = report
        self.progress.setValue(1000)
        created = sum(r.created for r in report.runs)
        same = sum(r.unchanged for r in report.runs)
        self.message.setText(
            f"pushed {len(report.runs)} run(s) to {report.server}: {created} new, {same} already up to date, "
            f"{report.points:,} metric points, {report.requests} requests"
        )
        notes = [f"{r.name}: conflict: {c}" for r in report.runs for c in r.conflicts]
        notes += [f"{r.name}: {w}" for r in report.runs for w in r.warnings]
        if notes:
            self.details.setPlainText("\n".join(notes))
            self.details.setVisible(True)
        self.push_button.setText("Push again")
        self._idle()
        self.pushed.emit(report)

    def _on_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        if message == "cancelled":
            self.message.setText(
                "cancelled — nothing was recorded locally; push again to complete the runs on the server"
            )
        else:
            self._show_error(message)
        self.push_button.setText("Retry")
        self._idle()

    def _show_error(self, message: str) -> None:
        first = message.splitlines()[0] if message else "failed"
        self.message.setText(f"Push failed: {first}")
        self.details.setPlainText(message)
        self.details.setVisible(True)
