"""Figures asserted by their artists: lines, bands, labels, scales, decimation on zoom, hover, exports."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.dates import num2date
from matplotlib.image import imread
from matplotlib.path import Path as MplPath

from expdesk.compare.bands import BAND_GROUP, BandImage
from expdesk.compare.figures import (
    RAW_ALPHA,
    ZoomStableLayout,
    format_duration,
    metric_chart,
    save_figure,
)
from expdesk.compare.series import PlotSeries, RawSeries, XMode, prepare
from expdesk.compare.summary_figures import parallel_figure, scatter_figure


def series(key: str, n: int, seed: int = 0, metric: str = "loss", smoothing: float = 0.0) -> PlotSeries:
    rng = np.random.default_rng(seed)
    raw = RawSeries(key, metric, np.arange(n), np.cumsum(rng.normal(size=n)), 1.7e12 + np.arange(n) * 1000.0)
    return prepare(raw, f"label-{key}", XMode.STEP, smoothing)


def artist(ax, gid: str):
    return next(a for a in ax.get_children() if a.get_gid() == gid)


def test_overlay_lines_labels_and_faint_raw_behind_smoothed() -> None:
    s = [series("a", 500, 0, smoothing=0.6), series("b", 500, 1, smoothing=0.6)]
    chart = metric_chart({"loss": s}, ["a", "b"], smoothing=0.6)
    ax = chart.axes["loss"]
    gids = sorted(line.get_gid() for line in ax.get_lines())
    assert gids == ["raw:a", "raw:b", "smoothed:a", "smoothed:b"]
    assert sorted(p.get_gid() for p in ax.patches) == ["band:a", "band:b"]
    raw_a, smooth_a, band_a = artist(ax, "raw:a"), artist(ax, "smoothed:a"), artist(ax, "band:a")
    assert raw_a.get_alpha() == RAW_ALPHA == band_a.get_alpha() and smooth_a.get_color() == raw_a.get_color()
    assert smooth_a.get_zorder() >= raw_a.get_zorder(), "the smoothed line is drawn over the raw data"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["label-a", "label-b"]
    assert ax.get_title() == "loss" and ax.get_xlabel() == "step"
    # 500 points at ~800 px are drawn as they are, the raw line too; no band
    np.testing.assert_array_equal(smooth_a.get_ydata(), s[0].smoothed)
    np.testing.assert_array_equal(raw_a.get_ydata(), s[0].y)
    assert len(band_a.get_path().vertices) == 0


def test_dense_series_draw_a_band_of_column_extremes_and_a_mean_smoothed_line() -> None:
    n = 200_000
    s = series("a", n, 0, smoothing=0.6)
    chart = metric_chart({"loss": [s]}, ["a"], smoothing=0.6, figsize=(8, 4), dpi=100)
    ax = chart.axes["loss"]
    raw, smooth, band = artist(ax, "raw:a"), artist(ax, "smoothed:a"), artist(ax, "band:a")
    width = chart.decimators[ax].pixel_width()
    assert len(raw.get_xdata()) == 0, "the raw data is the band"
    verts = band.get_path().vertices
    assert len(verts) <= 2 * (width + 2) + 1  # hi left to right, lo back, closed
    assert verts[:, 1].max() == s.y.max() and verts[:, 1].min() == s.y.min()
    assert len(smooth.get_xdata()) <= width + 2
    # the mean of the EMA of each column: inside the EMA's range, close to it (the walk is smooth at 0.6)
    xs, ys = smooth.get_xdata(), smooth.get_ydata()
    assert s.smoothed.min() <= ys.min() and ys.max() <= s.smoothed.max()
    at = np.searchsorted(s.x, xs).clip(0, n - 1)
    assert np.all(np.abs(ys - s.smoothed[at]) <= np.abs(np.diff(s.smoothed)).max() * n / width)
    # without smoothing the band is opaque and its mean line keeps a thin band visible
    chart = metric_chart({"loss": [series("a", n)]}, ["a"], figsize=(8, 4), dpi=100)
    ax = chart.axes["loss"]
    assert artist(ax, "band:a").get_alpha() == 1.0 and 0 < len(artist(ax, "raw:a").get_xdata()) <= width + 2


def test_band_splits_at_columns_without_finite_values() -> None:
    n = 100_000
    y = np.ones(n)
    y[40_000:60_000] = math.nan  # wider than a pixel column: a gap
    y[10] = math.inf
    y[70_000] = 5.0
    s = prepare(RawSeries("a", "loss", np.arange(n), y, np.full(n, math.nan)), "a")
    chart = metric_chart({"loss": [s]}, ["a"], figsize=(8, 4), dpi=100)
    path = artist(chart.axes["loss"], "band:a").get_path()
    assert (path.codes == MplPath.MOVETO).sum() == 2 and (path.codes == MplPath.CLOSEPOLY).sum() == 2
    assert np.isfinite(path.vertices).all() and path.vertices[:, 1].max() == 5.0
    assert not ((path.vertices[:, 0] > 41_000) & (path.vertices[:, 0] < 59_000)).any()


def test_log_x_band_keeps_the_first_points() -> None:
    n = 300_000
    s = prepare(RawSeries("a", "loss", np.arange(n), np.arange(n) + 1.0, np.full(n, math.nan)), "a")
    chart = metric_chart({"loss": [s]}, ["a"], log_x=True, figsize=(8, 4), dpi=100)
    verts = artist(chart.axes["loss"], "band:a").get_path().vertices
    # the first pixel columns of a log axis hold one point each: none may be lost to block snapping
    assert verts[:, 0].min() < 1.05 and verts[:, 1].min() == 2.0 and verts[:, 1].max() == n


def test_log_scales_and_small_multiples() -> None:
    chart = metric_chart(
        {"loss": [series("a", 100)], "acc": [series("a", 100, metric="acc")]}, ["a"], log_x=True, log_y=True
    )
    assert set(chart.axes) == {"loss", "acc"}
    for ax in chart.axes.values():
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert chart.figure.legends, "small multiples share one figure legend"


def test_zoom_redecimates_from_full_resolution() -> None:
    n = 1_000_000
    x = np.arange(n)
    y = np.zeros(n)
    y[400_000] = 9.0  # a single spike
    s = prepare(RawSeries("a", "loss", x, y, np.full(n, math.nan)), "a")
    chart = metric_chart({"loss": [s]}, ["a"], figsize=(8, 4), dpi=100)
    ax = chart.axes["loss"]
    line, band = artist(ax, "raw:a"), artist(ax, "band:a")
    assert len(band.get_path().vertices) < 2 * 800 + 10 and band.get_path().vertices[:, 1].max() == 9.0
    assert ax.get_ylim()[1] >= 9.0, "y autoscale sees the spike"
    ax.set_xlim(399_900, 400_100)  # what the zoom tool does
    xs = line.get_xdata()
    np.testing.assert_array_equal(xs, np.arange(399_899, 400_102))  # the real points, all of them
    assert 9.0 in line.get_ydata() and len(band.get_path().vertices) == 0
    ax.set_xlim(300_000, 500_000)  # zoomed, but still dense: a band from the pyramid, spike included
    assert len(line.get_xdata()) <= 800 + 3 and band.get_path().vertices[:, 1].max() == 9.0
    ax.set_xlim(0, n - 1)
    assert band.get_path().vertices[:, 1].max() == 9.0 and len(band.get_path().vertices) < 2 * 800 + 10


def test_hover_finds_real_point() -> None:
    s = series("a", 500)
    chart = metric_chart({"loss": [s]}, ["a"])
    ax = chart.axes["loss"]
    chart.figure.canvas.draw()
    px, py = ax.transData.transform((250, s.y[250]))
    hit = chart.nearest(ax, px + 0.2, py - 0.2)
    assert hit is not None and hit.index == 250
    assert "step 250" in hit.text and "label-a" in hit.text
    assert chart.nearest(ax, -1000, -1000) is None


def test_hover_searches_full_resolution_data_when_zoomed_out() -> None:
    n = 1_000_000
    y = np.zeros(n)
    y[654_321] = 3.0
    y[654_330] = 2.9  # in the same pixel column: only the nearer one is reported
    s = prepare(RawSeries("a", "loss", np.arange(n), y, np.full(n, math.nan)), "a", XMode.STEP, 0.6)
    chart = metric_chart({"loss": [s]}, ["a"], smoothing=0.6, figsize=(8, 4), dpi=100)
    ax = chart.axes["loss"]
    chart.figure.canvas.draw()
    px, py = ax.transData.transform((654_321, 3.0))
    hit = chart.nearest(ax, px, py + 1)
    assert hit is not None and hit.index == 654_321 and "step 654321" in hit.text and "= 3" in hit.text
    hit = chart.nearest(ax, *ax.transData.transform((100_000, 0.0)))
    assert hit is not None and hit.series.y[hit.index] == 0.0 and abs(hit.index - 100_000) < n / 800


def test_layout_is_not_redone_on_an_x_zoom_and_the_legend_is_blitted() -> None:
    s = [series(k, 50_000, i, smoothing=0.6) for i, k in enumerate("abc")]
    chart = metric_chart({"loss": s}, list("abc"), smoothing=0.6, figsize=(8, 4), dpi=100)
    ax = chart.axes["loss"]
    engine = chart.figure.get_layout_engine()
    assert isinstance(engine, ZoomStableLayout)
    canvas = FigureCanvasAgg(chart.figure)
    canvas.draw()
    key, position = engine._key, ax.get_position().bounds
    legend = ax.get_legend()
    cached = legend._blit
    assert cached is not None
    width = chart.decimators[ax].pixel_width()
    assert width == math.ceil(ax.bbox.width), "decimated for the laid-out axes, not the initial one"
    ax.set_xlim(10_000, 20_000)
    canvas.draw()
    assert engine._key == key and ax.get_position().bounds == position
    assert legend._blit is cached, "the zoomed frame copied the legend back"
    blitted = np.asarray(canvas.buffer_rgba()).copy()
    legend._blit = None  # the same frame with the legend drawn from scratch
    canvas.draw()
    np.testing.assert_array_equal(np.asarray(canvas.buffer_rgba()), blitted)
    ax.set_ylim(-1000, 1000)  # wider y tick labels: the margins are recomputed
    canvas.draw()
    assert engine._key != key


def test_wall_and_relative_time_axes() -> None:
    raw = RawSeries(
        "a", "loss", np.arange(3), np.array([1.0, 2.0, 3.0]), np.array([1.7e12, 1.7e12 + 90_000, math.nan])
    )
    wall = prepare(raw, "a", XMode.WALL)
    assert len(wall.x) == 2, "points without a timestamp have no place on a time axis"
    assert num2date(wall.x[0]).timestamp() == 1.7e9
    rel = prepare(raw, "a", XMode.RELATIVE)
    assert rel.x.tolist() == [0.0, 90.0]
    chart = metric_chart({"loss": [rel]}, ["a"], x_mode=XMode.RELATIVE)
    assert chart.axes["loss"].get_xlabel() == "relative time"
    assert (
        format_duration(90) == "1:30"
        and format_duration(3 * 3600 + 5) == "3:00:05"
        and format_duration(12) == "12s"
    )


def test_unsorted_steps_are_sorted_stably() -> None:
    raw = RawSeries("a", "m", np.array([0, 2, 1, 2]), np.array([0.0, 2.0, 1.0, 3.0]), np.full(4, math.nan))
    s = prepare(raw, "a")
    assert s.x.tolist() == [0, 1, 2, 2] and s.y.tolist() == [0.0, 1.0, 2.0, 3.0]


def runs_for_params() -> list[dict]:
    return [
        {"key": "a", "params": {"lr": "0.001", "opt": "adam"}, "metrics": {"loss": {"last": 0.5}}},
        {"key": "b", "params": {"lr": "0.1", "opt": "sgd"}, "metrics": {"loss": {"last": 0.9}}},
        {"key": "c", "params": {"lr": "0.01", "opt": "adam"}, "metrics": {"loss": {"last": "NaN"}}},
        {"key": "d", "params": {"opt": "sgd"}, "metrics": {}},
    ]


def test_parallel_coordinates_numeric_log_and_categorical_axes() -> None:
    fig = parallel_figure(runs_for_params(), ["lr", "opt"], "loss", "last")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["lr (log)", "opt", "loss · last"]
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    segments = lines.get_segments()
    assert len(segments) == 4
    # lr: 0.001 at the bottom, 0.1 at the top (log axis), 0.01 in the middle; missing -> NaN (gap)
    assert segments[0][0][1] == 0.0 and segments[1][0][1] == 1.0 and abs(segments[2][0][1] - 0.5) < 1e-12
    assert all(x != 0 for x, _y in segments[3]), "a run without lr has no vertex on the lr axis"
    texts = {t.get_text() for t in ax.texts}
    assert {"adam", "sgd", "0.001", "0.1"} <= texts


def test_scatter_param_against_metric() -> None:
    fig = scatter_figure(runs_for_params(), "lr", "loss", "last", labels=["A", "B", "C", "D"])
    ax = fig.axes[0]
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert sorted(points.get_offsets()[:, 0].tolist()) == [0.001, 0.1]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "lr" and ax.get_ylabel() == "loss · last"
    assert "2 without both values" in ax.get_title()
    fig = scatter_figure(runs_for_params(), "opt", "loss")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["adam", "sgd"]


def test_export_png_and_svg(tmp_path: Path) -> None:
    chart = metric_chart({"loss": [series("a", 5000, smoothing=0.6)]}, ["a"], smoothing=0.6)
    FigureCanvasAgg(
        chart.figure
    ).draw()  # the screen's legend is cached; the export must not reuse a blank one
    png = save_figure(chart.figure, tmp_path / "c.png")
    pixels = imread(png)
    box = chart.axes["loss"].get_legend().get_window_extent()
    rows = slice(int(len(pixels) - box.y1) + 2, int(len(pixels) - box.y0) - 2)
    assert pixels[rows, int(box.x0) + 2 : int(box.x1) - 2, :3].min() < 0.3, "legend text is drawn"
    svg = save_figure(chart.figure, tmp_path / "c.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in svg.read_bytes()[:500]


# -- the band image: the bands of an axes on raster canvases ---------------------------------------------


def band_only_canvas(chart, dpi: float = 100.0) -> FigureCanvasAgg:
    """A canvas on which only the bands draw (lines, grid, legend and texts hidden)."""
    chart.figure.set_dpi(dpi)
    for ax in chart.axes.values():
        for line in ax.get_lines():
            line.set_visible(False)
        ax.grid(False)
        ax.set_axis_off()
        ax.set_title("")
        if ax.get_legend() is not None:
            ax.get_legend().set_visible(False)
    canvas = FigureCanvasAgg(chart.figure)
    canvas.draw()
    return canvas


def painted(canvas: FigureCanvasAgg) -> np.ndarray:
    """Bool image, row 0 at the bottom (display coordinates): where anything but white was drawn."""
    rgba = np.asarray(canvas.buffer_rgba())
    return (rgba[::-1, :, :3] < 250).any(axis=2)


@pytest.mark.parametrize("dpi", [100.0, 150.0])
def test_band_image_paints_every_column_from_its_min_to_its_max(dpi: float) -> None:
    n = 300_000
    rng = np.random.default_rng(9)
    y = np.sin(np.arange(n) / 20_000) + rng.normal(size=n) * 0.1
    y[123_456] = 9.0  # one spike, one point
    s = prepare(RawSeries("a", "loss", np.arange(n), y, None), "a", XMode.STEP, 0.6)
    chart = metric_chart({"loss": [s]}, ["a"], smoothing=0.6, figsize=(6, 3))
    canvas = band_only_canvas(chart, dpi)
    ax = chart.axes["loss"]
    band = artist(ax, "band:a")
    assert band.columns is not None
    xc, lo, hi = band.columns
    grid = painted(canvas)
    col = np.floor(ax.transData.transform(np.column_stack((xc, lo)))[:, 0]).astype(int)
    bottom = ax.transData.transform(np.column_stack((xc, lo)))[:, 1]
    top = ax.transData.transform(np.column_stack((xc, hi)))[:, 1]
    inside = (col >= math.ceil(ax.bbox.x0)) & (col < math.floor(ax.bbox.x1))
    for c, b, t in zip(col[inside], bottom[inside], top[inside], strict=True):
        rows = np.arange(math.ceil(b - 0.5), math.floor(t - 0.5) + 1)
        rows = rows[(rows >= ax.bbox.y0) & (rows < ax.bbox.y1)]
        assert grid[rows, c].all(), f"pixel column {c} is not painted from its min to its max"
    # the spike is exactly as tall as its value, and nothing is painted beyond the data's extremes
    spike = ax.transData.transform((123_456, 9.0))
    column = grid[:, int(spike[0]) - 1 : int(spike[0]) + 2].any(axis=1)
    assert np.flatnonzero(column).max() == math.floor(spike[1] - 0.5)
    assert np.flatnonzero(grid.any(axis=1)).min() >= math.ceil(ax.transData.transform((0, y.min()))[1] - 0.5)


def test_band_image_looks_like_the_polygons_and_exports_stay_vector(tmp_path: Path) -> None:
    s = [series(k, 200_000, i, smoothing=0.6) for i, k in enumerate("abc")]
    chart = metric_chart({"loss": s}, list("abc"), smoothing=0.6, figsize=(6, 3))
    canvas = band_only_canvas(chart)
    as_image = np.asarray(canvas.buffer_rgba()).astype(int)
    image = next(a for a in chart.axes["loss"].get_children() if isinstance(a, BandImage))
    image.set_visible(False)  # the patches draw their polygons again
    canvas.draw()
    as_polygons = np.asarray(canvas.buffer_rgba()).astype(int)
    close = np.abs(as_image - as_polygons).max(axis=2) <= 3  # 8-bit rounding of the composited colours
    assert close.mean() > 0.97, "the same pixels, but at the polygons' interpolated edges"
    image.set_visible(True)
    canvas.draw()
    assert image.drawn_as == "image"
    # decimated for 100 dpi, drawn at 300 without a refresh: columns 3 px wide would leave gaps
    chart.figure.set_dpi(300)
    image.draw(FigureCanvasAgg(chart.figure).get_renderer())
    assert image.drawn_as == "polygons"
    chart.figure.set_dpi(100)
    svg = save_figure(chart.figure, tmp_path / "c.svg").read_bytes()
    assert all(f'id="band:{k}"'.encode() in svg for k in "abc"), "SVG keeps one vector band per run"


def test_band_image_composites_more_bands_than_one_mask_holds() -> None:
    n = 50_000
    count = BAND_GROUP + 3
    runs = {f"r{i:02d}": np.sin(np.arange(n) / 3000) * 0.2 + i for i in range(count)}  # stacked, apart
    prepared = [
        prepare(
            RawSeries(k, "loss", np.arange(n), v + np.random.default_rng(i).normal(size=n) * 0.1, None), k
        )
        for i, (k, v) in enumerate(runs.items())
    ]
    chart = metric_chart({"loss": prepared}, list(runs), figsize=(6, 6))
    canvas = band_only_canvas(chart)
    ax = chart.axes["loss"]
    rgba = np.asarray(canvas.buffer_rgba())[::-1]
    x = int(ax.transData.transform((n / 2, 0))[0])
    for i, key in enumerate(runs):  # every band is there, in its own colour (opaque: no smoothing)
        row = int(ax.transData.transform((n / 2, i))[1])
        want = np.round(np.array(artist(ax, f"band:{key}").get_facecolor()[:3]) * 255)
        assert np.abs(rgba[row, x, :3].astype(int) - want).max() <= 1, key


def test_a_legend_of_long_labels_under_small_multiples_fits_the_figure() -> None:
    # five runs labelled by their differing params, three metrics: the legend under the axes stays inside
    # the figure (four columns of such labels ran past its right edge)
    keys = [f"r{i}" for i in range(5)]
    labels = {
        k: f"batch_size={64 * (1 + i % 2)}, lr={10.0 ** -(i + 1)}, optimizer=adam" for i, k in enumerate(keys)
    }
    by_metric = {
        m: [
            prepare(RawSeries(k, m, np.arange(50), np.arange(50.0), np.full(50, math.nan)), labels[k])
            for k in keys
        ]
        for m in ("epoch_time", "val_accuracy", "val_loss")
    }
    chart = metric_chart(by_metric, keys, figsize=(12.2, 6.4), dpi=100)  # the Charts tab at 1600x900
    canvas = FigureCanvasAgg(chart.figure)
    canvas.draw()
    (legend,) = chart.figure.legends
    box = legend.get_window_extent(canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= chart.figure.bbox.width
    assert len(legend.get_texts()) == 5
