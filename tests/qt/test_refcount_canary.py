"""Canary: the Qt bindings must not leak references of None/True/False (fatal on CPython 3.11).

The measurement runs in a fresh interpreter (`python -I refcount_probe.py`) that imports PySide6 and
nothing of expdesk, so no workaround the app or this test session applies can hide a regression.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = Path(__file__).with_name("refcount_probe.py")
#: allowed drift of a refcount over 1,000 calls (caches created by a first call may hold a few)
TOLERANCE = 50


def _run_probe() -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-I", str(PROBE)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"the refcount probe died (exit {done.returncode}):\n{done.stderr[-2000:]}"
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_qt_calls_keep_none_true_false_refcounts() -> None:
    report = _run_probe()
    assert report["expdesk_modules_loaded"] == [], "the probe must run before anything of expdesk"
    drift = report["drift"]
    assert isinstance(drift, dict) and len(drift) >= 8, drift
    leaks = [
        f"{kind}: {name} {moved:+d}"
        for kind, moved_by in drift.items()
        for name, moved in moved_by.items()
        if abs(moved) > TOLERANCE
    ]
    assert not leaks, (
        f"PySide6 {report['pyside']} on Python {report['python']} leaks references over"
        f" {report['calls']} calls per kind (tolerance ±{TOLERANCE}): "
        + "; ".join(leaks)
        + ". On CPython 3.11 such a build aborts long sessions (none_dealloc / bool_dealloc):"
        " keep it out in pyproject.toml."
    )


def test_probe_sees_a_leak_when_there_is_one() -> None:
    """The probe's arithmetic on a call that leaks one reference of None and of True per call, and on one
    that leaks nothing: a canary that could never fail would be worthless."""
    script = f"""
import ctypes, json, sys
sys.path.insert(0, {str(PROBE.parent)!r})
import refcount_probe as probe
def leaky():
    ctypes.pythonapi.Py_DecRef(ctypes.py_object(None))
    ctypes.pythonapi.Py_DecRef(ctypes.py_object(True))
print(json.dumps(probe.drift_per_kind({{"leaky": leaky, "clean": lambda: None}})))
sys.stdout.flush()
probe.os._exit(0)
"""
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    drift = json.loads(done.stdout)
    # ctypes takes and drops references of its own per call; what is left is the leak
    assert drift["leaky"]["None"] == -1000 and drift["leaky"]["True"] == -1000
    assert drift["clean"] == {"None": 0, "True": 0, "False": 0}
