"""The ordered list of readers and the directory walk that asks them what they recognise.

The walk is top-down: at each directory every reader is asked `detect`, and every reader that recognises the
directory reads it (a folder that is a Hydra job and a DVC project yields a part of each; the index joins
parts into runs). A fallback reader (generic) reads only what no other reader recognises, and a reader that
`covers` another format's files there keeps that reader out. The most confident reader (ties: higher
priority) decides the walk: with `claims_subtree` nothing below its directory is offered again (an `mlruns/`
store owns its artifacts); otherwise the walk goes on (a job folder holds its loggers' folders).
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
    """The most confident reader of `path` (ties: higher priority), or None."""
    found = readers_of(path)
    return found[0] if found else None


def readers_of(path: Path) -> list[Reader]:
    """Every reader that reads `path`, most confident first (ties: higher priority): all that recognise it,
    less the fallbacks when another does, less the formats a recognising reader covers."""
    scored: list[tuple[float, int, Reader]] = []
    for reader in readers():
        try:
            confidence = reader.detect(path)
        except OSError:
            confidence = 0.0
        if confidence > 0:
            scored.append((confidence, reader.priority, reader))
    if not scored:
        return []
    scored.sort(key=lambda s: (-s[0], -s[1]))
    found = [s[2] for s in scored]
    if len(found) > 1:
        specific = [r for r in found if not r.fallback]
        found = specific or found[:1]
        covered = {fmt for r in found for fmt in r.covers}
        found = [r for r in found if r.format not in covered]
    return found


def discover(
    root: Path,
    cancelled: Callable[[], bool] = lambda: False,
    start: Path | None = None,
    unreadable: Callable[[Path, OSError], None] | None = None,
) -> Iterator[RunRef]:
    """Every run below `root` (which may itself be a run folder or an `mlflow.db` file); with `start` (a
    folder inside `root`), only the runs at and below `start`, found as a walk from `root` finds them.

    Symlinked directories are not followed: a link to `/` or a loop cannot take the walk out of the root.
    A folder that cannot be listed is skipped and handed to `unreadable` (the indexer reports it), never
    dropped in silence.
    """
    root = Path(os.path.abspath(root))
    if root.is_file():
        for reader in readers_of(root):
            yield from reader.runs(root, root)
        return
    first = Path(os.path.abspath(start)) if start is not None else root
    if first != root and root not in first.parents:
        return
    stack = [first]
    while stack:
        if cancelled():
            return
        folder = stack.pop()
        found = readers_of(folder)
        for reader in found:
            yield from reader.runs(folder, root)
        if found and found[0].claims_subtree:
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
                    for file_reader in readers_of(Path(entry.path)):
                        yield from file_reader.runs(Path(entry.path), root)
            except OSError:
                continue
