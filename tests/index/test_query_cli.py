"""`expdesk runs --where/--sort` end to end on the plain-format sample runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from expdesk.cli import main


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
