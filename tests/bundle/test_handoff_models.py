"""The model, not the training state: default exports of real Trainer, Lightning, MLflow 2/3 and Keras runs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from expdesk.cli import main
from expdesk.index.service import Index
from tests.bundle.conftest import DATA, load_json
from tests.bundle.handoff import HANDOFF, copy_fixture, key_where, tensor_digests, truth
from tests.bundle.helpers import export, unzip
from tests.sql import query

TRAINING_STATE = {"optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin", "trainer_state.json"}


@pytest.fixture
def trainer_index(index: Index) -> Index:
    index.index([HANDOFF / "trainer"])
    return index


def _cli_export_verify_open(index: Index, key: str, tmp_path: Path, *extra: str) -> Path:
    """Export with the CLI, `expdesk verify` the zip, extract it with `expdesk open --keep`: the bag folder."""
    db = str(index.db_path)
    out = tmp_path / "out"
    out.mkdir()
    assert main(["export", key, "--out", str(out), "--db", db, "-q", *extra]) == 0
    (zipped,) = out.glob("*.zip")
    assert main(["verify", str(zipped)]) == 0
    into = tmp_path / "opened"
    into.mkdir()
    assert main(["open", str(zipped), "--into", str(into), "--keep"]) == 0
    (bagit_txt,) = into.rglob("bagit.txt")
    return bagit_txt.parent


def test_trainer_best_checkpoint_opens_with_safetensors(
    trainer_index: Index, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gt = truth()["trainer"]["tiny-cls"]
    best = Path(gt["best_model_checkpoint"]).name
    assert best != gt["checkpoints"][-1]  # the fixture's point: the best is not the last
    bag = _cli_export_verify_open(trainer_index, key_where(trainer_index, "name = ?", "tiny-cls"), tmp_path)
    capsys.readouterr()
    model = bag / "data" / "model"
    assert tensor_digests(model) == gt["tensors"][best]
    assert {p.name for p in model.iterdir()} == set(gt["files"][best]) - TRAINING_STATE
    info = load_json(bag / "data" / "model-info.json")
    assert info["choice"]["rule"] == "trainer.best_model_checkpoint"
    assert info["original_relative_path"] == best
    left = {e["path"]: e for e in info["choice"]["left_out"]}
    for name in TRAINING_STATE:
        entry = left[f"{best}/{name}"]
        assert len(entry["sha256"]) == 64 and "training state" in entry["reason"]
    card = (bag / "data" / "README.md").read_text(encoding="utf-8")
    assert "best_model_checkpoint" in card and f"{best}/optimizer.pt" in card
    # their digests are also in the lineage of the run
    outputs = load_json(next((bag / "data" / "runs").iterdir()) / "outputs.json")
    assert {o["recorded_path"] for o in outputs} >= {f"{best}/{n}" for n in TRAINING_STATE}


def test_trainer_with_training_state(trainer_index: Index, tmp_path: Path) -> None:
    key = key_where(trainer_index, "name = ?", "tiny-cls")
    plan, path = export(trainer_index, key, tmp_path / "out", with_training_state=True)
    names = {n.rsplit("/", 1)[-1] for n in plan.files if n.startswith("data/model/")}
    assert names >= TRAINING_STATE
    info = load_json(unzip(path, tmp_path / "x") / "data" / "model-info.json")
    assert info["choice"]["training_state_included"] is True


def test_trainer_final_sharded_model(trainer_index: Index, tmp_path: Path) -> None:
    gt = truth()["trainer"]["tiny-final"]
    assert gt["best_model_checkpoint"] is None
    _plan, path = export(trainer_index, key_where(trainer_index, "name = ?", "tiny-final"), tmp_path / "out")
    model = unzip(path, tmp_path / "x") / "data" / "model"
    assert tensor_digests(model) == gt["tensors"]["."]
    assert {p.name for p in model.iterdir()} == set(gt["files"]["."]) - TRAINING_STATE
    assert (model / "model.safetensors.index.json").is_file()


def test_trainer_lora_adapter(trainer_index: Index, tmp_path: Path) -> None:
    gt = truth()["trainer"]["tiny-lora"]
    best = Path(gt["best_model_checkpoint"]).name
    _plan, path = export(trainer_index, key_where(trainer_index, "name = ?", "tiny-lora"), tmp_path / "out")
    bag = unzip(path, tmp_path / "x")
    model = bag / "data" / "model"
    assert {"adapter_model.safetensors", "adapter_config.json"} <= {p.name for p in model.iterdir()}
    assert tensor_digests(model) == gt["tensors"][best]
    assert not TRAINING_STATE & {p.name for p in model.iterdir()}


def test_deleted_best_checkpoint_falls_back_to_last_and_says_so(index: Index, tmp_path: Path) -> None:
    out = copy_fixture("trainer", tmp_path / "ws")
    gt = truth()["trainer"]["tiny-cls"]
    best, last = Path(gt["best_model_checkpoint"]).name, gt["checkpoints"][-1]
    shutil.rmtree(out / "out" / "tiny-cls" / best)
    index.index([tmp_path / "ws"])
    _plan, path = export(index, key_where(index, "name = ?", "tiny-cls"), tmp_path / "out")
    bag = unzip(path, tmp_path / "x")
    assert tensor_digests(bag / "data" / "model") == gt["tensors"][last]
    info = load_json(bag / "data" / "model-info.json")
    assert info["choice"]["rule"] == "trainer.last_checkpoint"
    assert any(best in n and "fell back" in n for n in info["choice"]["fallbacks"])
    assert "fell back to the last" in (bag / "data" / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("damage", ["dangling-weights", "missing-shard"])
def test_half_a_model_is_refused_naming_the_file(
    index: Index, tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = copy_fixture("trainer", tmp_path / "ws")
    if damage == "dangling-weights":
        best = Path(truth()["trainer"]["tiny-cls"]["best_model_checkpoint"]).name
        weights = out / "out" / "tiny-cls" / best / "model.safetensors"
        weights.unlink()
        weights.symlink_to("gone.safetensors")
        name, expected = "tiny-cls", "model.safetensors"
    else:
        (out / "out" / "tiny-final" / "model-00002-of-00002.safetensors").unlink()
        name, expected = "tiny-final", "model-00002-of-00002.safetensors"
    index.index([tmp_path / "ws"])
    key = key_where(index, "name = ?", name)
    assert main(["export", key, "--out", str(tmp_path), "--db", str(index.db_path), "-q"]) == 2
    err = capsys.readouterr().err
    assert expected in err and "half a model" in err
    assert not list(tmp_path.glob("*.zip"))


def test_lightning_best_per_model_checkpoint(index: Index, tmp_path: Path) -> None:
    gt = truth()["lightning"]
    index.index([HANDOFF / "lightning"])
    for version in ("version_0", "version_1"):
        key = key_where(index, "name = ?", f"lightning_logs/{version}")
        _plan, path = export(index, key, tmp_path / version)
        bag = unzip(path, tmp_path / f"x{version}")
        info = load_json(bag / "data" / "model-info.json")
        expected = Path(gt[version]["best_model_path"]).name
        (packed,) = list((bag / "data" / "model").iterdir())
        assert packed.name == expected
        source = HANDOFF / "lightning" / "lightning_logs" / version / "checkpoints" / expected
        assert packed.read_bytes() == source.read_bytes()
        if version == "version_0":  # monitored: the callback's own best, as its state recorded it
            assert info["choice"]["rule"] == "lightning.best_model_path"
            assert repr(gt[version]["best_model_score"]) in info["choice"]["why"]
            assert expected != sorted(gt[version]["checkpoints"])[-2]  # not the newest epoch
        else:  # no monitor: last.ckpt is a symlink (save_last="link") to the newest checkpoint
            assert gt[version]["last_is_symlink"] and info["choice"]["rule"] == "lightning.last"
        assert info["unsafe_deserialization"] is True  # a .ckpt is a pickle


def test_lightning_deleted_best_falls_back_to_last(index: Index, tmp_path: Path) -> None:
    logs = copy_fixture("lightning", tmp_path / "ws")
    best = truth()["lightning"]["version_0"]["best_model_path"]
    (logs / "lightning_logs" / "version_0" / best).unlink()
    index.index([tmp_path / "ws"])
    _plan, path = export(index, key_where(index, "name = ?", "lightning_logs/version_0"), tmp_path / "out")
    info = load_json(unzip(path, tmp_path / "x") / "data" / "model-info.json")
    assert info["choice"]["rule"] == "lightning.last" and info["files"][0]["path"] == "last.ckpt"
    assert any("no longer on disk" in n for n in info["choice"]["fallbacks"])


def test_mlflow2_model_folder(index: Index, tmp_path: Path) -> None:
    gt = truth()["mlflow2"]
    index.index([HANDOFF / "mlflow2"])
    _plan, path = export(index, key_where(index, "native_id = ?", gt["run_id"]), tmp_path / "out")
    bag = unzip(path, tmp_path / "x")
    model_files = sorted(a[len("model/") :] for a in gt["artifacts"] if a.startswith("model/"))
    assert sorted(p.name for p in (bag / "data" / "model").iterdir()) == model_files
    info = load_json(bag / "data" / "model-info.json")
    assert info["kind"] == "mlflow-model" and info["choice"]["rule"] == "mlflow.artifact_model"
    assert info["mlflow"]["flavors"]["sklearn"]["pickled_model"] == "model.pkl"
    assert info["unsafe_deserialization"] is True


def test_mlflow_flavour_file_missing_is_refused(index: Index, tmp_path: Path) -> None:
    store = copy_fixture("mlflow2", tmp_path / "ws")
    (model_pkl,) = store.rglob("model.pkl")
    model_pkl.unlink()
    index.index([tmp_path / "ws"])
    key = key_where(index, "native_id = ?", truth()["mlflow2"]["run_id"])
    with pytest.raises(Exception, match=r"model\.pkl.*half a model"):
        export(index, key, tmp_path / "out")


def test_mlflow3_sweep_logged_model(index: Index, tmp_path: Path) -> None:
    gt = truth()["mlflow_sweep"]
    copy_fixture("mlflow/sweep", tmp_path / "ws")
    index.index([tmp_path / "ws"])
    _plan, path = export(index, key_where(index, "native_id = ?", gt["best_run"]), tmp_path / "out")
    bag = unzip(path, tmp_path / "x")
    assert sorted(p.name for p in (bag / "data" / "model").iterdir()) == gt["model_files"]
    info = load_json(bag / "data" / "model-info.json")
    assert info["choice"]["rule"] == "mlflow.logged_model"
    assert info["original_relative_path"] == f"mlruns/1/models/{gt['model_id']}/artifacts"


def test_keras_model_file(index: Index, tmp_path: Path) -> None:
    index.index([DATA / "plain" / "keras_runs"])
    (key,) = [k for k in _keys(index) if k]
    _plan, path = export(index, key, tmp_path / "out")
    info = load_json(unzip(path, tmp_path / "x") / "data" / "model-info.json")
    assert info["files"][0]["path"] == "best.keras" and info["choice"]["rule"].startswith("keras.")


def _keys(index: Index) -> list[str]:
    with index.reader() as reader:
        return [r[0] for r in query(reader, "SELECT key FROM runs WHERE format = 'keras'")]


def test_no_fixture_left_writable_behind() -> None:
    """The fixtures are only read: nothing in tests/data/handoff was written by the tests above."""
    assert not [p for p in HANDOFF.rglob("*") if p.name.endswith((".zip", "-wal", "-shm"))]
    assert os.access(HANDOFF, os.R_OK)


def test_keras_checkpoints_best_then_last(index: Index, tmp_path: Path) -> None:
    """Keras records no "best" anywhere but the file the best-only ModelCheckpoint wrote; without it, the
    highest epoch is the last."""
    gt = truth()["keras"]
    run = copy_fixture("keras/run-sgd", tmp_path / "ws")
    index.index([tmp_path / "ws"])
    key = key_where(index, "format = ?", "keras")
    _plan, path = export(index, key, tmp_path / "out")
    info = load_json(unzip(path, tmp_path / "x") / "data" / "model-info.json")
    assert info["files"][0]["path"] == "best.keras" and info["choice"]["rule"] == "keras.best_by_name"
    (run / "best.keras").unlink()
    index.index([tmp_path / "ws"])
    _plan, path = export(index, key, tmp_path / "out2")
    bag = unzip(path, tmp_path / "y")
    info = load_json(bag / "data" / "model-info.json")
    last = max(f for f in gt["files"] if f.startswith("ckpt/"))
    assert info["choice"]["rule"] == "keras.last" and info["original_relative_path"] == "ckpt"
    assert (bag / "data" / "model" / Path(last).name).read_bytes() == (run / last).read_bytes()
