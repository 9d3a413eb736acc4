"""Media as indexed data, checked against what the tools' own readers say (tests/data/media/*/GROUND_TRUTH.json):
TensorBoard event files written by torch and tensorboardX, MLflow `log_image` stores (file and SQLite), a W&B
offline run. Images come back byte for byte; histograms bucket for bucket; text as logged."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from expdesk.core.errors import UsageError
from expdesk.index.media import item_bytes, item_payload, media_series, series_items
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index
from tests.media_events import event, histogram_value, image_value, scalar_value, tiny_png, write_events

MEDIA = Path(__file__).resolve().parent.parent / "data" / "media"


def _truth(tool: str) -> dict[str, Any]:
    return json.loads((MEDIA / tool / "GROUND_TRUTH.json").read_text())


def _index(tmp_path: Path, *roots: Path) -> tuple[Index, IndexReader]:
    index = Index(tmp_path / "i.db")
    report = index.index(list(roots))
    assert not report.errors, report.errors
    return index, index.reader()


def _runs(reader: IndexReader) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in reader.runs_json(reader.run_keys(include_deleted=True))}


def _media(run: dict[str, Any]) -> dict[str, tuple[str, list[int]]]:
    return {m["key"]: (m["kind"], m["steps"]) for m in run["media"]}


@pytest.fixture(scope="module")
def tb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("tb")
    index, reader = _index(tmp, MEDIA / "tensorboard")
    yield reader, _runs(reader)
    reader.close()
    index.close()


@pytest.mark.parametrize("run_name", ["torch_run", "tbx_run", "hostile_run"])
def test_tensorboard_series_match_event_accumulator(tb: Any, run_name: str) -> None:
    _reader, runs = tb
    truth = _truth("tensorboard")["runs"][run_name]
    expected = {}
    for kind, plural in (
        ("image", "images"),
        ("histogram", "histograms"),
        ("text", "text"),
        ("audio", "audio"),
    ):
        for tag, entries in truth[plural].items():
            expected[tag] = (kind, sorted({e["step"] for e in entries}))
    assert _media(runs[run_name]) == expected


@pytest.mark.parametrize("run_name", ["torch_run", "tbx_run", "hostile_run"])
def test_tensorboard_images_round_trip_byte_for_byte(tb: Any, run_name: str) -> None:
    reader, runs = tb
    key = runs[run_name]["key"]
    for tag, entries in _truth("tensorboard")["runs"][run_name]["images"].items():
        for e in entries:
            data = item_bytes(reader, key, tag, e["step"])
            assert len(data) == e["size"] and hashlib.sha256(data).hexdigest() == e["sha256"], (
                tag,
                e["step"],
            )
    for tag, entries in _truth("tensorboard")["runs"][run_name]["audio"].items():
        for e in entries:
            assert hashlib.sha256(item_bytes(reader, key, tag, e["step"])).hexdigest() == e["sha256"]


@pytest.mark.parametrize("run_name", ["torch_run", "tbx_run", "hostile_run"])
def test_tensorboard_histograms_are_tensorboards_buckets(tb: Any, run_name: str) -> None:
    """Our doubles, narrowed to float32 as TensorBoard narrows them, are TensorBoard's buckets exactly."""
    reader, runs = tb
    key = runs[run_name]["key"]
    for tag, entries in _truth("tensorboard")["runs"][run_name]["histograms"].items():
        for e in entries:
            payload = item_payload(reader, key, tag, e["step"])
            assert payload.error is None and payload.buckets is not None
            assert len(payload.buckets) == e["buckets"]
            as_tb = payload.buckets.astype("<f4").tobytes()
            assert hashlib.sha256(as_tb).hexdigest() == e["float32_sha256"], (tag, e["step"])
            if e["buckets"]:
                assert payload.buckets[0, 0] == e["min"] and payload.buckets[-1, 1] == e["max"]
                assert payload.buckets[:, 2].sum() == e["num"]


@pytest.mark.parametrize("run_name", ["torch_run", "tbx_run"])
def test_tensorboard_text_as_logged(tb: Any, run_name: str) -> None:
    reader, runs = tb
    key = runs[run_name]["key"]
    for tag, entries in _truth("tensorboard")["runs"][run_name]["text"].items():
        for e in entries:
            assert item_payload(reader, key, tag, e["step"]).texts == e["text"]


