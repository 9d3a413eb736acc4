"""mypy on the non-GUI packages (STYLE.md habit 17): the layers the CLI and the GUI both build on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ["core", "sources", "index", "watch", "compare", "lineage", "bundle", "remote"]


def test_mypy_clean_on_non_gui_packages(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is in the test extra")
    targets = [f"expdesk/{p}" for p in PACKAGES if (REPO / "expdesk" / p).is_dir()]
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), *targets],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:]
