"""What reading a Lightning checkpoint's ModelCheckpoint state costs, by checkpoint size.

Usage (from the repository root): PYTHONPATH=. python benchmarks/bench_checkpoint_state.py [--sizes 1,100,1000]
Writes torch-zip checkpoints laid out as `torch.save` writes them (`archive/data.pkl` with the callback state,
a 0-d score tensor record, and one stored weights record of N MB), then times `checkpoint_state` (median of
interleaved runs, page cache warm). The cost should follow the pickle, not the weights: the zip's directory
and `data.pkl` are read, the weight records never are.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import struct
import tempfile
import time
import zipfile
from pathlib import Path

from expdesk.sources.lightning._ckpt import checkpoint_state


def _pickle() -> bytes:
    """The plain part of what Lightning saves: epoch, step and a ModelCheckpoint state (no tensors)."""
    state = {
        "monitor": "val_loss",
        "best_model_path": "/cluster/job/ckpts/epoch=3-step=400.ckpt",
        "last_model_path": "/cluster/job/ckpts/last.ckpt",
        "dirpath": "/cluster/job/ckpts",
    }
    return pickle.dumps(
        {"epoch": 9, "global_step": 1000, "pytorch-lightning_version": "2.6.6",
         "callbacks": {"ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min'}": state}},
        protocol=2,
    )  # fmt: skip


def write_checkpoint(path: Path, megabytes: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", _pickle())
        archive.writestr("archive/data/0", struct.pack("<f", 0.25))
        chunk = b"\x01" * (1 << 20)
        with archive.open("archive/data/1", "w", force_zip64=True) as weights:
            for _ in range(megabytes):
                weights.write(chunk)
        archive.writestr("archive/version", "3\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,100,1000", help="checkpoint sizes in MB, comma-separated")
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for mb in sizes:
            paths[mb] = Path(tmp) / f"epoch=9-{mb}MB.ckpt"
            write_checkpoint(paths[mb], mb)
        times: dict[int, list[float]] = {mb: [] for mb in sizes}
        for _ in range(args.repeat):
            for mb in sizes:  # interleaved, so machine load falls on every size alike
                started = time.perf_counter()
                state = checkpoint_state(paths[mb])
                times[mb].append(time.perf_counter() - started)
                assert state["model_checkpoints"][0]["monitor"] == "val_loss"
        for mb in sizes:
            print(f"{mb:>6} MB checkpoint: median {statistics.median(times[mb]) * 1e3:.2f} ms per state read")


if __name__ == "__main__":
    main()
