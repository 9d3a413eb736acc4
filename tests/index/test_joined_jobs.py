"""One training job, one run: layouts written by the real tools (tests/data/jobs/*/make.py), indexed and
checked against what each tool's own reader says (GROUND_TRUTH.json next to each layout)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from expdesk.cli import main
from expdesk.core.summary import json_number, summarize
from expdesk.index.filter import compile_filter, compile_sort
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index
from expdesk.sources.common.values import flatten

JOBS = Path(__file__).resolve().parents[1] / "data" / "jobs"
#: the template job's two Lightning loggers' version folders, as their parts are labelled
CSV, TB = "lightning:csv/version_0", "lightning:tensorboard/version_0"


def truth(name: str) -> dict[str, Any]:
    return json.loads((JOBS / name / "GROUND_TRUTH.json").read_text(encoding="utf-8"))


def indexed(tmp_path: Path, *names: str) -> tuple[Path, list[dict[str, Any]]]:
    """Index copies of the layouts (tests may change them); the runs as `runs --json` lists them."""
    db = tmp_path / "index.sqlite"
    roots = []
    for name in names:
        shutil.copytree(JOBS / name, tmp_path / name, symlinks=True)
        roots.append(tmp_path / name)
    with Index(db) as index:
        index.index(roots)
    with IndexReader(db) as reader:
        runs = reader.runs_json(reader.run_keys())
    return db, runs


def summary_of(points: list[list[Any]]) -> dict[str, Any]:
    import numpy as np

    steps = np.array([p[0] for p in points], dtype=np.int64)
    values = np.array([float(p[1]) for p in points], dtype=np.float64)
    s = summarize(steps, values)
    return {"count": s.count, "last_step": s.last_step, "last": s.last, "min": s.min, "max": s.max}


def same(a: float | None, b: float | None, rel: float = 1e-12) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


# -- Lightning (CSV + TensorBoard) and W&B inside a Hydra job: the lightning-hydra-template layout --------------
@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("template")
    db, runs = indexed(tmp, "lightning_hydra")
    assert len(runs) == 1, [r["name"] for r in runs]
    return db, runs[0], truth("lightning_hydra")


def test_template_job_is_one_run_of_four_parts(template: tuple[Path, dict[str, Any], dict[str, Any]]) -> None:
    db, run, gt = template
    assert run["format"] == "hydra" and run["path"].endswith(gt["job"])
    by_label = {p["label"]: p for p in run["parts"]}
    # CSVLogger's and TensorBoardLogger's version folders are both Lightning's (hparams.yaml in each)
    assert set(by_label) == {"hydra", CSV, TB, "wandb"} and run["formats"] == ["hydra", "wandb", "lightning"]
    assert by_label["hydra"]["key"] == run["key"] and by_label["hydra"]["rule"] == "head"
    assert by_label[CSV]["path"].endswith(f"{gt['job']}/csv/version_0")
    assert by_label[TB]["path"].endswith(f"{gt['job']}/tensorboard/version_0")
    assert (
        by_label["wandb"]["path"].endswith(gt["wandb_dir"])
        and by_label["wandb"]["native_id"] == gt["wandb"]["run_id"]
    )
    assert {p["rule"] for p in run["parts"][1:]} == {"job-folder"}
    # `runs --json` lists the job once: no part is also a row
    with IndexReader(db) as reader:
        assert reader.run_keys() == [run["key"]]
        assert {p["key"] for p in run["parts"]} <= {r[0] for r in reader.conn.execute("SELECT key FROM runs")}


def test_template_params_are_the_jobs_config(template: tuple[Path, dict[str, Any], dict[str, Any]]) -> None:
    _db, run, gt = template
    config = flatten(gt["hydra_config"])
    assert {k: run["params"][k] for k in config} == config
    assert run["params"]["paths.root_dir"] == "${oc.env:PROJECT_ROOT}"  # never resolved
    # the loggers' copies of the same values (hparams.yaml twice, W&B's config) add nothing
    assert not [k for k in run["params"] if "@" in k]
    # what only the loggers got (the template's log_hyperparameters): Linear(8, 16) + Linear(16, 2)
    assert run["params"]["model/params/total"] == str(8 * 16 + 16 + 16 * 2 + 2)


def test_template_metrics_are_one_per_series(template: tuple[Path, dict[str, Any], dict[str, Any]]) -> None:
    _db, run, gt = template
    metrics = run["metrics"]
    for key, points in gt["csv"].items():
        if key == "epoch":
            continue  # CSVLogger's epoch column is the x of its rows, not a logged metric
        want, got = summary_of(points), metrics[key]
        assert got["part"] == CSV, key
        assert got["count"] == want["count"] and got["last_step"] == want["last_step"], key
        assert (
            same(got["last"], want["last"])
            and same(got["min"], want["min"])
            and same(got["max"], want["max"])
        )
    # the TensorBoard logger's copies of the CSV's series are the same metric; its own keys are added
    assert "hp_metric" in metrics and metrics["hp_metric"]["part"] == TB
    assert metrics["hp_metric"]["count"] == len(gt["tensorboard"]["hp_metric"])
    assert not [k for k in metrics if "@" in k]
    # W&B counts its own steps: its copies dedupe, what only it logged is there
    assert metrics["trainer/global_step"]["part"] == "wandb"
    assert metrics["trainer/global_step"]["count"] == len(gt["wandb"]["history"]["trainer/global_step"])


def test_template_finals_are_the_wandb_summary(template: tuple[Path, dict[str, Any], dict[str, Any]]) -> None:
    _db, run, gt = template
    for key, value in gt["wandb"]["summary"].items():
        assert run["metrics"][key]["final"] == json_number(float(value)), key
        assert run["metrics"][key]["final_source"] == "summary record"
    assert "final" not in run["metrics"]["hp_metric"]  # no part reported a result for it


def test_template_times_and_status(template: tuple[Path, dict[str, Any], dict[str, Any]]) -> None:
    db, run, gt = template
    with IndexReader(db) as reader:
        parts = reader.parts_json([p["key"] for p in run["parts"]])
    starts = sorted(p["start_time"] for p in parts if p["start_time"])
    assert run["start_time"] == starts[0]
    first_wall = min(points[0][2] for points in gt["tensorboard"].values())
    assert run["start_time"] <= _iso(first_wall) and run["start_time"] <= _iso(gt["wandb"]["start_time"])
    wandb = next(p for p in parts if p["format"] == "wandb")
    assert run["end_time"] == wandb["end_time"]
    # W&B's exit record (code 0) outweighs Hydra's guess from an empty job log
    assert gt["wandb"]["exit_code"] == 0 and run["status"] == "finished"
    assert next(p for p in parts if p["format"] == "hydra")["status"] == "failed"


def _iso(ts: float) -> str:
    from expdesk.index.runjson import iso

    return iso(ts) or ""


def test_template_filter_and_sort_see_the_whole_job(
    template: tuple[Path, dict[str, Any], dict[str, Any]],
) -> None:
    db, run, _gt = template
    with IndexReader(db) as reader:
        for expr in (
            "params.model.optimizer.lr < 1e-2 and metrics.val/acc.max > 0.5",
            "metrics.test/acc.final > 0.5 and params.logger.wandb.project = 'lightning-hydra-template'",
            "format = hydra and metrics.hp_metric.count = 1",
        ):
            where, args = compile_filter(expr)
            assert reader.run_keys(where_sql=where, params=tuple(args)) == [run["key"]], expr
        where, args = compile_filter("metrics.val/acc.final > 2")
        assert reader.run_keys(where_sql=where, params=tuple(args)) == []
        assert reader.run_keys(order_sql=compile_sort("-metrics.test/acc.final")) == [run["key"]]


def test_template_artifacts_are_every_parts_once(
    template: tuple[Path, dict[str, Any], dict[str, Any]],
) -> None:
    _db, run, _gt = template
    paths = [a["path"] for a in run["artifacts"]]
    assert len(paths) == len(set(paths))
    assert "csv/version_0/metrics.csv" in paths and "checkpoints/last.ckpt" in paths
    assert ".hydra/config.yaml" in paths
    assert any(p.startswith("wandb/offline-run-") and p.endswith(".wandb") for p in paths)


# -- DVC + DVCLive through `dvc exp run` ---------------------------------------------------------------------
def test_dvc_experiment_is_one_run(tmp_path: Path) -> None:
    _db, runs = indexed(tmp_path, "dvc_exp")
    gt = truth("dvc_exp")
    (run,) = runs
    assert [(p["label"], p["rule"]) for p in run["parts"]] == [("dvc", "head"), ("dvclive", "dvc-declared")]
    assert run["parts"][1]["evidence"] == {"declared": "dvclive/metrics.json"}
    # the params `dvc params show` gives, once (DVCLive's params.yaml copy adds nothing)
    assert {k: v for k, v in run["params"].items() if "@" not in k} == flatten(gt["params_show"])
    assert not [k for k in run["params"] if "@" in k]
    workspace = next(row for row in gt["exp_show"] if row["rev"] == "workspace")
    assert float(run["params"]["train.lr"]) == workspace["train.lr"]
    # the series DVCLive logged, and the values `dvc metrics show` reports as each metric's final
    for key, points in gt["dvclive_series"].items():
        want, got = summary_of(points), run["metrics"][key]
        assert got["count"] == want["count"] and same(got["last"], want["last"]), key
    shown = _flat_slash(gt["metrics_show"])
    for key, value in shown.items():
        assert run["metrics"][key]["final"] == json_number(float(value)), key
    assert run["metrics"]["best/val_acc"]["count"] == 0  # a summary value with no series: final only
    assert run["metrics"]["val/acc"]["final"] == workspace["val.acc"]


def test_dvclive_declared_only_at_the_top_level_of_dvc_yaml_joins(tmp_path: Path) -> None:
    # `Live(dvcyaml=True)` in a script no stage lists outputs for (seen in a public project): DVCLive
    # declares its files in dvc.yaml's top-level `metrics:` and `plots:` only, which `dvc metrics show` reads
    shutil.copytree(JOBS / "dvc_exp", tmp_path / "dvc_exp", symlinks=True)
    dvc_yaml = tmp_path / "dvc_exp" / "project" / "dvc.yaml"
    text = dvc_yaml.read_text(encoding="utf-8")
    stage_outputs = text[text.index("    metrics:\n") : text.index("metrics:\n- dvclive")]
    dvc_yaml.write_text(text.replace(stage_outputs, ""), encoding="utf-8")
    assert "    metrics:" not in dvc_yaml.read_text(encoding="utf-8")
    (dvc_yaml.parent / "dvc.lock").unlink()  # (its stage's outs would name the folder too)
    with Index(tmp_path / "index.sqlite") as index:
        index.index([tmp_path / "dvc_exp"])
    with IndexReader(tmp_path / "index.sqlite") as reader:
        (run,) = reader.runs_json(reader.run_keys())
    assert [(p["label"], p["rule"]) for p in run["parts"]] == [("dvc", "head"), ("dvclive", "dvc-declared")]
    assert run["parts"][1]["evidence"] == {"declared": "dvclive/metrics.json"}


def _flat_slash(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat_slash(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = value
    return out


# -- a Hydra job that is also a DVC project (`hydra.run.dir=.` under `dvc repro`) ------------------------
def test_hydra_job_that_is_a_dvc_project_yields_both(tmp_path: Path) -> None:
    _db, runs = indexed(tmp_path, "hydra_dvc")
    gt = truth("hydra_dvc")
    (run,) = runs
    assert [(p["label"], p["rule"]) for p in run["parts"]] == [("hydra", "head"), ("dvc", "same-folder")]
    assert {k: run["params"][k] for k in flatten(gt["hydra_config"])} == flatten(gt["hydra_config"])
    history = gt["metrics_json"]["history"]
    assert run["metrics"]["loss"]["count"] == len(history)
    for key, value in gt["metrics_show"].items():
        assert run["metrics"][key]["final"] == value and run["metrics"][key]["final_source"] == "metrics.json"


# -- a Trainer with load_best_model_at_end and save_metrics ---------------------------------------------------
def test_trainer_results_are_finals(tmp_path: Path) -> None:
    db, runs = indexed(tmp_path, "trainer_best")
    gt = truth("trainer_best")
    (run,) = runs
    evals = [e for e in gt["log_history"] if "eval_loss" in e]
    final_eval = gt["results"]["eval_results.json"]
    eval_loss = run["metrics"]["eval_loss"]
    # the last logged evaluation is of the last epoch's model; the final one is of the reloaded best model
    assert eval_loss["last"] == evals[-1]["eval_loss"] and eval_loss["count"] == len(evals)
    assert eval_loss["final"] == final_eval["eval_loss"] == gt["best_metric"]
    assert eval_loss["final"] != eval_loss["last"]
    assert eval_loss["final_source"] == "eval_results.json"
    for key, value in gt["results"]["all_results.json"].items():
        assert run["metrics"][key]["final"] == value, key
    samples = run["metrics"]["eval_samples"]
    assert samples["count"] == 0 and samples["last"] is None and samples["final"] == 32
    assert "final" not in run["metrics"]["grad_norm"]
    with IndexReader(db) as reader:
        where, args = compile_filter(
            f"metrics.eval_loss.final < {evals[-1]['eval_loss']} and metrics.eval_samples.final = 32"
        )
        assert reader.run_keys(where_sql=where, params=tuple(args)) == [run["key"]]


def test_show_prints_final_next_to_last(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, runs = indexed(tmp_path, "trainer_best")
    capsys.readouterr()
    assert main(["show", runs[0]["key"], "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert (
        "final"
        in out.splitlines()[next(i for i, line in enumerate(out.splitlines()) if line.startswith("metrics:"))]
    )
    line = next(line for line in out.splitlines() if line.strip().startswith("eval_samples"))
    assert line.split()[-1] == "32"


# -- a clone without its Git LFS objects --------------------------------------------------------------------
def test_lfs_pointers_are_named_and_the_rest_is_read(tmp_path: Path) -> None:
    db, runs = indexed(tmp_path, "lfs_clone")
    gt = truth("lfs_clone")
    (run,) = runs  # still one job: the config and the folders are there
    assert {p["label"] for p in run["parts"]} >= {"hydra"}
    config = flatten(truth("lightning_hydra")["hydra_config"])
    assert {k: run["params"][k] for k in config} == config
    with IndexReader(db) as reader:
        parts = reader.parts_json([p["key"] for p in run["parts"]])
    errors = " | ".join(p["error"] or "" for p in parts)
    for path in gt["pointers"]:
        name = Path(path).name
        if name.endswith(".ckpt"):
            continue  # checkpoints are listed, never read
        assert f"{name}: Git LFS pointer: content not downloaded" in errors, name
    assert "invalid" not in errors.lower() and "corrupt" not in errors.lower() and "crc" not in errors.lower()
    by_format = {p["format"]: p for p in parts}
    assert by_format["lightning"]["params"]  # hparams.yaml is not tracked by LFS: read
    assert by_format["wandb"]["error"] and "Git LFS pointer" in by_format["wandb"]["error"]


# -- compare and plot see joined runs ----------------------------------------------------------------------
def test_compare_and_plot_joined_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, runs = indexed(tmp_path, "lightning_hydra", "trainer_best")
    by_format = {r["format"]: r for r in runs}
    job, trainer = by_format["hydra"], by_format["transformers"]
    capsys.readouterr()
    assert main(["compare", job["key"], trainer["key"], "--json", "--db", str(db)]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    final = {(r["key"], r["stat"]): r["values"] for r in rows if r["section"] == "metric"}
    assert final[("eval_loss", "final")][trainer["key"]] == trainer["metrics"]["eval_loss"]["final"]
    assert final[("test/acc", "final")][job["key"]] == job["metrics"]["test/acc"]["final"]
    # a reported result with no series is its final row alone
    assert [stat for key, stat in final if key == "eval_samples"] == ["final"]
    out = tmp_path / "val_acc.png"
    assert main(["plot", job["key"], "--metric", "val/acc", "--out", str(out), "--db", str(db)]) == 0
    assert out.stat().st_size > 1000


# -- a record naming a run: the Hydra config's logger.wandb.id, the W&B run kept at the project root --------
def test_a_config_that_names_its_wandb_run_joins_it(tmp_path: Path) -> None:
    _db, runs = indexed(tmp_path, "named_wandb")
    gt = truth("named_wandb")
    (run,) = runs
    assert flatten(gt["hydra_config"])["logger.wandb.id"] == gt["named_id"] == gt["wandb"]["run_id"]
    hydra, wandb = run["parts"]
    assert (hydra["label"], hydra["rule"]) == ("hydra", "head") and run["path"].endswith(gt["job"])
    assert (wandb["label"], wandb["rule"], wandb["native_id"]) == ("wandb", "names-run", gt["named_id"])
    assert wandb["evidence"] == {"recorded": "hydra config logger.wandb.id", "names": gt["named_id"]}
    for key, value in gt["wandb"]["summary"].items():
        assert run["metrics"][key]["final"] == json_number(float(value)), key
    # the W&B folder is not inside the job folder: its files say which part they belong to
    outside = [a for a in run["artifacts"] if a.get("part") == "wandb"]
    assert outside and all(not a["path"].startswith("..") for a in outside)


# -- a plain script's output folder with CSV and TensorBoard loggers, two fits (no job folder) ------------
def test_sibling_logger_versions_of_one_fit_are_one_run(tmp_path: Path) -> None:
    _db, runs = indexed(tmp_path, "lightning_loggers")
    gt = truth("lightning_loggers")
    assert len(runs) == 2
    for run in runs:
        version = Path(run["parts"][0]["path"]).name
        assert [(p["label"], p["rule"]) for p in run["parts"]] == [
            (f"lightning:csv/{version}", "head"),
            (f"lightning:tb/{version}", "logger-versions"),
        ]
        assert run["parts"][1]["evidence"] == {
            "output_dir": str(tmp_path / "lightning_loggers" / "out"),
            "version": version,
        }
        assert run["params"]["lr"] == gt["versions"][version]["hparams"].split(": ")[1].strip()
        want = {**gt["versions"][version]["tensorboard"], **gt["versions"][version]["csv"]}
        assert {k: m["count"] for k, m in run["metrics"].items()} == want
