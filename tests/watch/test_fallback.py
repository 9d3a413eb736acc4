"""Polling roots, and the native observer failing: watch or instance limits fall back to polling, once."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from watchdog.observers import Observer
from watchdog.observers import inotify as watchdog_inotify
from watchdog.observers.inotify_c import InotifyFD

from tests.watch.conftest import Live, append, plain_run

LINE = '{"step": 900, "loss": 0.125}\n'


def _append_and_wait(live: Live, run: Path) -> None:
    n = live.count(run, "loss")
    append(run / "metrics.jsonl", LINE)
    live.wait_until(lambda: live.count(run, "loss") == n + 1, f"append seen in {run}")


def test_network_root_is_polled(tmp_path: Path, live_factory: Callable[..., Live]) -> None:
    root = tmp_path / "nfs"
    run = plain_run(root)
    live = live_factory((root, True), poll_interval=0.2)
    (status,) = live.watcher.status()
    assert (status.mode, status.network, status.message) == ("polling", True, None)
    _append_and_wait(live, run)
    new = plain_run(root, "run-002")
    live.wait_until(lambda: str(new) in live.live_paths(), "new run found by polling")


class _WatchLimitObserver(Observer):  # type: ignore[misc, valid-type]
    """The native observer as it behaves past fs.inotify.max_user_watches."""

    def schedule(self, *args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")


def test_watch_limit_falls_back_to_polling_and_says_so_once(
    tmp_path: Path, live_factory: Callable[..., Live]
) -> None:
    roots = [tmp_path / "a", tmp_path / "b"]
    runs = [plain_run(r) for r in roots]
    messages: list[str] = []
    live = live_factory(
        *roots, native_factory=_WatchLimitObserver, on_message=messages.append, poll_interval=0.2
    )
    assert [s.mode for s in live.watcher.status()] == ["polling", "polling"]
    assert all("inotify watch limit reached" in (s.message or "") for s in live.watcher.status())
    assert len(messages) == 2 and all("polling it instead" in m for m in messages)
    for run in runs:
        _append_and_wait(live, run)
    assert len(messages) == 2  # said once per root, not per event or per check


def test_instance_limit_polls_every_root(tmp_path: Path, live_factory: Callable[..., Live]) -> None:
    def no_instances() -> Any:
        raise OSError(errno.EMFILE, "inotify instance limit reached")

    root = tmp_path / "root"
    run = plain_run(root)
    messages: list[str] = []
    live = live_factory(root, native_factory=no_instances, on_message=messages.append, poll_interval=0.2)
    assert live.watcher.status()[0].mode == "polling"
    assert messages == [
        "native file watching is unavailable (inotify instance limit reached); polling every root"
    ]
    _append_and_wait(live, run)


@pytest.mark.skipif(sys.platform != "linux", reason="inotify bookkeeping")
@pytest.mark.parametrize("behaviour", ["installed", "skips"])
def test_partial_watch_limit_is_detected(
    tmp_path: Path, live_factory: Callable[..., Live], monkeypatch: pytest.MonkeyPatch, behaviour: str
) -> None:
    """The kernel refuses a watch for the run folder (ENOSPC) but not for the root. watchdog 7.1 raises
    from `schedule`; 6.x and 7.0 skip the folder in silence. Either way the root is polled, the user is
    told how many folders it needs, and appends are still seen."""
    if behaviour == "installed":
        # what the installed watchdog does when the kernel refuses: raise (7.1) or skip (< 7.1)
        real_add = InotifyFD.add_callback

        def limited(self: InotifyFD, path: bytes, *args: Any) -> Any:
            if os.path.basename(path).startswith(b"run-"):
                raise OSError(errno.ENOSPC, "inotify watch limit reached")
            return real_add(self, path, *args)

        monkeypatch.setattr(InotifyFD, "add_callback", limited)
    else:
        # the silent skip of watchdog < 7.1, reproduced on whatever is installed
        group = getattr(watchdog_inotify, "InotifyWatchGroup", None)
        if group is None or not hasattr(group, "_add_callback"):
            pytest.skip("the installed watchdog skips in silence already: covered by 'installed'")
        real_group_add = group._add_callback

        def skipping(self: Any, path: bytes) -> None:
            if os.path.basename(path).startswith(b"run-"):
                return  # not watched, not said: as watchdog < 7.1 did past the limit
            real_group_add(self, path)

        monkeypatch.setattr(group, "_add_callback", skipping)
    root = tmp_path / "root"
    run = plain_run(root)
    messages: list[str] = []
    live = live_factory(root, on_message=messages.append, poll_interval=0.2)
    (status,) = live.watcher.status()
    assert status.mode == "polling"
    message = status.message or ""
    assert "inotify watch limit reached" in message and "max_user_watches" in message
    expected = "1 of 2 folders watched" if behaviour == "skips" else "2 folders"
    assert expected in message, message
    assert messages == [message]  # said once
    _append_and_wait(live, run)


def test_missing_root_at_start_is_picked_up_when_it_appears(
    tmp_path: Path, live_factory: Callable[..., Live]
) -> None:
    root = tmp_path / "usb"
    messages: list[str] = []
    live = live_factory(root, root_check=0.2, on_message=messages.append)
    assert live.watcher.status()[0].mode == "missing"
    run = plain_run(root)
    live.wait_until(lambda: str(run) in live.live_paths(), "root appeared")
    assert live.watcher.status()[0].mode == "native"
    assert any("come back" in m for m in messages) and any("is back" in m for m in messages)
    _append_and_wait(live, run)


def test_remove_root_stops_routing(tmp_path: Path, live_factory: Callable[..., Live]) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    plain_run(a)
    run_b = plain_run(b)
    live = live_factory(a)
    live.watcher.add_root(b)  # added while running
    live.wait_until(lambda: str(run_b) in live.live_paths(), "root added at run time indexed")
    live.watcher.remove_root(b)
    live.index.remove_root(b)
    assert [s.path for s in live.watcher.status()] == [str(a)]


def test_unreadable_root_keeps_its_runs(tmp_path: Path, index: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from expdesk.watch import observers, watcher

    root = tmp_path / "nfs"
    plain_run(root)
    index.index([root])
    real_scandir = os.scandir

    def stale_handle(path: Any) -> Any:
        if str(path) == str(root):
            raise OSError(errno.ESTALE, "Stale file handle")
        return real_scandir(path)

    monkeypatch.setattr(observers.os, "scandir", stale_handle)
    assert observers.probe(str(root))[1] is not None
    w = watcher.Watcher(index)
    w.add_root(root, network=True)
    w._index_roots([str(root)])  # the pass a reconcile would run: skipped, nothing marked gone
    with index.reader() as reader:
        assert len(reader.run_keys()) == 1
    assert "Stale file handle" in (w.status()[0].error or "")
