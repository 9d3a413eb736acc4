"""Export of the real MLflow model run (logged model + dataset input) and of a nested child run."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import bagit
import pytest
import yaml

from expdesk.bundle.verify import verify
from expdesk.index.service import Index
from tests.bundle.conftest import (
    CHILD_RUN,
    EXP,
    MLFLOW_STORE,
    MODEL_ID,
    MODEL_RUN,
    PARENT_RUN,
    add_updates,
    key_of,
    load_json,
    mlflow_update,
)
from tests.bundle.helpers import export, sha256sum_check, unzip
from tests.groundtruth import load_gt

MODEL_DIR = MLFLOW_STORE / EXP / "models" / MODEL_ID / "artifacts"


@pytest.fixture
def model_bag(mlflow_contract_index: Index, tmp_path: Path) -> Path:
    key = key_of(mlflow_contract_index, MODEL_RUN)
    _plan, path = export(mlflow_contract_index, key, tmp_path / "out")
    return unzip(path, tmp_path / "x")


def test_model_dir_is_byte_identical_to_the_source(model_bag: Path) -> None:
    gt = load_gt("mlflow")["stores"][0]["logged_models"][0]
    copied = sorted(
        p.relative_to(model_bag / "data" / "model").as_posix()
        for p in (model_bag / "data" / "model").rglob("*")
        if p.is_file()
    )
    assert copied == sorted(f["path"] for f in gt["files"])
    for f in gt["files"]:
        data = (model_bag / "data" / "model" / f["path"]).read_bytes()
        assert (
            hashlib.sha256(data).hexdigest()
            == f["sha256"]
            == hashlib.sha256((MODEL_DIR / f["path"]).read_bytes()).hexdigest()
        )


def test_passes_sha256sum_and_the_bagit_validator(model_bag: Path) -> None:
    for manifest in (
        "manifest-sha256.txt",
        "manifest-sha512.txt",
        "tagmanifest-sha256.txt",
        "tagmanifest-sha512.txt",
    ):
        done = sha256sum_check(model_bag, manifest)
        assert done.returncode == 0, done.stdout + done.stderr
    bag = bagit.Bag(str(model_bag))
    bag.validate()  # raises BagValidationError with the details
    payload = [p for p in (model_bag / "data").rglob("*") if p.is_file()]
    assert bag.info["Payload-Oxum"] == f"{sum(p.stat().st_size for p in payload)}.{len(payload)}"
    assert (
        model_bag / "bagit.txt"
    ).read_bytes() == b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    assert not (model_bag / "fetch.txt").exists()
    assert verify(model_bag).ok


def test_card_inputs_and_model_info(model_bag: Path) -> None:
    data = model_bag / "data"
    card = (data / "README.md").read_text(encoding="utf-8")
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["library_name"] == "sklearn"
    assert front["datasets"] == ["https://example.org/datasets/synthetic-3class-train.csv"]
    assert {m["type"] for m in front["model-index"][0]["results"][0]["metrics"]} == {
        "final_accuracy",
        "val_accuracy",
        "train_loss",
    }
    for section in ("## Verify", "## Load", "## Lineage summary", "## Known gaps", "## Unsafe formats"):
        assert section in card
    info = load_json(data / "model-info.json")
    assert info["kind"] == "mlflow-model" and info["unsafe_deserialization"] is False
    assert {f["format"] for f in info["files"] if f["path"] == "model.skops"} == {"skops"}
    assert info["mlflow"]["flavors"]["sklearn"]["serialization_format"] == "skops"
    folder = next((data / "runs").iterdir())
    assert folder.name == f"mlflow-{MODEL_RUN}"
    inputs = load_json(folder / "inputs.json")
    assert inputs[0]["tool_digests"] == {"mlflow_digest": "74800447"} and inputs[0]["unverifiable"] is True
    outputs = load_json(folder / "outputs.json")
    mlmodel = next(o for o in outputs if o["recorded_path"].endswith("/MLmodel"))
    assert mlmodel["sha256"] == hashlib.sha256((MODEL_DIR / "MLmodel").read_bytes()).hexdigest()
    assert "not available here" in card  # the dataset bytes are not here: said, not invented
    history = (folder / "metrics.csv").read_text().splitlines()
    assert history[0] == "key,step,timestamp_ms,value,seq"
    crate = load_json(data / "ro-crate-metadata.json")
    actions = [e for e in crate["@graph"] if e["@type"] == "CreateAction"]
    assert len(actions) == 1 and actions[0]["actionStatus"]["@id"].endswith("CompletedActionStatus")
    root = next(e for e in crate["@graph"] if e["@id"] == "./")
    assert {"@id": "https://w3id.org/ro/wfrun/process/0.5"} in root["conformsTo"]


def test_nested_child_carries_its_parent(index: Index, tmp_path: Path) -> None:
    """A copy of the store where the nested child also logged a model file: its bundle holds the parent run."""
    mlruns = shutil.copytree(MLFLOW_STORE, tmp_path / "store" / "mlruns")
    weights = mlruns / EXP / CHILD_RUN / "artifacts" / "model.onnx"
    weights.parent.mkdir()
    weights.write_bytes(bytes(range(256)) * 8)
    add_updates(index, [mlflow_update(mlruns / EXP / r, mlruns) for r in (PARENT_RUN, CHILD_RUN)])
    key, parent_key = key_of(index, CHILD_RUN), key_of(index, PARENT_RUN)
    plan, path = export(index, key, tmp_path / "out")
    assert plan.runs == [key, parent_key]
    bag = unzip(path, tmp_path / "x")
    assert sorted(p.name for p in (bag / "data" / "runs").iterdir()) == sorted(
        [f"mlflow-{CHILD_RUN}", f"mlflow-{PARENT_RUN}"]
    )
    lineage = load_json(bag / "data" / "lineage" / "lineage.json")
    assert [(e["upstream"], e["downstream"], e["rule"]) for e in lineage["derived"]] == [
        (parent_key, key, "mlflow.parentRunId")
    ]
    crate = load_json(bag / "data" / "ro-crate-metadata.json")
    assert len([e for e in crate["@graph"] if e["@type"] == "CreateAction"]) == 2
    assert "ancestor (depth 1)" in (bag / "data" / "README.md").read_text()
    assert verify(path).ok


def test_export_is_byte_deterministic(
    mlflow_contract_index: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = key_of(mlflow_contract_index, MODEL_RUN)
    _p1, first = export(mlflow_contract_index, key, tmp_path / "a")
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    monkeypatch.chdir(tmp_path)
    old = os.umask(0o077)
    try:
        _p2, second = export(mlflow_contract_index, key, tmp_path / "b")
    finally:
        os.umask(old)
    assert first.name == second.name
    assert first.read_bytes() == second.read_bytes()
