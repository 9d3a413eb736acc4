"""Writes the MLflow `log_image` fixtures with MLflow itself (file store and SQLite store) and their ground truth.

`MLFLOW_ALLOW_FILE_STORE=true python tests/data/media/make_mlflow.py tests/data/media/mlflow` (mlflow is in
the test extra). The ground truth lists what was logged (key, step, timestamp) and, from MLflow's own
`MlflowClient.list_artifacts`, the files MLflow wrote for it, with the sha256 of each. One file with a
malformed log_image name is added to the file-store run afterwards, by hand, and marked so.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np


def log_run(client_uri: str, artifact_root: str | None) -> dict:
    import mlflow

    mlflow.set_tracking_uri(client_uri)
    exp = mlflow.set_experiment("media")
    rng = np.random.default_rng(7)
    logged = []
    with mlflow.start_run(run_name="images") as run:
        for step in range(3):
            img = rng.integers(0, 255, (6, 9, 3), dtype=np.uint8)
            stamp = 1796000000000 + step * 1000
            mlflow.log_image(img, key="samples/pred", step=step, timestamp=stamp)
            logged.append({"key": "samples/pred", "step": step, "timestamp": stamp})
        mlflow.log_image(rng.integers(0, 255, (4, 4, 3), dtype=np.uint8), key="confusion", step=10, timestamp=1796000100000)
        logged.append({"key": "confusion", "step": 10, "timestamp": 1796000100000})
        mlflow.log_image(rng.integers(0, 255, (5, 5, 3), dtype=np.uint8), artifact_file="figures/plot.png")
        logged.append({"key": "figures/plot.png", "step": None, "timestamp": None})
        mlflow.log_metric("loss", 0.5, step=0)
    client = mlflow.MlflowClient(client_uri)

    def walk(path: str | None) -> list:
        out = []
        for info in client.list_artifacts(run.info.run_id, path):
            out += walk(info.path) if info.is_dir else [info.path]
        return out

    local = Path(run.info.artifact_uri.removeprefix("file://"))
    files = {p: hashlib.sha256((local / p).read_bytes()).hexdigest() for p in sorted(walk(None))}
    return {"run_id": run.info.run_id, "experiment_id": exp.experiment_id, "logged": logged,
            "artifacts": files, "mlflow_version": mlflow.__version__}


def main(dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    cwd = os.getcwd()
    truth = {}
    try:
        os.chdir(dest)
        truth["filestore"] = log_run(f"file://{dest / 'filestore' / 'mlruns'}", None)
        (dest / "sqlite").mkdir()
        os.chdir(dest / "sqlite")
        truth["sqlite"] = log_run(f"sqlite:///{dest / 'sqlite' / 'mlflow.db'}", None)
    finally:
        os.chdir(cwd)
    store = truth["filestore"]
    images = dest / "filestore" / "mlruns" / store["experiment_id"] / store["run_id"] / "artifacts" / "images"
    bad = "broken+step+seven+timestamp+1796000000000+0a1b2c3d.png"
    shutil.copy(next(images.glob("confusion+step+10+*.png")), images / bad)
    store["added_by_hand"] = {f"images/{bad}": "malformed step: the placeholder case"}
    # absolute paths recorded by MLflow name this machine: the fixture is read where it lies now
    (dest / "GROUND_TRUTH.json").write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
