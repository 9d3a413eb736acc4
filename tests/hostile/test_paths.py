"""Guarantee 2 (contained): no recorded path, symlink or odd file name takes a reader out of its root."""

from __future__ import annotations

import builtins
import io
import json
import os
import shutil
import socket
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from expdesk.core.errors import UnsafePath
from expdesk.core.paths import is_within, local_path_for_uri, resolve_inside
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index
from tests.hostile.conftest import cli, copy_tool

#: every traversal shape of HOSTILE.md; each must be refused outright
ESCAPES = [
    "../x",
    "a/../../x",
    "./../x",
    "/etc/passwd",
    "\\..\\x",
    "a\\..\\..\\x",
    "C:\\x",
    "C:x",
    "\\\\?\\C:\\x",
    "\\\\srv\\share\\x",
    "~/x",
    "~root/x",
    "%2e%2e%2fx",
    "%252e%252e%252fx",
    "%25252e%25252e%25252fx",
    "..%2fx",
    "..%5cx",
    "a%00b",
    "file:///etc/passwd",
    "//proc/self/root/etc/passwd",
    "http:///#/../../etc/",
    "mlflow-artifacts:/../x",
    "s3://b/../../x",
]
#: odd but harmless shapes: allowed, but whatever they resolve to must stay inside the root
ODD = ["%c0%ae%c0%ae/x", "a/?../../x", "a/;../x", "a/./b", "CON", "aux.txt", "x:ads", "trailing. ", "%"]

#: recorded artifact locations that must never be followed (MLflow's CVE list, in URI form)
HOSTILE_URIS = [
    "file:///etc",
    "file://otherhost/etc",
    "/etc",
    "//proc/self/root/etc",
    "file:///proc/self/root/etc",
    "file:///%2e%2e/%2e%2e/etc",
    "http:///#/../../etc/",
    "mlflow-artifacts:/../../etc",
    "s3://bucket/../../etc",
    "file:///tmp/mlruns/0/run/artifacts/../../../../../etc",
    "file:///tmp/mlruns/0/run/artifacts/%252e%252e/%252e%252e/etc",
]


@pytest.mark.parametrize("relative", ESCAPES)
def test_traversal_shapes_are_refused(tmp_path: Path, relative: str) -> None:
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    with pytest.raises(UnsafePath):
        resolve_inside(root, relative)


@pytest.mark.parametrize("relative", ODD)
def test_odd_shapes_stay_inside(tmp_path: Path, relative: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    try:
        target = resolve_inside(root, relative)
    except UnsafePath:
        return
    assert is_within(target, root.resolve())


@pytest.mark.parametrize("uri", HOSTILE_URIS)
def test_recorded_uris_never_leave_the_root(tmp_path: Path, uri: str) -> None:
    root = tmp_path / "root"
    (root / "artifacts").mkdir(parents=True)
    local = local_path_for_uri(uri, "/tmp/mlruns/0/run/artifacts", root / "artifacts", root)
    assert local is None or is_within(local, root.resolve())


def test_symlink_out_of_the_root_is_not_followed_by_resolve_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "to_slash").symlink_to("/")
    (root / "up").symlink_to("..")
    for relative in ("to_slash/etc/passwd", "up/x"):
        with pytest.raises(UnsafePath):
            resolve_inside(root, relative)


# -- whole-store cases: index, then look at what the index holds ------------------------------------------


def _secret(tmp_path: Path) -> Path:
    """A file outside every watched root whose content must never reach the index."""
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    secret = outside / "secret.txt"
    secret.write_text("TOP-SECRET-1234\n1700000000000 1.0 0\n")
    (outside / "secret.yaml").write_text("leak: TOP-SECRET-1234\n")
    return secret


def _dump(db: Path) -> str:
    """Everything the index holds, as one string, to search for leaked content."""
    conn = sqlite3.connect(db)
    try:
        parts = []
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            for row in conn.execute(f"SELECT * FROM [{table}]"):
                parts.append(repr(row))
        return "\n".join(parts)
    finally:
        conn.close()


