"""One index of every sample run under tests/data/runs, built once through the Python API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import expdesk
from tests.groundtruth import RUNS


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api") / "index.sqlite"
    with expdesk.open(path) as ws:
        summary = ws.index(RUNS)
    assert summary.errors == () and summary.found == summary.read > 40
    return path


@pytest.fixture
def ws(sample_db: Path) -> Iterator[expdesk.Workspace]:
    with expdesk.open(sample_db) as workspace:
        yield workspace
