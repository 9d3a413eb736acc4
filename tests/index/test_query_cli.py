"""`expdesk runs --where/--sort` end to end on the plain-format sample runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from expdesk.cli import main
from tests.groundtruth import load_gt


@pytest.fixture
def db(runs_dir: Path, tmp_path: Path) -> Path:
    path = tmp_path / "index.sqlite"
    assert main(["index", str(runs_dir / "plain"), "--db", str(path), "-q"]) == 0
    return path


def runs(db: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    capsys.readouterr()
    assert main(["runs", "--db", str(db), "--json", *args]) == 0
    return [r["name"] for r in json.loads(capsys.readouterr().out)]


def test_where_and_sort(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # keras_runs/adam-16: lr 0.01, val_loss.min 0.307; runs/run-001: lr 0.05, sgd, val_loss.min 0.258;
    # runs/run-002: train.lr 0.01, model.type mlp, finished, no val_loss
    assert runs(db, capsys, "--where", "params.lr < 0.02") == ["keras_runs/adam-16"]
    assert runs(db, capsys, "--where", "params.lr >= 0.01", "--sort", "params.lr") == [
        "keras_runs/adam-16",
        "runs/run-001",
    ]
    assert runs(db, capsys, "--where", "params.lr >= 0.01", "--sort=-params.lr") == [
        "runs/run-001",
        "keras_runs/adam-16",
    ]
    assert runs(
        db, capsys, "--where", "metrics.val_loss.min < 0.3 or params.model.type = mlp", "--sort", "name"
    ) == [
        "runs/run-001",
        "runs/run-002",
    ]
    assert runs(db, capsys, "--sort", "metrics.val_loss.min") == [
        "runs/run-001",
        "keras_runs/adam-16",
        "runs/run-002",  # no val_loss: last
    ]
    assert runs(db, capsys, "--where", "name ~ '^runs/' and not status = finished") == ["runs/run-001"]
    assert runs(db, capsys, "--where", "metrics.loss.at(29) < 0.3") == ["runs/run-001"]
    assert runs(db, capsys, "--where", 'params."x\'; DROP TABLE runs; --" = 1') == []
    assert len(runs(db, capsys)) == 3


def test_bad_filter_is_a_usage_error(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--db", str(db), "--where", "stauts = failed"]) == 2
    err = capsys.readouterr().err
    assert "unknown attribute 'stauts' at column 1 (did you mean 'status'?)" in err
    assert main(["runs", "--db", str(db), "--sort", "metrics.loss.mni"]) == 2
    assert "unknown aggregate 'mni'" in capsys.readouterr().err


@pytest.fixture
def mlflow_db(runs_dir: Path, tmp_path: Path) -> Path:
    path = tmp_path / "index.sqlite"
    assert main(["index", str(runs_dir / "mlflow"), "--db", str(path), "-q"]) == 0
    return path


def test_mlflow_runs_against_ground_truth(mlflow_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt = load_gt("mlflow")["runs"]
    fmt = {"file": "mlflow", "sqlite": "mlflow-sqlite"}

    def expected(keep: Callable[[dict[str, Any]], bool]) -> list[str]:
        return sorted(f"{r['run_name']}|{fmt[r['backend']]}" for r in gt if keep(r))

    def got(*args: str) -> list[str]:
        capsys.readouterr()
        assert main(["runs", "--db", str(mlflow_db), "--json", "--sort", "name, format", *args]) == 0
        return [f"{r['name']}|{r['format']}" for r in json.loads(capsys.readouterr().out)]

    active = [r for r in gt if r["lifecycle_stage"] == "active"]
    assert got() == expected(lambda r: r in active)
    assert got("--all", "--where", "deleted") == expected(lambda r: r["lifecycle_stage"] == "deleted")
    assert got("--where", "params.alpha < 0.005") == expected(
        lambda r: r in active and float(r["params"].get("alpha", "inf")) < 0.005
    )
    assert got("--where", "metrics.val_accuracy.max > 0.62 and format = mlflow") == expected(
        lambda r: r["backend"] == "file" and r["metrics"].get("val_accuracy", {}).get("max", 0) > 0.62
    )
    assert got("--where", "parent is not null") == expected(lambda r: r["parent_run_id"] is not None)
    assert got("--where", 'tags."mlflow.runName" ~ "^alpha=" and not params.alpha = 0.01') == expected(
        lambda r: r["run_name"] in ("alpha=0.001", "alpha=0.0001")
    )
    assert got("--where", "status = failed or native_status = RUNNING") == expected(
        lambda r: r["status"] in ("FAILED", "RUNNING")
    )
    # diverging-lr logs train_loss 7.5 * 7.5**step: 421.875 at step 2
    assert got("--where", "metrics.train_loss.at(2) = 421.875") == expected(
        lambda r: r["run_name"] == "diverging-lr"
    )
