"""Shared builders for the hostile-input suite: copies of the real sample runs, tree snapshots, a CLI runner.

Every case is built inside `tmp_path`; `tests/data` is copied before anything is mutated, never written.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

import pytest

from expdesk.cli import main

REPO = Path(__file__).resolve().parent.parent.parent
DATA = REPO / "tests" / "data" / "runs"

#: (kind, size, mtime_ns, mode, content digest or link target) per entry below a root
Snapshot = dict[str, tuple[str, int, int, int, str]]


def copy_tool(tool: str, dest: Path) -> Path:
    """A private copy of `tests/data/runs/<tool>` (symlinks copied as links, never followed)."""
    target = dest / tool
    shutil.copytree(DATA / tool, target, symlinks=True)
    return target


def snapshot(root: Path) -> Snapshot:
    """Every entry below `root` by lstat: FIFOs and devices are recorded, never opened; links by target."""
    out: Snapshot = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            st = os.lstat(path)
            rel = os.fsencode(path.relative_to(root)).decode("utf-8", "surrogateescape")
            if stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                kind = "file"
            elif stat.S_ISLNK(st.st_mode):
                digest, kind = os.readlink(path), "link"
            else:
                digest, kind = "", "dir" if stat.S_ISDIR(st.st_mode) else "special"
            # a directory's size changes when an entry is added or removed: that is what we must catch
            out[rel] = (kind, st.st_size, st.st_mtime_ns, st.st_mode, digest)
    st = os.lstat(root)
    out["."] = ("dir", st.st_size, st.st_mtime_ns, st.st_mode, "")
    return out


def subprocess_env() -> dict[str, str]:
    """Environment for `python -m expdesk` child processes: this checkout first, no .pyc writes."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}


def cli(*args: str | Path) -> int:
    """Run the CLI in-process (the same code path as `python -m expdesk`)."""
    return main([str(a) for a in args])


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """An index DB outside every watched root."""
    folder = tmp_path / "index"
    folder.mkdir()
    return folder / "index.sqlite"
