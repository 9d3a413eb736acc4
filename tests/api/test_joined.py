"""The Python API on joined runs (issue 23 x issue 24), on layouts written by the real tools
(tests/data/jobs/*/make.py) and checked against what each tool's own reader says (GROUND_TRUTH.json): a job
is one row, its params and metrics are the joined run's, reported results are `final`s, and `run()` names
the parts."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import expdesk
from expdesk.api.values import typed_value
from expdesk.sources.common.values import flatten

JOBS = Path(__file__).resolve().parents[1] / "data" / "jobs"
CSV, TB = "lightning:csv/version_0", "lightning:tensorboard/version_0"


def truth(name: str) -> dict[str, Any]:
    return json.loads((JOBS / name / "GROUND_TRUTH.json").read_text(encoding="utf-8"))


def last_of(points: list[list[Any]]) -> float:
    """The value at the highest step, the later of equal steps (how every logger's last is defined)."""
    top = max(p[0] for p in points)
    return float([p for p in points if p[0] == top][-1][1])


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("jobs")
    for name in ("lightning_hydra", "trainer_best", "dvc_exp"):
        shutil.copytree(JOBS / name, tmp / name, symlinks=True)
    db = tmp / "index.sqlite"
    with expdesk.open(db) as ws:
        summary = ws.index(*(tmp / n for n in ("lightning_hydra", "trainer_best", "dvc_exp")))
        assert summary.errors == ()
    return db


@pytest.fixture
def ws(jobs: Path) -> Any:
    with expdesk.open(jobs) as workspace:
        yield workspace


def job_key(ws: expdesk.Workspace, folder: str) -> str:
    df = ws.runs(deleted=None)
    rows = df[df["path"].str.contains(folder, regex=False)]
    assert len(rows) == 1, (folder, list(rows["path"]))
    return str(rows.index[0])


def test_a_job_is_one_row_and_its_parts_are_on_the_run(ws: expdesk.Workspace) -> None:
    gt = truth("lightning_hydra")
    df = ws.runs(deleted=None)
    assert len(df) == 3  # the template job, the Trainer output folder, the DVC experiment: one row each
    key = job_key(ws, gt["job"])
    run = ws.run(key)
    assert run.parts[0].label == "hydra" and run.parts[0].key == key  # the head: the job's config
    assert {p.label for p in run.parts} == {"hydra", CSV, TB, "wandb"}
    wandb = next(p for p in run.parts if p.label == "wandb")
    assert wandb.native_id == gt["wandb"]["run_id"] and wandb.path.endswith(gt["wandb_dir"])
    # no part is a row; a part's key (or a prefix of it) means its run
    assert not set(df.index) & {p.key for p in run.parts[1:]}
    for part in run.parts:
        assert ws.run(part.key).key == key
        assert ws.run(part.key[:12]).key == key
    assert ws.history(run.parts[1].key)["run"].unique().tolist() == [key]
    assert "parts (4" in run._repr_html_()


def test_params_are_the_jobs_config(ws: expdesk.Workspace) -> None:
    gt = truth("lightning_hydra")
    key = job_key(ws, gt["job"])
    row = ws.runs(deleted=None).loc[key]
    run = ws.run(key)
    # the config as OmegaConf loads it, each value's text typed by the API's documented rule
    for name, text in flatten(gt["hydra_config"]).items():
        value = typed_value(text)
        got = row[f"params.{name}"]
        got = got.item() if isinstance(got, np.generic) else got
        if isinstance(value, int | float) and not isinstance(value, bool):
            # an int column with runs lacking it is float64 (NaN for missing): the same number
            assert math.isclose(got, value) and run.params[name] == value, name
        else:
            assert got == value and type(got) is type(value), name
            assert run.params[name] == value, name
    # the loggers' copies of the same config add no labelled columns
    assert not [c for c in row.index if c.startswith("params.") and "@" in c]


def test_metrics_last_and_final(ws: expdesk.Workspace) -> None:
    gt = truth("lightning_hydra")
    key = job_key(ws, gt["job"])
    row = ws.runs(deleted=None).loc[key]
    run = ws.run(key)
    for name, points in gt["csv"].items():
        if name == "epoch":
            continue  # CSVLogger's epoch column is the x of its rows
        assert row[f"metrics.{name}"] == last_of(points), name
        assert run.metrics[name].last == last_of(points) and run.metrics[name].count == len(points), name
    for name, value in gt["wandb"]["summary"].items():  # W&B's summary: the job's reported results
        assert row[f"metrics.{name}.final"] == float(value), name
        assert run.metrics[name].final == float(value) and run.metrics[name].final_source == "summary record"
    assert run.metrics["hp_metric"].final is None  # no part reported a result for it
    assert math.isnan(row.get("metrics.hp_metric.final", math.nan))


def test_where_and_sort_see_the_whole_job(ws: expdesk.Workspace) -> None:
    gt = truth("lightning_hydra")
    key = job_key(ws, gt["job"])
    test_acc = gt["wandb"]["summary"]["test/acc"]
    for where in (
        "params.model.optimizer.lr < 1e-2 and metrics.val/acc.max > 0.5",
        f"metrics.test/acc.final = {test_acc!r} and params.logger.wandb.project = 'lightning-hydra-template'",
    ):
        assert list(ws.runs(where=where).index) == [key], where
    assert list(ws.runs(where=f"metrics.test/acc.final > {test_acc}").index) == []
    # a Trainer's reported result sorts like any column: the runs that have it, by it
    trainer = job_key(ws, truth("trainer_best")["output_dir"])
    assert list(
        ws.runs(where="metrics.eval_loss.final is not null", sort="-metrics.eval_loss.final").index
    ) == [trainer]


def test_history_reads_the_joined_runs_series(ws: expdesk.Workspace) -> None:
    gt = truth("lightning_hydra")
    key = job_key(ws, gt["job"])
    h = ws.history(key)
    run = ws.run(key)
    assert set(h["metric"].unique()) == {k for k, m in run.metrics.items() if m.count}
    for name, points in gt["csv"].items():
        if name == "epoch":
            continue
        mine = h[h["metric"] == name]  # CSVLogger's series (full precision), not TensorBoard's float32 copy
        assert mine["step"].tolist() == [p[0] for p in points], name
        assert np.array_equal(mine["value"].to_numpy(), np.array([p[1] for p in points], dtype=np.float64))
    hp = h[h["metric"] == "hp_metric"]  # only the TensorBoard logger logged it
    assert len(hp) == len(gt["tensorboard"]["hp_metric"])
    assert run.history("val/acc")["value"].tolist() == [p[1] for p in gt["csv"]["val/acc"]]


def test_trainer_final_is_the_best_models_evaluation(ws: expdesk.Workspace) -> None:
    gt = truth("trainer_best")
    key = job_key(ws, gt["output_dir"])
    row = ws.runs(deleted=None).loc[key]
    run = ws.run(key)
    evals = [e for e in gt["log_history"] if "eval_loss" in e]
    final_eval = gt["results"]["eval_results.json"]
    # last: the last epoch's model; final: the reloaded best model's evaluation (load_best_model_at_end)
    assert row["metrics.eval_loss"] == evals[-1]["eval_loss"] == run.metrics["eval_loss"].last
    assert row["metrics.eval_loss.final"] == final_eval["eval_loss"] == run.metrics["eval_loss"].final
    assert run.metrics["eval_loss"].final != run.metrics["eval_loss"].last
    for name, value in gt["results"]["all_results.json"].items():
        assert row[f"metrics.{name}.final"] == float(value), name
    # a reported key with no series: a final and no points, no last
    samples = run.metrics["eval_samples"]
    assert (samples.count, samples.last, samples.final) == (0, None, 32.0)
    assert math.isnan(row.get("metrics.eval_samples", math.nan))
    assert "eval_samples" not in set(ws.history(key)["metric"])
    got = ws.runs(
        where=f"metrics.eval_loss.final < {evals[-1]['eval_loss']} and metrics.eval_samples.final = 32"
    )
    assert list(got.index) == [key]


def test_dvc_experiment_params_and_metrics_show(ws: expdesk.Workspace) -> None:
    gt = truth("dvc_exp")
    df = ws.runs(where="format = dvc")
    assert len(df) == 1
    row, run = df.iloc[0], ws.run(df.index[0])
    assert [(p.label, p.rule) for p in run.parts] == [("dvc", "head"), ("dvclive", "dvc-declared")]
    for name, text in flatten(gt["params_show"]).items():
        assert run.params[name] == typed_value(text), name
    shown: dict[str, float] = {}

    def walk(values: dict[str, Any], prefix: str = "") -> None:
        for k, v in values.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}/")
            else:
                shown[f"{prefix}{k}"] = float(v)

    walk(gt["metrics_show"])  # `dvc metrics show`: the stage's metrics file, nested keys joined with "/"
    for name, value in shown.items():
        assert row[f"metrics.{name}.final"] == value, name
    for name, points in gt["dvclive_series"].items():
        assert row[f"metrics.{name}"] == last_of(points), name