def _mlflow_run(store: Path) -> Path:
    return next(p.parent for p in sorted(store.rglob("meta.yaml")) if (p.parent / "params").is_dir())


@pytest.mark.parametrize("uri", HOSTILE_URIS)
def test_mlflow_file_store_artifact_uri_is_contained(tmp_path: Path, db: Path, uri: str) -> None:
    root = copy_tool("mlflow", tmp_path / "watched") / "filestore"
    _secret(tmp_path)
    (tmp_path / "outside" / "artifacts").mkdir()
    (tmp_path / "outside" / "artifacts" / "stolen.bin").write_bytes(b"x")
    run = _mlflow_run(root)
    meta = yaml.safe_load((run / "meta.yaml").read_text())
    meta["artifact_uri"] = uri.replace("/etc", str(tmp_path / "outside"))
    (run / "meta.yaml").write_text(yaml.safe_dump(meta))
    with Index(db) as index:
        report = index.index([root])
    assert report.found > 1
    assert "stolen.bin" not in _dump(db)
    assert "TOP-SECRET" not in _dump(db)


@pytest.mark.parametrize("uri", HOSTILE_URIS)
def test_mlflow_sqlite_artifact_uri_is_contained(tmp_path: Path, db: Path, uri: str) -> None:
    root = copy_tool("mlflow", tmp_path / "watched") / "sqlite"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "stolen.bin").write_bytes(b"x")
    conn = sqlite3.connect(root / "mlflow.db")
    with conn:
        conn.execute("UPDATE runs SET artifact_uri=?", (uri.replace("/etc", str(outside)),))
        conn.execute("UPDATE inputs SET source_id=source_id")  # the table exists in every schema we read
    conn.close()
    with Index(db) as index:
        report = index.index([root])
    assert report.found > 1
    assert "stolen.bin" not in _dump(db)


def test_symlinks_out_of_runs_are_never_followed(tmp_path: Path, db: Path) -> None:
    """Links to `/`, to an outside file, to an outside folder, and link loops, in every reader's folders."""
    watched = tmp_path / "watched"
    secret = _secret(tmp_path)
    mlflow = copy_tool("mlflow", watched) / "filestore"
    run = _mlflow_run(mlflow)
    (run / "params" / "leak").symlink_to(secret)
    (run / "tags" / "leak").symlink_to(secret)
    (run / "metrics" / "leak").symlink_to(secret)
    (run / "artifacts").mkdir(exist_ok=True)
    (run / "artifacts" / "slash").symlink_to("/")
    (run / "artifacts" / "loop_a").symlink_to("loop_b")
    (run / "artifacts" / "loop_b").symlink_to("loop_a")
    (run / "artifacts" / "self").symlink_to(".")
    run2 = _mlflow_run(mlflow / "..")  # any other run with params: give it a params *folder* link
    other = next(p for p in sorted(mlflow.rglob("params")) if p.parent != run)
    shutil.rmtree(other)
    other.symlink_to(tmp_path / "outside", target_is_directory=True)
    del run2
    plain = copy_tool("plain", watched)
    generic = next(p.parent for p in sorted(plain.rglob("metrics.*")))
    for name in ("params.yaml", "config.yaml", "hparams.json"):
        (generic / name).unlink(missing_ok=True)
    (generic / "params.yaml").symlink_to(tmp_path / "outside" / "secret.yaml")
    (generic / "slash").symlink_to("/")
    (generic / "loop").symlink_to("loop")
    with Index(db) as index:
        report = index.index([watched])
    assert report.found > 5
    dump = _dump(db)
    assert "TOP-SECRET" not in dump
    assert "passwd" not in dump
    with IndexReader(db) as reader:
        keys = reader.run_keys(include_deleted=True)
        runs = reader.runs_json(keys)
    # the links are shown (as errors or skipped), the runs themselves still index
    assert all(r["name"] for r in runs)


def _special_files(folder: Path, names: list[str]) -> None:
    for name in names:
        path = folder / name
        if path.exists() or path.is_symlink():
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        os.mkfifo(path)


