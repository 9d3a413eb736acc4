"""Writes the W&B offline media fixture with wandb itself, and its ground truth from wandb's own objects.

Run in a tools venv: `pip install wandb`, then `python tests/data/media/make_wandb.py tests/data/media/wandb`.
W&B has no offline reader, so the ground truth is what wandb's objects say they are: `wandb.Histogram`'s
`histogram`/`bins`, and for images the bytes of the PNG file wandb wrote (its sha256 is also in the row).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np


def main(dest: Path) -> None:
    import wandb

    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    rng = np.random.default_rng(3)
    truth: dict = {"wandb_version": wandb.__version__, "images": {}, "histograms": {}, "tables": {}}
    run = wandb.init(project="media", dir=str(dest), config={"lr": 0.1})
    for step in range(4):
        hist = wandb.Histogram(rng.normal(size=300))
        truth["histograms"].setdefault("weights", []).append(
            {"step": step, "values": list(map(float, hist.histogram)), "bins": list(map(float, hist.bins))}
        )
        run.log({"loss": 1 / (step + 1), "sample": wandb.Image(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)),
                 "weights": hist, "preds/img": wandb.Image(rng.integers(0, 255, (5, 7, 3), dtype=np.uint8), caption="c")},
                step=step)
    run.log({"table": wandb.Table(columns=["a", "b"], data=[[1, "x"], [2, "y"]])}, step=4)
    run.log({"many": [wandb.Image(rng.integers(0, 255, (4, 4, 3), dtype=np.uint8)) for _ in range(3)]}, step=5)
    run.finish()
    folder = next((dest / "wandb").glob("offline-run-*"))
    for png in sorted((folder / "files" / "media" / "images").rglob("*.png")):
        truth["images"][str(png.relative_to(folder / "files"))] = hashlib.sha256(png.read_bytes()).hexdigest()
    for table in sorted((folder / "files" / "media" / "table").rglob("*.json")):
        truth["tables"][str(table.relative_to(folder / "files"))] = json.loads(table.read_text())
    truth["logged"] = {"sample": [0, 1, 2, 3], "preds/img": [0, 1, 2, 3], "weights": [0, 1, 2, 3],
                       "table": [4], "many": [5, 5, 5]}
    for log in (dest / "wandb").glob("*.log"):
        log.unlink()  # symlinks into the run's logs: not part of the fixture
    (dest / "GROUND_TRUTH.json").write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
