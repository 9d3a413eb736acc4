"""Metric charts for the detail panel: decimation and `Figure` builders, no pyplot and no Qt.

Small charts are rendered to RGBA buffers on a worker (Agg, one Figure per chart, serialised by a lock
because matplotlib's text/font caches are shared module state); the GUI thread only wraps the buffer in a
QImage. The large chart behind a small one is a Figure embedded with FigureCanvasQTAgg (see detail.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_RENDER_LOCK = threading.Lock()


@dataclass
class SeriesView:
    """A metric ready to plot: decimated points plus the facts about the full series."""

    name: str
    steps: np.ndarray
    values: np.ndarray
    count: int
    nan_count: int
    last: float | None
    #: what the run reported as this metric's result (HF *_results.json, a W&B summary...), if anything
    final: float | None = None


def decimate(steps: np.ndarray, values: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Min/max per pixel column: keeps every spike, at most ~2 points per column. NaNs are dropped.

    Points are ordered by step (stable, so duplicate steps keep write order) before binning.
    """
    finite = ~np.isnan(values)
    x = np.asarray(steps, dtype=np.float64)[finite]
    y = np.asarray(values, dtype=np.float64)[finite]
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if len(x) <= 2 * columns or columns <= 0:
        return x, y
    span = x[-1] - x[0]
    if span <= 0:
        bins = np.zeros(len(x), dtype=np.int64)
    else:
        bins = np.minimum(((x - x[0]) / span * columns).astype(np.int64), columns - 1)
    # within each bin (bins are contiguous because x is sorted) find the first min and first max
    by_value = np.lexsort((y, bins))
    starts = np.flatnonzero(np.r_[True, np.diff(bins[by_value]) != 0])
    ends = np.r_[starts[1:], len(by_value)] - 1
    keep = np.unique(np.concatenate([by_value[starts], by_value[ends]]))
    return x[keep], y[keep]


@dataclass
class ChartStyle:
    foreground: str = "#222222"
    background: str = "#ffffff"
    line: str = "#2e8bcb"
    grid: str = "#dddddd"
    dpi: float = 100.0


#: characters of a small chart's title (name, last and final) that fit its width at 8 pt
SMALL_TITLE_CHARS = 38


def metric_figure(
    view: SeriesView, style: ChartStyle, size: tuple[float, float], small: bool = True
) -> Figure:
    """One metric against step. Small: no axis labels, a title with the last value; large: full axes."""
    # matplotlib is imported on first chart (on a worker), not at window start-up
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=style.dpi, facecolor=style.background)
    ax = fig.add_subplot()
    ax.set_facecolor(style.background)
    ax.plot(view.steps, view.values, color=style.line, linewidth=1.2 if small else 1.0)
    if len(view.steps) == 1:
        ax.plot(view.steps, view.values, "o", color=style.line, markersize=3)
    for spine in ax.spines.values():
        spine.set_color(style.grid)
    ax.tick_params(colors=style.foreground, labelsize=7 if small else 9, length=2)
    ax.grid(True, color=style.grid, linewidth=0.5)
    last = "" if view.last is None else f"   last {view.last:.4g}"
    if view.final is not None:
        last += f"   final {view.final:.4g}"
    # the metric name is user data: matplotlib would parse $...$ as mathtext, so escape dollars
    title = view.name.replace("$", r"\$")
    if len(title) > 60:
        title = title[:59] + "…"
    if small and len(title) + len(last) > SMALL_TITLE_CHARS:
        last = "\n" + last.strip()  # a small chart's width: the values on a line of their own, not cut off
    ax.set_title(title + last, fontsize=8 if small else 10, color=style.foreground, loc="left")
    if not small:
        ax.set_xlabel("step", color=style.foreground)
        if view.nan_count:
            ax.text(
                0.99, 0.98, f"{view.nan_count} NaN not shown", transform=ax.transAxes,
                ha="right", va="top", fontsize=8, color=style.foreground,
            )  # fmt: skip
    fig.tight_layout(pad=0.4 if small else 1.0)
    return fig


def render_rgba(fig: Figure) -> tuple[bytes, int, int]:
    """Draw with Agg off the GUI thread: (RGBA bytes, width, height)."""
    with _RENDER_LOCK:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        buffer = canvas.buffer_rgba()
        height, width = buffer.shape[0], buffer.shape[1]
        return bytes(buffer), width, height
