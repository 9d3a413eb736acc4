"""TensorBoard reader: ground truth parity, discovery, torn/corrupt/hostile event files, incremental reads."""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expdesk.core.entities import RunRef, Status
from expdesk.core.errors import SourceError
from expdesk.sources import registry
from expdesk.sources.common.tfrecord import crc32c, frame, masked_crc32c, masked_crc32c_many, scan
from expdesk.sources.tensorboard.reader import READER
from tests.groundtruth import RUNS, assert_metrics_equal, gt_path, load_gt, metric_summaries

GT = load_gt("tensorboard")
GT_RUNS = {Path(r["path"]).name: r for r in GT["runs"]}


# --- writing real event files (what torch's SummaryWriter emits) -------------------------------------------
def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _ld(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(wall: float, step: int, values: list[bytes]) -> bytes:
    body = b"\x09" + struct.pack("<d", wall) + (b"\x10" + _varint(step) if step else b"")
    return body + _ld(5, b"".join(_ld(1, v) for v in values))


def scalar(tag: str, value: float) -> bytes:
    return _ld(1, tag.encode()) + b"\x15" + struct.pack("<f", value)


def tensor_scalar(tag: str, dtype: int, payload: bytes, plugin: str | None = "scalars") -> bytes:
    tensor = b"\x08" + _varint(dtype) + _ld(2, b"") + payload
    meta = _ld(9, _ld(1, _ld(1, plugin.encode()))) if plugin is not None else b""
    return _ld(1, tag.encode()) + meta + _ld(8, tensor)


def file_version(wall: float = 1.7e9) -> bytes:
    return frame(b"\x09" + struct.pack("<d", wall) + _ld(3, b"brain.Event:2"))


def scalar_file(path: Path, n: int, tags: tuple[str, ...] = ("loss", "acc"), start: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [file_version()] if start == 0 else []
    for step in range(start, start + n):
        for i, tag in enumerate(tags):
            records.append(frame(_event(1.7e9 + step, step, [scalar(tag, step * 0.5 + i)])))
    with path.open("ab") as out:
        out.write(b"".join(records))


def ref_for(path: Path) -> RunRef:
    return READER.runs(path, path.parent)[0]


# --- ground truth -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(GT_RUNS))
def test_matches_ground_truth(name: str) -> None:
    gt = GT_RUNS[name]
    path = gt_path(gt["path"])
    update = READER.read(ref_for(path), None)
    assert update.error is None
    assert update.name == gt["run_name"]
    # GT `params` is `str()` of TensorBoard's double (`32.0`); integral doubles are shown as integers, as
    # TensorBoard's HParams dashboard shows them (the value itself is GT's `params_typed`, exactly)
    assert update.params == {
        k: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
        for k, v in gt["params_typed"].items()
    }
    assert {k: float(v) for k, v in update.params.items() if isinstance(gt["params_typed"][k], float)} == {
        k: v for k, v in gt["params_typed"].items() if isinstance(v, float)
    }
    # GT "status": null (TensorBoard records none; hparams' session_end_info is written by add_hparams itself)
    assert update.status == Status.UNKNOWN and update.native_status is None
    got = metric_summaries(update)
    # the run-level GT metrics are the root directory's scalars ...
    root_run = next(t for t in gt["tb_runs"] if t["path"] == gt["path"])
    assert gt["metrics"] == {k: v for k, v in root_run["scalars"].items()}
    # ... and each sub-directory TB run's scalars are grouped into the same run under a derived name
    expected = dict(gt["metrics"])
    for tb_run in gt["tb_runs"]:
        if tb_run is root_run:
            continue
        sub = tb_run["tb_run_name"].split("/", 1)[1]
        for tag, summary in tb_run["scalars"].items():
            if tb_run["hparams"]:
                expected[tag] = summary  # hparams session dir: the metric keeps its own tag
            else:
                assert sub.startswith(tag + "/")  # add_scalars("loss_compare", {"train": ..}) layout
                expected[sub] = summary
    assert_metrics_equal(got, expected)
    info = update.info
    assert info["event_files"] == [f["path"] for f in gt["all_files"]]
    assert update.artifacts == []  # every file of these runs is an event file
    for tag, entries in root_run["text"].items():
        assert [(e["step"], e["text"]) for e in info["text"][tag]] == [
            (e["step"], e["text"]) for e in entries
        ]
    for tag, images in root_run["images"].items():
        entry = info["images"][tag]
        assert entry["count"] == len(images)
        got_items = [(i["step"], i["width"], i["height"]) for i in entry["items"]]
        assert got_items == [(i["step"], i["width"], i["height"]) for i in images]
    for tag, histo in root_run["histograms"].items():
        entry = info["histograms"][tag]
        assert entry["count"] == histo["count"] and entry["last_step"] == histo["steps"][-1]
        for field in ("min", "max", "num", "sum", "bucket_count"):
            assert math.isclose(entry["last"][field], histo["last"][field], rel_tol=1e-12), field
    first_wall = min(m["first_wall_time"] for t in gt["tb_runs"] for m in t["scalars"].values())
    assert update.start_time is not None and update.start_time <= first_wall
    json.dumps(update.cursor)  # the cursor must be JSON-able


def test_discovery_yields_exactly_the_ground_truth_runs() -> None:
    refs = list(registry.discover(RUNS / "tensorboard"))
    assert sorted(str(r.path) for r in refs) == sorted(str(gt_path(r["path"])) for r in GT["runs"])
    assert {r.format for r in refs} == {"tensorboard"}
    for gt in GT["runs"]:
        assert registry.best_reader(gt_path(gt["path"])) is READER


def test_incremental_read_returns_only_new_points(tmp_path: Path) -> None:
    run = tmp_path / "run"
    events = run / "events.out.tfevents.1.host"
    scalar_file(events, 10)
    first = READER.read(ref_for(run), None)
    assert metric_summaries(first)["loss"]["count"] == 10
    scalar_file(events, 5, start=10)
    scalar_file(run / "extra" / "events.out.tfevents.2.host", 3, tags=("gpu",))  # a new file appears
    second = READER.read(ref_for(run), json.loads(json.dumps(first.cursor)))
    assert not second.metrics_reset
    got = metric_summaries(second)
    assert got["loss"]["count"] == 5 and got["loss"]["first_step"] == 10 and got["loss"]["last_step"] == 14
    assert got["extra/gpu"]["count"] == 3
    third = READER.read(ref_for(run), second.cursor)
    assert third.metrics == [] and not third.metrics_reset


def test_rewritten_or_replaced_file_starts_over(tmp_path: Path) -> None:
    run = tmp_path / "run"
    events = run / "events.out.tfevents.1.host"
    scalar_file(events, 10)
    cursor = READER.read(ref_for(run), None).cursor
    events.unlink()
    scalar_file(events, 4)  # same name, new file (new inode, shorter)
    update = READER.read(ref_for(run), cursor)
    assert update.metrics_reset and metric_summaries(update)["loss"]["count"] == 4
    # truncate-and-rewrite in place with other content of the same size: the head digest catches it
    cursor = update.cursor
    data = events.read_bytes()
    with events.open("r+b") as out:
        out.write(file_version(1.8e9) + data[len(file_version()) :])
    update = READER.read(ref_for(run), cursor)
    assert update.metrics_reset and metric_summaries(update)["loss"]["count"] == 4


def test_torn_last_record_is_left_for_the_next_read(tmp_path: Path) -> None:
    run = tmp_path / "run"
    events = run / "events.out.tfevents.1.host"
    scalar_file(events, 20)
    full = events.read_bytes()
    for cut in (3, 11, 14, 20):  # inside the header, its CRC, the data, the footer CRC
        events.write_bytes(full[:-cut])
        update = READER.read(ref_for(run), None)
        assert update.error is None
        assert metric_summaries(update)["acc"]["count"] == 19
        events.write_bytes(full)
        rest = READER.read(ref_for(run), update.cursor)
        assert not rest.metrics_reset and metric_summaries(rest) == {
            "acc": {
                "count": 1,
                "first_step": 19,
                "last_step": 19,
                "last_value": 10.5,
                "min": 10.5,
                "max": 10.5,
            }
        }


def test_bad_crc_in_the_middle_is_an_error_keeping_what_came_before(tmp_path: Path) -> None:
    run = tmp_path / "run"
    events = run / "events.out.tfevents.1.host"
    scalar_file(events, 20)
    data = bytearray(events.read_bytes())
    records = scan(bytes(data), 0, "x")
    victim = int(records.record_offsets[22])  # record 0 is file_version; 22 = step 10, tag "acc"
    data[victim + 20] ^= 0xFF
    events.write_bytes(bytes(data))
    update = READER.read(ref_for(run), None)
    assert update.error and "CRC" in update.error and f"record at byte {victim}" in update.error
    assert str(events) in update.error
    got = metric_summaries(update)
    assert got["loss"]["count"] == 11 and got["acc"]["count"] == 10
    # a bad CRC on the very last record is a record still being written, not corruption
    data = bytearray(events.read_bytes())
    data[-6] ^= 0xFF
    data[victim + 20] ^= 0xFF  # undo the middle corruption
    events.write_bytes(bytes(data))
    update = READER.read(ref_for(run), None)
    assert update.error is None and metric_summaries(update)["acc"]["count"] == 19


@pytest.mark.parametrize(
    ("tail", "is_error"),
    [
        (struct.pack("<Q", 1 << 63) + struct.pack("<I", masked_crc32c(struct.pack("<Q", 1 << 63))), True),
        (struct.pack("<Q", 1 << 63) + b"\0\0\0\1", True),
        (b"\0" * 40, False),  # zero-filled preallocation after a crash
    ],
)
def test_hostile_length_fields(tmp_path: Path, tail: bytes, is_error: bool) -> None:
    run = tmp_path / "run"
    events = run / "events.out.tfevents.1.host"
    scalar_file(events, 3)
    with events.open("ab") as out:
        out.write(tail)
    update = READER.read(ref_for(run), None)
    assert (update.error is not None) == is_error
    assert metric_summaries(update)["loss"]["count"] == 3


def test_scalar_tensors_of_every_numeric_dtype(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    half = struct.unpack("<H", np.float16(1.5).tobytes())[0]
    bf16 = struct.unpack("<I", np.float32(2.5).tobytes())[0] >> 16
    values = [
        tensor_scalar("f32", 1, _ld(4, struct.pack("<f", 0.25))),  # tensor_content
        tensor_scalar("f32v", 1, _ld(5, struct.pack("<f", -0.5))),  # packed float_val
        tensor_scalar("f64", 2, b"\x31" + struct.pack("<d", 1e-300)),  # unpacked double_val
        tensor_scalar("f16", 19, b"\x68" + _varint(half)),  # half_val holds the bits
        tensor_scalar("bf16", 14, b"\x68" + _varint(bf16)),
        tensor_scalar("i32", 3, b"\x38" + _varint(-7)),
        tensor_scalar("i64", 9, b"\x50" + _varint(1 << 40)),
        tensor_scalar("zero", 1, b""),  # proto3 omits a zero value entirely
        tensor_scalar("nan", 1, _ld(4, struct.pack("<f", math.nan))),
    ]
    later = [tensor_scalar("f32", 1, _ld(4, struct.pack("<f", 0.75)), plugin=None)]  # metadata only once
    data = file_version() + frame(_event(1.7e9, 1, values)) + frame(_event(1.7e9, 2, later))
    (run / "events.out.tfevents.1.host").write_bytes(data)
    update = READER.read(ref_for(run), None)
    assert update.error is None
    got = {s.key: list(s.values) for s in update.metrics}
    assert got["f32"] == [0.25, 0.75] and got["f32v"] == [-0.5] and got["f64"] == [1e-300]
    assert got["f16"] == [1.5] and got["bf16"] == [2.5] and got["i32"] == [-7.0] and got["i64"] == [2.0**40]
    assert got["zero"] == [0.0] and math.isnan(got["nan"][0])


def test_fast_and_slow_paths_interleave_in_write_order(tmp_path: Path) -> None:
    """Big and negative steps and two values per event go through the full decoder; order must survive."""
    run = tmp_path / "run"
    run.mkdir()
    records = [file_version()]
    steps = [1, 1 << 40, 2, -5, 3]
    for step in steps:
        records.append(frame(_event(1.7e9, step, [scalar("x", float(step))])))
    records.append(frame(_event(1.7e9, 7, [scalar("x", 7.0), scalar("y", math.inf)])))
    (run / "events.out.tfevents.1.host").write_bytes(b"".join(records))
    update = READER.read(ref_for(run), None)
    series = {s.key: s for s in update.metrics}
    assert list(series["x"].steps) == [*steps, 7]
    assert list(series["x"].values) == [float(s) for s in [*steps, 7]]
    assert list(series["y"].values) == [math.inf]


def test_sub_directory_naming(tmp_path: Path) -> None:
    """torch writes add_scalars to `<main>_<sub>`, tensorboardX to `<main>/<sub>`; others get a prefix."""
    run = tmp_path / "run"
    scalar_file(run / "events.out.tfevents.1.host", 2)
    scalar_file(run / "Loss_group_train" / "events.out.tfevents.1.host", 2, tags=("Loss/group",))
    scalar_file(run / "lc" / "val" / "events.out.tfevents.1.host", 2, tags=("lc",))
    scalar_file(run / "misc" / "events.out.tfevents.1.host", 2, tags=("loss",))
    names = {s.key for s in READER.read(ref_for(run), None).metrics}
    assert names == {"loss", "acc", "Loss/group/train", "lc/val", "misc/loss"}


def test_fifo_and_symlinked_event_files_are_not_opened(tmp_path: Path) -> None:
    run = tmp_path / "run"
    scalar_file(run / "events.out.tfevents.1.host", 2)
    outside = tmp_path / "outside"
    scalar_file(outside / "events.out.tfevents.9.host", 2, tags=("secret",))
    os.symlink(outside / "events.out.tfevents.9.host", run / "events.out.tfevents.2.host")
    os.symlink(outside, run / "linked_dir")
    if hasattr(os, "mkfifo"):
        os.mkfifo(run / "events.out.tfevents.3.host")
    update = READER.read(ref_for(run), None)
    assert {s.key for s in update.metrics} == {"loss", "acc"}


def test_crc32c_known_answer_and_vectorised_agree() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    rng = np.random.default_rng(0)
    buf = rng.integers(0, 256, 100_000, dtype=np.uint8)
    lens = rng.integers(0, 300, 400).astype(np.int64)
    lens[:200] = 33  # one big group takes the numpy path
    starts = rng.integers(0, 99_000, 400).astype(np.int64)
    got = masked_crc32c_many(buf, starts, lens)
    assert [int(x) for x in got] == [
        masked_crc32c(bytes(buf[s : s + n])) for s, n in zip(starts, lens, strict=True)
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=0, max_size=300), st.integers(1, 12))
def test_record_boundaries_match_a_plain_walk(lengths: list[int], period: int) -> None:
    """The cycle-predicting boundary scan finds exactly what a record-by-record walk finds."""
    # a long cycle (exercises the predicted jumps), then arbitrary lengths (exercises the fallback walk)
    cycle = lengths[:period] or [3]
    cyclic = [cycle[i % len(cycle)] for i in range(200)] + lengths
    data = b"".join(frame(bytes([i % 251]) * n) for i, n in enumerate(cyclic))
    frames = scan(data, 0, "x")
    assert frames.error is None and frames.pending == 0
    assert list(frames.lens) == cyclic
    pos, offsets = 0, []
    for n in cyclic:
        offsets.append(pos)
        pos += 16 + n
    assert list(frames.record_offsets) == offsets


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400), st.booleans())
def test_arbitrary_bytes_never_raise_anything_but_source_error(
    tmp_path: Path, junk: bytes, framed: bool
) -> None:
    run = tmp_path / "fuzz"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    # framed junk passes the CRC checks and reaches the protobuf decoder
    data = file_version() + (frame(junk) + frame(b"\x09" + junk) if framed else junk)
    (run / "events.out.tfevents.1.host").write_bytes(data)
    try:
        update = READER.read(ref_for(run), None)
    except SourceError:
        return
    json.dumps(update.cursor)
    json.dumps(update.info, allow_nan=True)


