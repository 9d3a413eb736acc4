"""Index fixtures for lineage and bundle tests.

`mlflow_contract_index` indexes the real MLflow file store of tests/data through the *documented reader
contract* (RunUpdate fields the MLflow reader emits: logged_models with local_dir, dataset inputs with
`mlflow_digest`, model files as role="model" outputs, `mlflow.parentRunId` as parent) while the MLflow reader
is not on main. Tests that need the real reader use `pytest.importorskip("expdesk.sources.mlflow.files")`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from expdesk.core.entities import FileRef, RunRef, RunUpdate, Series, Status
from expdesk.core.safefile import read_yaml_file
from expdesk.index import store
from expdesk.index.service import Index
from expdesk.sources.base import list_artifacts
from tests.sql import query

DATA = Path(__file__).resolve().parents[1] / "data" / "runs"
MLFLOW_STORE = DATA / "mlflow" / "filestore" / "mlruns"
EXP = "987389506339963218"
MODEL_RUN = "09af6528384e45e589bb3863b8763caf"
PARENT_RUN = "79578e2af5fe4d0ea038ddb5a8b756e5"
CHILD_RUN = "dee163de6b284a459169d63a0ea21a7d"
MODEL_ID = "m-03f8bf65096e45af9364f3211b30d4e7"


def _read_dir(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def mlflow_update(run_dir: Path, mlruns: Path = MLFLOW_STORE) -> tuple[RunRef, RunUpdate]:
    meta = read_yaml_file(run_dir / "meta.yaml")
    tags = _read_dir(run_dir / "tags")
    update = RunUpdate(
        name=meta.get("run_name"),
        experiment="iris-classification",
        status=Status.FINISHED if meta.get("status") == 3 else Status.UNKNOWN,
        start_time=meta["start_time"] / 1000,
        end_time=meta["end_time"] / 1000 if meta.get("end_time") else None,
        parent_native_id=tags.get("mlflow.parentRunId"),
        params=_read_dir(run_dir / "params"),
        tags=tags,
    )
    for key, text in _read_dir(run_dir / "metrics").items():
        rows = [line.split() for line in text.splitlines() if line.strip()]
        update.metrics.append(
            Series.from_lists(
                key, [int(r[2]) for r in rows], [float(r[1]) for r in rows], [float(r[0]) for r in rows]
            )
        )
    update.artifacts = list_artifacts(run_dir / "artifacts")
    update.info = {
        "user": meta.get("user_id"),
        "artifact_dir": str(run_dir / "artifacts"),
        "tool_version": "3.17.2",
    }
    if tags.get("mlflow.source.name"):
        update.info["command"] = tags["mlflow.source.name"]
    if (run_dir / "inputs").is_dir():
        for link in sorted((run_dir / "inputs").iterdir()):
            dataset = read_yaml_file(
                run_dir.parent / "datasets" / read_yaml_file(link / "meta.yaml")["source_id"] / "meta.yaml"
            )
            update.files.append(
                FileRef(
                    "input", "dataset", dataset["source"], None, None, (("mlflow_digest", dataset["digest"]),)
                )
            )
    if (run_dir / "outputs" / MODEL_ID).is_dir():
        model_dir = run_dir.parent / "models" / MODEL_ID / "artifacts"
        update.info["logged_models"] = [
            {"model_id": MODEL_ID, "name": "model", "local_dir": str(model_dir), "status": "READY",
             "flavors": ["python_function", "sklearn"], "registered_versions": [{"name": "sgd-3class", "version": 1}]}
        ]  # fmt: skip
        for art in list_artifacts(model_dir):
            update.files.append(
                FileRef(
                    "output",
                    "model",
                    f"models/{MODEL_ID}/artifacts/{art.path}",
                    str(model_dir / art.path),
                    art.size,
                )
            )
    ref = RunRef("mlflow", run_dir, mlruns.parent, meta["run_id"], mlruns)
    return ref, update


def add_updates(index: Index, items: list[tuple[RunRef, RunUpdate]]) -> None:
    for ref, update in items:
        index.writer.call(lambda c, r=ref, u=update: store.apply_update(c, r, u, None))
    index.writer.call(
        lambda c: c.execute(
            "INSERT OR IGNORE INTO roots (path, added_at) VALUES (?, 0)", (str(items[0][0].root),)
        )
    )
    index.writer.call(store.resolve_links)


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    idx = Index(tmp_path / "index.sqlite")
    yield idx
    idx.close()


@pytest.fixture
def mlflow_contract_index(index: Index) -> Index:
    runs = [MLFLOW_STORE / EXP / r for r in (MODEL_RUN, PARENT_RUN, CHILD_RUN)]
    add_updates(index, [mlflow_update(r) for r in runs])
    return index


def key_of(index: Index, native_id: str | None = None, name: str | None = None) -> str:
    with index.reader() as reader:
        if native_id is not None:
            rows = query(reader, "SELECT key FROM runs WHERE native_id = ?", (native_id,))
        else:
            rows = query(reader, "SELECT key FROM runs WHERE name = ?", (name,))
    assert len(rows) == 1, rows
    return rows[0][0]


@pytest.fixture
def copy_tree(tmp_path: Path) -> Callable[[Path, str], Path]:
    def copy(source: Path, name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(source, target, symlinks=True)
        return target

    return copy


def load_json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))
