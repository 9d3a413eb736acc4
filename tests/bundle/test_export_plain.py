"""Plain (generic) runs of tests/data: pickle-family models flagged, configs verbatim, full metric history."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from expdesk.cli import main
from expdesk.index.service import Index
from tests.bundle.conftest import DATA, key_of, load_json
from tests.bundle.helpers import export, sha256sum_check, unzip
from tests.groundtruth import load_gt

PLAIN = DATA / "plain"


@pytest.fixture
def plain_index(index: Index) -> Index:
    index.index([PLAIN])
    return index


@pytest.mark.parametrize(
    ("name", "model", "fmt"),
    [("runs/run-001", "model.pt", "pytorch-zip (pickle inside)"), ("runs/run-002", "model.pkl", "pickle")],
)
def test_pickle_models_are_copied_and_flagged(
    plain_index: Index, tmp_path: Path, name: str, model: str, fmt: str
) -> None:
    _plan, path = export(plain_index, key_of(plain_index, name=name), tmp_path / "out")
    bag = unzip(path, tmp_path / "x")
    data = bag / "data"
    assert (data / "model" / model).read_bytes() == (PLAIN / name / model).read_bytes()
    info = load_json(data / "model-info.json")
    assert info["unsafe_deserialization"] is True and info["files"][0]["format"] == fmt
    card = (data / "README.md").read_text()
    assert f"`model/{model}`: {fmt}" in card.split("## Unsafe formats")[1]
    for manifest in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
        assert sha256sum_check(bag, manifest).returncode == 0


def test_config_verbatim_and_full_history(plain_index: Index, tmp_path: Path) -> None:
    _plan, path = export(plain_index, key_of(plain_index, name="runs/run-002"), tmp_path / "out")
    run_dir = next((unzip(path, tmp_path / "x") / "data" / "runs").iterdir())
    assert (run_dir / "config" / "config.yaml").read_bytes() == (
        PLAIN / "runs" / "run-002" / "config.yaml"
    ).read_bytes()
    gt = next(r for r in load_gt("plain")["runs"] if r["path"].endswith("runs/run-002"))
    with open(run_dir / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for key, expected in gt["metrics"].items():
        assert sum(1 for r in rows if r["key"] == key) == expected["count"]
    params = load_json(run_dir / "params.json")
    assert params["train.lr"] == {"typed": 0.01, "value": "0.01"}
    summary = load_json(run_dir / "metrics-summary.json")
    assert "final_rule" in summary


def test_cli_lineage_export_verify(
    plain_index: Index, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(plain_index.db_path)
    key = key_of(plain_index, name="runs/run-001")
    assert main(["lineage", key[:8], "--json", "--db", db]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["focus"] == key and doc["edges"] == []
    assert main(["export", key, "--out", str(tmp_path), "--db", db, "-q"]) == 0
    (zipped,) = tmp_path.glob("*.zip")
    assert main(["verify", str(zipped)]) == 0
    capsys.readouterr()
    assert main(["export", key, "--out", str(PLAIN / "x.zip"), "--db", db]) == 2
    assert "never writes there" in capsys.readouterr().err
    assert not (PLAIN / "x.zip").exists()
    assert (
        main(["export", key, "--artifact", "../../etc/passwd", "--out", str(tmp_path / "y.zip"), "--db", db])
        == 2
    )
