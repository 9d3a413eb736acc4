"""matplotlib `Figure` builders for comparing runs: metric overlays / small multiples, parallel coordinates,
param-vs-metric scatter. No pyplot and no Qt: the GUI embeds these figures, the CLI saves them, tests assert
on their artists.

Metric lines hold their full-resolution arrays in a `Decimator` per axes; on every `xlim_changed` (zoom, pan,
home) it re-decimates what is visible to min/max per pixel column, so zooming into 1M points shows the real
points and no spike is ever sampled away.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from expdesk.compare.decimate import m4_indices
from expdesk.compare.diff import parse_number
from expdesk.compare.series import PlotSeries, XMode

#: alpha of the raw line drawn behind its smoothed line (TensorBoard draws it faint too)
RAW_ALPHA = 0.25
#: more runs than this and a legend hides the data: hover names the runs instead
MAX_LEGEND = 20
X_LABELS = {XMode.STEP: "step", XMode.WALL: "wall time (UTC)", XMode.RELATIVE: "relative time"}


def mpl_text(text: str) -> str:
    """A user string as literal matplotlib text: `$` would start mathtext, a leading `_` hides a legend entry."""
    text = text.replace("$", r"\$")
    return " " + text if text.startswith("_") else text


class Decimator:
    """Full-resolution data of the lines of one axes, re-decimated for the current view."""

    def __init__(self, ax: Axes) -> None:
        self.ax = ax
        self.data: dict[Line2D, tuple[np.ndarray, np.ndarray]] = {}
        self.shown: dict[Line2D, np.ndarray] = {}  # indices into the full arrays currently drawn

    def add(self, line: Line2D, x: np.ndarray, y: np.ndarray) -> None:
        self.data[line] = (x, np.where(np.isfinite(y), y, np.nan) if not np.isfinite(y).all() else y)

    def pixel_width(self) -> int:
        return max(math.ceil(self.ax.bbox.width), 1)

    def refresh(self) -> None:
        x0, x1 = self.ax.get_xlim()
        width = self.pixel_width()
        log_x = self.ax.get_xscale() == "log"
        for line, (x, y) in self.data.items():
            idx = m4_indices(x, y, x0, x1, width, log_x)
            self.shown[line] = idx
            line.set_data(x[idx], y[idx])

    def data_limits(self) -> tuple[float, float] | None:
        lows = [float(x[0]) for x, _ in self.data.values() if len(x)]
        highs = [float(x[-1]) for x, _ in self.data.values() if len(x)]
        return (min(lows), max(highs)) if lows else None


@dataclass
class Hit:
    series: PlotSeries
    index: int  # into the series' full arrays

    @property
    def text(self) -> str:
        s = self.series
        value = float(s.y[self.index])
        text = f"{s.label}\nstep {int(s.steps[self.index])}   {s.metric} = {value:.6g}"
        if s.smoothed is not None:
            text += f"   (smoothed {float(s.smoothed[self.index]):.6g})"
        return text


@dataclass
class MetricChart:
    """A figure of metric lines with what interaction needs: decimators and the series behind each line."""

    figure: Figure
    axes: dict[str, Axes]  # metric -> axes
    decimators: dict[Axes, Decimator]
    series: dict[Line2D, PlotSeries] = field(default_factory=dict)  # the raw (hoverable) line of each series
    x_mode: XMode = XMode.STEP

    def refresh(self) -> None:
        """Re-decimate every axes for its current view and size (call after a resize)."""
        for dec in self.decimators.values():
            dec.refresh()

    def nearest(self, ax: Axes, x_px: float, y_px: float, radius_px: float = 12.0) -> Hit | None:
        """The drawn point nearest to a mouse position (display pixels) on `ax`, within `radius_px`."""
        dec = self.decimators.get(ax)
        if dec is None:
            return None
        best: tuple[float, Line2D, int] | None = None
        for line, series in self.series.items():
            if line.axes is not ax or not line.get_visible() or line not in dec.shown:
                continue
            idx = dec.shown[line]
            if len(idx) == 0:
                continue
            pts = ax.transData.transform(np.column_stack([series.x[idx], series.y[idx]]))
            d2 = (pts[:, 0] - x_px) ** 2 + (pts[:, 1] - y_px) ** 2
            d2 = np.where(np.isfinite(d2), d2, np.inf)
            i = int(np.argmin(d2))
            if best is None or d2[i] < best[0]:
                best = (float(d2[i]), line, int(idx[i]))
        if best is None or best[0] > radius_px**2:
            return None
        return Hit(self.series[best[1]], best[2])


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
    chart = MetricChart(fig, {}, {}, x_mode=x_mode)
    legend_handles: dict[str, Line2D] = {}
    for i, metric in enumerate(metrics):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        dec = Decimator(ax)
        chart.axes[metric] = ax
        chart.decimators[ax] = dec
        for s in by_metric[metric]:
            color = colors.get(s.run_key, "0.3")
            smooth = s.smoothed is not None
            raw = Line2D([], [], color=color, alpha=RAW_ALPHA if smooth else 1.0, linewidth=1.0)
            raw.set_gid(f"raw:{s.run_key}")
            ax.add_line(raw)
            dec.add(raw, s.x, s.y)
            chart.series[raw] = s
            shown = raw
            if smooth:
                assert s.smoothed is not None
                line = Line2D([], [], color=color, linewidth=1.5)
                line.set_gid(f"smoothed:{s.run_key}")
                ax.add_line(line)
                dec.add(line, s.x, s.smoothed)
                shown = line
            shown.set_label(mpl_text(s.label))
            legend_handles.setdefault(s.run_key, shown)
        _style_metric_axes(ax, metric, x_mode, log_x, log_y)
        limits = dec.data_limits()
        if limits is not None:
            lo, hi = limits
            if lo == hi:
                lo, hi = lo - 0.5, hi + 0.5
            # the decimation callback needs real limits; y then autoscales on the decimated points, which
            # hold every column's min and max, so the y-range is the full data's
            if log_x and lo <= 0:
                lo = float(min((x[x > 0][0] for x, _ in dec.data.values() if (x > 0).any()), default=1.0))
            ax.set_xlim(lo, hi)
            dec.refresh()
            # from now on every zoom/pan/home re-decimates; y autoscales on the decimated points, which hold
            # every column's min and max, so the y-range is the full data's
            ax.callbacks.connect("xlim_changed", lambda _ax, d=dec: d.refresh())
            ax.relim()
            ax.autoscale_view(scalex=False)
        else:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="0.5")
    if not metrics:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no metric selected", transform=ax.transAxes, ha="center", va="center")
        ax.set_axis_off()
    handles = [legend_handles[k] for k in run_keys if k in legend_handles]
    if 0 < len(handles) <= MAX_LEGEND:
        if len(metrics) == 1:
            next(iter(chart.axes.values())).legend(handles=handles, loc="upper right", fontsize="small")
        else:
            fig.legend(
                handles=handles, loc="outside lower center", ncols=min(4, len(handles)), fontsize="small"
            )
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


@dataclass
class AxisSpec:
    """A parallel-coordinates / scatter axis: numbers (linear or log) or categories, mapped to [0, 1]."""

    name: str
    positions: np.ndarray  # per run, in [0, 1]; NaN when the run has no value
    ticks: list[tuple[float, str]]
    categorical: bool
    log: bool = False


def axis_spec(name: str, values: Sequence[Any]) -> AxisSpec:
    """Numeric when every present value parses as a finite number, else categorical (sorted labels)."""
    present = [v for v in values if v is not None and v != ""]
    numbers = [parse_number(v) for v in present]
    if present and all(x is not None and math.isfinite(x) for x in numbers):
        nums = np.array([_num_or_nan(v) for v in values], dtype=np.float64)
        lo, hi = float(np.nanmin(nums)), float(np.nanmax(nums))
        use_log = lo > 0 and hi / lo >= 100
        t = np.log10(nums) if use_log else nums
        tlo, thi = (math.log10(lo), math.log10(hi)) if use_log else (lo, hi)
        span = thi - tlo
        pos = (t - tlo) / span if span > 0 else np.where(np.isnan(t), np.nan, 0.5)
        tick_values = np.geomspace(lo, hi, 5) if use_log else np.linspace(lo, hi, 5) if span > 0 else [lo]
        ticks = [
            (((math.log10(v) if use_log else v) - tlo) / span if span > 0 else 0.5, f"{v:.3g}")
            for v in tick_values
        ]
        return AxisSpec(name, pos, ticks, False, use_log)
    labels = sorted({str(v) for v in present})
    where = {label: i for i, label in enumerate(labels)}
    denom = max(len(labels) - 1, 1)
    pos = np.array(
        [
            np.nan if v is None or v == "" else (where[str(v)] / denom if len(labels) > 1 else 0.5)
            for v in values
        ],
        dtype=np.float64,
    )
    ticks = [((i / denom) if len(labels) > 1 else 0.5, label) for i, label in enumerate(labels)]
    return AxisSpec(name, pos, ticks, True)


def _num_or_nan(value: Any) -> float:
    number = parse_number(value)
    return math.nan if number is None else number


def metric_values(runs: Sequence[Mapping[str, Any]], metric: str, stat: str) -> list[float | None]:
    out: list[float | None] = []
    for r in runs:
        summary = (r.get("metrics") or {}).get(metric)
        out.append(None if summary is None else parse_number(summary.get(stat)))
    return out


def parallel_figure(
    runs: Sequence[Mapping[str, Any]],
    params: Sequence[str],
    metric: str | None,
    stat: str = "last",
    figure: Figure | None = None,
    figsize: tuple[float, float] = (10.0, 5.0),
) -> Figure:
    """Parallel coordinates: one vertical axis per param (numeric or categorical) and the metric last;
    one polyline per run coloured by the metric (viridis; grey when the run lacks it)."""
    fig = figure if figure is not None else Figure(figsize=figsize, layout="constrained")
    fig.clear()
    ax = fig.add_subplot(1, 1, 1)
    specs = [axis_spec(p, [(r.get("params") or {}).get(p) for r in runs]) for p in params]
    mvals = metric_values(runs, metric, stat) if metric else []
    if metric:
        specs.append(axis_spec(f"{metric} · {stat}", mvals))
    if not specs or not runs:
        ax.text(0.5, 0.5, "choose params or a metric", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    ys = np.column_stack([s.positions for s in specs])
    xs = np.arange(len(specs), dtype=np.float64)
    segments = [np.column_stack([xs, row]) for row in ys]
    colors: Any = "0.4"
    if metric:
        m = np.array([math.nan if v is None else v for v in mvals], dtype=np.float64)
        finite = np.isfinite(m)
        if finite.any():
            lo, hi = float(m[finite].min()), float(m[finite].max())
            norm = (m - lo) / (hi - lo) if hi > lo else np.full_like(m, 0.5)
            cmap = colormaps["viridis"]
            colors = [cmap(v) if math.isfinite(v) else (0.6, 0.6, 0.6, 0.6) for v in norm]
    lines = LineCollection(segments, colors=colors, linewidths=1.2, alpha=0.8)
    lines.set_gid("runs")
    ax.add_collection(lines)
    for i, spec in enumerate(specs):
        ax.axvline(i, color="0.2", linewidth=1)
        for pos, label in spec.ticks:
            ax.text(i + 0.03, pos, mpl_text(label), fontsize="x-small", va="center", ha="left", color="0.2")
    ax.set_xlim(-0.3, len(specs) - 0.7 + 0.3)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xticks(xs, [mpl_text(s.name) + (" (log)" if s.log else "") for s in specs], rotation=20, ha="right")
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(
        f"{len(runs)} runs" + (f", coloured by {mpl_text(metric)} · {stat}" if metric else ""), fontsize="medium"
    )
    return fig


def scatter_figure(
    runs: Sequence[Mapping[str, Any]],
    param: str,
    metric: str,
    stat: str = "last",
    labels: Sequence[str] | None = None,
    log_x: bool | None = None,
    log_y: bool = False,
    figure: Figure | None = None,
    figsize: tuple[float, float] = (8.0, 5.0),
) -> Figure:
    """One point per run: a param (numeric, log when it spans >= 2 decades, or categorical) against a
    metric summary. Runs missing either value are left out and counted in the title."""
    fig = figure if figure is not None else Figure(figsize=figsize, layout="constrained")
    fig.clear()
    ax = fig.add_subplot(1, 1, 1)
    raw_x = [(r.get("params") or {}).get(param) for r in runs]
    spec = axis_spec(param, raw_x)
    y = np.array([math.nan if v is None else v for v in metric_values(runs, metric, stat)], dtype=np.float64)
    x = spec.positions if spec.categorical else np.array([_num_or_nan(v) for v in raw_x], dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    points = ax.scatter(x[ok], y[ok], s=28, color=colormaps["tab10"](0), edgecolors="white", linewidths=0.5)
    points.set_gid("runs")
    if spec.categorical:
        ax.set_xticks([p for p, _ in spec.ticks], [mpl_text(label) for _, label in spec.ticks])
    elif log_x if log_x is not None else spec.log:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(mpl_text(param))
    ax.set_ylabel(f"{mpl_text(metric)} · {stat}")
    ax.grid(True, alpha=0.3)
    missing = int((~ok).sum())
    ax.set_title(
        f"{int(ok.sum())} runs" + (f" ({missing} without both values)" if missing else ""), fontsize="medium"
    )
    if labels is not None and ok.sum() <= 12:
        for xi, yi, label in zip(x[ok], y[ok], np.asarray(list(labels), dtype=object)[ok], strict=True):
            ax.annotate(mpl_text(str(label)), (xi, yi), fontsize="x-small", xytext=(4, 4), textcoords="offset points")
    return fig


def save_figure(fig: Figure, path: Path | str) -> Path:
    """PNG or SVG by suffix (matplotlib picks its Agg/SVG writer; nothing here touches Qt)."""
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ValueError(f"{out.name}: figures export to .png or .svg")
    fig.savefig(out, format=suffix[1:])
    return out
