"""Hydra reader: single runs and multirun jobs against GROUND_TRUTH.json, then hostile and live cases."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expdesk.core.entities import Link, RunRef, Status
from expdesk.sources import registry
from expdesk.sources.hydra.reader import READER
from tests.groundtruth import RUNS, assert_metrics_equal, gt_path, load_gt, metric_summaries

GT = load_gt("hydra")
ROOT = RUNS / "hydra"
SWEEPS = {gt_path(job): gt_path(s["path"]) for s in GT["sweeps"] for job in s["job_dirs"]}
#: the keys a sweep varies, from its command line as GROUND_TRUTH recorded it (`key=a,b`)
VARIED = {
    gt_path(s["path"]): ",".join(sorted(o.split("=", 1)[0] for o in s["task_overrides"] if "," in o))
    for s in GT["sweeps"]
}


def test_discovery_yields_exactly_the_ground_truth_runs_and_sweeps() -> None:
    found = [(r.format, r.path) for r in registry.discover(ROOT)]
    expected = [gt_path(run["path"]) for run in GT["runs"]] + [gt_path(s["path"]) for s in GT["sweeps"]]
    assert sorted(found) == sorted(("hydra", path) for path in expected)


@pytest.mark.parametrize("run", GT["runs"], ids=lambda r: r["path"])
def test_run_matches_ground_truth(run: dict) -> None:
    path = gt_path(run["path"])
    update = READER.read(RunRef("hydra", path, ROOT), None)
    assert update.error is None
    assert update.name == run["run_name"]
    assert update.params == run["params"]
    assert_metrics_equal(metric_summaries(update), run["metrics"])
    expected_status = Status(run["status"]) if run["status"] else Status.UNKNOWN
    assert update.status == expected_status
    assert {(a.path, a.size) for a in update.artifacts} == {(a["path"], a["size"]) for a in run["artifacts"]}
    # overrides and the app's config-group choices are the run's tags (Hydra's own groups are noise)
    expected_tags = {f"hydra.override.{o.split('=', 1)[0]}": o.split("=", 1)[1] for o in run["overrides"]}
    expected_tags |= {f"hydra.choice.{g}": v for g, v in run["choices"].items() if not g.startswith("hydra/")}
    if path in SWEEPS:
        expected_tags["hydra.sweep.varied"] = VARIED[SWEEPS[path]]
    assert update.tags == run["tags"] | expected_tags
    info = update.info
    assert info["overrides"] == run["overrides"]
    assert info["choices"] == run["choices"]
    assert (info["job_name"], info.get("job_num"), info.get("job_id")) == (
        run["job_name"],
        run["job_num"],
        run["job_id"],
    )
    assert (info["hydra_mode"], info["cwd"], info["output_dir"]) == (
        run["hydra_mode"],
        run["runtime_cwd"],
        run["runtime_output_dir"],
    )
    assert info["config_files"] == [".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml"]
    assert info["summary"] == run["metrics_summary_from_file"]
    sweep = SWEEPS.get(path)
    if sweep is not None:
        evidence = (("job_num", str(run["job_num"])), ("overrides", " ".join(run["overrides"])))
        assert update.links == [Link(rule="hydra.sweep", target_path=str(sweep), evidence=evidence)]
        assert update.experiment == sweep.relative_to(ROOT).as_posix()
    else:
        assert update.links == [] and run["hydra_mode"] == "RUN"


def _job(base: Path, config: str = "a: 1\n", overrides: str = "[]\n") -> Path:
    (base / ".hydra").mkdir(parents=True)
    (base / ".hydra" / "config.yaml").write_text(config)
    (base / ".hydra" / "overrides.yaml").write_text(overrides)
    return base


def test_interpolations_stay_literal_and_python_tags_are_refused(tmp_path: Path) -> None:
    job = _job(
        tmp_path / "job", "home: ${oc.env:HOME}\nout: ${hydra:runtime.output_dir}\n", "- '~notes=null'\n"
    )
    update = READER.read(RunRef("hydra", job, tmp_path), None)
    assert update.params == {"home": "${oc.env:HOME}", "out": "${hydra:runtime.output_dir}"}
    assert update.tags == {"hydra.override.~notes": "null"}
    marker = tmp_path / "pwned"
    (job / ".hydra" / "config.yaml").write_text(f"x: !!python/object/apply:os.system ['touch {marker}']\n")
    update = READER.read(RunRef("hydra", job, tmp_path), None)
    assert not marker.exists() and update.params == {} and "config.yaml" in (update.error or "")


def test_recursive_anchor_is_refused(tmp_path: Path) -> None:
    job = _job(tmp_path / "job", "a: &a {b: *a}\n")
    update = READER.read(RunRef("hydra", job, tmp_path), None)
    assert update.params == {} and "recursive" in (update.error or "")


def test_failed_job_has_no_metrics_and_an_empty_log(tmp_path: Path) -> None:
    job = _job(tmp_path / "job")
    (job / "train.log").write_text("")
    update = READER.read(RunRef("hydra", job, tmp_path), None)
    assert update.status == Status.FAILED and update.metrics == []
    (job / "train.log").write_text("[..][__main__][INFO] - epoch 0\n")
    assert READER.read(RunRef("hydra", job, tmp_path), None).status == Status.UNKNOWN


def test_metrics_json_rewrite_is_retried_then_replaces(tmp_path: Path) -> None:
    job = _job(tmp_path / "job")
    hist = {"history": [{"step": 0, "epoch": 0, "loss": 1.0}], "final_loss": 1.0}
    (job / "metrics.json").write_text(json.dumps(hist))
    first = READER.read(RunRef("hydra", job, tmp_path), None)
    assert [s.steps.tolist() for s in first.metrics] == [[0]] and first.metrics_reset
    (job / "metrics.json").write_text('{"history": [{"step": 0, "loss"')  # being rewritten
    torn = READER.read(RunRef("hydra", job, tmp_path), first.cursor)
    assert torn.metrics == [] and torn.error is None and torn.status == Status.UNKNOWN
    hist["history"].append({"step": 5, "epoch": 1, "loss": 0.5})
    (job / "metrics.json").write_text(json.dumps(hist))
    again = READER.read(RunRef("hydra", job, tmp_path), torn.cursor)
    assert again.metrics_reset and [(s.key, s.steps.tolist()) for s in again.metrics] == [("loss", [0, 5])]
    assert READER.read(RunRef("hydra", job, tmp_path), again.cursor).metrics == []


def test_jsonl_metrics_are_incremental(tmp_path: Path) -> None:
    job = _job(tmp_path / "job")
    (job / "metrics.jsonl").write_text('{"step": 0, "loss": 1}\n{"step": 1, "loss": 0.5}\n{"step": 2,')
    first = READER.read(RunRef("hydra", job, tmp_path), None)
    assert metric_summaries(first)["loss"]["count"] == 2
    with open(job / "metrics.jsonl", "a") as fh:
        fh.write(' "loss": 0.25}\n')
    second = READER.read(RunRef("hydra", job, tmp_path), first.cursor)
    assert not second.metrics_reset
    assert [(s.key, s.steps.tolist(), s.replace) for s in second.metrics] == [("loss", [2], False)]


def test_nested_run_of_another_tool_inside_a_job_is_found(tmp_path: Path) -> None:
    sweep = tmp_path / "multirun" / "2026-01-01" / "10-00-00"
    sweep.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("hydra:\n  mode: MULTIRUN\n")
    for n in range(2):
        _job(sweep / str(n))
    version = sweep / "0" / "csv" / "version_0"
    version.mkdir(parents=True)
    (version / "hparams.yaml").write_text("lr: 1\n")
    (version / "metrics.csv").write_text("epoch,step,loss\n0,0,1\n")
    found = sorted((r.format, r.path.relative_to(tmp_path).as_posix()) for r in registry.discover(tmp_path))
    assert found == [
        ("hydra", "multirun/2026-01-01/10-00-00"),
        ("hydra", "multirun/2026-01-01/10-00-00/0"),
        ("hydra", "multirun/2026-01-01/10-00-00/1"),
        ("lightning", "multirun/2026-01-01/10-00-00/0/csv/version_0"),
    ]
    # a job given as the root itself is still found (and its sweep is outside that root: no link)
    (ref,) = registry.discover(sweep / "1")
    assert READER.read(ref, None).links == []


@settings(max_examples=120, deadline=None)
@given(config=st.binary(max_size=200), hydra=st.binary(max_size=200), metrics=st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(config: bytes, hydra: bytes, metrics: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job"
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "config.yaml").write_bytes(config)
        (job / ".hydra" / "hydra.yaml").write_bytes(hydra)
        (job / ".hydra" / "overrides.yaml").write_bytes(hydra[::-1])
        (job / "metrics.json").write_bytes(metrics)
        update = READER.read(RunRef("hydra", job, Path(tmp)), None)
        READER.read(RunRef("hydra", job, Path(tmp)), update.cursor)


def test_detect_needs_the_config_and_never_opens_a_fifo(tmp_path: Path) -> None:
    (tmp_path / ".hydra").mkdir()
    assert READER.detect(tmp_path) == 0.0
    os.mkfifo(tmp_path / ".hydra" / "config.yaml")
    assert READER.detect(tmp_path) == 0.0


def test_start_time_comes_from_the_job_log_not_from_copied_mtimes(tmp_path: Path) -> None:
    import shutil
    from datetime import datetime

    from expdesk.sources import registry

    job = shutil.copytree(RUNS / "hydra" / "outputs" / "2026-11-26" / "19-22-14", tmp_path / "19-22-14")
    ref = next(r for r in registry.discover(tmp_path) if r.path == job)
    update = registry.reader_for("hydra").read(ref, None)
    assert update.start_time == datetime(2026, 11, 26, 19, 22, 14, 145000).timestamp()
