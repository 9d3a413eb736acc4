"""Bad input for the join rules, end to end through the index: a job folder with 1,000 logger subfolders,
a job folder with two runs of one logger, and an LFS pointer where a job's config should be."""

from __future__ import annotations

import json
from pathlib import Path

from expdesk.core.lfs import REASON
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index

POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 12345\n"
)


def _job(folder: Path) -> Path:
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text("lr: 0.1\n")
    (folder / "metrics.json").write_text(json.dumps({"history": [{"epoch": 0, "acc": 0.5}]}))
    return folder


def _logger(folder: Path, n: int = 3) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": 1 / (s + 1)}) + "\n" for s in range(n))
    )


def test_a_job_folder_with_1000_logger_subfolders_is_bounded(tmp_path: Path) -> None:
    job = _job(tmp_path / "root" / "job")
    for i in range(1000):
        _logger(job / "sweep" / f"trial-{i:04d}")
    db = tmp_path / "index.sqlite"
    with Index(db) as index:
        report = index.index([tmp_path / "root"])
        assert report.found == 1001 and not report.errors
        with IndexReader(db) as reader:
            keys = reader.run_keys()
            assert len(keys) == 1001  # nothing joined
            job_run = next(r for r in reader.runs_json(keys) if r["format"] == "hydra")
        assert job_run["join_notes"] == ["more than 64 parts below this job folder: none joined"]
        assert len(job_run["parts"]) == 1
        # a later write to one trial re-plans a bounded neighbourhood, and the outcome stays the same
        _logger(job / "sweep" / "trial-0000", n=5)
        index.index([tmp_path / "root"])
        with IndexReader(db) as reader:
            assert len(reader.run_keys()) == 1001


def test_two_runs_of_one_logger_in_a_job_join_neither_and_say_why(tmp_path: Path) -> None:
    job = _job(tmp_path / "root" / "job")
    _logger(job / "logs" / "a")
    _logger(job / "logs" / "b")
    _logger(job / "eval")
    db = tmp_path / "index.sqlite"
    with Index(db) as index:
        index.index([tmp_path / "root"])
    with IndexReader(db) as reader:
        runs = reader.runs_json(reader.run_keys())
    assert len(runs) == 3
    job_run = next(r for r in runs if r["format"] == "hydra")
    assert [p["label"] for p in job_run["parts"]] == ["hydra", "generic"]  # eval/ is the job's
    assert job_run["join_notes"] == [
        "2 generic parts in logs: none joined (which one is this job's is not recorded; `expdesk join` joins one)"
    ]


def test_an_lfs_pointer_for_a_jobs_config_is_named_and_its_loggers_still_join(tmp_path: Path) -> None:
    job = _job(tmp_path / "root" / "job")
    (job / ".hydra" / "config.yaml").write_text(POINTER)
    _logger(job / "eval")
    db = tmp_path / "index.sqlite"
    with Index(db) as index:
        index.index([tmp_path / "root"])
    with IndexReader(db) as reader:
        (run,) = reader.runs_json(reader.run_keys())
    assert [p["label"] for p in run["parts"]] == ["hydra", "generic"]
    assert f"config.yaml: {REASON}" in (run["error"] or "")
    assert {
        "path": ".hydra/config.yaml",
        "reason": f"{REASON} (the object is 12345 bytes; `git lfs pull` fetches it)",
    } in [{k: u[k] for k in ("path", "reason")} for u in run["unread"]]
    assert run["metrics"]["loss"]["count"] == 3 and run["metrics"]["acc"]["count"] == 1
