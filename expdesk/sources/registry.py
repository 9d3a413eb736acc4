"""The ordered list of readers and the directory walk that asks them who owns what.

The walk is top-down: at each directory every reader is asked `detect`; the most confident (ties: higher
priority) wins. A reader with `claims_subtree` stops the walk below its directory (an `mlruns/` store owns
its artifacts); others let it continue (a DVC project can hold a DVCLive folder, which is a run too).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from expdesk.core.entities import RunRef
from expdesk.sources.base import Reader

#: reader modules, each exposing `READER`; import order does not matter, `priority` does
READER_MODULES = [
    "expdesk.sources.mlflow.files",
    "expdesk.sources.mlflow.sqlite",
    "expdesk.sources.trackio.reader",
    "expdesk.sources.tensorboard.reader",
    "expdesk.sources.lightning.reader",
    "expdesk.sources.hydra.reader",
    "expdesk.sources.dvc.project",
    "expdesk.sources.dvc.live",
    "expdesk.sources.sacred.reader",
    "expdesk.sources.wandb.reader",
    "expdesk.sources.transformers.reader",
    "expdesk.sources.plain.keras",
    "expdesk.sources.plain.generic",
]

#: folders never worth descending into (they hold no runs and can be huge)
SKIP_DIRS = frozenset(
    {
        ".git",
        "__pycache__",
        "node_modules",
        ".venv",
        "venv",
        ".tox",
        ".mypy_cache",
        ".ipynb_checkpoints",
        ".cache",
    }
)

_readers: list[Reader] | None = None


def readers() -> list[Reader]:
    """Every available reader, highest priority first. A module that is not written yet is skipped."""
    global _readers
    if _readers is None:
        found = []
        for name in READER_MODULES:
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name == name:
                    continue
                raise
            found.append(module.READER)
        found.sort(key=lambda r: -r.priority)
        _readers = found
    return _readers


def reader_for(fmt: str) -> Reader:
    for reader in readers():
        if reader.format == fmt:
            return reader
    raise KeyError(fmt)


def best_reader(path: Path) -> Reader | None:
    """The reader that owns `path`, or None."""
    best: tuple[float, int] = (0.0, 0)
    winner = None
    for reader in readers():
        try:
            confidence = reader.detect(path)
        except OSError:
            confidence = 0.0
        if confidence > 0 and (confidence, reader.priority) > best:
            best, winner = (confidence, reader.priority), reader
    return winner


def discover(
    root: Path,
    cancelled: Callable[[], bool] = lambda: False,
    unreadable: Callable[[Path, OSError], None] | None = None,
) -> Iterator[RunRef]:
    """Every run below `root` (which may itself be a run folder or an `mlflow.db` file).

    Symlinked directories are not followed: a link to `/` or a loop cannot take the walk out of the root.
    A folder that cannot be listed is skipped and handed to `unreadable` (the indexer reports it), never
    dropped in silence.
    """
    root = Path(os.path.abspath(root))
    if root.is_file():
        reader = best_reader(root)
        if reader is not None:
            yield from reader.runs(root, root)
        return
    stack = [root]
    while stack:
        if cancelled():
            return
        folder = stack.pop()
        reader = best_reader(folder)
        if reader is not None:
            yield from reader.runs(folder, root)
            if reader.claims_subtree:
                continue
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError as exc:
            if unreadable is not None:
                unreadable(folder, exc)
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIP_DIRS:
                        stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False) and entry.name.endswith(".db"):
                    file_reader = best_reader(Path(entry.path))
                    if file_reader is not None:
                        yield from file_reader.runs(Path(entry.path), root)
            except OSError:
                continue
