"""W&B offline reader: the corpus against GROUND_TRUTH.json, then torn / corrupt / hostile logs."""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
import tempfile
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expdesk.core.entities import RunRef, RunUpdate, Status
from expdesk.core.errors import SourceError
from expdesk.sources import registry
from expdesk.sources.wandb import _proto as _wandb_proto
from expdesk.sources.wandb.reader import READER
from tests.groundtruth import RUNS, assert_metrics_equal, gt_path, load_gt, metric_summaries, same_number

GT = load_gt("wandb")
GT_RUNS = {str(gt_path(r["path"])): r for r in GT["runs"]}


# --- a minimal .wandb writer (protobuf by hand + the DataStore framing), independent of the reader ---


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def fld(number: int, value: bytes | str | int) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def double(number: int, value: float) -> bytes:
    return varint(number << 3 | 1) + struct.pack("<d", value)


def item(path: str | list[str], value_json: str) -> bytes:
    keys = fld(1, path) if isinstance(path, str) else b"".join(fld(2, p) for p in path)
    return keys + fld(16, value_json)


def history(values: dict[str, Any], step: int | None, ts: float | None = None) -> bytes:
    body = b"".join(fld(1, item(k, json.dumps(v))) for k, v in values.items())
    if ts is not None:
        body += fld(1, item("_timestamp", json.dumps(ts)))
    if step is not None:
        body += fld(2, fld(1, step) if step else b"")
    return fld(2, body)


def run_record(run_id: str = "abc123", **config: Any) -> bytes:
    cfg = b"".join(fld(1, item(k, json.dumps(v))) for k, v in {"_wandb": {}, **config}.items())
    body = fld(1, run_id) + fld(3, "proj") + fld(4, cfg) + fld(8, "my-run") + fld(10, "t1") + fld(6, "grp")
    body += fld(17, fld(1, 1_700_000_000) + fld(2, 500_000_000))
    return fld(17, body)


def exit_record(code: int) -> bytes:
    return fld(18, fld(1, code) if code else b"")


HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
BLOCK = 32768


def frame(payloads: list[bytes], start: int = 7) -> bytes:
    """LevelDB-log records starting at file offset `start`, split across 32 KiB blocks like DataStore."""
    out = bytearray()
    pos = start
    for data in payloads:
        room = BLOCK - pos % BLOCK
        if room < 7:
            out += b"\0" * room
            pos += room
            room = BLOCK
        chunks = []
        while True:
            take = min(len(data), room - 7)
            chunks.append(data[:take])
            data = data[take:]
            if not data:
                break
            room = BLOCK
        for i, chunk in enumerate(chunks):
            kind = 1 if len(chunks) == 1 else 2 if i == 0 else 4 if i == len(chunks) - 1 else 3
            crc = zlib.crc32(chunk, zlib.crc32(bytes([kind])))
            out += struct.pack("<IHB", crc, len(chunk), kind) + chunk
            pos += 7 + len(chunk)
    return bytes(out)


def make_run(base: Path, payloads: list[bytes], run_id: str = "abc123") -> tuple[RunRef, Path]:
    folder = base / "wandb" / f"offline-run-20260101_000000-{run_id}"
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"run-{run_id}.wandb"
    log.write_bytes(HEADER + frame(payloads))
    return RunRef("wandb", folder, base, native_id=run_id, store=folder.parent), log


def points(update: RunUpdate, key: str) -> list[tuple[int, float]]:
    return [
        (int(s), float(v))
        for part in update.metrics
        if part.key == key
        for s, v in zip(part.steps, part.values, strict=True)
    ]


# --- ground truth ---


def test_discovery_yields_exactly_the_ground_truth_runs() -> None:
    refs = list(registry.discover(RUNS / "wandb"))
    assert {r.format for r in refs} == {"wandb"}
    assert sorted(str(r.path) for r in refs) == sorted(GT_RUNS)
    for ref in refs:
        assert ref.native_id == GT_RUNS[str(ref.path)]["run_id_from_folder_name"]
        assert registry.best_reader(ref.path) is READER  # a run folder handed over alone is ours too


