"""What a desktop shell passes through `Exec=expdesk %U` reaches the app as folder paths."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from expdesk import cli


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> list[argparse.Namespace]:
    """Stands in for `expdesk.app` so no window opens; records the arguments `run_app` gets."""
    calls: list[argparse.Namespace] = []
    fake = type(sys)("expdesk.app")
    fake.run_app = lambda args: calls.append(args) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "expdesk.app", fake)
    return calls


def test_file_uris_become_paths(launched: list[argparse.Namespace], tmp_path: Path) -> None:
    folder = tmp_path / "my runs" / "100%"
    folder.mkdir(parents=True)
    assert cli.main([folder.as_uri(), str(tmp_path)]) == 0
    assert launched[0].paths == [folder, tmp_path]


def test_localhost_uri_and_remote_uri(launched: list[argparse.Namespace]) -> None:
    assert cli.main(["file://localhost/srv/runs", "file://elsewhere/srv/runs"]) == 0
    local, remote = launched[0].paths
    assert local == Path("/srv/runs")
    assert not remote.exists()  # another machine's path is not taken as a local one
