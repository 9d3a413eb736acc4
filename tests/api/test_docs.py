"""Every code block of docs/python-api.md, and the README's Python API section, run as written."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.groundtruth import RUNS

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(text: str) -> list[str]:
    return BLOCK.findall(text)


@pytest.fixture
def examples(tmp_path: Path) -> Iterator[Path]:
    """A folder as the page describes it: runs/mlruns, runs/lightning_logs, runs/multirun, runs/tensorboard."""
    shutil.copytree(RUNS / "mlflow" / "filestore" / "mlruns", tmp_path / "runs" / "mlruns")
    shutil.copytree(RUNS / "tensorboard" / "runs", tmp_path / "runs" / "tensorboard")
    shutil.copytree(RUNS / "lightning" / "lightning_logs", tmp_path / "runs" / "lightning_logs")
    shutil.copytree(RUNS / "hydra" / "multirun", tmp_path / "runs" / "multirun")
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(cwd)


def test_every_block_of_the_python_api_page_runs(examples: Path) -> None:
    code = blocks((REPO / "docs" / "python-api.md").read_text(encoding="utf-8"))
    assert len(code) >= 12
    namespace: dict[str, object] = {}
    for i, block in enumerate(code):
        exec(compile(block, f"docs/python-api.md block {i + 1}", "exec"), namespace)
    assert (examples / "sweep.png").stat().st_size > 0
    # what the page wrote, all of it outside the run folders: the index (with its lock and SQLite's files
    # beside it) and the figure
    written = sorted(p.name for p in examples.iterdir() if not p.name.startswith("runs.sqlite"))
    assert written == ["runs", "sweep.png"] and (examples / "runs.sqlite").is_file()


def test_the_readme_python_section_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    (code,) = blocks(section)
    home = tmp_path / "home"
    shutil.copytree(RUNS / "lightning" / "lightning_logs", home / "lightning_logs")
    shutil.copytree(RUNS / "mlflow" / "filestore" / "mlruns", home / "mlruns")
    # one run the section's filter keeps (the samples' learning rates are all >= 1e-3)
    hparams = home / "lightning_logs" / "version_0" / "hparams.yaml"
    hparams.write_text(hparams.read_text().replace("lr: 0.01", "lr: 0.0005"))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    # the section's `ws.run("3f2a")` stands for any key prefix: use one this index has
    namespace: dict[str, object] = {}
    exec(compile(code.replace('"3f2a"', "df.index[0][:4]"), "README.md", "exec"), namespace)
    assert len(namespace["df"]) > 0 and len(namespace["h"]) > 0  # type: ignore[arg-type]
    assert namespace["r"].key == namespace["df"].index[0]  # type: ignore[attr-defined]
