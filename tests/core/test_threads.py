"""Background threads of the app run at a lower priority than the GUI thread (expdesk/core/threads.py)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from expdesk.core import threads

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")


def _nice_of_a_thread_that(work: object) -> int:
    seen: dict[str, int] = {}

    def run() -> None:
        if callable(work):
            work()
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return seen["nice"]


@linux
def test_background_lowers_only_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(threads._state, "enabled", True)
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert _nice_of_a_thread_that(threads.background) == max(mine, threads.BACKGROUND_NICE)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine, "the caller's thread is not"
    assert _nice_of_a_thread_that(None) == mine


@linux
def test_background_does_nothing_unless_the_app_enabled_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(threads._state, "enabled", False)
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert _nice_of_a_thread_that(threads.background) == mine  # the CLI's threads are its foreground work


@linux
def test_a_thread_started_by_a_background_thread_is_not_lowered_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(threads._state, "enabled", True)

    def start_another() -> None:
        threads.background()
        assert _nice_of_a_thread_that(threads.background) == max(
            threads.BACKGROUND_NICE, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        )

    _nice_of_a_thread_that(start_another)