@pytest.mark.parametrize("run_path", sorted(GT_RUNS))
def test_run_matches_ground_truth(run_path: str) -> None:
    gt = GT_RUNS[run_path]
    ref = next(r for r in READER.runs(Path(run_path).parent, RUNS) if str(r.path) == run_path)
    update = READER.read(ref, None)
    assert update.error is None
    assert update.params == gt["params"]
    assert_metrics_equal(metric_summaries(update), gt["metrics"])
    assert update.status.value == gt["status"]
    assert update.native_status == f"exit_code={gt['exit_code']}"
    assert update.name == gt["run_name"]
    assert update.experiment == gt["project"]
    # W&B tags are labels: GT keeps them in `tags_list`, its key/value `tags` are empty
    assert update.tags == {t: "" for t in gt["tags_list"]} | gt["tags"]
    expected_start = datetime.fromisoformat(gt["start_time"].replace("Z", "+00:00")).timestamp()
    assert update.start_time == pytest.approx(expected_start, abs=1e-6)
    info = update.info
    assert info["wandb"]["run_id"] == gt["run_id"]
    assert info["wandb"].get("group", "") == gt["group"]
    assert info["wandb"].get("job_type", "") == gt["job_type"]
    assert info["wandb"].get("notes", "") == gt["notes"]
    assert info["wandb"]["records"] == sum(gt["record_counts"].values())
    assert info["wandb"]["history_rows"] == gt["record_counts"]["history"]
    assert set(info["summary"]) == set(gt["summary"])
    for key, value in gt["summary"].items():
        got = info["summary"][key]
        assert got == value or same_number(got, value), key
    assert info["saved_files"] == [f"files/{f['path']}" for f in gt["files_records"]]
    assert {(a.path, a.size) for a in update.artifacts} == {(a["path"], a["size"]) for a in gt["artifacts"]}
    assert update.links == []
    # the last sign of life is the run's own newest record, not the log's mtime (a copy's mtime is the copy's)
    assert update.info["last_activity_from"] in ("last history row", "run log")
    assert expected_start <= update.last_activity <= expected_start + gt["runtime_s"] + 1


def test_legacy_metadata_fills_the_environment_but_not_the_state() -> None:
    gt = next(r for r in GT["runs"] if r["sdk_folder"].startswith("legacy"))
    ref = READER.runs(gt_path(gt["path"]), RUNS)[0]
    update = READER.read(ref, None)
    meta = json.loads((gt_path(gt["path"]) / "files" / "wandb-metadata.json").read_text())
    assert meta["state"] == "running" and update.status == Status.FINISHED  # the log wins
    assert update.info["user"] == meta["username"]
    assert update.info["command"] == [meta["program"], *meta["args"]]


def test_latest_run_and_debug_logs_are_not_runs(tmp_path: Path) -> None:
    wandb_dir = tmp_path / "wandb"
    wandb_dir.mkdir()
    (wandb_dir / "latest-run").write_text("offline-run-20260101_000000-x")
    (wandb_dir / "debug.log").write_text("log")
    assert READER.detect(wandb_dir) == 0.0
    assert READER.detect(tmp_path) == 0.0
    assert READER.detect(tmp_path / "missing") == 0.0


# --- decoding details ---


def test_values_steps_and_keys(tmp_path: Path) -> None:
    media = fld(1, item(["img", "_type"], '"image-file"')) + fld(1, item(["img", "width"], "8"))
    typed = fld(1, fld(1, "typed") + double(6, 2.5)) + fld(1, fld(1, "int") + fld(5, 7 << 1))  # sint64 7
    payloads = [
        run_record(lr=0.1, model={"depth": 3, "act": "relu"}),
        history({"loss": float("nan"), "_runtime": 1.0, "val": {"acc": 0.5}}, step=0, ts=1000.0),
        history({"loss": float("inf"), "name": "x", "flag": True}, step=1),
        fld(2, media + typed + fld(1, item(["deep", "m"], "1.5")) + fld(2, fld(1, 2))),
        history({"loss": -1.0, "_step": 9}, step=None),  # legacy: the step comes from `_step`
        history({"loss": -2.0}, step=None),  # neither: counts on from the last step
    ]
    ref, _ = make_run(tmp_path, payloads)
    update = READER.read(ref, None)
    assert update.params == {"lr": "0.1", "model.depth": "3", "model.act": "relu"}
    loss = points(update, "loss")
    assert [s for s, _ in loss] == [0, 1, 9, 10]
    assert math.isnan(loss[0][1]) and loss[1][1] == math.inf and loss[2:] == [(9, -1.0), (10, -2.0)]
    assert points(update, "val/acc") == [(0, 0.5)]  # a legacy nested value_json dict
    assert points(update, "typed") == [(2, 2.5)] and points(update, "int") == [(2, 7.0)]
    assert points(update, "deep/m") == [(2, 1.5)]
    keys = {s.key for s in update.metrics}
    assert not keys & {"_runtime", "name", "flag", "img/width"}
    loss_ts = next(s for s in update.metrics if s.key == "loss").timestamps
    assert loss_ts[0] == 1_000_000.0 and math.isnan(loss_ts[1])
    assert update.status == Status.RUNNING and update.native_status == "no exit record"
    assert update.tags == {"t1": ""} and update.info["wandb"]["group"] == "grp"


