"""The demo workspace: small real runs shipped with the package plus a live run that keeps growing.

The shipped runs (`expdesk/demo/runs/`, copied from the project's test data) are never touched in place:
`prepare_workspace` copies them to a fresh folder under the user data dir, and the simulator appends to
a run it created there. No Qt here: the app wires the simulator to the window's lifetime.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import threading
import time
from collections.abc import Iterator
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from expdesk.core.paths import data_dir

#: a file we write into every workspace we create, so we only ever delete folders that are ours
MARKER = ".expdesk-demo-workspace"
LIVE_DIR = "live"


def workspace_dir() -> Path:
    return data_dir() / "demo-workspace"


def prepare_workspace(target: Path | None = None) -> Path:
    """Copy the shipped demo runs to `target` (default: the user data dir), replacing an older copy.

    The folder is the same on every launch, so run keys (and the user's stars and notes) stay stable.
    """
    target = target or workspace_dir()
    if target.exists():
        if not (target / MARKER).is_file():
            raise FileExistsError(f"{target} exists and is not an expdesk demo workspace; not replacing it")
        shutil.rmtree(target)
    with as_file(files("expdesk.demo") / "runs") as source:
        shutil.copytree(source, target)
    (target / MARKER).write_text("created by `expdesk --demo`; safe to delete\n", encoding="utf-8")
    return target


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
    points marks the run DONE and starts the next one, so a new user also sees new runs arrive.
    """

    def __init__(self, workspace: Path, interval: float = 0.5, steps_per_run: int = 600) -> None:
        self.folder = workspace / LIVE_DIR
        self.interval = interval
        self.steps_per_run = steps_per_run
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.current_run: Path | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.current_run = self._new_run()
        self._thread = threading.Thread(target=self._run, name="expdesk-demo-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

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
        assert self.current_run is not None
        # Event.wait, not sleep: stop() wakes the thread immediately
        while not self._stop.wait(self.interval):
            point = next(points)
            # one whole line per write+flush: a reader may see the file between appends, never half a line
            with open(self.current_run / "metrics.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(point) + "\n")
                fh.flush()
            written += 1
            if written >= self.steps_per_run:
                (self.current_run / "DONE").touch()
                self.current_run = self._new_run()
                points = live_points(seed=int(time.time()))
                written = 0
