"""The lineage and bundle packages (and the bundle CLI) never load Qt."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "expdesk.lineage",
        "expdesk.bundle.export",
        "expdesk.bundle.verify",
        "expdesk.bundle.extract",
        "expdesk.cli.bundle",
    ],
)
def test_no_qt(module: str) -> None:
    code = f"import sys, {module}; assert not any(m.startswith('PySide6') for m in sys.modules), 'Qt loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)