@pytest.fixture
def no_fifo_open(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail (instead of blocking forever) whenever anything opens a FIFO, and remember it."""
    opened: list[str] = []
    real_os_open, real_open = os.open, builtins.open

    def is_fifo(path: Any) -> bool:
        try:
            return stat.S_ISFIFO(os.stat(path).st_mode)
        except (OSError, TypeError, ValueError):
            return False

    def guarded_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if is_fifo(path):
            opened.append(str(path))
            raise OSError(6, "test guard: FIFO opened", str(path))
        return real_os_open(path, flags, *args, **kwargs)

    def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(file, int) and is_fifo(file):
            opened.append(str(file))
            raise OSError(6, "test guard: FIFO opened", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_os_open)
    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_open)
    yield opened


def test_fifos_sockets_and_device_links_are_never_opened(
    tmp_path: Path, db: Path, no_fifo_open: list[str]
) -> None:
    watched = tmp_path / "watched"
    run = _mlflow_run(copy_tool("mlflow", watched) / "filestore")
    _special_files(run, [])
    os.mkfifo(run / "params" / "fifo")
    os.mkfifo(run / "metrics" / "fifo")
    plain = copy_tool("plain", watched)
    keras = next(p.parent for p in sorted(plain.rglob("history.json")))
    _special_files(keras, ["training.log"])
    generic = next(p.parent for p in sorted((plain / "runs").rglob("metrics.*")))
    _special_files(generic, ["metrics.csv", "metrics.jsonl", "params.yaml", "results.json"])
    (generic / "zero").symlink_to("/dev/zero")
    (generic / "config.json").symlink_to("/dev/urandom")
    sock = socket.socket(socket.AF_UNIX)
    sock_path = generic / "s.sock"
    if len(os.fsencode(sock_path)) < 100:
        sock.bind(str(sock_path))
    sacred = copy_tool("sacred", watched)
    _special_files(next(p.parent for p in sorted(sacred.rglob("run.json"))), ["metrics.json", "cout.txt"])
    try:
        with Index(db) as index:
            report = index.index([watched])
    finally:
        sock.close()
    assert report.found > 5
    assert no_fifo_open == []


def test_hostile_names_index_and_print(tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Newlines, control characters, `%`, backslashes, 255-byte names, NFC/NFD twins and invalid UTF-8."""
    watched = tmp_path / "watched"
    watched.mkdir()
    names = [
        "new\nline",
        "ctl\x01\x1b[31mred",
        "pct%2e%2e",
        "back\\slash",
        "trail. ",
        "x" * 255,
        "caf\u00e9",
        "cafe\u0301",
        "\u202eevil",
    ]
    bad_utf8 = os.fsencode(watched) + b"/bad-\xff\xfe-run"
    for name in names:
        run = watched / name
        run.mkdir()
        (run / "metrics.jsonl").write_text('{"step": 0, "loss": 1.0}\n')
        (run / f"art{name[:20]}.txt").write_text("a")
    os.mkdir(bad_utf8)
    with open(bad_utf8 + b"/metrics.jsonl", "wb") as fh:
        fh.write(b'{"step": 0, "loss": 1.0}\n')
    with open(bad_utf8 + b"/\xff.bin", "wb") as fh:
        fh.write(b"x")
    mlflow_run = _mlflow_run(copy_tool("mlflow", watched) / "filestore")
    with open(os.fsencode(mlflow_run / "params") + b"/key-\xff", "wb") as fh:
        fh.write(b"value-\xff")
    (mlflow_run / "tags" / "nl\nkey").write_text("v\x00\x01")
    assert cli("index", watched, "--db", db, "-q") == 0
    capsys.readouterr()
    assert cli("runs", "--db", db, "--json") == 0
    runs = json.loads(capsys.readouterr().out)
    assert len(runs) >= len(names) + 2
    assert cli("runs", "--db", db) == 0
    table = capsys.readouterr().out
    assert all(line.count("\n") == 0 for line in table.splitlines())
    for run in runs:
        assert cli("show", run["key"], "--db", db, "--history") == 0
        assert cli("show", run["key"], "--db", db, "--json") == 0
    capsys.readouterr()
