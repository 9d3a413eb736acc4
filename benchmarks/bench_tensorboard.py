"""Points/s of the TensorBoard reader on a large event file written here in the real format.

    python benchmarks/bench_tensorboard.py [--points 1000000] [--tags 10]

The file is built byte by byte (TFRecord framing + `Event` protobuf as torch's SummaryWriter writes it:
`wall_time, step, summary{value{tag, simple_value}}`), with a text and an hparams event mixed in. When the
`tensorboard` package happens to be installed, its `EventAccumulator` reads the same file for comparison
(it is not a dependency of expdesk or its tests).
"""

from __future__ import annotations

import argparse
import struct
import tempfile
import time
from pathlib import Path

from expdesk.sources.common.tfrecord import frame
from expdesk.sources.tensorboard.reader import READER


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def scalar_event(wall: float, step: int, tag: str, value: float) -> bytes:
    summary_value = _ld(1, tag.encode()) + b"\x15" + struct.pack("<f", value)
    event = b"\x09" + struct.pack("<d", wall) + (b"\x10" + _varint(step) if step else b"")
    return event + _ld(5, _ld(1, summary_value))


def text_event(wall: float, tag: str, text: str) -> bytes:
    tensor = b"\x08\x07" + _ld(2, _ld(2, b"\x08\x01")) + _ld(8, text.encode())
    metadata = _ld(1, _ld(1, b"text"))
    value = _ld(1, tag.encode()) + _ld(9, metadata) + _ld(8, tensor)
    return b"\x09" + struct.pack("<d", wall) + _ld(5, _ld(1, value))


def write_event_file(path: Path, points: int, tags: int) -> None:
    names = [f"train/metric_{i}" for i in range(tags)]
    with path.open("wb") as out:
        out.write(frame(b"\x09" + struct.pack("<d", 1.7e9) + _ld(3, b"brain.Event:2")))
        out.write(frame(text_event(1.7e9, "notes/text_summary", "benchmark run")))
        chunk = []
        for i in range(points):
            step = i // tags
            chunk.append(frame(scalar_event(1.7e9 + i * 1e-3, step, names[i % tags], 1.0 / (1 + step))))
            if len(chunk) >= 100_000:
                out.write(b"".join(chunk))
                chunk.clear()
        out.write(b"".join(chunk))


def time_ours(run: Path) -> tuple[float, int]:
    ref = READER.runs(run, run)[0]
    t0 = time.perf_counter()
    update = READER.read(ref, None)
    elapsed = time.perf_counter() - t0
    return elapsed, sum(len(s.steps) for s in update.metrics)


def time_event_accumulator(run: Path) -> tuple[float, int] | None:
    try:
        from tensorboard.backend.event_processing import event_accumulator
    except ImportError:
        return None
    t0 = time.perf_counter()
    acc = event_accumulator.EventAccumulator(str(run), size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    count = sum(len(acc.Scalars(tag)) for tag in acc.Tags()["scalars"])
    return time.perf_counter() - t0, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--tags", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        run.mkdir()
        path = run / "events.out.tfevents.1700000000.bench.1.0"
        write_event_file(path, args.points, args.tags)
        size = path.stat().st_size
        print(f"event file: {args.points:,} scalar points, {args.tags} tags, {size / 1e6:.1f} MB")
        elapsed, count = time_ours(run)
        rate = count / elapsed
        print(f"expdesk tensorboard reader: {count:,} points in {elapsed:.3f} s = {rate:,.0f} points/s")
        theirs = time_event_accumulator(run)
        if theirs is None:
            print("EventAccumulator: tensorboard not installed (pip install tensorboard to compare)")
        else:
            t, n = theirs
            print(f"tensorboard EventAccumulator: {n:,} points in {t:.3f} s = {n / t:,.0f} points/s")
            print(f"speed-up: {t / elapsed:.1f}x")


if __name__ == "__main__":
    main()
