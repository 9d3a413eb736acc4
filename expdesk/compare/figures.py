"""matplotlib `Figure` builders for comparing runs: metric overlays / small multiples, parallel coordinates,
param-vs-metric scatter. No pyplot and no Qt: the GUI embeds these figures, the CLI saves them, tests assert
on their artists.

Metric series keep their full-resolution arrays in a `Decimator` per axes; on every `xlim_changed` (zoom, pan,
home) it re-decimates what is visible per pixel column from each series' min/max pyramid: the raw data as a
band from each column's min to its max (no spike is ever sampled away), the smoothed line as the EMA's mean
per column, and the real points as lines once the view holds at most one point per pixel column.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from expdesk.compare.bands import BandImage, BandPatch
from expdesk.compare.chart_layout import BlitLegend, ZoomStableLayout, legend_columns
from expdesk.compare.decimate import MinMaxPyramid, column_edges, search_sorted
from expdesk.compare.series import PlotSeries, XMode

#: alpha of the raw line drawn behind its smoothed line (TensorBoard draws it faint too)
RAW_ALPHA = 0.25
#: more runs than this and a legend hides the data: hover names the runs instead
MAX_LEGEND = 20
X_LABELS = {XMode.STEP: "step", XMode.WALL: "wall time (UTC)", XMode.RELATIVE: "relative time"}


def _escaped(c: str) -> str:
    category = unicodedata.category(c)
    return f"\\x{ord(c):02x}" if category == "Cc" else f"\\u{ord(c):04x}" if category == "Cs" else c


def mpl_text(text: str) -> str:
    """A user string as literal matplotlib text: `$` would start mathtext, a leading `_` hides a legend entry,
    and control characters (a NUL, a newline in a run name) have no glyph: they are shown as `\\xNN`."""
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in text):
        text = "".join(_escaped(c) for c in text)
    text = text.replace("$", r"\$")
    return " " + text if text.startswith("_") else text


@dataclass
class _Drawn:
    """One series on an axes: its full-resolution data and the artists showing it."""

    series: PlotSeries
    x: np.ndarray
    y: np.ndarray  # non-finite values as NaN
    pyramid: MinMaxPyramid
    raw: Line2D  # the real points, when the view holds at most one point per pixel column
    band: BandPatch  # min..max of every pixel column, when it holds more
    smoothed: Line2D | None  # real EMA points, or the EMA's mean per pixel column


class Decimator:
    """Full-resolution data of the series of one axes, re-decimated for the current view.

    A view holding at most ~1 point per pixel column draws the real points as lines. Denser views draw the raw
    data as one filled band per series from each column's min to its max (every spike reaches the band's
    edge; on screen and in PNGs the bands of an axes are one image, see `bands`) and the smoothed
    line as the mean of the EMA in each column (the EMA is computed on the full data beforehand). Column
    reductions come from each series' `MinMaxPyramid`, so a redraw costs O(pixels), not O(points).
    """

    def __init__(self, ax: Axes) -> None:
        self.ax = ax
        self.drawn: list[_Drawn] = []

    def add(self, drawn: _Drawn) -> None:
        self.drawn.append(drawn)

    def pixel_width(self) -> int:
        return max(math.ceil(self.ax.bbox.width), 1)

    def refresh(self) -> None:
        x0, x1 = self.ax.get_xlim()
        if x1 < x0:
            x0, x1 = x1, x0
        width = self.pixel_width()
        log_x = self.ax.get_xscale() == "log"
        edges = column_edges(x0, x1, width, log_x)
        centers = np.sqrt(edges[:-1] * edges[1:]) if log_x and edges[0] > 0 else (edges[:-1] + edges[1:]) / 2
        for d in self.drawn:
            cuts = search_sorted(d.x, edges)
            if cuts[-1] - cuts[0] <= len(centers) or not x1 > x0:
                # the real points, plus one beyond each side so the line runs off the edge
                lo, hi = max(int(cuts[0]) - 1, 0), min(int(cuts[-1]) + 1, len(d.x))
                d.raw.set_data(d.x[lo:hi], d.y[lo:hi])
                d.band.clear_columns()
                if d.smoothed is not None and d.series.smoothed is not None:
                    d.smoothed.set_data(d.x[lo:hi], d.series.smoothed[lo:hi])
                continue
            kept, col_lo, col_hi, col_mean = d.pyramid.columns(cuts[:-1], cuts[1:])
            xc = centers[kept]
            d.band.set_columns(xc, col_lo, col_hi)
            if d.smoothed is not None:
                d.raw.set_data([], [])
                d.smoothed.set_data(xc, col_mean)
            else:
                # without smoothing the band is the line; its mean per column keeps a band thinner than a
                # pixel visible (the band has no edge: stroking it costs Agg more than filling it)
                d.raw.set_data(xc, col_mean)

    def data_limits(self) -> tuple[float, float] | None:
        lows = [float(d.x[0]) for d in self.drawn if len(d.x)]
        highs = [float(d.x[-1]) for d in self.drawn if len(d.x)]
        return (min(lows), max(highs)) if lows else None

    def y_limits(self, log_y: bool) -> list[tuple[float, float]]:
        """(x, y) corners holding every finite value (the smallest positive one too on a log axis)."""
        out: list[tuple[float, float]] = []
        for d in self.drawn:
            if d.pyramid.top is None or not len(d.x):
                continue
            lo, hi = d.pyramid.top
            for v in (lo, hi):
                if math.isfinite(v):
                    out.append((float(d.x[0]), v))
            if log_y and math.isfinite(lo) and lo <= 0:
                pos = d.y[d.y > 0]
                if len(pos):
                    out.append((float(d.x[-1]), float(pos.min())))
        return out


@dataclass
class Hit:
    series: PlotSeries
    index: int  # into the series' full arrays

    @property
    def text(self) -> str:
        s = self.series
        describe = getattr(s, "describe", None)  # a group's mean says what it is made of (group_figures)
        if describe is not None:
            return str(describe(self.index))
        value = float(s.y[self.index])
        text = f"{s.label}\nstep {int(s.steps[self.index])}   {s.metric} = {value:.6g}"
        if s.smoothed is not None:
            text += f"   (smoothed {float(s.smoothed[self.index]):.6g})"
        return text


#: a view: (x-limits, y-limits)
View = tuple[tuple[float, float], tuple[float, float]]


@dataclass
class MetricChart:
    """A figure of metric lines with what interaction needs: decimators and the series behind each line.

    Built, laid out and rendered on a worker (`chart_layout.render`); the GUI thread shows its pixels and
    draws it again only when the user zooms or pans."""

    figure: Figure
    axes: dict[str, Axes]  # metric -> axes
    decimators: dict[Axes, Decimator]
    series: dict[Line2D, PlotSeries] = field(default_factory=dict)  # the raw (hoverable) line of each series
    x_mode: XMode = XMode.STEP
    log_x: bool = False
    log_y: bool = False
    #: the view each axes was last fitted to (its data's home): an axes showing another view is zoomed
    homes: dict[Axes, View] = field(default_factory=dict)

    def refresh(self) -> None:
        """Re-decimate every axes for its current view and size (call after a resize)."""
        for dec in self.decimators.values():
            dec.refresh()

    def view(self, ax: Axes) -> View:
        x0, x1 = ax.get_xlim()
        y0, y1 = ax.get_ylim()
        return (float(x0), float(x1)), (float(y0), float(y1))

    def zoomed(self, ax: Axes) -> bool:
        """The user moved this axes' view away from its data's home (zoom, pan)."""
        home = self.homes.get(ax)
        return home is not None and home != self.view(ax)

    def fit(self, ax: Axes) -> None:
        """Fit the view of `ax` to all of its data (x: the series' range; y: every point's extremes, kept by the
        pyramids, not what is drawn: O(series)) and remember it as home. Re-decimates through xlim_changed."""
        dec = self.decimators[ax]
        limits = dec.data_limits()
        if limits is None:
            return
        lo, hi = limits
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        if self.log_x and lo <= 0:
            lo = float(min((d.x[d.x > 0][0] for d in dec.drawn if (d.x > 0).any()), default=1.0))
        ax.set_xlim(lo, hi)
        corners = dec.y_limits(self.log_y)
        # the data limits of the previous data go: a reload's y-range is that of its own points
        ax.ignore_existing_data_limits = True
        if corners:
            ax.update_datalim(corners)
        ax.set_autoscaley_on(True)
        ax.autoscale_view(scalex=False)
        self.homes[ax] = self.view(ax)

    def home(self) -> None:
        """Every axes back to its whole data (the toolbar's Home: newer points included)."""
        for ax in self.axes.values():
            self.fit(ax)

    def zoom_to(self, views: Mapping[str, View]) -> None:
        """Show each named metric's axes at the given view (the user's zoom on the chart this one replaces);
        its home stays its data's, so Home and `zoomed` still know the difference."""
        for metric, (xlim, ylim) in views.items():
            ax = self.axes.get(metric)
            if ax is not None and ax in self.homes:
                ax.set_xlim(*xlim)  # re-decimates through xlim_changed
                ax.set_ylim(*ylim)

    def nearest(self, ax: Axes, x_px: float, y_px: float, radius_px: float = 12.0) -> Hit | None:
        """The real data point nearest to a mouse position (display pixels) on `ax`, within `radius_px`.

        Searches the full-resolution data (not what is drawn): only points within the radius in x, and of
        those only the ones within it in y, are transformed to pixels, so it stays cheap at any zoom."""
        dec = self.decimators.get(ax)
        if dec is None:
            return None
        inv = ax.transData.inverted()
        (xa, ya), (xb, yb) = inv.transform(
            [(x_px - radius_px, y_px - radius_px), (x_px + radius_px, y_px + radius_px)]
        )
        xa, xb = min(xa, xb), max(xa, xb)
        ya, yb = min(ya, yb), max(ya, yb)
        best: tuple[float, _Drawn, int] | None = None
        for d in dec.drawn:
            if not d.raw.get_visible():
                continue
            i0, i1 = int(search_sorted(d.x, [xa])[0]), int(search_sorted(d.x, [xb], side="right")[0])
            if i1 <= i0:
                continue
            ys = d.y[i0:i1]
            near = np.flatnonzero((ys >= ya) & (ys <= yb))
            if len(near) == 0:
                continue
            idx = near + i0
            pts = ax.transData.transform(np.column_stack([d.x[idx], d.y[idx]]))
            d2 = (pts[:, 0] - x_px) ** 2 + (pts[:, 1] - y_px) ** 2
            d2 = np.where(np.isfinite(d2), d2, np.inf)
            i = int(np.argmin(d2))
            if best is None or d2[i] < best[0]:
                best = (float(d2[i]), d, int(idx[i]))
        if best is None or best[0] > radius_px**2:
            return None
        return Hit(best[1].series, best[2])


def run_colors(n: int) -> list[tuple[float, float, float, float]]:
    """Distinct colours for n runs, stable by position (tab10, tab20, then a sampled wide colormap)."""
    if n <= 10:
        cmap = colormaps["tab10"]
        return [cmap(i) for i in range(n)]
    if n <= 20:
        cmap = colormaps["tab20"]
        return [cmap(i) for i in range(n)]
    cmap = colormaps["turbo"]
    return [cmap(i / max(n - 1, 1)) for i in range(n)]


def metric_chart(
    by_metric: Mapping[str, Sequence[PlotSeries]],
    run_keys: Sequence[str],
    x_mode: XMode = XMode.STEP,
    smoothing: float = 0.0,
    log_x: bool = False,
    log_y: bool = False,
    figure: Figure | None = None,
    figsize: tuple[float, float] = (10.0, 6.0),
    dpi: float = 100.0,
) -> MetricChart:
    """One axes per metric (an overlay when there is one metric, small multiples otherwise), one colour per run.

    With smoothing > 0 each run gets its raw line faint behind the smoothed one (both from full data).
    """
    fig = figure if figure is not None else Figure(figsize=figsize, dpi=dpi, layout="constrained")
    fig.clear()
    colors = dict(zip(run_keys, run_colors(len(run_keys)), strict=True))
    metrics = list(by_metric)
    n = max(len(metrics), 1)
    ncols = 1 if n == 1 else 2 if n <= 4 else 3
    nrows = -(-n // ncols)
    chart = MetricChart(fig, {}, {}, x_mode=x_mode, log_x=log_x, log_y=log_y)
    fig.set_layout_engine(ZoomStableLayout(track_x=x_mode is XMode.WALL, on_layout=chart.refresh))
    legend_handles: dict[str, Line2D] = {}
    for i, metric in enumerate(metrics):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        dec = Decimator(ax)
        chart.axes[metric] = ax
        chart.decimators[ax] = dec
        bands: list[BandPatch] = []
        for s in by_metric[metric]:
            color = colors.get(s.run_key, "0.3")
            smooth = s.smoothed is not None
            alpha = RAW_ALPHA if smooth else 1.0
            raw = Line2D([], [], color=color, alpha=alpha, linewidth=1.0)
            if len(s.x) == 1:
                raw.set_marker("o")  # a line through one point draws nothing
            raw.set_gid(f"raw:{s.run_key}")
            ax.add_line(raw)
            # no edge and no antialiasing: half the cost of drawing a polygon (SVG/PDF), the same look as
            # the pixel columns of the band image on screen and in PNGs
            band = BandPatch(facecolor=color, linewidth=0, alpha=alpha, antialiased=False)
            band.set_gid(f"band:{s.run_key}")
            ax.add_artist(band)
            bands.append(band)
            smoothed = None
            if smooth:
                smoothed = Line2D([], [], color=color, linewidth=1.5)
                smoothed.set_gid(f"smoothed:{s.run_key}")
                ax.add_line(smoothed)
            pyramid = s.pyramid if s.pyramid is not None else MinMaxPyramid(s.y, s.smoothed)
            # the pyramid holds y with non-finite values as NaN already (no second pass on the GUI thread)
            dec.add(_Drawn(s, s.x, pyramid.y, pyramid, raw, band, smoothed))
            chart.series[raw] = s
            shown = smoothed if smoothed is not None else raw
            shown.set_label(mpl_text(s.label))
            legend_handles.setdefault(s.run_key, shown)
        ax.add_artist(BandImage(ax, bands))  # draws the bands on raster canvases, after them in z-order
        _style_metric_axes(ax, metric, x_mode, log_x, log_y)
        if dec.data_limits() is not None:
            # every zoom/pan/home re-decimates (the y-range stays as the user left it), the fit too
            ax.callbacks.connect("xlim_changed", lambda _ax, d=dec: d.refresh())
            chart.fit(ax)
        else:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="0.5")
    if not metrics:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no metric selected", transform=ax.transAxes, ha="center", va="center")
        ax.set_axis_off()
    handles = [legend_handles[k] for k in run_keys if k in legend_handles]
    if 0 < len(handles) <= MAX_LEGEND:
        labels = [str(h.get_label()) for h in handles]
        if len(metrics) == 1:
            ax = next(iter(chart.axes.values()))
            ax.legend_ = BlitLegend(ax, handles, labels, loc="upper right", fontsize="small")
            # what Axes.legend() itself does after building a Legend (so legend.remove() works)
            ax.legend_._remove_method = ax._remove_legend  # type: ignore[attr-defined]
        else:
            legend = BlitLegend(
                fig,
                handles,
                labels,
                loc="outside lower center",
                ncols=legend_columns(fig, labels, most=4),
                fontsize="small",
                bbox_transform=fig.transSubfigure,
            )
            fig.legends.append(legend)
            legend._remove_method = fig.legends.remove  # type: ignore[attr-defined]
    return chart


def _style_metric_axes(ax: Axes, metric: str, x_mode: XMode, log_x: bool, log_y: bool) -> None:
    ax.set_title(mpl_text(metric), fontsize="medium")
    ax.set_xlabel(X_LABELS[x_mode])
    ax.grid(True, alpha=0.3)
    if log_x and x_mode is not XMode.WALL:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    if x_mode is XMode.WALL:
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    elif x_mode is XMode.RELATIVE:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_duration(v)))


def format_duration(seconds: float) -> str:
    """Tick label for relative time: `45s`, `12:30` (m:ss), `3:05:00` (h:mm:ss)."""
    if not math.isfinite(seconds):
        return ""
    sign = "-" if seconds < 0 else ""
    total = abs(seconds)
    if total < 60:
        return f"{sign}{total:g}s"
    whole = round(total)
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    return f"{sign}{h}:{m:02d}:{s:02d}" if h else f"{sign}{m}:{s:02d}"


# -- parameters against a metric -----------------------------------------------------------------------


def save_figure(fig: Figure, path: Path | str) -> Path:
    """PNG or SVG by suffix (matplotlib picks its Agg/SVG writer; nothing here touches Qt)."""
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ValueError(f"{out.name}: figures export to .png or .svg")
    fig.savefig(out, format=suffix[1:])
    return out
