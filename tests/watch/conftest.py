"""Shared helpers for the watcher tests: real files in tmp_path, waits that block on the change listener."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from expdesk.index.reader import IndexReader
from expdesk.index.service import Index
from expdesk.watch import Watcher
from tests.sql import query

DATA = Path(__file__).resolve().parents[1] / "data" / "runs"
#: ceiling of every wait on the watcher (a loaded 2-core CI machine; waits end as soon as the condition holds)
TIMEOUT = 60.0
#: ceiling for a call that must return at all (start, stop)
CEILING = 60.0


class Live:
    """A started watcher plus a reader, and `wait_until` that wakes on every 'runs changed'."""

    def __init__(self, index: Index, **options: Any) -> None:
        self.index = index
        self.changed = threading.Event()
        self.keys_seen: list[set[str]] = []
        self.watcher = Watcher(index, self._on_change, **options)
        self.reader: IndexReader | None = None

    def _on_change(self, keys: set[str]) -> None:  # writer thread (or the watch worker)
        self.keys_seen.append(set(keys))
        self.changed.set()

    def start(self) -> Live:
        self.watcher.start()
        assert self.watcher.wait_ready(TIMEOUT), "first index pass did not finish"
        self.reader = self.watcher.reader()
        return self

    def stop(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        self.watcher.stop()

    def wait_until(self, predicate: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            # clear first, then look: a change landing after the look sets the event again
            self.changed.clear()
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"timed out waiting for {what}")
            self.changed.wait(remaining)

    # -- queries ------------------------------------------------------------------------------------
    def run(self, path: Path) -> dict[str, Any] | None:
        assert self.reader is not None
        rows = query(self.reader, "SELECT key FROM runs WHERE path=? AND gone=0", (str(path),))
        return self.reader.run_json(rows[0]["key"]) if rows else None

    def count(self, path: Path, metric: str) -> int:
        run = self.run(path)
        if run is None or metric not in run["metrics"]:
            return -1
        return int(run["metrics"][metric]["count"])

    def total_points(self, path: Path) -> int:
        run = self.run(path)
        return -1 if run is None else sum(m["count"] for m in run["metrics"].values())

    def live_paths(self) -> set[str]:
        assert self.reader is not None
        return {r["path"] for r in query(self.reader, "SELECT path FROM runs WHERE gone=0")}


@pytest.fixture
def no_leaked_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leaked = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leaked, f"threads left behind: {leaked}"


@pytest.fixture
def index(tmp_path: Path, no_leaked_threads: None) -> Iterator[Index]:
    with Index(tmp_path / "index.sqlite") as idx:
        yield idx


@pytest.fixture
def live_factory(index: Index) -> Iterator[Callable[..., Live]]:
    started: list[Live] = []

    def make(*roots: Path | tuple[Path, bool], **options: Any) -> Live:
        live = Live(index, **options)
        for root in roots:
            path, network = root if isinstance(root, tuple) else (root, False)
            live.watcher.add_root(path, network)
        started.append(live)
        return live.start()

    yield make
    for live in started:
        live.stop()


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def plain_run(root: Path, name: str = "run-001", csv_only: bool = False) -> Path:
    run = copy_run(DATA / "plain" / "runs" / "run-001", root / name)
    if csv_only:
        os.remove(run / "metrics.jsonl")  # the generic reader prefers metrics.jsonl when both exist
    return run


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


def tree_state(root: Path) -> dict[str, tuple[int, int, int]]:
    """(size, mtime_ns, inode) of everything below `root`: proof that watching wrote nothing there."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.join(dirpath, name)] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return out
