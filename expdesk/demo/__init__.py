"""The demo workspace: small real runs shipped with the package plus a live run that keeps growing.

The shipped runs (`expdesk/demo/runs/`, copied from the project's test data) are never touched in place:
`prepare_workspace` copies them to a fresh folder under the user data dir, and the simulator appends to
a run it created there. No Qt here: the app wires the simulator to the window's lifetime.

Two `expdesk --demo` share one workspace safely: each holds a shared lock on a file beside the workspace
(never inside it) for its whole life, and only a process that can take the lock exclusively (no other demo
is open) replaces the copy. Only one simulator writes at a time (its own lock); another one waits and takes
over when the first demo closes. Without `fcntl` (Windows) the workspace is replaced on every launch.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import threading
import time
from collections.abc import Iterator
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from expdesk.core.paths import data_dir

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, the old replace-on-launch behaviour
    fcntl = None  # type: ignore[assignment]

#: a file we write into every workspace we create, so we only ever delete folders that are ours
MARKER = ".expdesk-demo-workspace"
LIVE_DIR = "live"


def workspace_dir() -> Path:
    return data_dir() / "demo-workspace"


#: lock files this process holds (path -> open descriptor), released with the process or `release_workspace`
_HELD: dict[Path, int] = {}


def _lock_file(target: Path, suffix: str) -> Path:
    # beside the workspace, never in it: the workspace is a watched folder
    return target.with_name(f"{target.name}.{suffix}.lock")


def _lock(path: Path, exclusive: bool, wait: bool) -> int | None:
    """An open descriptor holding an advisory lock on `path`, or None when another process holds it."""
    if fcntl is None:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600) if exclusive else None
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if wait else fcntl.LOCK_NB)
    try:
        fcntl.flock(fd, mode)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def release_workspace(target: Path | None = None) -> None:
    """Let go of this process's hold on the workspace (the process ending does the same)."""
    fd = _HELD.pop(_lock_file(target or workspace_dir(), "use"), None)
    if fd is not None:
        os.close(fd)


def prepare_workspace(target: Path | None = None) -> Path:
    """Copy the shipped demo runs to `target` (default: the user data dir), replacing an older copy
    unless another demo process is using it (then it is shared as it is).

    The folder is the same on every launch, so run keys (and the user's stars and notes) stay stable.
    """
    target = target or workspace_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    release_workspace(target)
    lock = _lock_file(target, "use")
    fd = _lock(lock, exclusive=True, wait=False)
    if fd is None:
        # another demo has it open: share it as it is (waits only while that one is still copying)
        fd = _lock(lock, exclusive=False, wait=True)
        assert fd is not None
        _HELD[lock] = fd
        if (target / MARKER).is_file():
            return target
        release_workspace(target)
        raise FileExistsError(f"{target} is in use by another expdesk demo but is not a demo workspace")
    try:
        _replace(target)
    except BaseException:
        os.close(fd)
        raise
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_SH)  # copied: other demos may share it from now on
    _HELD[lock] = fd
    return target


def _replace(target: Path) -> None:
    if target.exists():
        if not (target / MARKER).is_file():
            raise FileExistsError(f"{target} exists and is not an expdesk demo workspace; not replacing it")
        shutil.rmtree(target)
    with as_file(files("expdesk.demo") / "runs") as source:
        shutil.copytree(source, target)
    (target / MARKER).write_text("created by `expdesk --demo`; safe to delete\n", encoding="utf-8")


def live_points(seed: int = 7) -> Iterator[dict[str, Any]]:
    """An endless, plausible training curve: noisy decaying loss, rising accuracy, cosine learning rate."""
    rng = random.Random(seed)
    step = 0
    while True:
        progress = step / 400
        loss = 2.3 * math.exp(-3.0 * progress) + 0.12 + rng.gauss(0, 0.04)
        acc = 0.97 - 0.87 * math.exp(-4.0 * progress) + rng.gauss(0, 0.01)
        lr = 1e-3 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        point: dict[str, Any] = {"step": step, "train/loss": round(loss, 5), "lr": lr}
        if step % 10 == 0:
            point["val/acc"] = round(min(acc, 1.0), 5)
            point["val/loss"] = round(loss * 1.08 + 0.03, 5)
        yield point
        step += 1


class LiveRunSimulator:
    """Appends one metrics line every `interval` s to `<workspace>/live/<run>/metrics.jsonl`.

    Runs on its own thread, waits on an Event (so `stop()` returns at once), and after `steps_per_run`
    points marks the run DONE and starts the next one, so a new user also sees new runs arrive. Only the
    simulator holding the workspace's live lock writes; another waits for it (two demos share the live run).
    """

    def __init__(self, workspace: Path, interval: float = 0.5, steps_per_run: int = 600) -> None:
        self.folder = workspace / LIVE_DIR
        self.interval = interval
        self.steps_per_run = steps_per_run
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_fd: int | None = None
        self.current_run: Path | None = None

    @property
    def writing(self) -> bool:
        """Whether this simulator is the one feeding the live run (another demo's may be)."""
        return self._lock_fd is not None

    def start(self) -> None:
        if self._thread is not None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._take_over()
        self._thread = threading.Thread(target=self._run, name="expdesk-demo-live", daemon=True)
        self._thread.start()

    def _take_over(self) -> None:
        """Start writing if no other simulator of this workspace does."""
        self._lock_fd = _lock(_lock_file(self.folder.parent, "live"), exclusive=True, wait=False)
        if self._lock_fd is not None:
            self.current_run = self._new_run()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _new_run(self) -> Path:
        number = len([p for p in self.folder.iterdir() if p.is_dir()]) + 1
        run = self.folder / f"live-run-{number:03d}"
        run.mkdir()
        params = {"lr": 1e-3, "schedule": "cosine", "batch_size": 64, "model": "resnet18", "seed": number}
        (run / "params.json").write_text(json.dumps(params, indent=1), encoding="utf-8")
        (run / "metrics.jsonl").touch()
        return run

    def _run(self) -> None:
        points = live_points(seed=int(time.time()))
        written = 0
        # Event.wait, not sleep: stop() wakes the thread immediately
        while not self._stop.wait(self.interval):
            if self._lock_fd is None:
                try:
                    self._take_over()  # the other demo closed: this one keeps the live run going
                except OSError:
                    return
                continue
            assert self.current_run is not None
            point = next(points)
            try:
                # one whole line per write+flush: a reader sees the file between appends, never half a line
                with open(self.current_run / "metrics.jsonl", "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(point) + "\n")
                    fh.flush()
            except OSError:
                return  # the workspace was deleted under us: nothing left to feed, stop quietly
            written += 1
            if written >= self.steps_per_run:
                (self.current_run / "DONE").touch()
                self.current_run = self._new_run()
                points = live_points(seed=int(time.time()))
                written = 0
