"""The media CLI contract other tools rely on: `show --json` has `media`; `expdesk media` writes one item's
bytes (images byte for byte, histograms as CSV) and exits 2 with a one-line reason for an unknown key or step."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

from tests.test_cli import expdesk

MEDIA = Path(__file__).resolve().parent / "data" / "media"


def _key(db: Path, name: str) -> str:
    runs = json.loads(expdesk("runs", "--json", db=db).stdout)
    return next(r["key"] for r in runs if r["name"] == name)


def test_show_json_media_and_media_command(tmp_path: Path) -> None:
    db = tmp_path / "i.db"
    assert expdesk("index", str(MEDIA / "tensorboard"), db=db).returncode == 0
    truth = json.loads((MEDIA / "tensorboard" / "GROUND_TRUTH.json").read_text())["runs"]["torch_run"]
    key = _key(db, "torch_run")
    shown = json.loads(expdesk("show", key, "--json", db=db).stdout)
    assert shown["media"] == [
        {"key": "batch", "kind": "image", "steps": [0, 2, 4]},
        {"key": "notes/text_summary", "kind": "text", "steps": [0, 3]},
        {"key": "samples/digit", "kind": "image", "steps": [0, 1, 2, 3, 4]},
        {"key": "tone", "kind": "audio", "steps": [1]},
        {"key": "weights/fc", "kind": "histogram", "steps": [0, 1, 2, 3, 4]},
    ]
    for entry in shown["media"]:
        assert set(entry) == {"key", "kind", "steps"} and entry["steps"] == sorted(entry["steps"])

    out = tmp_path / "digit.png"
    done = expdesk("media", key, "samples/digit", "--step", "3", "--out", str(out), db=db)
    assert done.returncode == 0, done.stderr
    expected = next(e for e in truth["images"]["samples/digit"] if e["step"] == 3)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == expected["sha256"]

    out = tmp_path / "hist.csv"
    assert expdesk("media", key, "weights/fc", "--step", "2", "--out", str(out), db=db).returncode == 0
    rows = list(csv.reader(io.StringIO(out.read_text())))
    hist = next(e for e in truth["histograms"]["weights/fc"] if e["step"] == 2)
    assert rows[0] == ["left", "right", "count"] and len(rows) - 1 == hist["buckets"]
    assert float(rows[1][0]) == hist["min"] and float(rows[-1][1]) == hist["max"]
    assert sum(float(r[2]) for r in rows[1:]) == hist["num"]

    text = expdesk("media", key, "notes/text_summary", "--step", "3", "--out", "-", db=db)
    assert text.returncode == 0 and text.stdout == truth["text"]["notes/text_summary"][1]["text"][0]

    listing = expdesk("media", key, db=db)
    assert listing.returncode == 0 and "samples/digit" in listing.stdout


def test_unknown_key_or_step_exits_2_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "i.db"
    expdesk("index", str(MEDIA / "tensorboard"), db=db)
    key = _key(db, "torch_run")
    for args, words in (
        (["nope", "--step", "0"], "no media key 'nope'"),
        (["batch", "--step", "1"], "nothing at step 1"),
        (["batch"], "no step-less item"),
    ):
        done = expdesk("media", key, *args, "--out", str(tmp_path / "x"), db=db)
        assert done.returncode == 2, done
        assert words in done.stderr and done.stderr.count("\n") == 1
        assert not (tmp_path / "x").exists()


def test_never_writes_into_a_watched_folder(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "runs"
    shutil.copytree(MEDIA / "tensorboard" / "tbx_run", root / "tbx_run")
    db = tmp_path / "i.db"
    expdesk("index", str(root), db=db)
    key = _key(db, "tbx_run")
    done = expdesk("media", key, "pred", "--step", "0", "--out", str(root / "tbx_run" / "x.png"), db=db)
    assert done.returncode == 2 and "watched folder" in done.stderr
    assert not (root / "tbx_run" / "x.png").exists()


def test_mlflow_step_less_image(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(MEDIA / "mlflow" / "filestore", tmp_path / "store")
    db = tmp_path / "i.db"
    expdesk("index", str(tmp_path / "store"), db=db)
    runs = json.loads(expdesk("runs", "--json", db=db).stdout)
    (run,) = runs
    shown = json.loads(expdesk("show", run["key"], "--json", db=db).stdout)
    assert {"key": "figures/plot.png", "kind": "image", "steps": []} in shown["media"]
    out = tmp_path / "plot.png"
    assert expdesk("media", run["key"], "figures/plot.png", "--out", str(out), db=db).returncode == 0
    truth = json.loads((MEDIA / "mlflow" / "GROUND_TRUTH.json").read_text())["filestore"]
    assert hashlib.sha256(out.read_bytes()).hexdigest() == truth["artifacts"]["figures/plot.png"]
