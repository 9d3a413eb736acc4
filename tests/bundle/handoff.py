"""Shared steps for the handoff tests: the real-tool fixtures of tests/data/handoff and their ground truth."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from expdesk.index.service import Index
from tests.sql import query

HANDOFF = Path(__file__).resolve().parents[1] / "data" / "handoff"


def truth() -> dict[str, Any]:
    return json.loads((HANDOFF / "GROUND_TRUTH.json").read_text(encoding="utf-8"))


def copy_fixture(name: str, into: Path) -> Path:
    """A copy of `tests/data/handoff/<name>` with any gzipped `mlflow.db.gz` unpacked (tests never write there)."""
    target = shutil.copytree(HANDOFF / name, into / Path(name).name, symlinks=True)
    for packed in sorted(target.rglob("mlflow.db.gz")):
        with gzip.open(packed, "rb") as src, open(packed.with_suffix(""), "wb") as dst:
            shutil.copyfileobj(src, dst)
        packed.unlink()
    return target


def windows_store(store: Path, drive_root: str = "file:///D:/work/sweep") -> None:
    """Rewrite the store's recorded locations the way MLflow on Windows writes them (`Path.as_uri()`), as if
    the store had been made on a Windows machine and copied here."""
    con = sqlite3.connect(store / "mlflow.db")
    try:
        for table, column in (("runs", "artifact_uri"), ("experiments", "artifact_location"),
                              ("logged_models", "artifact_location")):  # fmt: skip
            rows = con.execute(f"SELECT rowid, {column} FROM {table}").fetchall()
            for rowid, value in rows:
                if value and "/mlruns" in value:
                    tail = value[value.index("/mlruns") :]
                    con.execute(f"UPDATE {table} SET {column}=? WHERE rowid=?", (drive_root + tail, rowid))
        con.commit()
    finally:
        con.close()


def key_where(index: Index, sql: str, *params: object) -> str:
    with index.reader() as reader:
        rows = query(reader, f"SELECT key FROM runs WHERE {sql} ORDER BY key", params)
    assert len(rows) == 1, rows
    return str(rows[0][0])


def tensor_digests(folder: Path) -> dict[str, dict[str, str]]:
    """sha256 of every tensor's bytes per safetensors file, read with the safetensors library (as the
    ground truth was, there through torch)."""
    from safetensors.numpy import load_file

    out: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*.safetensors")):
        tensors = load_file(str(path))
        out[path.name] = {k: hashlib.sha256(tensors[k].tobytes()).hexdigest() for k in sorted(tensors)}
    return out