def test_failed_exit_code_and_config_record_updates(tmp_path: Path) -> None:
    config = fld(5, fld(1, item("lr", "0.5")) + fld(1, item(["opt", "beta"], "0.9")) + fld(2, fld(1, "drop")))
    ref, _ = make_run(tmp_path, [run_record(lr=0.1, drop=1), config, exit_record(-9)])
    update = READER.read(ref, None)
    assert update.params == {"lr": "0.5", "opt.beta": "0.9"}
    assert update.status == Status.FAILED and update.native_status == "exit_code=-9"


def test_records_spanning_blocks_and_every_cut_point_reads_each_point_once(tmp_path: Path) -> None:
    big_summary = fld(3, fld(1, item("blob", json.dumps("x" * 70_000))))  # FIRST, MIDDLE, LAST fragments
    payloads = [run_record(), big_summary] + [history({"m": float(i)}, step=i) for i in range(3000)]
    payloads.append(exit_record(0))
    ref, log = make_run(tmp_path, payloads)
    full = log.read_bytes()
    assert len(full) > 3 * BLOCK
    whole = READER.read(ref, None)
    assert points(whole, "m") == [(i, float(i)) for i in range(3000)]
    assert len(whole.info["summary"]["blob"]) == 70_000
    for cut in [8, 100, BLOCK - 3, BLOCK, BLOCK + 5, 2 * BLOCK - 1, 40_000, len(full) - 1]:
        with open(log, "r+b") as fh:  # same inode: the writer appends
            fh.truncate(cut)
            fh.seek(0)
            fh.write(full[:cut])
        first = READER.read(ref, None)
        assert first.error is None, cut
        with open(log, "ab") as fh:
            fh.write(full[cut:])
        second = READER.read(ref, first.cursor)
        assert not second.metrics_reset
        assert points(first, "m") + points(second, "m") == points(whole, "m"), cut
        assert second.status == Status.FINISHED and len(second.info["summary"]["blob"]) == 70_000


def test_incremental_append_returns_only_new_points(tmp_path: Path) -> None:
    ref, log = make_run(tmp_path, [run_record(lr=1)] + [history({"m": i}, step=i) for i in range(5)])
    first = READER.read(ref, None)
    assert len(points(first, "m")) == 5
    size = log.stat().st_size
    with open(log, "ab") as fh:
        fh.write(frame([history({"m": i}, step=i) for i in range(5, 8)] + [exit_record(0)], start=size))
    second = READER.read(ref, first.cursor)
    assert points(second, "m") == [(5, 5.0), (6, 6.0), (7, 7.0)]
    assert not second.metrics_reset and all(not s.replace for s in second.metrics)
    assert second.params == {"lr": "1"} and second.name == "my-run"  # small state stays complete
    assert second.status == Status.FINISHED
    third = READER.read(ref, second.cursor)
    assert third.metrics == [] and third.status == Status.FINISHED


def test_replaced_or_truncated_log_starts_over(tmp_path: Path) -> None:
    ref, log = make_run(tmp_path, [run_record()] + [history({"m": i}, step=i) for i in range(5)])
    first = READER.read(ref, None)
    replacement = log.with_suffix(".tmp")
    replacement.write_bytes(HEADER + frame([run_record(), history({"m": 42}, step=0)]))
    os.replace(replacement, log)
    second = READER.read(ref, first.cursor)
    assert second.metrics_reset and points(second, "m") == [(0, 42.0)]
    with open(log, "r+b") as fh:
        fh.truncate(7)
    third = READER.read(ref, second.cursor)
    assert third.metrics_reset and third.metrics == []


# --- torn, zero-filled and corrupt logs ---


def test_torn_tail_is_not_an_error_and_is_picked_up_later(tmp_path: Path) -> None:
    ref, log = make_run(tmp_path, [run_record()] + [history({"m": i}, step=i) for i in range(4)])
    full = log.read_bytes()
    log.write_bytes(full[:-5])
    first = READER.read(ref, None)
    assert first.error is None and len(points(first, "m")) == 3
    log.write_bytes(full)
    second = READER.read(ref, first.cursor)
    assert points(second, "m") == [(3, 3.0)]


