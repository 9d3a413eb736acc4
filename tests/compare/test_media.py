"""The Media views' Qt-free parts: which item a cell shows at a step, histograms on one grid, the figure."""

from __future__ import annotations

import numpy as np
from matplotlib.collections import QuadMesh

from expdesk.compare.media import NO_STEP, Cell, HistogramGrid, ItemRef, _spread, sample_refs
from expdesk.compare.media_figures import histogram_figure


def _cell(steps: list[int | None]) -> Cell:
    ids = np.arange(100, 100 + len(steps), dtype=np.int64)
    arr = np.array([NO_STEP if s is None else s for s in steps], dtype=np.int64)
    return Cell("run", "key", "image", "/", ids, arr, {101: "bad"})


def test_a_cell_shows_the_first_item_of_the_nearest_step_at_or_before() -> None:
    cell = _cell([0, 10, 10, 20])
    assert cell.at(-1) is None  # nothing logged yet
    assert cell.at(0) == ItemRef(100, 0, None)
    assert cell.at(15) == ItemRef(101, 10, "bad")  # step 10's first item, not its second
    assert cell.at(10) == ItemRef(101, 10, "bad")
    assert cell.at(10**9) == ItemRef(103, 20, None)
    assert cell.at(None) == ItemRef(103, 20, None)  # no step chosen: the last step
    stepless = _cell([None, None])
    assert stepless.stepless and stepless.at(5) == stepless.at(None) == ItemRef(100, None, None)
    mixed = _cell([None, 3])
    assert not mixed.stepless and mixed.at(2) is None and mixed.at(3) == ItemRef(101, 3, "bad")


def test_histograms_spread_onto_a_grid_keep_every_count() -> None:
    rng = np.random.default_rng(0)
    counts, edges = np.histogram(rng.normal(size=5000), bins=37)
    buckets = np.column_stack([edges[:-1], edges[1:], counts.astype(float)])
    grid = np.linspace(edges[0], edges[-1], 101)
    spread = _spread(buckets, grid)
    assert abs(spread.sum() - counts.sum()) < 1e-6 and (spread >= -1e-9).all()
    # on the buckets' own edges the spread is the histogram itself
    assert np.allclose(_spread(buckets, edges), counts)
    # a million buckets in one pass
    n = 1_000_000
    big = np.column_stack([np.arange(n, dtype=float), np.arange(1, n + 1, dtype=float), np.ones(n)])
    assert _spread(big, np.linspace(0, n, 11)).tolist() == [n / 10] * 10


def test_sampled_items_keep_the_last_step() -> None:
    rows = [ItemRef(i, i, None) for i in range(1000)]
    picked = sample_refs(rows, 120)
    assert len(picked) <= 120 and picked[0] is rows[0] and picked[-1] is rows[-1]


def test_histogram_figure_heatmap_ridge_and_reasons() -> None:
    edges = np.linspace(-1, 1, 11)
    counts = np.arange(30, dtype=float).reshape(3, 10)
    grid = HistogramGrid("run <b>$x$</b>", edges, np.array([0, 5, 10]), counts, total=3)
    empty = HistogramGrid(
        "empty", np.empty(0), np.empty(0, np.int64), np.empty((0, 0)), 1, ["step 0: no buckets"]
    )
    fig = histogram_figure([grid, empty], "heatmap")
    heat, blank = fig.axes[0], fig.axes[1]
    assert any(isinstance(c, QuadMesh) for c in heat.collections)
    assert heat.get_title(loc="left").startswith(r"run <b>\$x\$</b>")  # user text, never mathtext
    assert "no buckets" in blank.texts[0].get_text()
    fig = histogram_figure([grid], "ridge")
    assert len(fig.axes[0].lines) == 3 and not any(isinstance(c, QuadMesh) for c in fig.axes[0].collections)
