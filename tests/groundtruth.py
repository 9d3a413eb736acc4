"""Helpers to compare what expdesk reads with the GROUND_TRUTH.json files written by each tool's own reader."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from expdesk.core.entities import RunRef, RunUpdate
from expdesk.core.summary import json_number, summarize
from expdesk.sources.base import Reader

DATA = Path(__file__).parent / "data"
RUNS = DATA / "runs"


def load_gt(tool: str) -> dict[str, Any]:
    return json.loads((RUNS / tool / "GROUND_TRUTH.json").read_text(encoding="utf-8"))


def gt_path(corpus_path: str) -> Path:
    """`public/<tool>/...` in the ground truth -> the copy under tests/data/runs/<tool>/..."""
    parts = Path(corpus_path).parts
    assert parts[0] == "public", corpus_path
    return RUNS.joinpath(*parts[1:])


def full_read(reader: Reader, ref: RunRef) -> RunUpdate:
    """Read a run from scratch (no cursor)."""
    return reader.read(ref, None)


def metric_summaries(update: RunUpdate) -> dict[str, dict[str, Any]]:
    """Summaries of every series in an update, in ground-truth form."""
    grouped: dict[str, list] = {}
    for s in update.metrics:
        grouped.setdefault(s.key, []).append(s)
    out = {}
    for key, parts in grouped.items():
        steps = np.concatenate([p.steps for p in parts])
        values = np.concatenate([p.values for p in parts])
        summ = summarize(steps, values)
        row = {
            "count": summ.count,
            "first_step": summ.first_step,
            "last_step": summ.last_step,
            "last_value": json_number(summ.last),
            "min": json_number(summ.min),
            "max": json_number(summ.max),
        }
        if summ.nan_count:
            row["nan_count"] = summ.nan_count
        out[key] = row
    return out


def same_number(a: Any, b: Any) -> bool:
    if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        return a == b
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


def assert_metrics_equal(got: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]]) -> None:
    assert sorted(got) == sorted(expected), f"metric keys differ: {sorted(got)} != {sorted(expected)}"
    for key, exp in expected.items():
        g = got[key]
        for field in ("count", "first_step", "last_step", "last_value", "min", "max"):
            assert same_number(g[field], exp[field]), (
                f"{key}.{field}: got {g[field]!r}, expected {exp[field]!r}"
            )
        assert g.get("nan_count", 0) == exp.get("nan_count", 0), f"{key}.nan_count"