def test_tensorboard_bad_items_are_placeholders_and_the_rest_is_shown(tb: Any) -> None:
    reader, runs = tb
    run = runs["hostile_run"]
    junk = item_payload(reader, run["key"], "junk", 0)
    assert junk.data is None and "not an encoded image" in (junk.error or "")
    # a PNG signature over garbage is handed over as stored: the image decoder names its fault (GUI test)
    corrupt = item_payload(reader, run["key"], "corrupt", 0)
    assert corrupt.error is None and corrupt.data is not None and corrupt.data.startswith(b"\x89PNG")
    empty = item_payload(reader, run["key"], "empty_hist", 0)
    assert empty.error is None and empty.buckets is not None and empty.buckets.shape == (0, 3)
    assert item_bytes(reader, run["key"], "empty_hist", 0) == b"left,right,count\n"
    assert run["metrics"]["after"]["count"] == 1 and item_bytes(reader, run["key"], "good", 1).startswith(
        b"\x89PNG"
    )


def test_tensorboard_corpus_images_match_ground_truth(tmp_path: Path, runs_dir: Path) -> None:
    """The shared corpus (torch 2.13 + tensorboardX 2.6.5) with its own ground truth file."""
    truth = json.loads((runs_dir / "tensorboard" / "GROUND_TRUTH.json").read_text())
    index, reader = _index(tmp_path, runs_dir / "tensorboard")
    with index, reader:
        runs = {r["path"].rsplit("/", 1)[-1]: r for r in reader.runs_json(reader.run_keys())}
        checked = 0
        for run in truth["runs"]:
            for tb_run in run["tb_runs"]:
                mine = runs[run["path"].rsplit("/", 1)[-1]]
                for tag, entries in tb_run["images"].items():
                    for e in entries:
                        data = item_bytes(reader, mine["key"], tag, e["step"])
                        assert hashlib.sha256(data).hexdigest() == e["png_sha256"]
                        checked += 1
                for tag, hist in tb_run["histograms"].items():
                    assert _media(mine)[tag] == ("histogram", hist["steps"])
                for tag, entries in tb_run["text"].items():
                    assert [item_payload(reader, mine["key"], tag, e["step"]).texts for e in entries] == [
                        e["text"] for e in entries
                    ]
        assert checked >= 5


def test_tensorboard_media_appends_incrementally(tmp_path: Path) -> None:
    run = tmp_path / "root" / "run"
    run.mkdir(parents=True)
    events = run / "events.out.tfevents.1.host"
    write_events(events, [event(s, 100.0 + s, image_value("img", tiny_png(3, 2, s))) for s in range(3)])
    with Index(tmp_path / "i.db") as index:
        index.index([tmp_path / "root"])
        write_events(
            events, [event(s, 100.0 + s, image_value("img", tiny_png(3, 2, s))) for s in (3, 4)], append=True
        )
        index.index([tmp_path / "root"])
        with index.reader() as reader:
            (info,) = reader.runs_json(reader.run_keys())
            assert info["media"] == [{"key": "img", "kind": "image", "steps": [0, 1, 2, 3, 4]}]
            (series,) = media_series(reader, [info["key"]])
            assert series.count == 5 and len(series_items(reader, series.id)) == 5
            assert item_bytes(reader, info["key"], "img", 4) == tiny_png(3, 2, 4)
        index.index([tmp_path / "root"], force=True)  # re-read from the start: replaced, not doubled
        with index.reader() as reader:
            (series,) = media_series(reader, reader.run_keys())
            assert series.count == 5


