"""HF Trainer reader: ground truth parity, discovery, the never-unpickle guarantee, resume links, rewrites."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expdesk.core.entities import RunRef, Status
from expdesk.core.errors import SourceError
from expdesk.sources import registry
from expdesk.sources.transformers._trainer_args import plain_fields, read_training_args
from expdesk.sources.transformers.reader import READER
from tests.groundtruth import RUNS, assert_metrics_equal, gt_path, load_gt, metric_summaries

GT = load_gt("transformers")
GT_RUN = GT["runs"][0]
GT_DIR = gt_path(GT_RUN["path"])


def ref_for(path: Path, root: Path | None = None) -> RunRef:
    return READER.runs(path, root or path.parent)[0]


def copy_run(tmp_path: Path, name: str = "bert-tiny-cls") -> Path:
    target = tmp_path / "out" / name
    shutil.copytree(GT_DIR, target)
    return target


def test_matches_ground_truth() -> None:
    update = READER.read(ref_for(GT_DIR), None)
    assert update.error is None
    assert update.name == GT_RUN["run_name"]
    # the GT lists a subset of TrainingArguments; every listed key must match exactly
    assert {k: update.params.get(k) for k in GT_RUN["params"]} == GT_RUN["params"]
    assert_metrics_equal(metric_summaries(update), GT_RUN["metrics"])
    assert update.info["metrics_source"] == "trainer_state.json"  # GT: "trainer_state.json in output dir"
    # GT status is null (Trainer writes none); its readers note defines completion as final files in the
    # output dir and global_step == max_steps, which holds here, so the run is finished with no native word
    assert GT_RUN["global_step"] == GT_RUN["final_model"]["training_args"]["max_steps"]
    assert update.status == Status.FINISHED and update.native_status is None
    assert [(a.path, a.size) for a in update.artifacts] == sorted(
        (a["path"], a["size"]) for a in GT_RUN["artifacts"]
    )
    assert update.info["best_metric"] == GT_RUN["best_metric"]
    assert update.info["best_model_checkpoint"] == GT_RUN["best_model_checkpoint"]
    assert update.info["checkpoints"] == [c["dir"] for c in GT_RUN["checkpoints"]]
    assert update.info["tensorboard_dirs"] == GT_RUN["tensorboard_dirs"]
    assert update.info["model"]["model_type"] == GT_RUN["final_model"]["model_type"]
    assert update.links == []  # GT: no resume, best_model_checkpoint null
    json.dumps(update.cursor)


def test_highest_checkpoint_is_authoritative_without_final_files(tmp_path: Path) -> None:
    run = copy_run(tmp_path)
    (run / "trainer_state.json").unlink()
    (run / "training_args.bin").unlink()
    update = READER.read(ref_for(run), None)
    ckpt = next(c for c in GT_RUN["checkpoints"] if c["dir"] == "checkpoint-12")
    assert_metrics_equal(
        {k: v for k, v in metric_summaries(update).items() if k in ckpt["metrics"]}, ckpt["metrics"]
    )
    assert update.info["metrics_source"] == "checkpoint-12/trainer_state.json"
    assert update.status == Status.UNKNOWN  # no final save: we cannot tell finished from killed
    assert {k: update.params.get(k) for k in GT_RUN["params"]} == GT_RUN["params"]


def test_discovery_claims_the_output_dir_and_its_tensorboard_runs(tmp_path: Path) -> None:
    refs = list(registry.discover(RUNS / "transformers"))
    assert [(r.format, r.path) for r in refs] == [("transformers", GT_DIR)]
    run = copy_run(tmp_path)
    tb = run / "runs" / "Nov26_19-22-00_vm"
    tb.mkdir(parents=True)
    shutil.copy(next((RUNS / "tensorboard" / "runs" / "tbx_adam_lr0.1").glob("events.*")), tb)
    refs = list(registry.discover(tmp_path))
    assert [(r.format, r.path) for r in refs] == [("transformers", run)]  # not a separate TensorBoard run
    update = READER.read(refs[0], None)
    assert update.info["tensorboard_dirs"] == ["runs/Nov26_19-22-00_vm"]
    assert set(metric_summaries(update)) == set(GT_RUN["metrics"])  # log_history only, no duplicates


class _Evil:
    """Unpickling this would run `touch <marker>`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


class TrainingArguments:  # a stand-in whose pickle looks like the real one (an object with a field dict)
    def __init__(self, **fields: object) -> None:
        self.__dict__.update(fields)


