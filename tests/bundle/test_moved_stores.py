"""Artifacts found wherever the store now lives: Windows-made, moved and served MLflow stores, the same way
for `show`, `export` (with and without `--artifact`) and the GUI's resolver."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from expdesk.cli import main
from expdesk.core.artifact_uri import artifact_file
from expdesk.index.service import Index
from tests.bundle.conftest import load_json
from tests.bundle.handoff import copy_fixture, key_where, truth, windows_store
from tests.bundle.helpers import export, unzip


def _show(index: Index, key: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["show", key, "--json", "--info", "--db", str(index.db_path)]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("drive", ["file:///D:/work/sweep", "D:\\work\\sweep"])
def test_windows_sqlite_store_moved_here(
    index: Index, tmp_path: Path, drive: str, capsys: pytest.CaptureFixture[str]
) -> None:
    gt = truth()["mlflow_sweep"]
    store = copy_fixture("mlflow/sweep", tmp_path / "ws")
    windows_store(store, drive)
    index.index([tmp_path / "ws"])
    key = key_where(index, "native_id = ?", gt["best_run"])
    run = _show(index, key, capsys)
    assert [a["path"] for a in run["artifacts"]] == gt["best_run_artifacts"]  # type: ignore[index]
    info = run["info"]
    assert info["artifact_uri"].startswith(drive[:8])  # type: ignore[index]
    local = Path(run["artifact_dir"])  # type: ignore[arg-type]
    assert info["artifact_dir"] == str(local)  # type: ignore[index]
    assert local == store / "mlruns" / "1" / gt["best_run"] / "artifacts"
    # the GUI's preview and the bundle find the same file
    found = artifact_file(run["path"], tmp_path / "ws", info, "notes/choice.txt")  # type: ignore[arg-type]
    assert found is not None and found.read_text() == "alpha chosen by the sweep\n"
    _plan, path = export(index, key, tmp_path / "out-default")
    bag = unzip(path, tmp_path / "x")
    assert sorted(p.name for p in (bag / "data" / "model").iterdir()) == gt["model_files"]
    _plan, path = export(index, key, tmp_path / "out-artifact", artifact="notes/choice.txt")
    assert (unzip(path, tmp_path / "y") / "data" / "model" / "choice.txt").read_text().startswith("alpha")
    assert main(["show", key, "--db", str(index.db_path)]) == 0
    assert str(local) in capsys.readouterr().out


@pytest.mark.parametrize(
    "uri",
    [
        "file:///C:/Users/me/proj/mlruns/{exp}/{run}/artifacts",
        "C:\\Users\\me\\proj\\mlruns\\{exp}\\{run}\\artifacts",
    ],
)
def test_windows_file_store_mlflow2(index: Index, tmp_path: Path, uri: str) -> None:
    gt = truth()["mlflow2"]
    store = copy_fixture("mlflow2", tmp_path / "ws")
    (meta,) = store.glob(f"mlruns/*/{gt['run_id']}/meta.yaml")
    exp = meta.parent.parent.name
    text = meta.read_text()
    recorded = next(line for line in text.splitlines() if line.startswith("artifact_uri:"))
    windows = uri.format(exp=exp, run=gt["run_id"]).replace("\\", "\\\\")
    meta.write_text(text.replace(recorded, f'artifact_uri: "{windows}"'))
    index.index([tmp_path / "ws"])
    key = key_where(index, "native_id = ?", gt["run_id"])
    for artifact in (None, "model"):
        _plan, path = export(index, key, tmp_path / f"out-{artifact}", artifact=artifact)
        bag = unzip(path, tmp_path / f"x-{artifact}")
        info = load_json(bag / "data" / "model-info.json")
        assert info["kind"] == "mlflow-model"
        assert (bag / "data" / "model" / "MLmodel").is_file()


def test_served_store_mlflow_artifacts_uris(
    index: Index, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gt = truth()["mlflow_served"]
    assert gt["artifact_uri"].startswith("mlflow-artifacts:")
    copy_fixture("mlflow/served", tmp_path / "ws")
    index.index([tmp_path / "ws"])
    key = key_where(index, "native_id = ?", gt["run_id"])
    run = _show(index, key, capsys)
    assert [a["path"] for a in run["artifacts"]] == gt["artifacts"]  # type: ignore[index]
    assert "mlartifacts" in run["artifact_dir_rule"]  # type: ignore[operator]
    _plan, path = export(index, key, tmp_path / "out")
    bag = unzip(path, tmp_path / "x")
    assert sorted(p.name for p in (bag / "data" / "model").iterdir()) == gt["model_files"]
    assert load_json(bag / "data" / "model-info.json")["original_relative_path"] == (
        f"mlartifacts/1/models/{gt['model_id']}/artifacts"
    )


def test_location_resolving_outside_the_store_is_refused_with_the_reason(
    index: Index, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gt = truth()["mlflow_sweep"]
    store = copy_fixture("mlflow/sweep", tmp_path / "ws")
    outside = tmp_path / "elsewhere"
    (store / "mlruns").rename(outside)
    (store / "mlruns").symlink_to(outside)  # the store's artifact folder now leads out of the watched root
    index.index([tmp_path / "ws"])
    key = key_where(index, "native_id = ?", gt["best_run"])
    capsys.readouterr()
    assert main(["export", key, "--out", str(tmp_path), "--db", str(index.db_path)]) == 2
    err = capsys.readouterr().err
    assert "resolves outside" in err and "not followed" in err
    assert not list(tmp_path.glob("*.zip"))


def test_quiet_export_prints_nothing(
    index: Index, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_fixture("mlflow/sweep", tmp_path / "ws")
    index.index([tmp_path / "ws"])
    key = key_where(index, "native_id = ?", truth()["mlflow_sweep"]["best_run"])
    capsys.readouterr()
    assert main(["export", key, "--out", str(tmp_path), "--db", str(index.db_path), "-q"]) == 0
    assert capsys.readouterr() == ("", "")
    assert len(list(tmp_path.glob("*.zip"))) == 1
    assert (
        main(
            [
                "export",
                key,
                "--out",
                str(tmp_path / "no-such-dir" / "x.zip"),
                "--db",
                str(index.db_path),
                "-q",
            ]
        )
        == 2
    )
    out, err = capsys.readouterr()
    assert out == "" and "does not exist" in err
