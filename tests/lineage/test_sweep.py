"""Sweep lineage on real sweeps: an Optuna study logged as MLflow parent + nested children, a Hydra multirun."""

from __future__ import annotations

import shutil
from pathlib import Path

from expdesk.index.service import Index
from expdesk.lineage.catalog import Catalog
from expdesk.lineage.sweep import sweep_of
from tests.bundle.conftest import load_json
from tests.bundle.handoff import copy_fixture, key_where, truth
from tests.bundle.helpers import export, unzip
from tests.groundtruth import RUNS, load_gt
from tests.sql import query


def _sweep(index: Index, key: str, metric: str | None = None) -> dict:  # type: ignore[type-arg]
    with index.reader() as reader:
        found = sweep_of(Catalog(reader, portable=True), key, metric)
    assert found is not None
    return found


def test_mlflow_parent_child_sweep(index: Index, tmp_path: Path) -> None:
    gt = truth()["mlflow_sweep"]
    copy_fixture("mlflow/sweep", tmp_path / "ws")
    index.index([tmp_path / "ws"])
    ranked = sorted(gt["val_loss"], key=gt["val_loss"].get)  # the objective Optuna minimised
    assert ranked[0] == gt["best_run"]
    keys = {run_id: key_where(index, "native_id = ?", run_id) for run_id in ranked}
    best = _sweep(index, keys[ranked[0]])
    assert best["kind"] == "MLflow parent-child" and best["size"] == len(ranked)
    assert best["parent"]["native_id"] == gt["parent"] and best["parent"]["name"] == "optuna-sweep"
    assert "alpha" in best["varied"] and "loss" not in best["varied"]  # loss=log_loss in every trial
    metric = best["metric"]
    assert (metric["key"], metric["direction"], metric["rank"]) == ("val_loss", "min", 1)
    assert metric["beat"]["native_id"] == ranked[1]
    assert float(metric["beat"]["value"]) == gt["val_loss"][ranked[1]]
    worst = _sweep(index, keys[ranked[-1]])["metric"]
    assert worst["rank"] == len(ranked) and worst["best"]["native_id"] == ranked[0]
    # in the bundle: lineage.json and the card
    _plan, path = export(index, keys[ranked[0]], tmp_path / "out")
    bag = unzip(path, tmp_path / "x")
    lineage = load_json(bag / "data" / "lineage" / "lineage.json")
    assert lineage["sweep"]["metric"]["beat"]["native_id"] == ranked[1]  # type: ignore[index]
    card = (bag / "data" / "README.md").read_text(encoding="utf-8")
    assert "## Sweep" in card and "optuna-sweep" in card and "`alpha=" in card and "the runner-up" in card


def test_hydra_multirun_sweep(index: Index, tmp_path: Path) -> None:
    gt = {r["path"].rsplit("/", 1)[-1]: r for r in load_gt("hydra")["runs"] if "/multirun/" in r["path"]}
    shutil.copytree(RUNS / "hydra" / "multirun", tmp_path / "ws" / "multirun")
    index.index([tmp_path / "ws"])
    losses = {job: float(r["metrics"]["loss"]["last_value"]) for job, r in gt.items()}
    ranked = sorted(losses, key=losses.get)  # type: ignore[arg-type]
    key = key_where(index, "path LIKE ?", f"%/19-22-15/{ranked[0]}")
    found = _sweep(index, key)
    assert found["kind"] == "Hydra multirun" and found["size"] == len(gt)
    assert set(found["varied"]) == {"optimizer", "optimizer.lr"}  # the grid of the sweep's overrides
    assert found["parent"] == {"kind": "hydra multirun folder", "name": "19-22-15", "path": ".."}
    metric = found["metric"]
    assert (metric["key"], metric["direction"], metric["rank"]) == ("loss", "min", 1)
    assert metric["beat"]["name"].endswith(f"19-22-15/{ranked[1]}")
    assert float(metric["beat"]["value"]) == losses[ranked[1]]
    named = _sweep(index, key, metric="w")["metric"]
    assert named["key"] == "w" and named["rule"] == "named by the user"


def test_a_run_outside_any_sweep_has_none(index: Index) -> None:
    index.index([RUNS / "plain"])
    with index.reader() as reader:
        keys = [r[0] for r in query(reader, "SELECT key FROM runs")]
        assert keys and all(sweep_of(Catalog(reader), k) is None for k in keys)
