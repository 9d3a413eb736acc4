"""Writes the TensorBoard media fixtures with the real writers and their ground truth with TensorBoard's reader.

Run in a tools venv (never the project's): `pip install torch==2.13.0 tensorboard tensorboardX`, then
`python tests/data/media/make_tensorboard.py tests/data/media/tensorboard`. The ground truth
(`GROUND_TRUTH.json`) is read back with `EventAccumulator` (images as stored, histograms through
`data_compat`, text through `tensor_util`), never with expdesk.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np


def torch_run(out: Path) -> None:
    import torch
    from torch.utils.tensorboard import SummaryWriter

    gen = torch.Generator().manual_seed(0)
    with SummaryWriter(str(out), flush_secs=1) as w:
        for step in range(5):
            w.add_scalar("loss", 1.0 / (step + 1), step)
            img = (torch.rand(3, 8, 12, generator=gen) * 255).to(torch.uint8)
            w.add_image("samples/digit", img, step)
            if step % 2 == 0:
                batch = torch.rand(4, 3, 6, 6, generator=gen)
                w.add_images("batch", batch, step)
            w.add_histogram("weights/fc", torch.randn(200, generator=gen) * (step + 1), step)
            if step in (0, 3):
                w.add_text("notes", f"step {step}: **markdown** stays literal <b>x</b>", step)
            if step == 1:
                t = torch.linspace(0, 1, 800)
                w.add_audio("tone", torch.sin(2 * math.pi * 440 * t).unsqueeze(0), step, sample_rate=8000)


def tbx_run(out: Path) -> None:
    from tensorboardX import SummaryWriter

    rng = np.random.default_rng(1)
    with SummaryWriter(str(out), flush_secs=1) as w:
        for step in range(0, 30, 10):
            w.add_scalar("acc", step / 30, step)
            w.add_image("pred", rng.integers(0, 255, (3, 10, 10), dtype=np.uint8), step)
            w.add_histogram("grad", rng.normal(size=500), step)
            w.add_text("log", f"epoch {step // 10} done", step)


def hostile_run(out: Path) -> None:
    """Values a real writer puts in the file as given: a corrupt PNG, bytes that are no image, a histogram
    with no buckets, next to a good image (everything else must still be shown)."""
    from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary
    from torch.utils.tensorboard import SummaryWriter

    good = (np.arange(48, dtype=np.uint8).reshape(3, 4, 4)) * 5
    with SummaryWriter(str(out), flush_secs=1) as w:
        w.add_image("good", good, 0)
        writer = w._get_file_writer()
        png_head = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 5 + b"garbage, not a png body"
        w.add_image("good", good, 1)
        corrupt = Summary(value=[Summary.Value(tag="corrupt", image=Summary.Image(height=4, width=4, colorspace=3, encoded_image_string=png_head))])
        writer.add_summary(corrupt, 0)
        junk = Summary(value=[Summary.Value(tag="junk", image=Summary.Image(height=2, width=2, colorspace=3, encoded_image_string=b"hello, not an image"))])
        writer.add_summary(junk, 0)
        empty = Summary(value=[Summary.Value(tag="empty_hist", histo=HistogramProto(min=0.0, max=0.0, num=0.0))])
        writer.add_summary(empty, 0)
        w.add_scalar("after", 1.0, 2)


def ground_truth(run: Path) -> dict:
    from tensorboard import data_compat
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    acc = EventAccumulator(str(run), size_guidance={"images": 0, "histograms": 0, "tensors": 0, "audio": 0})
    acc.Reload()
    tags = acc.Tags()
    out: dict = {"images": {}, "histograms": {}, "text": {}, "audio": {}}
    for tag in tags["images"]:
        out["images"][tag] = [
            {"step": e.step, "width": e.width, "height": e.height,
             "sha256": hashlib.sha256(e.encoded_image_string).hexdigest(), "size": len(e.encoded_image_string)}
            for e in acc.Images(tag)
        ]
    for tag in tags["histograms"]:
        rows = []
        for e in acc.Histograms(tag):
            h = e.histogram_value
            from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary

            proto = HistogramProto(min=h.min, max=h.max, num=h.num, sum=h.sum, sum_squares=h.sum_squares,
                                   bucket_limit=h.bucket_limit, bucket=h.bucket)
            value = Summary.Value(tag=tag, histo=proto)
            migrated = data_compat.migrate_value(value)
            buckets = np.asarray(tensor_util.make_ndarray(migrated.tensor), dtype="<f4").reshape(-1, 3)
            rows.append({"step": e.step, "min": h.min, "max": h.max, "num": h.num, "buckets": len(buckets),
                         "first_bucket": buckets[:1].astype(float).tolist(),
                         "float32_sha256": hashlib.sha256(buckets.tobytes()).hexdigest()})
        out["histograms"][tag] = rows
    for tag in tags["audio"]:
        out["audio"][tag] = [
            {"step": e.step, "sha256": hashlib.sha256(e.encoded_audio_string).hexdigest(),
             "content_type": e.content_type}
            for e in acc.Audio(tag)
        ]
    for tag in tags["tensors"]:
        meta = acc.SummaryMetadata(tag)
        if meta.plugin_data.plugin_name != "text":
            continue
        out["text"][tag] = [
            {"step": e.step, "text": [v.decode("utf-8") for v in np.asarray(tensor_util.make_ndarray(e.tensor_proto)).reshape(-1)]}
            for e in acc.Tensors(tag)
        ]
    return out


def main(dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    torch_run(dest / "torch_run")
    tbx_run(dest / "tbx_run")
    hostile_run(dest / "hostile_run")
    import tensorboard
    import tensorboardX
    import torch

    truth = {
        "written_by": {"torch": torch.__version__, "tensorboardX": tensorboardX.__version__},
        "reader": f"tensorboard {tensorboard.__version__} EventAccumulator (+ data_compat, tensor_util)",
        "runs": {name: ground_truth(dest / name) for name in ("torch_run", "tbx_run", "hostile_run")},
    }
    (dest / "GROUND_TRUTH.json").write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