def test_a_million_bucket_histogram(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    n = 1_000_000
    limits = np.arange(1, n + 1, dtype="<f8")
    counts = np.ones(n, dtype="<f8")
    write_events(
        run / "events.out.tfevents.1.host",
        [event(0, 1.0, histogram_value("big", 0.0, float(n), limits.tobytes(), counts.tobytes())),
         event(1, 2.0, scalar_value("loss", 0.5))],
    )  # fmt: skip
    index, reader = _index(tmp_path, run)
    with index, reader:
        (info,) = reader.runs_json(reader.run_keys())
        assert info["media"] == [{"key": "big", "kind": "histogram", "steps": [0]}]
        payload = item_payload(reader, info["key"], "big", 0)
        assert payload.buckets is not None and payload.buckets.shape == (n, 3)
        assert payload.buckets[-1].tolist() == [n - 1.0, float(n), 1.0]
        csv_text = item_bytes(reader, info["key"], "big", 0)
        assert csv_text.count(b"\n") == n + 1
        assert info["metrics"]["loss"]["count"] == 1


# -- MLflow ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("store", ["filestore", "sqlite"])
def test_mlflow_log_image_series(tmp_path: Path, store: str) -> None:
    truth = _truth("mlflow")[store]
    # a copy elsewhere: the recorded artifact URIs name the machine the fixture was made on
    root = tmp_path / "moved"
    shutil.copytree(MEDIA / "mlflow" / store, root)
    index, reader = _index(tmp_path, root)
    with index, reader:
        (run,) = [r for r in reader.runs_json(reader.run_keys()) if r["native_id"] == truth["run_id"]]
        expected: dict[str, tuple[str, list[int]]] = {}
        for logged in truth["logged"]:
            kind, steps = expected.get(logged["key"], ("image", []))
            expected[logged["key"]] = (
                kind,
                sorted({*steps, *([logged["step"]] if logged["step"] is not None else [])}),
            )
        if store == "filestore":
            expected["broken"] = ("image", [])
        assert _media(run) == expected
        artifacts = truth["artifacts"]
        for logged in truth["logged"]:
            data = item_bytes(reader, run["key"], logged["key"], logged["step"])
            if logged["step"] is None:
                path = logged["key"]
            else:
                stem = f"images/{logged['key'].replace('/', '~')}+step+{logged['step']}+timestamp+{logged['timestamp']}+"
                (path,) = [p for p in artifacts if p.startswith(stem) and p.endswith(".png")]
            assert hashlib.sha256(data).hexdigest() == artifacts[path], path
        # the +compressed.webp thumbnails are no items of their own
        (pred,) = [s for s in media_series(reader, [run["key"]]) if s.key == "samples/pred"]
        assert pred.count == 3 and all(r.file.endswith(".png") for r in series_items(reader, pred.id))
        assert all(r.wall_time is not None for r in series_items(reader, pred.id))
        if store == "filestore":
            broken = item_payload(reader, run["key"], "broken", None)
            assert "step 'seven' is not an integer" in (broken.error or "")


# -- W&B ---------------------------------------------------------------------------------------------------
def test_wandb_media_from_the_history(tmp_path: Path) -> None:
    truth = _truth("wandb")
    index, reader = _index(tmp_path, MEDIA / "wandb")
    with index, reader:
        (run,) = reader.runs_json(reader.run_keys())
        media = _media(run)
        assert media == {
            "sample": ("image", [0, 1, 2, 3]),
            "preds/img": ("image", [0, 1, 2, 3]),
            "weights": ("histogram", [0, 1, 2, 3]),
            "table": ("table", [4]),
            "many": ("image", [5]),
        }
        got = set()
        for key in ("sample", "preds/img"):
            for step in range(4):
                got.add(hashlib.sha256(item_bytes(reader, run["key"], key, step)).hexdigest())
        for i in range(3):
            got.add(hashlib.sha256(item_bytes(reader, run["key"], "many", 5, index=i)).hexdigest())
        assert got == set(truth["images"].values())
        for entry in truth["histograms"]["weights"]:
            payload = item_payload(reader, run["key"], "weights", entry["step"])
            assert payload.buckets is not None
            assert payload.buckets[:, 2].tolist() == entry["values"]
            assert payload.buckets[:, 0].tolist() == entry["bins"][:-1]
            assert payload.buckets[:, 1].tolist() == entry["bins"][1:]
        (table,) = truth["tables"].values()
        assert json.loads(item_bytes(reader, run["key"], "table", 4)) == table


def test_unknown_key_or_step_is_a_usage_error(tb: Any) -> None:
    reader, runs = tb
    key = runs["torch_run"]["key"]
    with pytest.raises(UsageError, match="no media key 'nope'"):
        item_bytes(reader, key, "nope", 0)
    with pytest.raises(UsageError, match="nothing at step 7"):
        item_bytes(reader, key, "batch", 7)
    with pytest.raises(UsageError, match="no step-less item"):
        item_bytes(reader, key, "batch", None)
