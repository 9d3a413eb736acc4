"""What a session left open all day must not accumulate: finished jobs, listeners of closed windows.
Found by benchmarks/bench_soak.py; each test repeats the user action and counts what stays alive."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent
from pytestqt.qtbot import QtBot

from expdesk.gui.compare import workers as compare_workers
from expdesk.gui.window.main_window import MainWindow
from expdesk.gui.workers import lineage, pool

ROUNDS = 30


def _alive(kind: type) -> int:
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is kind)


def _indexed(window: MainWindow, qtbot: QtBot, folder: Path) -> list[str]:
    with qtbot.waitSignal(window.indexing_finished, timeout=60_000):
        window.add_folders([str(folder)])
    qtbot.waitUntil(lambda: window.model.rowCount() >= 2, timeout=60_000)
    return [k for k in (window.model.key_at(r) for r in range(window.model.rowCount())) if k]


def test_finished_query_jobs_are_released(window: MainWindow, qtbot: QtBot, plain_runs: Path) -> None:
    """Filter edits run queries on the window's pool; none of the finished jobs stays referenced."""
    _indexed(window, qtbot, plain_runs)
    for i in range(ROUNDS // 3):
        for text in (f"params.lr < {i + 1}", ""):
            with qtbot.waitSignal(window.model.counted, timeout=60_000):
                window.filter_bar.set_text(text)
                window.filter_bar.apply()
    qtbot.waitUntil(lambda: window.pool.pending() == 0, timeout=60_000)
    assert window.pool.wait_idle(60_000)
    assert _alive(pool._Job) == 0


def test_finished_lineage_jobs_are_released(qtbot: QtBot) -> None:
    answers: list[object] = []
    jobs = []
    for generation in range(ROUNDS):
        job = lineage.Job(generation, lambda _progress, _cancelled: "graph")
        job.signals.finished.connect(lambda _g, result: answers.append(result))
        job.start()
        jobs.append(job)
    qtbot.waitUntil(lambda: len(answers) == ROUNDS, timeout=60_000)
    del jobs, job
    qtbot.waitUntil(lambda: _alive(lineage.Job) == 0, timeout=60_000)


def test_closed_compare_windows_leave_no_listener(window: MainWindow, qtbot: QtBot, plain_runs: Path) -> None:
    keys = _indexed(window, qtbot, plain_runs)[:2]
    writer = window.index.writer
    before = len(writer._listeners)
    for _ in range(5):
        window.open_compare(keys)
        view = window.views.compares[-1]
        qtbot.waitUntil(view.isVisible)
        view.close()
        qtbot.waitUntil(lambda: window.views.compares == [])
    assert len(writer._listeners) == before
    # a window deleted without closing (a crash in its set-up) is detached by its own listener
    relay = compare_workers.ChangeRelay(None)
    compare_workers.attach_listener(window.index, relay)
    assert len(writer._listeners) == before + 1
    relay.deleteLater()
    del relay
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    heard = threading.Event()
    writer.add_listener(lambda _keys: heard.set())
    window.index.set_note(keys[0], "a commit every listener hears")
    assert heard.wait(60)
    assert len(writer._listeners) == before + 1  # the dead one removed itself; ours remains


def test_jobs_still_queued_when_a_pool_stops_are_released(qtbot: QtBot) -> None:
    """A window closed while its pool still has queued jobs (a reload, its pages, the workspace counts) must
    not keep them: each holds its closure (readers' factories, the model) for the rest of the session."""
    before = _alive(pool._Job)
    workers = pool.WorkerPool(1)
    started = threading.Event()

    def first() -> None:
        started.set()
        workers.closing.wait(60)  # runs until the pool stops: the jobs below stay queued until then

    workers.submit(first)
    assert started.wait(60)
    for _ in range(10):
        workers.submit(lambda: None)
    workers.stop()
    assert _alive(pool._Job) == before
