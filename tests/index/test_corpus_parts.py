"""Every run of the public corpus (copied under tests/data/runs) still matches its ground truth after parts
are joined into runs: each ground-truth run is a part of exactly one run, and that run carries every metric
the ground truth lists with the same summary (from that part, or deduplicated from an identical series)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from expdesk.index.reader import IndexReader
from expdesk.index.service import Index
from tests.groundtruth import RUNS, same_number

TOOLS = sorted(p.parent.name for p in RUNS.glob("*/GROUND_TRUTH.json") if "runs" in json.loads(p.read_text()))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("corpus")
    root = tmp / "public"
    shutil.copytree(RUNS, root, symlinks=True, ignore=shutil.ignore_patterns("*.py"))
    db = tmp / "index.sqlite"
    with Index(db) as index:
        index.index([root])
    return db, root


def _part_for(reader: IndexReader, root: Path, run: dict[str, Any]) -> dict[str, Any]:
    path = str(root.joinpath(*Path(run["path"]).parts[1:]))
    rows = [
        dict(r)
        for r in reader.conn.execute("SELECT key, format, native_id FROM runs WHERE path = ?", (path,))
    ]
    if run.get("run_id"):
        rows = [r for r in rows if r["native_id"] == str(run["run_id"])]
    tool = str(run.get("tool", ""))
    if len(rows) > 1:
        rows = [r for r in rows if tool.startswith(r["format"]) or r["format"].startswith(tool.split("-")[0])]
    assert len(rows) == 1, (run["path"], run.get("run_id"), rows)
    return rows[0]


@pytest.mark.parametrize("tool", TOOLS)
def test_ground_truth_runs_match_their_runs_through_parts(corpus: tuple[Path, Path], tool: str) -> None:
    db, root = corpus
    gt = json.loads((RUNS / tool / "GROUND_TRUTH.json").read_text(encoding="utf-8"))
    with IndexReader(db) as reader:
        listed = set(reader.run_keys(include_deleted=True))
        for gt_run in gt["runs"]:
            part = _part_for(reader, root, gt_run)
            run_key = reader.resolve(part["key"])
            assert run_key in listed, f"{gt_run['path']}: its run is not listed"
            run = reader.run_json(run_key)
            label = next(p["label"] for p in run["parts"] if p["key"] == part["key"])
            joined = len(run["parts"]) > 1
            for key, want in gt_run.get("metrics", {}).items():
                candidates = [run["metrics"].get(key), run["metrics"].get(f"{key}@{label}")]
                got = next((m for m in candidates if m is not None and m["count"]), None)
                assert got is not None, f"{gt_run['path']}: {key} missing from its run"
                if joined and got.get("part") != label:
                    assert got["count"] == want["count"]  # another logger's identical copy of the series
                for field, ours in (
                    ("count", "count"),
                    ("last_value", "last"),
                    ("min", "min"),
                    ("max", "max"),
                ):
                    assert same_number(got[ours], want[field]), f"{gt_run['path']}: {key}.{field}"
                if got.get("part") in (None, label):
                    assert got["first_step"] == want["first_step"] and got["last_step"] == want["last_step"]


def test_only_the_dvc_project_and_its_declared_dvclive_folder_joined(corpus: tuple[Path, Path]) -> None:
    db, _root = corpus
    with IndexReader(db) as reader:
        runs = reader.runs_json(reader.run_keys(include_deleted=True))
    joined = [(r["name"], [p["label"] for p in r["parts"]]) for r in runs if len(r["parts"]) > 1]
    assert joined == [("dvc/project", ["dvc", "dvclive"])]
