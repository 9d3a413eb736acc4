"""The grouped-curves chart: per group, the mean of its runs as a line and a band (min..max or ± std), drawn
over steps, one colour per group, the member count in the legend. No pyplot, no Qt.

It is a `MetricChart` like the per-run chart (the GUI's zoom, hover and export code works on both): each
axes has a `GroupDecimator`, which draws the real points while the view holds at most one step per pixel
column and otherwise, per pixel column, the mean's column mean and a band from the lowest band bottom to
the highest band top in the column (from min/max pyramids of the band edges, so a zoom costs O(pixels)).
Steps where some member logged NaN or ±inf are marked with an `x` along the bottom of the axes.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from expdesk.compare.bands import BandImage, BandPatch
from expdesk.compare.chart_layout import BlitLegend, ZoomStableLayout, legend_columns
from expdesk.compare.decimate import MinMaxPyramid, column_edges, search_sorted
from expdesk.compare.figures import (
    MAX_LEGEND,
    Decimator,
    MetricChart,
    _Drawn,
    _style_metric_axes,
    mpl_text,
    run_colors,
)
from expdesk.compare.groups import BandKind, Group, GroupCurve
from expdesk.compare.series import PlotSeries, XMode

#: the band is a tint under the mean line
BAND_ALPHA = 0.25
BAND_TITLES = {BandKind.MINMAX: "mean, band min–max", BandKind.STD: "mean ± std", BandKind.NONE: "mean"}


#: characters of a group's value in its artists' ids (an SVG export writes them, twice per group)
GID_CHARS = 200


def svg_safe(text: str) -> str:
    """A group's value as part of an artist id: SVG exports write ids as XML attributes, where control
    characters cannot appear at all; cut to GID_CHARS."""
    return "".join("?" if unicodedata.category(c) in ("Cc", "Cs") else c for c in text[:GID_CHARS])


@dataclass
class GroupSeries(PlotSeries):
    """A group's mean as a plot series (what hover finds), with the curve behind it."""

    curve: GroupCurve | None = None

    def describe(self, index: int) -> str:
        return self.curve.describe(index) if self.curve is not None else self.label


@dataclass
class _GroupDrawn(_Drawn):
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    lo_pyramid: MinMaxPyramid | None = None
    hi_pyramid: MinMaxPyramid | None = None


class GroupDecimator(Decimator):
    """`Decimator` for group curves: the band is the group's spread (drawn at every zoom), not the line's
    own extremes."""

    def refresh(self) -> None:
        x0, x1 = self.ax.get_xlim()
        if x1 < x0:
            x0, x1 = x1, x0
        log_x = self.ax.get_xscale() == "log"
        edges = column_edges(x0, x1, self.pixel_width(), log_x)
        centers = np.sqrt(edges[:-1] * edges[1:]) if log_x and edges[0] > 0 else (edges[:-1] + edges[1:]) / 2
        for d in self.drawn:
            assert isinstance(d, _GroupDrawn) and d.lo is not None and d.hi is not None
            cuts = search_sorted(d.x, edges)
            if cuts[-1] - cuts[0] <= len(centers) or not x1 > x0:
                a, b = max(int(cuts[0]) - 1, 0), min(int(cuts[-1]) + 1, len(d.x))
                d.raw.set_data(d.x[a:b], d.y[a:b])
                d.band.set_columns(d.x[a:b], d.lo[a:b], d.hi[a:b])
                continue
            assert d.lo_pyramid is not None and d.hi_pyramid is not None
            kept, _, _, col_mean = d.pyramid.columns(cuts[:-1], cuts[1:])
            _, col_lo, _, _ = d.lo_pyramid.columns(cuts[:-1], cuts[1:])
            _, _, col_hi, _ = d.hi_pyramid.columns(cuts[:-1], cuts[1:])
            xc = centers[kept]
            d.raw.set_data(xc, col_mean)
            d.band.set_columns(xc, col_lo, col_hi)

    def y_limits(self, log_y: bool) -> list[tuple[float, float]]:
        out = super().y_limits(log_y)
        for d in self.drawn:
            assert isinstance(d, _GroupDrawn)
            for pyramid, pick in ((d.lo_pyramid, 0), (d.hi_pyramid, 1)):
                if pyramid is None or pyramid.top is None or not len(d.x):
                    continue
                v = pyramid.top[pick]
                if math.isfinite(v) and (v > 0 or not log_y):
                    out.append((float(d.x[0]), v))
        return out


def pyramids_of(curve: GroupCurve) -> tuple[MinMaxPyramid, MinMaxPyramid, MinMaxPyramid]:
    """The min/max pyramids of a curve's mean, band bottom and band top, built once: call it where the curve
    is computed (a worker), so that drawing it costs the GUI thread no pass over the data."""
    if curve.pyramids is None:
        curve.pyramids = (MinMaxPyramid(curve.mean), MinMaxPyramid(curve.lo), MinMaxPyramid(curve.hi))
    return curve.pyramids