def test_zero_filled_trailer_is_not_yet_written(tmp_path: Path) -> None:
    ref, log = make_run(tmp_path, [run_record(), history({"m": 1}, step=0)])
    size = log.stat().st_size
    with open(log, "ab") as fh:
        fh.write(b"\0" * 5000)
    first = READER.read(ref, None)
    assert first.error is None and points(first, "m") == [(0, 1.0)]
    with open(log, "r+b") as fh:  # the writer fills the preallocated space
        fh.seek(size)
        fh.write(frame([history({"m": 2}, step=1)], start=size))
    second = READER.read(ref, first.cursor)
    assert second.error is None and points(second, "m") == [(1, 2.0)]


def test_crc_mismatch_mid_file_keeps_what_came_before(tmp_path: Path) -> None:
    ref, log = make_run(tmp_path, [run_record(lr=3)] + [history({"m": i}, step=i) for i in range(6)])
    data = bytearray(log.read_bytes())
    data[len(data) // 2 + 10] ^= 0xFF
    log.write_bytes(bytes(data))
    update = READER.read(ref, None)
    assert update.error and "CRC" in update.error and log.name in update.error and "byte" in update.error
    got = points(update, "m")
    assert 0 < len(got) < 6 and got == [(i, float(i)) for i in range(len(got))]
    assert update.params == {"lr": "3"}


@pytest.mark.parametrize("header", [b"NOPE\xe1\xbe\x00", b":W&B\x00\x00\x00", b":W&B\xe1\xbe\x07"])
def test_bad_magic_or_version_is_a_source_error(tmp_path: Path, header: bytes) -> None:
    ref, log = make_run(tmp_path, [run_record()])
    log.write_bytes(header + log.read_bytes()[7:])
    with pytest.raises(SourceError) as info:
        READER.read(ref, None)
    assert log.name in str(info.value)


def test_header_only_log_of_a_killed_run(tmp_path: Path) -> None:
    _, log = make_run(tmp_path, [], run_id="k1lled")
    assert log.stat().st_size == 7
    [found] = READER.runs(tmp_path / "wandb", tmp_path)
    update = READER.read(found, None)
    assert update.name == "k1lled" and update.status == Status.RUNNING
    assert update.error and "killed" in update.error
    log.write_bytes(b":W&")  # the header itself is still being written: nothing to say yet
    assert READER.read(found, None).error is None


def test_legacy_summary_file_is_used_only_without_log_summary(tmp_path: Path) -> None:
    ref, log = make_run(tmp_path, [run_record()])
    (ref.path / "files").mkdir()
    (ref.path / "files" / "wandb-summary.json").write_text('{"acc": 0.5, "_wandb": {"runtime": 3}}')
    assert READER.read(ref, None).info["summary"] == {"acc": 0.5, "_wandb/runtime": 3}
    with open(log, "ab") as fh:
        fh.write(frame([fld(3, fld(1, item("acc", "0.75")))], start=log.stat().st_size))
    assert READER.read(ref, None).info["summary"] == {"acc": 0.75}


def test_fifo_and_symlinked_log_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "wandb" / "offline-run-20260101_000000-fifo"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "run-fifo.wandb")
    ref = READER.runs(tmp_path / "wandb", tmp_path)[0]
    with pytest.raises(SourceError):
        READER.read(ref, None)  # must not block
    outside = tmp_path / "outside.wandb"
    outside.write_bytes(HEADER + frame([run_record()]))
    (folder / "run-fifo.wandb").unlink()
    (folder / "run-fifo.wandb").symlink_to(outside)
    with pytest.raises(SourceError):
        READER.read(ref, None)


# --- arbitrary bytes never raise anything but SourceError ---


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.booleans())
def test_arbitrary_bytes_only_raise_source_error(body: bytes, with_header: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ref, log = make_run(Path(tmp), [])
        log.write_bytes((HEADER if with_header else b"") + body)
        try:
            update = READER.read(ref, None)
        except SourceError:
            return
        json.dumps(update.cursor)
        json.dumps(update.info)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=120), max_size=6))
def test_arbitrary_payloads_with_valid_framing(payloads: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ref, _ = make_run(Path(tmp), [run_record(), *payloads, history({"m": 1.0}, step=0)])
        update = READER.read(ref, None)
        assert update.params == {}
        assert all(np.all(s.steps >= -(1 << 63)) for s in update.metrics)
        json.dumps(update.cursor)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_proto_decoders_only_raise_proto_error(data: bytes) -> None:
    for decode in (
        _wandb_proto.record_type,
        _wandb_proto.history,
        _wandb_proto.run_record,
        _wandb_proto.environment,
        _wandb_proto.updates,
        _wandb_proto.exit_record,
    ):
        with contextlib.suppress(_wandb_proto.ProtoError):
            decode(data)
