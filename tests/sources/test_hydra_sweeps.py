"""Hydra multiruns as a whole, and times from what Hydra recorded (folder names, job log), never the mtimes
of a copy. Fixtures written by hydra-core (tests/data/fidelity/hydra/make_hydra.py)."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import datetime
from pathlib import Path

from expdesk.core.entities import Link, RunRef
from expdesk.index.service import Index
from expdesk.lineage import build_lineage
from expdesk.sources import registry
from expdesk.sources.hydra.reader import READER

DATA = Path(__file__).resolve().parents[1] / "data" / "fidelity" / "hydra"
GT = json.loads((DATA / "GROUND_TRUTH.json").read_text())
SHAPES_SWEEP, GRID_SWEEP = (s["path"] for s in GT["sweeps"])


def _copy(tmp_path: Path) -> Path:
    """A fresh copy: every mtime is now, as after `cp -r` or a git clone."""
    root = tmp_path / "copy"
    shutil.copytree(DATA, root, ignore=shutil.ignore_patterns("*.py", "GROUND_TRUTH.json"))
    now = time.time()
    for folder, _dirs, files in os.walk(root):
        for name in files:
            os.utime(Path(folder) / name, (now, now))
    return root


def _folder_time(path: str) -> float:
    """`multirun/2026-12-06/07-47-19[/N]` -> the naive local time Hydra's `${now:...}` put in the name."""
    parts = path.split("/")
    return datetime.strptime(f"{parts[1]} {parts[2]}", "%Y-%m-%d %H-%M-%S").timestamp()


def test_a_multirun_folder_is_a_run_of_its_own() -> None:
    refs = [r for r in registry.discover(DATA) if r.format == "hydra"]
    paths = sorted(r.path.relative_to(DATA).as_posix() for r in refs)
    assert paths == sorted([j["path"] for j in GT["jobs"]] + [s["path"] for s in GT["sweeps"]])


def test_the_sweep_shows_its_sweeper_params_and_varied_keys() -> None:
    sweep = next(s for s in GT["sweeps"] if s["path"] == GRID_SWEEP)
    ref = next(r for r in READER.runs(DATA / GRID_SWEEP, DATA) if r.path == DATA / GRID_SWEEP)
    update = READER.read(ref, None)
    assert update.name == update.experiment == GRID_SWEEP
    # what was swept, as written: the command line's overrides and the sweeper's own params
    expected = dict(o.split("=", 1) for o in sweep["task_overrides"]) | sweep["sweeper_params"]
    assert update.params == {f"sweep.{k}": v for k, v in expected.items()}
    assert update.tags["hydra.sweep.varied"] == "batch_size,lr"
    assert update.info["kind"] == "sweep"
    assert update.info["jobs"] == [
        j["path"].rsplit("/", 1)[1] for j in GT["jobs"] if j["path"].startswith(GRID_SWEEP)
    ]
    assert update.start_time == _folder_time(GRID_SWEEP)


def test_each_job_knows_its_sweep_its_number_and_what_varied() -> None:
    for job in (j for j in GT["jobs"] if j["path"].startswith("multirun/")):
        sweep = job["path"].rsplit("/", 1)[0]
        update = READER.read(RunRef("hydra", DATA / job["path"], DATA), None)
        assert update.experiment == sweep
        assert update.links == [
            Link(
                rule="hydra.sweep",
                target_path=str(DATA / sweep),
                evidence=(("job_num", str(job["job_num"])), ("overrides", " ".join(job["overrides"]))),
            )
        ]
        varied = "shape" if sweep == SHAPES_SWEEP else "batch_size,lr"
        assert update.tags["hydra.sweep.varied"] == varied


def test_lineage_shows_the_job_under_its_sweep(tmp_path: Path) -> None:
    with Index(tmp_path / "i.db") as index:
        index.index([DATA])
        with index.reader() as reader:
            runs = reader.runs_json(reader.run_keys())
            by_path = {Path(r["path"]).relative_to(DATA).as_posix(): r["key"] for r in runs}
            graph = build_lineage(reader, by_path[f"{GRID_SWEEP}/2"], down=False)
    assert not [g for g in graph.gaps if "hydra.sweep" in g]
    edge = next(e for e in graph.edges if e.rule == "hydra.sweep")
    assert (edge.upstream, edge.downstream) == (by_path[GRID_SWEEP], by_path[f"{GRID_SWEEP}/2"])
    assert edge.evidence["recorded"]["job_num"] == "2"


def test_start_time_is_the_job_log_then_the_folder_name_never_a_copys_mtime(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    for job in GT["jobs"]:
        update = READER.read(RunRef("hydra", root / job["path"], root), None)
        if job["has_log"]:
            first = (root / job["path"] / "app.log").read_text().split("]", 1)[0].lstrip("[")
            expected = datetime.strptime(first, "%Y-%m-%d %H:%M:%S,%f").timestamp()
            assert update.start_time == expected and update.info["start_time_from"] == "job log"
        else:
            assert update.start_time == _folder_time(job["path"])
            assert update.info["start_time_from"] == "folder name (hydra.sweep.dir)"


def test_without_any_record_the_mtime_is_used_and_said(tmp_path: Path) -> None:
    job = tmp_path / "somewhere" / "job"
    shutil.copytree(DATA / f"{GRID_SWEEP}/0", job)
    update = READER.read(RunRef("hydra", job, tmp_path), None)
    assert update.start_time == os.stat(job / ".hydra" / "config.yaml").st_mtime
    assert update.info["start_time_from"] == "file mtime (.hydra/config.yaml)"
