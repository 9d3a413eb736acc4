"""Figures asserted by their artists: lines, labels, scales, decimation on zoom, hover, exports."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.dates import num2date

from expdesk.compare.figures import (
    RAW_ALPHA,
    format_duration,
    metric_chart,
    parallel_figure,
    save_figure,
    scatter_figure,
)
from expdesk.compare.series import PlotSeries, RawSeries, XMode, prepare


def series(key: str, n: int, seed: int = 0, metric: str = "loss", smoothing: float = 0.0) -> PlotSeries:
    rng = np.random.default_rng(seed)
    raw = RawSeries(key, metric, np.arange(n), np.cumsum(rng.normal(size=n)), 1.7e12 + np.arange(n) * 1000.0)
    return prepare(raw, f"label-{key}", XMode.STEP, smoothing)


def test_overlay_lines_labels_and_faint_raw_behind_smoothed() -> None:
    s = [series("a", 1000, 0, smoothing=0.6), series("b", 1000, 1, smoothing=0.6)]
    chart = metric_chart({"loss": s}, ["a", "b"], smoothing=0.6)
    ax = chart.axes["loss"]
    gids = sorted(line.get_gid() for line in ax.get_lines())
    assert gids == ["raw:a", "raw:b", "smoothed:a", "smoothed:b"]
    raw_a = next(line for line in ax.get_lines() if line.get_gid() == "raw:a")
    smooth_a = next(line for line in ax.get_lines() if line.get_gid() == "smoothed:a")
    assert raw_a.get_alpha() == RAW_ALPHA and smooth_a.get_color() == raw_a.get_color()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["label-a", "label-b"]
    assert ax.get_title() == "loss" and ax.get_xlabel() == "step"
    # 1000 points at ~800 px are drawn as they are
    np.testing.assert_array_equal(smooth_a.get_ydata(), s[0].smoothed)


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
    line = ax.get_lines()[0]
    assert len(line.get_xdata()) < 4 * 800 + 10 and 9.0 in line.get_ydata()
    assert ax.get_ylim()[1] >= 9.0, "y autoscale sees the spike"
    ax.set_xlim(399_900, 400_100)  # what the zoom tool does
    xs = line.get_xdata()
    np.testing.assert_array_equal(xs, np.arange(399_899, 400_102))  # the real points, all of them
    ax.set_xlim(0, n - 1)
    assert len(line.get_xdata()) < 4 * 800 + 10


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
    png = save_figure(chart.figure, tmp_path / "c.png")
    svg = save_figure(chart.figure, tmp_path / "c.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in svg.read_bytes()[:500]
