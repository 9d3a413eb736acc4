"""PushDialog: the push runs on a worker thread; progress, cancel, and clear errors reach the dialog."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from expdesk.gui.dialogs.push import PushDialog, index_pusher
from expdesk.index.service import Index
from expdesk.remote.push import PushReport, RunResult

PLAIN = Path(__file__).resolve().parents[1] / "data" / "runs" / "plain"


def _report(url: str) -> PushReport:
    return PushReport(
        url,
        [
            RunResult("k1", "run <b>one</b>", "r1", "1", created=True, points=30),
            RunResult(
                "k2", "two", "r2", "1", unchanged=True, conflicts=["param 'lr' is '0.1' on the server"]
            ),
        ],
        requests=7,
    )


def test_push_reports_progress_and_result_off_the_gui_thread(qtbot) -> None:  # type: ignore[no-untyped-def]
    threads: list[threading.Thread] = []
    seen: list[tuple[str, str | None]] = []

    def push(
        url: str, experiment: str | None, progress: Callable[[int, int, str], None], cancelled
    ) -> PushReport:  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread())
        seen.append((url, experiment))
        progress(5, 10, "half way")
        return _report(url)

    dialog = PushDialog(2, push, url="http://tracking:5000")
    qtbot.addWidget(dialog)
    dialog.experiment.setText("team")
    with qtbot.waitSignal(dialog.pushed, timeout=60_000) as blocker:
        dialog.push_button.click()
    assert blocker.args[0].requests == 7 and seen == [("http://tracking:5000", "team")]
    assert threads[0] is not threading.main_thread()
    assert dialog.progress.value() == 1000 and "2 run(s)" in dialog.message.text()
    assert "1 new, 1 already up to date" in dialog.message.text()
    assert "param 'lr'" in dialog.details.toPlainText()
    assert dialog.push_button.isEnabled() and dialog.push_button.text() == "Push again"


def test_cancel_stops_the_worker_and_says_what_state_is_left(qtbot) -> None:  # type: ignore[no-untyped-def]
    started = threading.Event()

    def push(url, experiment, progress, cancelled):  # type: ignore[no-untyped-def]
        started.set()
        while not cancelled():
            threading.Event().wait(0.01)
        raise InterruptedError("push cancelled")

    dialog = PushDialog(3, push, url="http://tracking:5000")
    qtbot.addWidget(dialog)
    dialog.push_button.click()
    assert dialog.running and dialog.cancel_button.text() == "Cancel" and not dialog.push_button.isEnabled()
    qtbot.waitUntil(started.is_set, timeout=60_000)
    dialog.cancel()
    qtbot.waitUntil(lambda: not dialog.running, timeout=60_000)
    assert dialog.message.text().startswith("cancelled") and "push again" in dialog.message.text()
    assert dialog.push_button.text() == "Retry" and dialog.push_button.isEnabled()


def test_unreachable_server_gives_a_clear_error_and_allows_retry(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "index.sqlite"
    with Index(db) as index:
        report = index.index([PLAIN], remember=False)
    dialog = PushDialog(
        len(report.keys), index_pusher(db, report.keys), url="http://user:hunter2@127.0.0.1:9"
    )
    qtbot.addWidget(dialog)
    dialog.push_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=60_000)
    assert dialog.message.text().startswith("Push failed:")
    assert "cannot reach the tracking server http://127.0.0.1:9" in dialog.details.toPlainText()
    assert "hunter2" not in dialog.details.toPlainText() + dialog.message.text()
    assert dialog.push_button.text() == "Retry" and dialog.push_button.isEnabled()


def test_bad_url_is_refused_before_any_work(qtbot) -> None:  # type: ignore[no-untyped-def]
    def push(*args):  # type: ignore[no-untyped-def]
        raise AssertionError("must not run")

    dialog = PushDialog(1, push, url="tracking:5000")
    qtbot.addWidget(dialog)
    dialog.push_button.click()
    assert not dialog.running and "server URL" in dialog.message.text()


def test_closing_while_pushing_cancels_first(qtbot) -> None:  # type: ignore[no-untyped-def]
    def push(url, experiment, progress, cancelled):  # type: ignore[no-untyped-def]
        while not cancelled():
            threading.Event().wait(0.01)
        raise InterruptedError

    dialog = PushDialog(1, push, url="http://tracking:5000")
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.push_button.click()
    with qtbot.waitSignal(dialog.rejected, timeout=60_000):
        dialog.reject()  # Esc / window close: the worker is told to stop, the dialog closes when it has
    assert not dialog.running
