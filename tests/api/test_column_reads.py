"""The two ways `column_queries` reads many runs' columns give the same columns: joining each table to the
keys asked for (a filtered pull) and reading the tables whole (every run: a notebook's first `runs()`),
on the sample runs and on joined runs (issue 23), whose merged values replace their head part's own."""

from __future__ import annotations

import random
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import expdesk
from expdesk.index import column_queries as queries
from expdesk.index.reader import IndexReader

JOBS = Path(__file__).resolve().parents[1] / "data" / "jobs"
READS = (
    queries.param_columns,
    queries.tag_columns,
    queries.metric_last_columns,
    queries.metric_final_columns,
)


def pairs(column: Any) -> list[tuple[int, Any]]:
    """(position, value) of each row of a column, sorted; a metric's value as its float's bits."""
    if isinstance(column, queries.TextColumn):
        return sorted(zip(column.positions.tolist(), column.texts, strict=True))
    positions, values = column
    return sorted(zip(positions.tolist(), values.view(np.int64).tolist(), strict=True))


def same_columns(left: dict[str, Any], right: dict[str, Any]) -> None:
    assert list(left) == list(right)
    for name, a in left.items():
        b = right[name]
        # the same values at the same positions (the rows of a column come in no particular order);
        # metrics bit for bit: NaN and -0.0 as recorded
        assert pairs(a) == pairs(b), name


def check_both_ways(db: Path, keys_of: Sequence[str] | None = None) -> int:
    reader = IndexReader(db)
    try:
        everything = queries.matching_keys(reader, deleted=None, hidden=None)
        shuffled = list(everything)
        random.Random(0).shuffle(shuffled)
        for keys in (everything, shuffled, shuffled[: len(shuffled) // 2 + 1], keys_of or []):
            for read in READS:
                with queries.snapshot(reader):
                    whole = read(reader, keys, whole=True)
                    joined = read(reader, keys, whole=False)
                    chosen = read(reader, keys)
                same_columns(whole, joined)
                same_columns(chosen, joined)
        with queries.snapshot(reader):
            assert queries.param_columns(reader, everything)  # the runs have params to compare at all
            assert any(read(reader, everything) for read in READS[2:])
        return len(everything)
    finally:
        reader.close()


def test_the_sample_runs_read_alike_both_ways(sample_db: Path) -> None:
    assert check_both_ways(sample_db) > 40


def test_joined_runs_read_alike_both_ways(tmp_path: Path) -> None:
    for name in ("lightning_hydra", "trainer_best", "dvc_exp"):
        shutil.copytree(JOBS / name, tmp_path / name, symlinks=True)
    db = tmp_path / "index.sqlite"
    with expdesk.open(db) as ws:
        assert ws.index(*(tmp_path / n for n in ("lightning_hydra", "trainer_best", "dvc_exp"))).errors == ()
        df = ws.runs(deleted=None)
        parts = [p.key for key in df.index for p in ws.run(key).parts]
    assert len(parts) > len(df)  # joined runs: parts that are no rows of their own
    assert check_both_ways(db, parts) == len(df)  # parts' keys too: each its own rows


@pytest.mark.parametrize("twice", [["a", "a"], []])
def test_keys_asked_twice_or_none(sample_db: Path, twice: list[str]) -> None:
    reader = IndexReader(sample_db)
    try:
        key = queries.matching_keys(reader)[0]
        keys = [key if k == "a" else k for k in twice]
        with queries.snapshot(reader):
            joined = queries.param_columns(reader, keys, whole=False)
            whole = queries.param_columns(reader, keys, whole=True)
        same_columns(whole, joined)
        if keys:
            assert all(sorted(c.positions.tolist()) == [0, 1] for c in joined.values())
    finally:
        reader.close()
