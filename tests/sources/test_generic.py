"""Plain folders and Keras CSVLogger runs against the ground truth read with json/yaml/pandas."""

from __future__ import annotations

from pathlib import Path

import pytest

from expdesk.core.entities import Status
from expdesk.sources import registry
from expdesk.sources.plain.generic import READER as GENERIC
from tests.groundtruth import RUNS, assert_metrics_equal, gt_path, load_gt, metric_summaries

GT = load_gt("plain")
FORMATS = {"plain": "generic", "keras-csvlogger": "keras"}


def test_discovery_claims_each_run_with_its_reader() -> None:
    found = {ref.path: ref.format for ref in registry.discover(RUNS / "plain")}
    assert found == {gt_path(r["path"]): FORMATS[r["tool"]] for r in GT["runs"]}


@pytest.mark.parametrize("gt", GT["runs"], ids=lambda r: r["path"])
def test_run_matches_ground_truth(gt: dict) -> None:
    path = gt_path(gt["path"])
    ref = next(r for r in registry.discover(RUNS / "plain") if r.path == path)
    update = registry.reader_for(ref.format).read(ref, None)
    assert update.error is None
    assert update.name == gt["run_name"]
    assert update.params == gt["params"]
    assert_metrics_equal(metric_summaries(update), gt["metrics"])
    assert [(a.path, a.size) for a in update.artifacts] == [(a["path"], a["size"]) for a in gt["artifacts"]]
    assert update.status == (Status.FINISHED if gt["status"] else Status.UNKNOWN)


def _run(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        p = tmp_path / "run" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return tmp_path / "run"


def _read(folder: Path, cursor: dict | None = None):
    from expdesk.core.entities import RunRef

    return GENERIC.read(RunRef("generic", folder, folder.parent), cursor)


def test_jsonl_incremental_torn_line_and_restart(tmp_path: Path) -> None:
    folder = _run(
        tmp_path, {"metrics.jsonl": '{"step": 0, "loss": 1.0}\n{"step": 1, "loss": NaN}\n{"step": 2, "lo'}
    )
    first = _read(folder)
    assert [len(s.steps) for s in first.metrics] == [2] and first.error is None
    with (folder / "metrics.jsonl").open("a") as fh:
        fh.write('ss": 0.5}\n{"step": 1, "loss": 0.7}\n')  # completes the torn line; a restart at step 1
    second = _read(folder, first.cursor)
    assert not second.metrics_reset
    (s,) = second.metrics
    assert s.steps.tolist() == [2, 1] and s.values.tolist() == [0.5, 0.7]
    (folder / "metrics.jsonl").write_text('{"step": 0, "acc": 0.1}\n')  # rewritten from scratch
    third = _read(folder, second.cursor)
    assert third.metrics_reset and [s.key for s in third.metrics] == ["acc"]


def test_bad_jsonl_lines_are_named_and_skipped(tmp_path: Path) -> None:
    folder = _run(
        tmp_path, {"metrics.jsonl": '{"step": 0, "loss": 1}\nnot json\n[1, 2]\n{"step": 1, "loss": 2}\n'}
    )
    update = _read(folder)
    assert "line 2" in update.error and "line 3" in update.error
    assert update.metrics[0].values.tolist() == [1.0, 2.0]


def test_csv_with_nul_ragged_rows_and_header_rewrite(tmp_path: Path) -> None:
    folder = _run(tmp_path, {"metrics.csv": b"step,loss,acc\n0,1.0,\n1,\x000.5,0.2\n2,0.25,0.3,extra\n"})
    first = _read(folder)
    got = {s.key: s.values.tolist() for s in first.metrics}
    assert got == {"loss": [1.0, 0.5, 0.25], "acc": [0.2, 0.3]}
    assert "row 3" in first.error
    (folder / "metrics.csv").write_text("acc,loss,step,val\n0.1,1.0,0,\n")  # Lightning-style rewrite
    second = _read(folder, first.cursor)
    assert second.metrics_reset
    assert {s.key for s in second.metrics} == {"acc", "loss"}


def test_hostile_yaml_is_refused_and_interpolations_stay_literal(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    folder = _run(
        tmp_path,
        {
            "config.yaml": f"a: !!python/object/apply:os.system ['touch {marker}']\n",
            "params.json": '{"home": "${oc.env:HOME}", "big": 18446744073709551616, "x": NaN}',
            "metrics.jsonl": '{"step": 0, "loss": 1}\n',
        },
    )
    update = _read(folder)
    assert not marker.exists()
    assert "config.yaml" in update.error
    assert update.params["home"] == "${oc.env:HOME}"
    assert update.params["big"] == "18446744073709551616" and update.params["x"] == "nan"


def test_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join('*' + chr(96 + i) for _ in range(9))}]")
    folder = _run(tmp_path, {"config.yaml": "\n".join(lines) + "\n", "metrics.jsonl": ""})
    update = _read(folder)
    assert "alias" in update.error


def test_fifo_in_run_is_listed_never_opened(tmp_path: Path) -> None:
    import os

    folder = _run(tmp_path, {"metrics.jsonl": '{"step": 0, "loss": 1}\n'})
    os.mkfifo(folder / "params.json")  # reading this would block forever
    update = _read(folder)
    assert update.metrics and "params.json" not in [a.path for a in update.artifacts]


def test_running_while_written_then_finished_by_marker(tmp_path: Path) -> None:
    import os
    import time

    folder = _run(tmp_path, {"metrics.jsonl": '{"step": 0, "loss": 1}\n'})
    first = _read(folder)
    assert first.status == Status.UNKNOWN  # one look cannot tell a live run from a finished one
    with (folder / "metrics.jsonl").open("a") as fh:
        fh.write('{"step": 1, "loss": 0.5}\n')
    second = _read(folder, first.cursor)
    assert second.status == Status.RUNNING  # it grew, and no end marker
    assert _read(folder, second.cursor).status == Status.RUNNING  # still fresh
    old = time.time() - 3600
    os.utime(folder / "metrics.jsonl", (old, old))
    os.utime(folder, (old, old))
    assert _read(folder, second.cursor).status == Status.UNKNOWN  # quiet for an hour
    (folder / "DONE").write_text("")
    assert _read(folder, second.cursor).status == Status.FINISHED
