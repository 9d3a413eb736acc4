"""Guarantee 5 (durable index) under SIGKILL: `benchmarks/crash_loop.py`, 5 kills in the default suite and
200 with `-m slow`. Each kill is followed by `PRAGMA integrity_check`; a final complete index must give
the same rows as a clean one."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.hostile.conftest import REPO


def _crash_loop() -> ModuleType:
    spec = importlib.util.spec_from_file_location("crash_loop", REPO / "benchmarks" / "crash_loop.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_five_kills_leave_a_sound_db_that_converges(tmp_path: Path) -> None:
    result = _crash_loop().crash_loop(tmp_path, kills=5, runs=8, points=300, seed=7, log=False)
    assert result.kills == 5
    assert result.integrity_failures == 0
    assert result.mismatches == []


@pytest.mark.slow
def test_two_hundred_kills(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("~6 minutes: run with `pytest -m slow tests/hostile/test_crash_loop.py`")
    result = _crash_loop().crash_loop(tmp_path, kills=200, runs=40, points=1000, seed=1, log=False)
    assert (result.kills, result.integrity_failures, result.mismatches) == (200, 0, [])
