"""Guarantee 1 (read-only): indexing, re-indexing, showing, lineage and export change no byte, mtime,
permission or directory entry under a watched root — hashed before and after, every entry by lstat."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from expdesk.index.reader import IndexReader
from tests.hostile.conftest import DATA, cli, snapshot, subprocess_env


@pytest.fixture
def watched(tmp_path: Path) -> Path:
    """Every sample run of every tool, one git work tree among them, some read-only files and folders."""
    root = tmp_path / "watched"
    shutil.copytree(DATA, root, symlinks=True)
    (root / "plain" / "runs" / "run-001" / "DONE").touch()
    if shutil.which("git"):
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
        env["GIT_COMMITTER_EMAIL"] = "t@t"
        repo = root / "plain"
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "x"]):
            subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
        (repo / "runs" / "run-001" / "dirty.txt").write_text("uncommitted")  # a dirty tree to diff
    os.chmod(root / "sacred" / "runs", 0o555)
    return root


def test_nothing_under_a_watched_root_changes(
    watched: Path, tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(watched)
    try:
        assert cli("index", watched, "--db", db, "-q") == 0
        assert cli("index", watched, "--db", db, "-q") == 0
        assert cli("index", watched, "--db", db, "-q", "--force") == 0
        with IndexReader(db) as reader:
            runs = reader.runs_json(reader.run_keys(include_deleted=True))
        assert len(runs) >= 30
        assert cli("runs", "--db", db, "--json") == 0
        for run in runs:
            assert cli("show", run["key"], "--db", db, "--history") == 0
            assert cli("lineage", run["key"], "--db", db) == 0
        exported = 0
        for run in runs:
            out = tmp_path / "bundles" / f"{run['key']}.zip"
            out.parent.mkdir(exist_ok=True)
            # runs without a model file are refused with a message (exit 1): only real bundles count
            if cli("export", run["key"], "--db", db, "--out", out, "-q") == 0:
                assert cli("verify", out) == 0
                exported += 1
        assert exported >= 4
        capsys.readouterr()
        after = snapshot(watched)
    finally:
        os.chmod(watched / "sacred" / "runs", 0o755)
    assert after == before
    assert not [p for p in after if p.endswith(("mlflow.db-wal", "mlflow.db-shm", "mlflow.db-journal"))]


def test_the_cli_process_writes_nothing_under_the_root(watched: Path, db: Path) -> None:
    """The same through `python -m expdesk`, a separate process with its own interpreter state."""
    before = snapshot(watched)
    env = subprocess_env()
    for args in (["index", str(watched)], ["index", str(watched), "--force"], ["runs"]):
        proc = subprocess.run(
            [sys.executable, "-m", "expdesk", *args, "--db", str(db)],
            env=env,
            capture_output=True,
            timeout=120,
            cwd=watched.parent,
        )
        assert proc.returncode == 0, proc.stderr
    after = snapshot(watched)
    os.chmod(watched / "sacred" / "runs", 0o755)
    assert after == before


def test_watching_changes_nothing(watched: Path, db: Path) -> None:
    """The watcher (native and polling) over every sample tool, while one run keeps appending: the rest of
    the tree is byte-, mtime- and permission-identical, and the growing file holds only what we wrote."""
    from expdesk.index.service import Index
    from expdesk.watch import Watcher

    live = watched / "plain" / "runs" / "run-002" / "metrics.jsonl"
    before = snapshot(watched)
    with Index(db) as index:
        watcher = Watcher(index, poll_interval=0.1)
        watcher.add_root(watched / "mlflow")
        watcher.add_root(watched / "plain", network=True)  # the polling path
        for tool in ("sacred", "wandb", "tensorboard", "hydra", "lightning", "dvc", "transformers"):
            watcher.add_root(watched / tool)
        watcher.start()
        try:
            assert watcher.wait_ready(60)
            changed = threading.Event()
            watcher.add_listener(lambda _keys: changed.set())
            appended = b"".join(b'{"step": %d, "loss": 0.5}\n' % (1000 + i) for i in range(20))
            with open(live, "ab") as fh:
                fh.write(appended)
            with IndexReader(db) as reader:

                def seen() -> bool:
                    runs = reader.runs_json(reader.run_keys())
                    return any(r["metrics"].get("loss", {}).get("last_step") == 1019 for r in runs)

                # clear, look, then wait for the next commit: a change after the look sets it again
                while not seen():
                    changed.clear()
                    if seen() or not changed.wait(120):
                        break
                assert seen(), "the watcher never indexed the appended lines"
        finally:
            watcher.stop()
    after = snapshot(watched)
    os.chmod(watched / "sacred" / "runs", 0o755)
    rel = str(live.relative_to(watched))
    assert live.read_bytes().endswith(appended)
    del before[rel], after[rel]
    parent = str(live.parent.relative_to(watched))
    assert {k: v for k, v in after.items() if k != parent} == {k: v for k, v in before.items() if k != parent}