def _torch_zip(payload: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("training_args/data.pkl", payload)
        archive.writestr("training_args/version", "3\n")
    return buffer.getvalue()


def test_malicious_training_args_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    run = copy_run(tmp_path)
    args = TrainingArguments(learning_rate=0.1, output_dir="out/x", payload=_Evil(marker), tags=["a", 1])
    (run / "training_args.bin").write_bytes(_torch_zip(pickle.dumps(args, protocol=2)))
    update = READER.read(ref_for(run), None)
    assert not marker.exists()
    assert update.params["learning_rate"] == "0.1" and update.params["tags"] == '["a", 1]'
    assert "payload" not in update.params  # a call result is refused, not shown
    # the whole file being a reduce: nothing usable, an error on the run, metrics still read
    (run / "training_args.bin").write_bytes(_torch_zip(pickle.dumps(_Evil(marker))))
    update = READER.read(ref_for(run), None)
    assert not marker.exists()
    assert update.error and "training_args.bin" in update.error
    assert update.metrics
    # a bare (non-zip) pickle too, in every protocol
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        (run / "training_args.bin").write_bytes(pickle.dumps({"lr": 1e-3, "evil": _Evil(marker)}, protocol))
        assert read_training_args(run / "training_args.bin") == {"lr": 1e-3}
    assert not marker.exists()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_pickle_bytes_raise_only_source_error(data: bytes) -> None:
    with contextlib.suppress(SourceError):
        plain_fields(b"\x80\x02" + data)


def test_incremental_log_history(tmp_path: Path) -> None:
    run = copy_run(tmp_path)
    state_file = run / "trainer_state.json"
    state = json.loads(state_file.read_text())
    full = state["log_history"]
    state["log_history"] = full[:4]
    state_file.write_text(json.dumps(state))
    first = READER.read(ref_for(run), None)
    assert metric_summaries(first)["loss"]["count"] == 3
    state["log_history"] = full
    state_file.write_text(json.dumps(state))  # the Trainer rewrites the whole file at each save
    second = READER.read(ref_for(run), first.cursor)
    assert not second.metrics_reset
    assert (
        metric_summaries(second)["loss"]["count"] == 3 and metric_summaries(second)["loss"]["first_step"] == 8
    )
    # an earlier entry changed: start over
    state["log_history"][0]["loss"] = 99.0
    state_file.write_text(json.dumps(state))
    third = READER.read(ref_for(run), second.cursor)
    assert third.metrics_reset and metric_summaries(third)["loss"]["count"] == 6
    # caught mid-rewrite: no error, no new points, same cursor (and a first read falls back to a checkpoint)
    state_file.write_text(json.dumps(state)[:100])
    torn = READER.read(ref_for(run), third.cursor)
    assert torn.error is None and torn.metrics == [] and torn.cursor == third.cursor
    fresh = READER.read(ref_for(run), None)
    assert fresh.error is None and fresh.info["metrics_source"] == "checkpoint-12/trainer_state.json"


def test_resumed_run_links_to_the_run_it_continued(tmp_path: Path) -> None:
    original = copy_run(tmp_path, "first")
    resumed = copy_run(tmp_path, "second")
    shutil.rmtree(original / "checkpoint-12")
    for name in ("trainer_state.json", "training_args.bin", "model.safetensors", "config.json"):
        (original / name).unlink()
    # the resumed run's best checkpoint is in the original output dir (recorded relative to the script cwd)
    state = json.loads((resumed / "trainer_state.json").read_text())
    state["best_model_checkpoint"] = "out/first/checkpoint-6"
    (resumed / "trainer_state.json").write_text(json.dumps(state))
    update = READER.read(ref_for(resumed, tmp_path), None)
    targets = {(link.rule, link.target_path) for link in update.links}
    assert targets == {("trainer.resume", str(original.resolve()))}
    evidence = dict(ev for link in update.links for ev in link.evidence)
    assert evidence["best_model_checkpoint"] == "out/first/checkpoint-6"
    # without the best-checkpoint hint the shared log_history prefix alone links them
    state["best_model_checkpoint"] = None
    (resumed / "trainer_state.json").write_text(json.dumps(state))
    update = READER.read(ref_for(resumed, tmp_path), None)
    assert [(link.rule, link.target_path) for link in update.links] == [("trainer.resume", str(original))]
    assert dict(update.links[0].evidence)["shared_log_history_entries"] == "4"
    # the original run does not link to the one that continued it
    assert READER.read(ref_for(original, tmp_path), None).links == []


@pytest.mark.parametrize(
    "best",
    ["../../../etc/checkpoint-1", "/etc/checkpoint-1", "out/%2e%2e/%2e%2e/checkpoint-1", "out/../../x"],
)
def test_best_checkpoint_outside_the_root_is_not_followed(tmp_path: Path, best: str) -> None:
    run = copy_run(tmp_path)
    state = json.loads((run / "trainer_state.json").read_text())
    state["best_model_checkpoint"] = best
    (run / "trainer_state.json").write_text(json.dumps(state))
    update = READER.read(ref_for(run, tmp_path / "out"), None)
    assert update.links == []


def test_start_time_comes_from_the_tensorboard_writers_file_name_not_a_copys_mtime(tmp_path: Path) -> None:
    out = shutil.copytree(gt_path(GT_RUN["path"]), tmp_path / "out", copy_function=shutil.copy)
    ref = RunRef("transformers", out, tmp_path)
    assert READER.read(ref, None).info["start_time_from"].startswith("file mtime")
    # report_to=tensorboard: SummaryWriter names its file after the moment it opened it (written by torch:
    # tests/data/fidelity/tensorboard/make_tb.py)
    event = next((Path(__file__).parents[1] / "data/fidelity/tensorboard/runs/plain_ints").glob("events.*"))
    (out / "runs" / "Dec06_07-48-32_vm").mkdir(parents=True)
    shutil.copy(event, out / "runs" / "Dec06_07-48-32_vm" / event.name)
    update = READER.read(ref, None)
    assert update.start_time == float(event.name.split(".")[3])
    assert update.info["start_time_from"] == "event file name (its creation time)"
