"""Synthetic runs written straight into a fresh index (the same write path the indexer uses)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from expdesk.core.entities import RunRef, RunUpdate, Series, Status
from expdesk.index import store
from expdesk.index.service import Index


def add_run(
    index: Index,
    root: Path,
    name: str,
    params: Mapping[str, str] | None = None,
    metrics: Mapping[str, Sequence[float] | np.ndarray] | None = None,
    tags: Mapping[str, str] | None = None,
    status: Status = Status.FINISHED,
    t0_ms: float = 1.7e12,
) -> str:
    ref = RunRef("generic", root / name, root)
    series = []
    for key, values in (metrics or {}).items():
        v = np.asarray(values, dtype=np.float64)
        steps = np.arange(len(v), dtype=np.int64)
        series.append(Series(key, steps, v, t0_ms + steps * 1000.0))
    update = RunUpdate(
        name=name,
        experiment="exp",
        status=status,
        params=dict(params or {}),
        tags=dict(tags or {}),
        metrics=series,
    )
    index.writer.call(lambda c: store.apply_update(c, ref, update, None), {ref.key})
    return ref.key


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    with Index(tmp_path / "i.db") as ix:
        yield ix


def runs_json(index: Index, keys: list[str]) -> list[dict[str, Any]]:
    with index.reader() as reader:
        return reader.runs_json(keys)
