"""A bundle depends on the run, not on how it was found: exporting one run from an index that watches its
store and from one that watches the store's parent gives byte-identical zips."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from expdesk.index.service import Index
from tests.bundle.conftest import DATA
from tests.bundle.handoff import copy_fixture, truth
from tests.bundle.helpers import export
from tests.sql import query


def _export_from(root: Path, db: Path, sql: str, arg: str, out: Path) -> bytes:
    index = Index(db)
    try:
        index.index([root])
        with index.reader() as reader:
            (key,) = [r[0] for r in query(reader, f"SELECT key FROM runs WHERE {sql}", (arg,))]
        _plan, path = export(index, key, out)
        return path.read_bytes()
    finally:
        index.close()


def _setup(kind: str, ws: Path) -> tuple[Path, str, str]:
    """(the store or run-family folder, SQL, arg) for one fixture copied into `ws/outer/`."""
    if kind == "mlflow-sqlite":
        store = copy_fixture("mlflow/sweep", ws / "outer")
        return store, "native_id = ?", truth()["mlflow_sweep"]["best_run"]
    if kind == "mlflow":
        store = copy_fixture("mlflow2", ws / "outer")
        return store, "native_id = ?", truth()["mlflow2"]["run_id"]
    if kind == "transformers":
        return copy_fixture("trainer", ws / "outer"), "name = ?", "tiny-cls"
    if kind == "lightning":
        return copy_fixture("lightning", ws / "outer"), "name = ?", "lightning_logs/version_0"
    # a Hydra multirun (names are relative to the watched root in the index): a model file in each job
    sweep = shutil.copytree(DATA / "hydra" / "multirun", ws / "outer" / "multirun")
    for job in sweep.glob("*/*/[0-9]"):
        (job / "model.onnx").write_bytes(b"onnx" + job.name.encode() * 600)
    return sweep, "path LIKE ?", "%/19-22-15/2"


@pytest.mark.parametrize("kind", ["mlflow-sqlite", "mlflow", "transformers", "lightning", "hydra"])
def test_store_root_or_its_parent_give_the_same_zip(tmp_path: Path, kind: str) -> None:
    folder, sql, arg = _setup(kind, tmp_path / "ws")
    from_store = _export_from(folder, tmp_path / "a.sqlite", sql, arg, tmp_path / "out-a")
    from_parent = _export_from(folder.parent.parent, tmp_path / "b.sqlite", sql, arg, tmp_path / "out-b")
    assert from_store == from_parent
    # and nothing of this machine's folders is inside
    assert str(tmp_path).encode() not in from_store
