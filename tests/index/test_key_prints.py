"""A run's key print changes exactly when something `key_stats` counts of it changes (a new key, a param's
value, a tag, being hidden or joined), and not when it only logs more points: the window relies on that to
measure the key spread again only when a live update could change the automatic columns."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest

from expdesk.core.entities import RunRef, RunUpdate, Series, Status
from expdesk.index import store, table
from expdesk.index.service import Index


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    with Index(tmp_path / "i.db") as ix:
        yield ix


def _write(
    index: Index,
    root: Path,
    name: str,
    params: Mapping[str, str],
    metrics: Mapping[str, int],
    tags: Mapping[str, str] | None = None,
) -> str:
    """A run with `metrics` = {key: points} (the same write path the indexer uses)."""
    ref = RunRef("generic", root / name, root)
    series = [
        Series(key, np.arange(n, dtype=np.int64), np.linspace(1, 0, n), 1.7e12 + np.arange(n) * 1000.0)
        for key, n in metrics.items()
    ]
    update = RunUpdate(
        name=name,
        experiment="e",
        status=Status.RUNNING,
        params=dict(params),
        tags=dict(tags or {}),
        metrics=series,
    )
    index.writer.call(lambda c: store.apply_update(c, ref, update, None), {ref.key})
    return ref.key


def _state(
    index: Index, keys: list[str]
) -> tuple[dict[str, str], tuple[int, dict[str, dict[str, table.KeyStats]]]]:
    with index.reader() as reader:
        return table.key_prints(reader, keys), table.key_stats(reader)


def test_prints_change_with_what_key_stats_counts_and_not_with_points(index: Index, tmp_path: Path) -> None:
    root = tmp_path / "r"
    a = _write(index, root, "a", {"lr": "0.1", "seed": "1"}, {"loss": 3})
    b = _write(index, root, "b", {"lr": "0.2", "seed": "1"}, {"loss": 3})
    prints, stats = _state(index, [a, b])
    assert prints[a] != prints[b]

    # more points of the same keys: the spread and the prints stay
    _write(index, root, "a", {"lr": "0.1", "seed": "1"}, {"loss": 9})
    again, stats_again = _state(index, [a, b])
    assert (again, stats_again) == (prints, stats)

    # each change the spread sees changes the print of that run only
    changes = [
        lambda: _write(index, root, "a", {"lr": "0.1", "seed": "1"}, {"loss": 10, "val/acc": 1}),
        lambda: _write(index, root, "a", {"lr": "0.1", "seed": "2"}, {"loss": 10, "val/acc": 1}),
        lambda: _write(index, root, "a", {"lr": "0.1", "seed": "2", "wd": "0"}, {"loss": 10, "val/acc": 1}),
        lambda: _write(
            index, root, "a", {"lr": "0.1", "seed": "2", "wd": "0"}, {"loss": 10, "val/acc": 1}, {"t": "x"}
        ),
        lambda: index.set_hidden([a], True),
    ]
    for change in changes:
        before, stats_before = _state(index, [a, b])
        change()
        after, stats_after = _state(index, [a, b])
        assert stats_after != stats_before, "(the change should move the key spread)"
        assert after[a] != before[a] and after[b] == before[b]

    # a run the index does not hold has the print of nothing; many keys are read in chunks
    with index.reader() as reader:
        many = table.key_prints(reader, [f"none-{i}" for i in range(table.PAGE_CHUNK + 3)] + [b])
    assert len(many) == table.PAGE_CHUNK + 4 and len(set(many.values())) == 2 and many[b] == prints[b]
