"""Pushing joined runs to a real MLflow server: the lightning-hydra-template job and a Trainer run with
reported results arrive as one MLflow run each, read back with MLflow's own client."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from expdesk.index.reader import IndexReader
from expdesk.index.service import Index
from expdesk.remote.http import MlflowRest
from expdesk.remote.push import SOURCE_KEY_TAG, push_runs
from tests.remote.conftest import Server

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

JOBS = Path(__file__).resolve().parents[1] / "data" / "jobs"


def test_push_joined_runs(mlflow_server: Server, tmp_path: Path) -> None:
    for name in ("lightning_hydra", "trainer_best"):
        shutil.copytree(JOBS / name, tmp_path / name, symlinks=True)
    db = tmp_path / "index.sqlite"
    with Index(db) as index:
        index.index([tmp_path / "lightning_hydra", tmp_path / "trainer_best"])
    with IndexReader(db) as reader:
        keys = reader.run_keys()
        runs = {r["format"]: r for r in reader.runs_json(keys)}
        pushed = push_runs(reader, keys, MlflowRest(mlflow_server.url), experiment="it-push-joined")
    assert len(pushed.runs) == 2 and all(r.created for r in pushed.runs)
    client = MlflowClient(mlflow_server.url)
    experiment = client.get_experiment_by_name("it-push-joined")
    server = {
        r.data.tags[SOURCE_KEY_TAG]: r for r in client.search_runs([experiment.experiment_id], max_results=10)
    }
    job = runs["hydra"]
    remote = server[job["key"]]
    assert remote.data.tags["expdesk.parts"] == ", ".join(p["label"] for p in job["parts"])
    assert remote.data.tags["expdesk.parts"].startswith("hydra, wandb, lightning:csv/version_0")
    assert remote.data.params["model.optimizer.lr"] == job["params"]["model.optimizer.lr"]
    for metric, summary in job["metrics"].items():
        history = client.get_metric_history(remote.info.run_id, metric)
        assert len(history) == summary["count"], metric
        if "final" in summary:
            assert float(remote.data.tags[f"expdesk.final.{metric}"]) == summary["final"]
    trainer = runs["transformers"]
    remote = server[trainer["key"]]
    # a reported result with no points is a tag, never an invented point
    assert "eval_samples" not in remote.data.metrics
    assert float(remote.data.tags["expdesk.final.eval_samples"]) == 32
    assert float(remote.data.tags["expdesk.final.eval_loss"]) == trainer["metrics"]["eval_loss"]["final"]
