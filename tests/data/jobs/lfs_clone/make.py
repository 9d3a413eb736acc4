"""A clone without its Git LFS objects: the lightning_hydra job committed with `git lfs track` on its
checkpoints, metrics CSV, event files and W&B log, then cloned with `GIT_LFS_SKIP_SMUDGE=1` (what a clone
gets when the LFS objects are not fetched: pointer files in their place). Written by git and git-lfs.

Not part of the test suite: run it from the repository root after tests/data/jobs/lightning_hydra/make.py,
with git-lfs installed (Debian: `apt-get install git-lfs`):

    python3 tests/data/jobs/lfs_clone/make.py

`GROUND_TRUTH.json` lists which files of the clone are pointers, as `git lfs ls-files` in the clone says,
with the object size each pointer names (`git lfs pointer --check` confirms each is a valid pointer).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "lightning_hydra" / "logs"
TRACKED = ("*.ckpt", "*.csv", "events.out.tfevents.*", "*.wandb")


def git(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    base = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Researcher",
        "GIT_AUTHOR_EMAIL": "researcher@example.org",
        "GIT_COMMITTER_NAME": "Researcher",
        "GIT_COMMITTER_EMAIL": "researcher@example.org",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env={**base, **(env or {})}, check=True, capture_output=True, text=True
    )
    return done.stdout


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        origin = Path(tmp) / "origin"
        origin.mkdir()
        git("init", "-q", "-b", "main", cwd=origin)
        git("lfs", "install", "--local", cwd=origin)
        git("lfs", "track", *TRACKED, cwd=origin)
        shutil.copytree(SOURCE, origin / "logs", symlinks=True)
        git("add", "-A", cwd=origin)
        git("commit", "-q", "-m", "training logs", cwd=origin)
        clone = Path(tmp) / "clone"
        git("clone", "-q", str(origin), str(clone), cwd=Path(tmp), env={"GIT_LFS_SKIP_SMUDGE": "1"})
        listed = git("lfs", "ls-files", "--long", "--size", cwd=clone)
        pointers = {}
        for line in listed.splitlines():
            # "<oid> - <path> (<size>)": `-` = the object is not in this clone
            oid, marker, rest = line.split(" ", 2)
            path, _, size = rest.rpartition(" (")
            pointers[path] = {"oid": oid, "present": marker == "*", "size_text": size.rstrip(")")}
        for path in pointers:
            subprocess.run(["git", "lfs", "pointer", "--check", "--file", str(clone / path)], check=True)
        shutil.rmtree(HERE / "logs", ignore_errors=True)
        shutil.copytree(clone / "logs", HERE / "logs", symlinks=True)
        shutil.copy(clone / ".gitattributes", HERE / "gitattributes.txt")
    version = subprocess.run(
        ["git", "lfs", "version"], check=True, capture_output=True, text=True
    ).stdout.strip()
    truth = {"tools": {"git-lfs": version}, "tracked": list(TRACKED), "pointers": pointers}
    (HERE / "GROUND_TRUTH.json").write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