def _encode_field(number: int, wire: int, payload: bytes | int) -> bytes:
    key = _varint(number << 3 | wire)
    if wire == 0:
        return key + _varint(int(payload))
    if wire == 1:
        return key + bytes(payload)[:8].ljust(8, b"\0")
    if wire == 5:
        return key + bytes(payload)[:4].ljust(4, b"\0")
    return key + _varint(len(payload)) + bytes(payload)


_FIELD_NUMBERS = st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13])
_leaf = st.tuples(_FIELD_NUMBERS, st.sampled_from([0, 1, 5]), st.integers(0, 2**64 - 1)).map(
    lambda t: _encode_field(t[0], t[1], t[2] if t[1] == 0 else t[2].to_bytes(8, "little"))
)
_message = st.recursive(
    st.lists(_leaf, max_size=4).map(b"".join),
    lambda inner: st.lists(
        st.one_of(_leaf, st.tuples(_FIELD_NUMBERS, inner).map(lambda t: _encode_field(t[0], 2, t[1]))),
        max_size=4,
    ).map(b"".join),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_message, min_size=1, max_size=4), st.integers(-(2**63), 2**63 - 1))
def test_structured_garbage_events_never_raise(tmp_path: Path, values: list[bytes], step: int) -> None:
    """Well-framed events whose summary values are random (nested) protobuf: the full decoder's ground."""
    run = tmp_path / "fuzz"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    data = file_version() + frame(_event(1.7e9, step, values)) + frame(_event(1.7e9, 1, [scalar("ok", 1.0)]))
    (run / "events.out.tfevents.1.host").write_bytes(data)
    try:
        update = READER.read(ref_for(run), None)
    except SourceError:
        return
    json.dumps(update.cursor)
    json.dumps(update.info, allow_nan=True)
