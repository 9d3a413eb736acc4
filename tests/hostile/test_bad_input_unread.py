"""Bad input gets a clear reason on the run, bounded memory, and every other run still indexed."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

from expdesk.index.service import Index
from expdesk.sources import registry

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9)
)


def _plain(root: Path, name: str, metrics_name: str, metrics: bytes | None = None) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "params.json").write_text('{"lr": 0.1}')
    if metrics is not None:
        (run / metrics_name).write_bytes(metrics)
    return run


def _build(root: Path) -> dict[str, Path]:
    runs = {
        "good": _plain(root, "good", "metrics.jsonl", b'{"step": 0, "loss": 1.0}\n{"step": 1, "loss": 0.5}\n')
    }
    # a 2 GB metrics.json (sparse: costs no disk) must be refused by its size, never loaded
    runs["huge"] = _plain(root, "huge", "metrics.json")
    with open(runs["huge"] / "metrics.json", "wb") as fh:
        fh.truncate(2 * 1024**3)
    runs["deep"] = _plain(root, "deep", "metrics.json", b"[" * 100_000 + b"]" * 100_000)
    # columns changing mid-file: a third cell appears from row 3 on
    runs["ragged"] = _plain(
        root, "ragged", "metrics.csv", b"step,loss\n0,1.0\n1,0.5\n2,0.25,0.9\n3,0.1,0.8\n"
    )
    version = root / "lightning_logs" / "version_0"
    version.mkdir(parents=True)
    (version / "hparams.yaml").write_text(BOMB)
    (version / "metrics.csv").write_text("epoch,step,train_loss\n0,0,1.5\n0,1,1.25\n")
    runs["bomb"] = version
    return runs


def test_each_bad_file_is_listed_with_its_reason_and_the_rest_indexes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    runs = _build(root)
    with Index(tmp_path / "i.db") as index:
        report = index.index([root])
        with index.reader() as reader:
            shown = {Path(r["path"]): r for r in reader.runs_json(reader.run_keys())}
    assert report.found == len(runs)
    assert shown[runs["good"]]["metrics"]["loss"]["count"] == 2 and shown[runs["good"]]["unread"] == []

    def reasons(name: str) -> dict[str, str]:
        return {u["path"]: u["reason"] for u in shown[runs[name]]["unread"]}

    assert (
        "over the" in reasons("huge")["metrics.json"]
        and "2147483648 bytes" in reasons("huge")["metrics.json"]
    )
    assert shown[runs["huge"]]["params"] == {"lr": "0.1"}
    assert "nested too deeply" in reasons("deep")["metrics.json"]
    ragged = reasons("ragged")["metrics.csv"]
    assert "3 cells for 2 columns" in ragged
    assert shown[runs["ragged"]]["metrics"]["loss"]["count"] == 4  # the rows themselves are still read
    bomb = reasons("bomb")["hparams.yaml"]
    assert "alias" in bomb
    assert shown[runs["bomb"]]["metrics"]["train_loss"]["count"] == 2  # the metrics survive the bad params


def test_a_2gb_metrics_file_costs_no_memory(tmp_path: Path) -> None:
    run = _plain(tmp_path, "huge", "metrics.json")
    with open(run / "metrics.json", "wb") as fh:
        fh.truncate(2 * 1024**3)
    (ref,) = registry.discover(tmp_path)
    tracemalloc.start()
    try:
        update = registry.reader_for(ref.format).read(ref, None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024**2
    assert update.unread and update.unread[0][0] == "metrics.json"
    assert os.stat(run / "metrics.json").st_size == 2 * 1024**3  # and nothing was written


def test_a_yaml_bomb_in_a_hydra_config_is_listed(tmp_path: Path) -> None:
    job = tmp_path / "job"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "config.yaml").write_text(BOMB)
    (job / "metrics.json").write_text(json.dumps({"history": [{"step": 0, "loss": 1.0}]}))
    (ref,) = registry.discover(tmp_path)
    update = registry.reader_for("hydra").read(ref, None)
    assert [p for p, _ in update.unread] == [".hydra/config.yaml"]
    assert "alias" in update.unread[0][1]
    assert [s.key for s in update.metrics] == ["loss"]