def test_report_on_joined_runs(ws: expdesk.Workspace, jobs: Path, tmp_path: Path) -> None:
    """`expdesk report` on a job logged by four tools and a Trainer run with reported results: the job's
    tools, its series once, the Trainer's finals next to last (ground truth: the tools' own readers)."""
    from expdesk.cli import main
    from tests.compare.report_html import read_page

    template, trainer = truth("lightning_hydra"), truth("trainer_best")
    keys = [job_key(ws, template["job"]), job_key(ws, trainer["output_dir"])]
    out = tmp_path / "report.html"
    assert main(["report", *keys, "--out", str(out), "--db", str(jobs), "--metric", "val/acc"]) == 0
    page = read_page(out.read_text(encoding="utf-8"))
    formats = next(t for t in page.tables if t and "format" in t[0])
    column = formats[0].index("format")
    assert [row[column] for row in formats[1:]] == ["hydra + wandb + lightning", "transformers"]
    val_acc = template["csv"]["val/acc"]
    assert page.row("val/acc · last")[0] == repr(last_of(val_acc))
    assert page.row("val/acc · points (steps)")[0] == f"{len(val_acc)} ({val_acc[0][0]}…{val_acc[-1][0]})"
    assert page.row("val/acc · final")[0] == repr(float(template["wandb"]["summary"]["val/acc"]))
    results = trainer["results"]["all_results.json"]
    assert page.row("eval_loss · final")[1] == repr(results["eval_loss"])
    assert page.row("eval_samples · final")[1] == repr(float(results["eval_samples"]))
    assert page.row("eval_samples · points (steps)")[1] == "0 (reported result only)"
