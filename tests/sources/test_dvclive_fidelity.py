"""DVCLive folders as dvclive writes them (tests/data/fidelity/dvclive/make_dvclive.py): params and final
values without plots, nested Live folders, a metric named `step`. Expected values: GROUND_TRUTH.json
(dvclive.utils.parse_tsv / parse_json, dvclive.serialize.load_yaml)."""

from __future__ import annotations

import json
from pathlib import Path

from expdesk.core.entities import RunUpdate
from expdesk.sources import registry

DATA = Path(__file__).resolve().parents[1] / "data" / "fidelity" / "dvclive"
GT = json.loads((DATA / "GROUND_TRUTH.json").read_text())
RUNS = {r["path"]: r for r in GT["runs"]}


def _flat(tree: dict, prefix: str = "", sep: str = ".") -> dict:
    out: dict = {}
    for key, value in tree.items():
        name = f"{prefix}{sep}{key}" if prefix else key
        if isinstance(value, dict):
            out.update(_flat(value, name, sep))
        else:
            out[name] = value
    return out


def _read(path: str) -> RunUpdate:
    ref = next(r for r in registry.discover(DATA) if r.path == DATA / path)
    assert ref.format == "dvclive"
    return registry.reader_for("dvclive").read(ref, None)


def test_every_live_folder_is_a_run_nested_ones_too() -> None:
    found = sorted(r.path.relative_to(DATA).as_posix() for r in registry.discover(DATA))
    assert found == sorted(RUNS)


def test_params_and_final_values_without_plots() -> None:
    run = RUNS["summary_only/dvclive"]
    update = _read("summary_only/dvclive")
    assert update.params == {k: str(v) for k, v in _flat(run["params"]).items()}
    assert update.info["latest"] == _flat(run["metrics_json"], sep="/")
    assert update.metrics == [] and update.unread == []


def test_nested_live_folders_each_keep_their_own_files() -> None:
    outer = _read("folds/dvclive")
    assert [s.key for s in outer.metrics] == ["cv/score"]
    assert not any(a.path.startswith("fold_") for a in outer.artifacts)
    for fold in ("fold_0", "fold_1"):
        run = RUNS[f"folds/dvclive/{fold}"]
        update = _read(f"folds/dvclive/{fold}")
        rows = run["tsv"]["train/loss"]
        (series,) = update.metrics
        assert series.key == "train/loss"
        assert series.steps.tolist() == [int(r["step"]) for r in rows]
        assert series.values.tolist() == [float(r["loss"]) for r in rows]
        assert update.params == {k: str(v) for k, v in run["params"].items()}


def test_a_metric_named_step_is_read_from_its_only_column() -> None:
    run = RUNS["step_metric/dvclive"]
    update = _read("step_metric/dvclive")
    series = {s.key: s for s in update.metrics}
    rows = run["tsv"]["train/step"]
    # DVCLive's row dict {"step": step, "step": value} kept the value: the column holds the metric, and the
    # step it was logged at is the row's order
    assert series["train/step"].values.tolist() == [float(r["step"]) for r in rows]
    assert series["train/step"].steps.tolist() == list(range(len(rows)))
    assert update.unread == [] and update.error is None