def group_chart(
    curves: Mapping[str, Sequence[GroupCurve]],
    groups: Sequence[Group],
    log_x: bool = False,
    log_y: bool = False,
    figure: Figure | None = None,
    figsize: tuple[float, float] = (10.0, 6.0),
    dpi: float = 100.0,
) -> MetricChart:
    """One axes per metric (small multiples as in `metric_chart`), one colour per group in `groups` order.

    Artists carry gids `mean:<group id>`, `band:<group id>` and `nonfinite:<group id>`; each axes has its own
    legend (the member count may differ by metric), titled with what the band shows."""
    fig = figure if figure is not None else Figure(figsize=figsize, dpi=dpi, layout="constrained")
    fig.clear()
    # by position, not by value: the groups' values are the user's text
    colors = {id(g): c for g, c in zip(groups, run_colors(len(groups)), strict=True)}
    metrics = list(curves)
    n = max(len(metrics), 1)
    ncols = 1 if n == 1 else 2 if n <= 4 else 3
    nrows = -(-n // ncols)
    chart = MetricChart(fig, {}, {}, x_mode=XMode.STEP, log_x=log_x, log_y=log_y)
    band_kind = BandKind.NONE
    fig.set_layout_engine(ZoomStableLayout(on_layout=chart.refresh))
    for i, metric in enumerate(metrics):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        dec = GroupDecimator(ax)
        chart.axes[metric] = ax
        chart.decimators[ax] = dec
        bands: list[BandPatch] = []
        for curve in curves[metric]:
            gid = svg_safe(curve.group.id)
            color = colors.get(id(curve.group), "0.3")
            band_kind = curve.band
            mean = Line2D([], [], color=color, linewidth=1.5)
            mean.set_gid(f"mean:{gid}")
            mean.set_label(mpl_text(curve.label))
            ax.add_line(mean)
            band = BandPatch(facecolor=color, linewidth=0, alpha=BAND_ALPHA, antialiased=False)
            band.set_gid(f"band:{gid}")
            ax.add_artist(band)
            bands.append(band)
            series = GroupSeries(
                run_key=gid, label=curve.group.label, metric=metric, x=curve.steps, y=curve.mean,
                steps=curve.steps, curve=curve,
            )  # fmt: skip
            pyramid, lo_pyramid, hi_pyramid = pyramids_of(curve)
            dec.add(
                _GroupDrawn(
                    series, curve.steps, pyramid.y, pyramid, mean, band, None,
                    lo=curve.lo, hi=curve.hi, lo_pyramid=lo_pyramid, hi_pyramid=hi_pyramid,
                )
            )  # fmt: skip
            chart.series[mean] = series
            _mark_nonfinite(ax, curve, color)
        ax.add_artist(BandImage(ax, bands))
        _style_metric_axes(ax, metric, XMode.STEP, log_x, log_y)
        limits = dec.data_limits()
        if limits is None:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="0.5")
            continue
        # every zoom/pan/home re-decimates (the y-range stays as the user left it), the fit too
        ax.callbacks.connect("xlim_changed", lambda _ax, d=dec: d.refresh())
        chart.fit(ax)
    if not metrics:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no metric selected", transform=ax.transAxes, ha="center", va="center")
        ax.set_axis_off()
    _legend(chart, curves, groups, band_kind)
    return chart


def _legend(
    chart: MetricChart, curves: Mapping[str, Sequence[GroupCurve]], groups: Sequence[Group], band: BandKind
) -> None:
    """One metric: its axes' legend, each group with its curve's label (members, and the spread of members
    per step when it varies). Several: one legend under the axes, each group with how many of its runs
    have any of the metrics."""
    fig = chart.figure
    handles: dict[int, Line2D] = {}
    for line, series in chart.series.items():
        if isinstance(series, GroupSeries) and series.curve is not None:
            handles.setdefault(id(series.curve.group), line)
    order = [g for g in groups if id(g) in handles]
    if not 0 < len(order) <= MAX_LEGEND:
        return
    if len(chart.axes) == 1:
        ax = next(iter(chart.axes.values()))
        lines = [handles[id(g)] for g in order]
        legend = BlitLegend(
            ax, lines, [h.get_label() for h in lines], loc="best", fontsize="small",
            title=BAND_TITLES[band], title_fontsize="small",
        )  # fmt: skip
        ax.legend_ = legend
        legend._remove_method = ax._remove_legend  # type: ignore[attr-defined]
        return
    members: dict[str, set[str]] = {}
    for metric_curves in curves.values():
        for c in metric_curves:
            members.setdefault(c.group.id, set()).update(c.members)
    labels = []
    for g in order:
        k = len(members.get(g.id, ()))
        labels.append(mpl_text(f"{g.label} ({k} run{'s' if k != 1 else ''})"))
    legend = BlitLegend(
        fig, [handles[id(g)] for g in order], labels, loc="outside lower center", ncols=legend_columns(fig, labels, most=3),
        fontsize="small", title=BAND_TITLES[band], title_fontsize="small", bbox_transform=fig.transSubfigure,
    )  # fmt: skip
    fig.legends.append(legend)
    legend._remove_method = fig.legends.remove  # type: ignore[attr-defined]


def _mark_nonfinite(ax: Axes, curve: GroupCurve, color: tuple[float, float, float, float] | str) -> None:
    """An `x` at the bottom of the axes at every step where a member logged NaN or ±inf."""
    bad = curve.nonfinite > 0
    if not bad.any():
        return
    marks = Line2D(
        curve.steps[bad], np.full(int(bad.sum()), 0.02), color=color, marker="x", markersize=5,
        linestyle="none", transform=blended_transform_factory(ax.transData, ax.transAxes), clip_on=True,
    )  # fmt: skip
    marks.set_gid(f"nonfinite:{svg_safe(curve.group.id)}")
    ax.add_line(marks)
