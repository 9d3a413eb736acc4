"""Lightning version folders as Lightning writes them (tests/data/fidelity/lightning/make_lightning.py):
hparams with Python tags, CSVLogger and TensorBoardLogger in one folder, a fit that crashed before logging.
Expected values come from GROUND_TRUTH.json (pandas, TensorBoard's EventAccumulator, PyYAML)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from expdesk.core.entities import RunRef, RunUpdate
from expdesk.sources import registry
from expdesk.sources.common.yamlconfig import tagged_yaml
from tests.groundtruth import same_number

DATA = Path(__file__).resolve().parents[1] / "data" / "fidelity" / "lightning"
GT = json.loads((DATA / "GROUND_TRUTH.json").read_text())
RUNS = {Path(r["path"]).name: r for r in GT["runs"]}


def _read(version: str) -> tuple[RunRef, RunUpdate]:
    ref = next(r for r in registry.discover(DATA) if r.path == DATA / RUNS[version]["path"])
    return ref, registry.reader_for(ref.format).read(ref, None)


def _assert_summaries(update: RunUpdate, expected: dict[str, dict]) -> None:
    got = {s.key: s for s in update.metrics}
    assert sorted(got) == sorted(expected)
    for key, exp in expected.items():
        steps, values = got[key].steps.tolist(), got[key].values.tolist()
        assert (
            len(steps) == exp["count"] and min(steps) == exp["first_step"] and max(steps) == exp["last_step"]
        )
        assert same_number(values[max(range(len(steps)), key=lambda i: (steps[i], i))], exp["last_value"])
        assert same_number(min(values), exp["min"]) and same_number(max(values), exp["max"])


def test_every_version_folder_is_a_lightning_run_named_the_same_way() -> None:
    found = {r.path.name: r for r in registry.discover(DATA)}
    assert sorted(found) == sorted(RUNS)
    for version, ref in found.items():
        assert ref.format == "lightning"
        update = registry.reader_for(ref.format).read(ref, None)
        assert (update.name, update.experiment) == (f"lightning_logs/{version}", "lightning_logs")


@pytest.mark.parametrize("version", sorted(RUNS))
def test_python_tagged_hparams_are_read_as_plain_data(version: str) -> None:
    _ref, update = _read(version)
    assert update.params == RUNS[version]["params"]
    assert update.error is None and update.unread == []


def test_csv_and_event_files_in_one_folder_are_both_read() -> None:
    run = RUNS["version_0"]
    _ref, update = _read("version_0")
    # one fit logged to both loggers: the CSV's keys, plus what only the event files hold (TensorBoard's
    # `epoch` and `hp_metric` scalars); a key both hold is the same logged value, kept once (from the CSV)
    expected = run["event_metrics"] | run["csv_metrics"]
    _assert_summaries(update, {k: v for k, v in expected.items()})
    assert update.info["metric_files"] == {
        "metrics.csv": sorted(run["csv_metrics"]),
        "event files": sorted(run["event_metrics"]),
    }
    first_wall = min(m["first_wall_time"] for m in run["event_metrics"].values())
    assert update.start_time is not None and update.start_time <= first_wall
    assert update.info["start_time_from"] == "event wall time"


def test_a_tensorboard_only_version_folder_is_read_like_the_others(tmp_path: Path) -> None:
    run = RUNS["version_3"]
    _ref, update = _read("version_3")
    _assert_summaries(update, run["event_metrics"])
    assert update.params == run["params"]
    # a fresh copy (every mtime now): the last sign of life is still the last event's wall time
    copy = shutil.copytree(
        DATA / run["path"], tmp_path / "lightning_logs" / "version_3", copy_function=shutil.copy
    )
    (ref,) = registry.discover(tmp_path)
    copied = registry.reader_for(ref.format).read(ref, None)
    last_wall = max(m["last_wall_time"] for m in run["event_metrics"].values())
    assert copied.last_activity == pytest.approx(last_wall, abs=1e-3) and ref.path == copy
    assert copied.info["last_activity_from"] == "event wall time"


def test_a_fit_that_crashed_before_logging_is_a_run_with_its_params(tmp_path: Path) -> None:
    copy = shutil.copytree(DATA / RUNS["version_1"]["path"], tmp_path / "lightning_logs" / "version_1")
    (ref,) = registry.discover(tmp_path)
    update = registry.reader_for(ref.format).read(ref, None)
    assert ref.format == "lightning" and ref.path == copy
    assert update.params == RUNS["version_1"]["params"] and update.metrics == []
    assert update.info["start_time_from"].startswith("file mtime")


def test_tagged_yaml_constructs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = (
        f"a: !!python/object/apply:os.system ['touch {marker}']\n"
        "b: !!python/object/new:collections.OrderedDict [[[k, 1]]]\n"
        "c: !!python/name:os.system ''\n"
        "d: !!python/module:os ''\n"
        "e: !!python/tuple [1, 2]\n"
        "f: !!python/object:argparse.Namespace {x: 1}\n"
    )
    data = tagged_yaml(text, "hparams.yaml")
    assert not marker.exists()
    assert data == {
        "a": [f"touch {marker}"],
        "b": [[["k", 1]]],
        "c": "os.system",
        "d": "os",
        "e": [1, 2],
        "f": {"x": 1},
    }
