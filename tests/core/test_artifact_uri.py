"""The one artifact-location resolver: another machine's paths re-rooted on the store as it sits now."""

from __future__ import annotations

from pathlib import Path

import pytest

from expdesk.core.artifact_uri import artifact_dirs, artifact_file, locate, parse_location

RUN = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("uri", "kind", "parts"),
    [
        ("file:///D:/work/mlruns/1/r/artifacts", "local", ("D:", "work", "mlruns", "1", "r", "artifacts")),
        ("file:/D:/work/x", "local", ("D:", "work", "x")),
        ("file:///C:/Users/A%20B/mlruns", "local", ("C:", "Users", "A B", "mlruns")),
        (
            "C:\\Users\\me\\mlruns\\1\\r\\artifacts",
            "local",
            ("C:", "Users", "me", "mlruns", "1", "r", "artifacts"),
        ),
        ("C:/Users/me/mlruns", "local", ("C:", "Users", "me", "mlruns")),
        (
            "/home/alice/proj/mlruns/1/r/artifacts",
            "local",
            ("home", "alice", "proj", "mlruns", "1", "r", "artifacts"),
        ),
        ("./mlruns/1/r/artifacts", "relative", ("mlruns", "1", "r", "artifacts")),
        ("\\\\server\\share\\mlruns", "unc", ("server", "share", "mlruns")),
        ("file://server/share/mlruns", "unc", ("server", "share", "mlruns")),
        ("file://localhost/srv/mlruns", "local", ("srv", "mlruns")),
        ("mlflow-artifacts:/1/r/artifacts", "mlflow-artifacts", ("1", "r", "artifacts")),
        ("mlflow-artifacts://host:5000/1/r/artifacts", "mlflow-artifacts", ("1", "r", "artifacts")),
        ("s3://bucket/1/r/artifacts", "remote", ()),
        ("https://example.org/x", "remote", ()),
    ],
)
def test_parse_location(uri: str, kind: str, parts: tuple[str, ...]) -> None:
    parsed = parse_location(uri)
    assert (parsed.kind, parsed.parts) == (kind, parts)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A moved SQLite store: `<here>/proj/{mlflow.db, mlruns/1/<run>/artifacts, mlartifacts/2/<run>/artifacts}`."""
    proj = tmp_path / "root" / "proj"
    (proj / "mlruns" / "1" / RUN / "artifacts").mkdir(parents=True)
    (proj / "mlruns" / "1" / "models" / "m-1" / "artifacts").mkdir(parents=True)
    (proj / "mlartifacts" / "2" / RUN / "artifacts").mkdir(parents=True)
    return proj


@pytest.mark.parametrize(
    "uri",
    [
        f"file:///D:/work/proj/mlruns/1/{RUN}/artifacts",
        f"D:\\work\\proj\\mlruns\\1\\{RUN}\\artifacts",
        f"/home/alice/old/mlruns/1/{RUN}/artifacts",
        f"./mlruns/1/{RUN}/artifacts",
        f"file://fileserver/share/proj/mlruns/1/{RUN}/artifacts",
        f"mlflow-artifacts:/1/{RUN}/artifacts",  # a server whose destination was ./mlruns
    ],
)
def test_recorded_paths_resolve_to_the_store_as_it_sits_now(store: Path, uri: str) -> None:
    found = locate(uri, store, store.parent, ["1", RUN])
    assert found.path == store / "mlruns" / "1" / RUN / "artifacts", found.rule


def test_served_artifacts_found_in_the_destination_folder(store: Path) -> None:
    found = locate(f"mlflow-artifacts:/2/{RUN}/artifacts", store, store.parent, ["2", RUN])
    assert found.path == store / "mlartifacts" / "2" / RUN / "artifacts"
    assert "mlartifacts" in found.rule


def test_logged_model_location(store: Path) -> None:
    uri = "file:///D:/work/proj/mlruns/1/models/m-1/artifacts"
    assert locate(uri, store, store.parent, ["1", "models", "m-1"]).path == (
        store / "mlruns" / "1" / "models" / "m-1" / "artifacts"
    )


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        (f"s3://bucket/1/{RUN}/artifacts", "remote"),
        (None, "no artifact location"),
        ("/x/mlruns/1/other/artifacts", "does not end in"),
        (f"/x/mlruns/1/{RUN}/../../../../etc", "climbs"),
        (f"mlflow-artifacts:/../1/{RUN}/artifacts", "climbs"),
    ],
)
def test_unresolvable_locations_say_why(store: Path, uri: str | None, why: str) -> None:
    found = locate(uri, store, store.parent, ["1", RUN])
    assert found.path is None and why in found.rule


def test_never_outside_the_watched_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "1" / RUN / "artifacts"
    outside.mkdir(parents=True)
    proj = tmp_path / "root" / "proj"
    (proj / "mlruns").mkdir(parents=True)
    (proj / "mlruns" / "1").symlink_to(tmp_path / "outside" / "1")
    found = locate(f"/old/mlruns/1/{RUN}/artifacts", proj, tmp_path / "root", ["1", RUN])
    assert found.path is None and "outside" in found.rule


def test_ids_must_be_plain_names(store: Path) -> None:
    assert locate("/x/1/../artifacts", store, store.parent, ["1", ".."]).path is None
    assert locate("/x/a/b/artifacts", store, store.parent, ["a/b"]).path is None


def test_artifact_file_uses_the_recorded_folder(store: Path) -> None:
    art = store / "mlruns" / "1" / RUN / "artifacts"
    (art / "model.bin").write_bytes(b"x")
    info = {"artifact_dir": str(art)}
    assert artifact_dirs(store / "mlflow.db", info) == [art]
    assert (
        artifact_file(store / "mlflow.db", store.parent, info, "model.bin") == (art / "model.bin").resolve()
    )
    assert artifact_file(store / "mlflow.db", store.parent, info, "../model.bin") is None
    assert artifact_dirs(store / "mlflow.db", {"artifact_dir": None}) == []
    assert artifact_file(store / "mlflow.db", store.parent, {"artifact_dir": None}, "model.bin") is None
