"""Figures over the runs' summaries (one value per run): parallel coordinates and param-vs-metric scatter.

No pyplot and no Qt, like the metric charts in `figures`. A param axis is numeric when its values parse as
numbers (log-scaled when they span decades), else categorical in first-seen order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from expdesk.compare.diff import parse_number
from expdesk.compare.figures import mpl_text


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


def _short(text: str, limit: int) -> str:
    """At most `limit` characters, the middle left out (both ends of a key say the most)."""
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return text[:half] + "…" + text[len(text) - (limit - 1 - half) :]


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
            ax.text(
                i + 0.03, pos, mpl_text(_short(label, 18)), fontsize=9, va="center", ha="left", color="0.2"
            )
    ax.set_xlim(-0.3, len(specs) - 0.7 + 0.3)
    ax.set_ylim(-0.05, 1.05)
    # readable at any size: whole words at the figure's normal size, long keys shortened in the middle
    ax.set_xticks(
        xs,
        [mpl_text(_short(s.name, 28)) + (" (log)" if s.log else "") for s in specs],
        rotation=0 if len(specs) <= 4 else 20,
        ha="center" if len(specs) <= 4 else "right",
        fontsize="medium",
    )
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(
        f"{len(runs)} runs" + (f", coloured by {mpl_text(metric)} · {stat}" if metric else ""),
        fontsize="medium",
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
            ax.annotate(
                mpl_text(str(label)), (xi, yi), fontsize="x-small", xytext=(4, 4), textcoords="offset points"
            )
    return fig
