"""A live writer appending to each tool's own files while the watcher runs (real layouts from tests/data).

Each test runs once its reader exists on main (importorskip): MLflow file store, Sacred, TensorBoard.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from tests.watch.conftest import DATA, Live, append


def _runs_below(live: Live, folder: Path) -> list[str]:
    return sorted(p for p in live.live_paths() if p.startswith(str(folder)))


def test_mlflow_file_store_metric_appends(tmp_path: Path, live_factory: Callable[..., Live]) -> None:
    pytest.importorskip("expdesk.sources.mlflow.files")
    root = tmp_path / "root"
    shutil.copytree(DATA / "mlflow" / "filestore" / "mlruns", root / "mlruns")
    live = live_factory(root)
    run = next(p for p in _runs_below(live, root) if (Path(p) / "metrics" / "val_mse").is_file())
    n = live.count(Path(run), "val_mse")
    ms = int(time.time() * 1000)
    for step in range(3, 8):  # MLflow's own line format: "timestamp value step"
        append(Path(run) / "metrics" / "val_mse", f"{ms + step} {10.0 - step} {step}\n")
    live.wait_until(lambda: live.count(Path(run), "val_mse") == n + 5, "MLflow metric lines")
    append(Path(run) / "metrics" / "brand_new", f"{ms} 1.5 0\n")  # a metric logged for the first time
    live.wait_until(lambda: live.count(Path(run), "brand_new") == 1, "new MLflow metric file")


def test_sacred_rewrite_in_place_and_heartbeat(tmp_path: Path, live_factory: Callable[..., Live]) -> None:
    pytest.importorskip("expdesk.sources.sacred.reader")
    root = tmp_path / "root"
    shutil.copytree(DATA / "sacred" / "runs", root / "runs")
    run = root / "runs" / "4"
    live = live_factory(root, stale_after=600)
    metrics_path = run / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    series = metrics["training.loss"]
    n = live.count(run, "training.loss")
    assert n == len(series["values"])
    # Sacred's FileStorageObserver rewrites metrics.json and run.json in place (truncate + write)
    status = json.loads((run / "run.json").read_text())
    status.update(status="RUNNING", heartbeat=datetime.now().isoformat(), stop_time=None)
    (run / "run.json").write_text(json.dumps(status))
    for step in range(4, 7):
        series["steps"].append(step)
        series["values"].append(0.01 * step)
        series["timestamps"].append(datetime.now().isoformat())
        with open(metrics_path, "r+", encoding="utf-8") as f:
            f.truncate(0)
            json.dump(metrics, f)
    live.wait_until(lambda: live.count(run, "training.loss") == n + 3, "Sacred metrics rewritten")
    live.wait_until(lambda: (r := live.run(run)) and r["status"] == "running", "Sacred RUNNING")
    assert live.run(run)["stale"] is False  # type: ignore[index]


def _records(data: bytes) -> list[bytes]:
    """TFRecord framing: u64 length, u32 crc(length), payload, u32 crc(payload)."""
    out, pos = [], 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        end = pos + 12 + length + 4
        out.append(data[pos:end])
        pos = end
    return out


def _scalar_record(tag: str, step: int, value: float) -> bytes:
    """A framed tensorflow.Event with one simple_value scalar, encoded by hand (as a SummaryWriter would)."""
    from expdesk.sources.common.tfrecord import frame

    name = tag.encode()
    val = b"\x0a" + bytes([len(name)]) + name + b"\x15" + struct.pack("<f", value)
    summary = b"\x0a" + bytes([len(val)]) + val
    step_varint = bytearray()
    n = step
    while True:
        byte, n = n & 0x7F, n >> 7
        step_varint.append(byte | (0x80 if n else 0))
        if not n:
            break
    event = (
        b"\x09"
        + struct.pack("<d", 1795720999.0)
        + b"\x10"
        + bytes(step_varint)
        + b"\x2a"
        + bytes([len(summary)])
        + summary
    )
    return frame(event)


def _is_summary(record: bytes) -> bool:
    """Event field 5 (summary), tag byte 0x2a, after wall_time (0x09 + 8 bytes) and step (0x10 + varint)."""
    payload = record[12:-4]
    pos = 9 if payload[:1] == b"\x09" else 0
    if payload[pos : pos + 1] == b"\x10":
        pos += 1
        while payload[pos] & 0x80:
            pos += 1
        pos += 1
    return payload[pos : pos + 1] == b"\x2a"


def test_tensorboard_event_file_appends(tmp_path: Path, live_factory: Callable[..., Live]) -> None:
    pytest.importorskip("expdesk.sources.tensorboard.reader")
    root = tmp_path / "root"
    shutil.copytree(DATA / "tensorboard" / "runs", root / "runs")
    run_dir = root / "runs" / "tbx_adam_lr0.1"
    event_file = next(run_dir.glob("events.out.tfevents.*"))
    live = live_factory(root)
    run = next(
        Path(p) for p in _runs_below(live, root) if str(run_dir).startswith(p) or p.startswith(str(run_dir))
    )
    before = live.total_points(run)
    record = _scalar_record("loss", step=999, value=0.125)
    # a torn record first (the writer is mid-flush), then its rest: counted once, when complete
    with open(event_file, "ab") as f:
        f.write(record[:10])
        f.flush()
        os.fsync(f.fileno())
    with open(event_file, "ab") as f:
        f.write(record[10:])
    live.wait_until(lambda: live.total_points(run) > before, "appended TensorBoard record")
