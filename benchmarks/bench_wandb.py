"""Read speed of the W&B `.wandb` reader on a generated log of the real framing.

    python benchmarks/bench_wandb.py [--records 200000] [--metrics 4] [--wandb-python /path/to/python]

Writes a `run-<id>.wandb` (7-byte header, 32 KiB LevelDB-log blocks, CRC'd records whose payloads are
`wandb_internal.Record` protobufs encoded by hand exactly as the current SDK does: one HistoryRecord per step
with `_step`, `_runtime`, `_timestamp` and the metrics as `nested_key` + `value_json` items, step.num set,
plus a summary record per step like the SDK writes) in a temp dir, then times expdesk's full read and one
incremental read after appending 1% more rows.

`--wandb-python` names an interpreter that has `wandb` (0.17.x keeps the Python `DataStore`; later SDKs moved
the reader to Go) and times the tool's own scan on the same file: `DataStore.scan_data` +
`Record.ParseFromString` + `json.loads` of every history value. wandb is never imported by expdesk.
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from expdesk.core.entities import RunRef
from expdesk.sources.wandb.reader import READER

BLOCK = 32768
HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def fld(number: int, value: bytes | str | int) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def nested_item(key: str, value_json: str) -> bytes:
    return fld(2, key) + fld(16, value_json)


def history_record(step: int, metrics: int, t0: float) -> bytes:
    ts = t0 + step * 0.01
    items = [nested_item("_runtime", repr(step * 0.01)), nested_item("_step", str(step))]
    items += [nested_item(f"metric_{m}", repr(1.0 / (step + m + 1))) for m in range(metrics)]
    items.append(nested_item("_timestamp", repr(ts)))
    body = b"".join(fld(1, i) for i in items) + fld(2, fld(1, step) if step else b"")
    return fld(1, step + 10) + fld(2, body)


def summary_record(step: int, metrics: int) -> bytes:
    items = [nested_item(f"metric_{m}", repr(1.0 / (step + m + 1))) for m in range(metrics)]
    return fld(3, b"".join(fld(1, i) for i in items))


def run_record(run_id: str) -> bytes:
    config = b"".join(fld(1, fld(1, k) + fld(16, v)) for k, v in [("_wandb", "{}"), ("lr", "0.1")])
    body = fld(1, run_id) + fld(3, "bench") + fld(4, config) + fld(8, "bench-run")
    return fld(17, body + fld(17, fld(1, 1_700_000_000)))


class LogWriter:
    """DataStore's framing: records split into FIRST/MIDDLE/LAST at block boundaries, short tails zeroed."""

    def __init__(self, path: Path) -> None:
        self.fh = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.fh.write(HEADER)
        self.pos = len(HEADER)

    def write(self, data: bytes) -> None:
        room = BLOCK - self.pos % BLOCK
        if room < 7:
            self.fh.write(b"\0" * room)
            self.pos += room
            room = BLOCK
        first = True
        while True:
            chunk, data = data[: room - 7], data[room - 7 :]
            kind = (1 if not data else 2) if first else (4 if not data else 3)
            crc = zlib.crc32(chunk, zlib.crc32(bytes([kind])))
            self.fh.write(struct.pack("<IHB", crc, len(chunk), kind) + chunk)
            self.pos += 7 + len(chunk)
            if not data:
                return
            first, room = False, BLOCK

    def close(self) -> None:
        self.fh.close()


TOOL_SCAN = r"""
import json, sys, time
import wandb
wandb._assert_is_internal_process = True
from wandb.sdk.internal import datastore
from wandb.proto import wandb_internal_pb2 as pb
best = None
for _ in range(int(sys.argv[2])):
  start = time.perf_counter()
  ds = datastore.DataStore()
  ds.open_for_scan(sys.argv[1])
  records = points = 0
  while True:
    data = ds.scan_data()
    if data is None:
        break
    rec = pb.Record()
    rec.ParseFromString(data)
    records += 1
    if rec.WhichOneof("record_type") == "history":
        for item in rec.history.item:
            value = json.loads(item.value_json)
            if isinstance(value, (int, float)) and not (item.key or item.nested_key[0]).startswith("_"):
                points += 1
  elapsed = time.perf_counter() - start
  best = elapsed if best is None else min(best, elapsed)
print(json.dumps({"seconds": best, "records": records, "points": points,
                  "wandb": wandb.__version__}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=200_000, help="history rows (steps)")
    parser.add_argument("--metrics", type=int, default=4, help="numeric metrics per row")
    parser.add_argument("--repeat", type=int, default=3, help="best of N timings (this machine is shared)")
    parser.add_argument("--wandb-python", help="python with wandb 0.17.x installed, to time its DataStore")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "wandb" / "offline-run-20260101_000000-bench01"
        folder.mkdir(parents=True)
        log = folder / "run-bench01.wandb"
        writer = LogWriter(log)
        writer.write(run_record("bench01"))
        for step in range(args.records):
            writer.write(history_record(step, args.metrics, 1.7e9))
            writer.write(summary_record(step, args.metrics))
        writer.close()
        size = log.stat().st_size
        ref = RunRef("wandb", folder, Path(tmp), native_id="bench01", store=folder.parent)

        ours = math.inf
        for _ in range(args.repeat):
            start = time.perf_counter()
            update = READER.read(ref, None)
            ours = min(ours, time.perf_counter() - start)
        points = sum(len(s.steps) for s in update.metrics)
        assert update.error is None and points == args.records * args.metrics, (update.error, points)
        records = update.info["wandb"]["records"]
        print(
            f"file: {size / 1e6:.1f} MB, {records} records ({args.records} history rows x {args.metrics} "
            f"metrics + summaries)"
        )
        print(
            f"expdesk full read (best of {args.repeat}): {ours:.2f} s = {records / ours:,.0f} records/s, "
            f"{args.records / ours:,.0f} history rows/s, {points / ours:,.0f} points/s, "
            f"{size / ours / 1e6:.0f} MB/s"
        )

        extra = max(1, args.records // 100)
        writer = LogWriter.__new__(LogWriter)
        writer.fh, writer.pos = open(log, "ab"), size  # noqa: SIM115
        for step in range(args.records, args.records + extra):
            writer.write(history_record(step, args.metrics, 1.7e9))
        writer.close()
        start = time.perf_counter()
        again = READER.read(ref, update.cursor)
        incremental = time.perf_counter() - start
        new_points = sum(len(s.steps) for s in again.metrics)
        assert new_points == extra * args.metrics and not again.metrics_reset
        print(
            f"expdesk incremental read of {extra} appended rows: {incremental * 1000:.1f} ms "
            f"(cursor JSON {len(json.dumps(again.cursor)) / 1024:.0f} KiB)"
        )

        if args.wandb_python:
            out = subprocess.run(
                [args.wandb_python, "-c", TOOL_SCAN, str(log), str(args.repeat)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            tool = json.loads(out.strip().splitlines()[-1])
            seconds = tool["seconds"]
            print(
                f"wandb {tool['wandb']} DataStore scan + ParseFromString + json.loads "
                f"(best of {args.repeat}): {seconds:.2f} s = {tool['records'] / seconds:,.0f} records/s, "
                f"{tool['points'] / seconds:,.0f} points/s "
                f"(it saw {tool['records']} records, {tool['points']} points)"
            )
            print(f"ratio expdesk/wandb: {tool['seconds'] / ours:.2f}x the speed")


if __name__ == "__main__":
    main()
