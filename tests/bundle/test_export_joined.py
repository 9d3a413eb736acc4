"""Exporting a joined run (the lightning-hydra-template job): the model chosen by the handoff's rules from
the job folder, every part in the run's identity, every part's config file, the finals in the summary."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import bagit

from expdesk.bundle.verify import verify
from expdesk.index.service import Index
from tests.bundle.helpers import export, unzip

JOBS = Path(__file__).resolve().parents[1] / "data" / "jobs"


def test_export_of_a_joined_run_carries_every_part(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    shutil.copytree(JOBS / "lightning_hydra" / "logs", root, symlinks=True)
    (job,) = list((root / "train" / "runs").iterdir())
    with Index(tmp_path / "index.sqlite") as index:
        index.index([root])
        with index.reader() as reader:
            (key,) = reader.run_keys()
            parts = reader.run_json(key)["parts"]
        plan, path = export(index, key, tmp_path / "out")
    bag = unzip(path, tmp_path / "x")
    bagit.Bag(str(bag)).validate()
    assert verify(path).ok
    # the job's checkpoints sit next to .hydra/, outside every logger folder: last.ckpt, byte for byte
    model = bag / "data" / "model" / "last.ckpt"
    assert (
        hashlib.sha256(model.read_bytes()).digest()
        == hashlib.sha256((job / "checkpoints" / "last.ckpt").read_bytes()).digest()
    )
    assert "lightning.last" in plan.model
    info = json.loads((bag / "data" / "model-info.json").read_text())
    assert "checkpoints of the job folder" in json.dumps(info)
    (run_dir,) = list((bag / "data" / "runs").iterdir())
    identity = json.loads((run_dir / "run.json").read_text())
    assert [(p["tool"], p["path"], p["joined_by"]) for p in identity["parts"]] == [
        (p["format"], str(Path(p["path"]).relative_to(job)) if p["path"] != str(job) else ".", p["rule"])
        for p in parts
    ]
    assert identity["host"]["value"]  # only W&B recorded the host: the run's identity has it
    configs = {p.relative_to(run_dir / "config").as_posix() for p in (run_dir / "config").rglob("*.yaml")}
    assert {"hydra/config.yaml", "csv/version_0/hparams.yaml"} <= configs
    summary = json.loads((run_dir / "metrics-summary.json").read_text())["metrics"]
    assert summary["test/acc"]["final"] == repr(0.546875)
    lineage = json.loads((bag / "data" / "lineage" / "lineage.json").read_text())
    assert key in json.dumps(lineage)
