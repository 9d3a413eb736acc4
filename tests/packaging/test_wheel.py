"""The wheel that `pip install .` / `pipx install .` installs carries the package data the app needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from expdesk.resources_path import ICON_NAME, ICON_SIZES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    # Build from a copy: setuptools writes build/ and *.egg-info next to pyproject.toml.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "expdesk", source / "expdesk", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = out.glob("expdesk-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_wheel_ships_the_icons(wheel_names: set[str]) -> None:
    expected = {f"expdesk/resources/icons/{ICON_NAME}.svg"} | {
        f"expdesk/resources/icons/{ICON_NAME}-{size}.png" for size in ICON_SIZES
    }
    assert expected <= wheel_names


def test_wheel_ships_the_demo_workspace(wheel_names: set[str]) -> None:
    demo = ROOT / "expdesk" / "demo" / "runs"
    if not demo.is_dir():
        pytest.skip("no demo workspace in this checkout yet (expdesk/demo lands with the main window)")
    shipped = {
        path.relative_to(ROOT).as_posix()
        for path in demo.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert shipped and shipped <= wheel_names, sorted(shipped - wheel_names)[:10]


def test_wheel_has_the_console_script(wheel_names: set[str]) -> None:
    (entry_points,) = [name for name in wheel_names if name.endswith(".dist-info/entry_points.txt")]
    assert entry_points
    assert "expdesk/__main__.py" in wheel_names
