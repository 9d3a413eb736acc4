"""DVC project reader: the corpus project against GROUND_TRUTH.json, staleness, foreach, hostile locks."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from expdesk.core.entities import RunRef, Status
from expdesk.core.errors import SourceError
from expdesk.sources import registry
from expdesk.sources.common.tables import flatten_record
from expdesk.sources.common.values import flatten
from expdesk.sources.dvc.project import READER
from tests.groundtruth import RUNS, gt_path, load_gt

GT = load_gt("dvc")
ROOT = RUNS / "dvc"
PROJECT = next(r for r in GT["runs"] if r["tool"] == "dvc")


def test_discovery_yields_the_project_and_its_dvclive_runs() -> None:
    found = sorted((r.format, r.path) for r in registry.discover(ROOT))
    assert found == sorted((run["tool"], gt_path(run["path"])) for run in GT["runs"])


@pytest.fixture(scope="module")
def project_update():  # type: ignore[no-untyped-def]
    return READER.read(RunRef("dvc", gt_path(PROJECT["path"]), ROOT), None)


def test_project_identity_params_status_artifacts(project_update) -> None:  # type: ignore[no-untyped-def]
    update = project_update
    assert update.error is None
    assert update.name == PROJECT["run_name"]
    # GT's `params` holds Python reprs of the nested dicts; the contract flattens `params_typed` instead
    assert update.params == flatten(PROJECT["params_typed"])
    assert update.status == (Status(PROJECT["status"]) if PROJECT["status"] else Status.UNKNOWN)
    assert update.metrics == [] and PROJECT["metrics"] == {}
    assert update.info["latest"] == flatten_record(PROJECT["metrics_show"])
    assert update.info["no_scm"] == PROJECT["no_scm"]
    expected = {(a["path"], a["size"]) for a in PROJECT["artifacts"]}
    assert {(a.path, a.size) for a in update.artifacts} == expected


def test_stages_deps_outs_and_md5s(project_update) -> None:  # type: ignore[no-untyped-def]
    stages = {s["name"]: s for s in project_update.info["stages"]}
    assert set(stages) == {s["addressing"] for s in PROJECT["stages"]}
    project_dir = gt_path(PROJECT["path"])
    expected_refs = set()
    for gt_stage in PROJECT["stages"]:
        got = stages[gt_stage["addressing"]]
        assert got["cmd"] == gt_stage["cmd"] and got["dvcfile"] == gt_stage["dvcfile"]
        for kind, direction in (("deps", "input"), ("outs", "output")):
            files = [f for f in gt_stage[kind] if f.get("type") != "params"]
            assert [(f["path"], f.get("md5"), f.get("size")) for f in got[kind]] == [
                (f["path_in_project"], f["md5"], f["size"]) for f in files
            ]
            for f in files:
                local = str(project_dir / f["path_in_project"]) if f["present_in_corpus"] else None
                expected_refs.add((direction, f["path_in_project"], local, f["size"], (("md5", f["md5"]),)))
        for out in gt_stage["outs"]:
            got_out = next(o for o in got["outs"] if o["path"] == out["path_in_project"])
            assert (got_out["cache"], got_out["metric"], got_out["plot"]) == (
                out["use_cache"],
                out["metric"],
                out["plot"],
            )
            assert got_out.get("nfiles") == out["nfiles"]
        gt_params = next((d["params"] for d in gt_stage["deps"] if d.get("type") == "params"), None)
        if gt_params is not None:
            assert got["params"] == {"params.yaml": gt_params}
    refs = {(f.direction, f.path, f.local, f.size, f.digests) for f in project_update.files}
    assert refs == expected_refs
    assert project_update.info["stale_stages"] == sorted(PROJECT["dvc_status_at_generation"])


def _project(tmp_path: Path, dvc_yaml: dict, lock: dict | str, params: dict) -> Path:
    project = tmp_path / "proj"
    (project / ".dvc").mkdir(parents=True)
    (project / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml))
    (project / "dvc.lock").write_text(lock if isinstance(lock, str) else yaml.safe_dump(lock))
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    return project


def test_stale_when_params_or_dep_sizes_change(tmp_path: Path) -> None:
    dvc_yaml = {
        "stages": {
            "train": {"cmd": "python train.py", "deps": ["train.py"], "params": ["lr"]},
            "new": {"cmd": "echo"},
        }
    }
    lock = {
        "schema": "2.0",
        "stages": {
            "train": {
                "cmd": "python train.py",
                "deps": [{"path": "train.py", "hash": "md5", "md5": "0" * 32, "size": 5}],
                "params": {"params.yaml": {"lr": 0.1}},
            }
        },
    }
    project = _project(tmp_path, dvc_yaml, lock, {"lr": 0.1})
    (project / "train.py").write_text("12345")
    update = READER.read(RunRef("dvc", project, tmp_path), None)
    assert update.info["stale_stages"] == ["new"]  # never run; train is in sync
    (project / "params.yaml").write_text("lr: 0.2\n")
    (project / "train.py").write_text("123456")
    update = READER.read(RunRef("dvc", project, tmp_path), None)
    assert update.info["stale_stages"] == ["new", "train"]
    assert update.info["stale_reasons"]["train"] == [
        "param params.yaml:lr changed",
        "dep train.py size changed",
    ]


def test_foreach_expands_to_stage_at_key_and_uses_the_lock(tmp_path: Path) -> None:
    dvc_yaml = {
        "stages": {
            "build": {"foreach": ["a", "b"], "do": {"cmd": "make ${item}", "outs": ["${item}.o"]}},
            "grid": {"matrix": {"m": ["x", "y"], "n": [1]}, "cmd": "run ${item.m}"},
        }
    }
    lock = {
        "schema": "2.0",
        "stages": {
            "build@a": {
                "cmd": "make a",
                "outs": [
                    {
                        "path": "a.o",
                        "hash": "md5",
                        "md5": "d41d8cd98f00b204e9800998ecf8427e.dir",
                        "size": 0,
                        "nfiles": 0,
                    }
                ],
            }
        },
    }
    project = _project(tmp_path, dvc_yaml, lock, {})
    update = READER.read(RunRef("dvc", project, tmp_path), None)
    stages = {s["name"]: s for s in update.info["stages"]}
    assert set(stages) == {"build@a", "build@b", "grid@x-1", "grid@y-1"}
    assert stages["build@a"]["cmd"] == "make a"
    assert [o["path"] for o in stages["build@a"]["outs"]] == ["a.o"]
    assert stages["build@a"]["outs"][0]["nfiles"] == 0
    assert "build@a" not in update.info["stale_stages"] and "build@b" in update.info["stale_stages"]


def test_lock_paths_that_escape_are_never_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("x" * 10)
    hostile = [
        "../secret.txt",
        "../../etc/passwd",
        "/etc/passwd",
        "%2e%2e/secret.txt",
        "..\\secret.txt",
        "file:///etc/passwd",
        "~/x",
    ]
    lock = {
        "schema": "2.0",
        "stages": {"s": {"cmd": "c", "deps": [{"path": p, "md5": "1" * 32, "size": 3} for p in hostile]}},
    }
    project = _project(tmp_path, {"stages": {"s": {"cmd": "c", "deps": hostile}}}, lock, {})
    (project / "evil").symlink_to(secret)
    lock["stages"]["s"]["deps"].append({"path": "evil", "md5": "1" * 32, "size": 3})
    (project / "dvc.lock").write_text(yaml.safe_dump(lock))
    update = READER.read(RunRef("dvc", project, project), None)
    assert all(f.local is None for f in update.files)
    assert update.info["stale_stages"] == []  # sizes of escaping files were never looked at


def test_hostile_and_torn_files_are_errors_not_crashes(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    project = _project(tmp_path, {"stages": {}}, f"!!python/object/apply:os.system ['touch {marker}']\n", {})
    update = READER.read(RunRef("dvc", project, tmp_path), None)
    assert not marker.exists() and "dvc.lock" in (update.error or "")
    (project / "dvc.lock").write_text("")  # DVC rewriting it
    (project / "params.yaml").write_text("home: ${oc.env:HOME}\n")
    update = READER.read(RunRef("dvc", project, tmp_path), None)
    assert update.error is None and update.params == {"home": "${oc.env:HOME}"}


def test_running_while_rwlock_holds_writes(tmp_path: Path) -> None:
    project = _project(tmp_path, {"stages": {}}, {}, {})
    (project / ".dvc" / "tmp").mkdir()
    (project / ".dvc" / "tmp" / "rwlock").write_text(
        '{"write": {"model.pkl": {"pid": 1, "cmd": "dvc repro"}}}'
    )
    assert READER.read(RunRef("dvc", project, tmp_path), None).status == Status.RUNNING
    (project / ".dvc" / "tmp" / "rwlock").write_text('{"write": {}, "read": {}}')
    assert READER.read(RunRef("dvc", project, tmp_path), None).status == Status.UNKNOWN
    fp = READER.fingerprint(RunRef("dvc", project, tmp_path))
    (project / "dvc.lock").write_text("schema: '2.0'\n")
    assert READER.fingerprint(RunRef("dvc", project, tmp_path)) != fp


def test_detect_ignores_a_dvclive_written_dvc_yaml(tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text("metrics:\n- dvclive/metrics.json\n")
    assert READER.detect(tmp_path) == 0.0
    (tmp_path / "dvc.yaml").write_text("vars: []\nstages:\n  a:\n    cmd: x\n")
    assert READER.detect(tmp_path) > 0.5
    with pytest.raises(SourceError):
        READER.read(RunRef("dvc", tmp_path / "gone", tmp_path), None)


_yamlish = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)
_stage_key = st.sampled_from(["cmd", "deps", "outs", "params", "foreach", "do", "matrix", "wdir", "metrics"])


@settings(max_examples=80, deadline=None)
@given(
    stages=st.dictionaries(
        st.text(max_size=5), st.dictionaries(_stage_key, _yamlish, max_size=4), max_size=3
    ),
    lock=_yamlish,
    raw=st.binary(max_size=100),
)
def test_arbitrary_structures_never_raise(stages: dict, lock: object, raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "p"
        (project / ".dvc").mkdir(parents=True)
        (project / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
        (project / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {"s": lock}}))
        (project / "x.dvc").write_text(yaml.safe_dump({"outs": lock}))
        (project / "params.yaml").write_bytes(raw)
        READER.read(RunRef("dvc", project, Path(tmp)), None)
