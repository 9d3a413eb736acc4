"""`expdesk compare` and `expdesk plot` on real sample runs and on synthetic ones."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from expdesk.cli import main
from expdesk.index.service import Index
from tests.compare.conftest import add_run


@pytest.fixture
def db(tmp_path: Path, runs_dir: Path) -> Path:
    path = tmp_path / "i.db"
    with Index(path) as ix:
        ix.index([runs_dir / "plain"])
        add_run(
            ix,
            tmp_path,
            "syn-a",
            {"lr": "1e-3", "opt": "adam"},
            {"val_loss": [3, 2, 1.5], "acc": [0.1, 0.5, 0.7]},
        )
        add_run(ix, tmp_path, "syn-b", {"lr": "0.001", "opt": "sgd"}, {"val_loss": [3, 2.5, 2.0]})
    return path


def keys(db: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    assert main(["runs", "--json", "--db", str(db)]) == 0
    return {r["name"]: r["key"] for r in json.loads(capsys.readouterr().out)}


def test_compare_text_only_differences(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    k = keys(db, capsys)
    assert main(["compare", k["syn-a"][:8], k["syn-b"], "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "params.opt" in out and "params.lr" not in out.split("identical")[0]
    assert "val_loss · last" in out and "1.5 *" in out
    assert "identical rows" in out and "params.lr=1e-3" in out


def test_compare_csv_json_all_and_step(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    k = keys(db, capsys)
    assert main(["compare", k["syn-a"], k["syn-b"], "--csv", "--all", "--step", "1", "--db", str(db)]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["", "syn-a", "syn-b"]
    by = {r[0]: r[1:] for r in rows[1:]}
    assert by["params.lr"] == ["1e-3", "0.001"] and by["val_loss · @step 1"] == ["2.0", "2.5"]
    assert by["acc · last"] == ["0.7", ""]
    assert (
        main(["compare", k["syn-a"], k["syn-b"], "--json", "--direction", "val_loss=max", "--db", str(db)])
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    row = next(r for r in doc["rows"] if r["key"] == "val_loss" and r["stat"] == "last")
    assert row["direction"] == "max" and row["best"] == [k["syn-b"]]
    assert (
        next(r for r in doc["rows"] if r["key"] == "acc" and r["stat"] == "last")["values"][k["syn-b"]]
        is None
    )
    assert [r["label"] for r in doc["runs"]] == ["opt=adam", "opt=sgd"]


def test_compare_errors(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "zzzz", "--db", str(db)]) == 2
    k = keys(db, capsys)
    assert main(["compare", k["syn-a"], "--direction", "loss=up", "--db", str(db)]) == 2


def test_plot_png_and_svg(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    k = keys(db, capsys)
    out = tmp_path / "c.png"
    assert (
        main(["plot", k["syn-a"], k["syn-b"], "--metric", "val_loss", "--out", str(out), "--db", str(db)])
        == 0
    )
    assert out.read_bytes()[:4] == b"\x89PNG"
    svg = tmp_path / "c.svg"
    argv = ["plot", k["syn-a"], k["syn-b"], "--metric", "val_loss", "--metric", "acc", "--x", "relative"]
    assert main([*argv, "--smooth", "0", "--log", "--out", str(svg), "--db", str(db)]) == 0
    assert b"<svg" in svg.read_bytes()[:1000]
    assert main(["plot", k["syn-a"], "--metric", "nope", "--out", str(out), "--db", str(db)]) == 2
    assert (
        main(["plot", k["syn-a"], "--metric", "acc", "--out", str(tmp_path / "x.jpg"), "--db", str(db)]) == 2
    )


def test_non_gui_packages_do_not_load_qt() -> None:
    code = (
        "import sys, expdesk.compare.diff, expdesk.compare.figures, expdesk.compare.series, expdesk.cli.compare;"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'matplotlib.backends.backend_qt', 'matplotlib.pyplot'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[2]
    )
    assert result.returncode == 0, result.stdout + result.stderr
