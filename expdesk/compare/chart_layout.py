"""Layout, legend and rendering of the metric charts: the constrained layout is redone only when what it
depends on changed, the legend is copied back as pixels, and a new figure is laid out and rendered (Agg) on
the thread that built it (a worker), so the GUI thread only shows its pixels. No pyplot, no Qt.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.legend import Legend

#: figure sizes (inches) are compared to this many decimals: the Qt canvas derives its size as pixels / dpi,
#: a worker as inches given, and the two may differ in the last bits of a float
_SIZE_DECIMALS = 4

#: every worker render runs on this one long-lived thread: renders take turns (matplotlib's text caches are
#: module state), and matplotlib keeps a font object per thread (font_manager.get_font, up to 64 cached):
#: rendered on short-lived pool threads, each new thread loaded its own fonts, and the soak benchmark's RSS
#: grew by ~90 MB before it levelled off. (Not named expdesk-*: it lives as long as the process.)
_RENDERER = ThreadPoolExecutor(1, thread_name_prefix="matplotlib-render")


def tick_labels(axis: Axis) -> tuple[Any, ...]:
    """The tick label texts (and offset text) an axis will draw at its current view and size: what the space
    it needs depends on. Minor ticks count on a log axis, whose minor ticks may carry labels."""
    out: list[Any] = []
    tickers = (axis.major, axis.minor) if axis.get_scale() == "log" else (axis.major,)
    for ticker in tickers:
        locator, formatter = ticker.locator, ticker.formatter
        if locator is None or formatter is None:
            continue
        locs = [v for v in locator() if math.isfinite(v)]
        # format_ticks prepares the formatter for these locations (its offset too), as the draw will again
        out.append((tuple(formatter.format_ticks(locs)), formatter.get_offset()))
    return tuple(out)


class ZoomStableLayout(ConstrainedLayoutEngine):
    """Constrained layout redone only when its inputs may have changed (figure size, axes, scales, texts, the
    y tick labels), not on a zoom along x nor when new points move the y-limits without changing the y tick
    labels (a live run): a layout costs 50-200 ms, and the margins it moves on an x zoom (x tick labels have
    one height) made the axes jump. On a wall-clock axis the date labels and offset text depend on x, so
    there the x tick labels count too. `on_layout` runs after a layout (the axes' pixel sizes may have
    changed, so the chart re-decimates before anything is drawn)."""

    def __init__(self, track_x: bool = False, on_layout: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.track_x = track_x
        self.on_layout = on_layout
        self._key: tuple[Any, ...] | None = None
        #: layouts done (tests count them: a live update must not add one)
        self.layouts = 0

    def key(self, fig: Any) -> tuple[Any, ...]:
        # inches, not pixels: a layout is in figure fractions, and text scales with the dpi as all else
        # does, so a figure laid out on a worker at 1x keeps its layout on a 2x screen
        return (
            tuple(round(float(v), _SIZE_DECIMALS) for v in fig.get_size_inches()),
            len(fig.legends),
            tuple(
                (
                    id(ax),
                    ax.get_yscale(),
                    ax.get_xscale(),
                    ax.get_title(),
                    ax.get_xlabel(),
                    ax.get_ylabel(),
                    tick_labels(ax.yaxis),
                    tick_labels(ax.xaxis) if self.track_x else None,
                )
                for ax in fig.axes
            ),
        )

    def execute(self, fig: Any) -> None:
        key = self.key(fig)
        if key == self._key:
            return
        super().execute(fig)
        self.layouts += 1
        # the layout moved the axes (and their tick space): the key is taken again in the new geometry
        self._key = self.key(fig)
        if self.on_layout is not None:
            self.on_layout()


def render(fig: Figure, pixel_ratio: float = 1.0) -> FigureCanvasAgg:
    """Lay `fig` out and render it with Agg now, at the screen's pixel ratio, on the render thread (the
    calling worker waits); returns the canvas holding its pixels, which a GUI canvas adopts
    (`gui.chart_canvas`). Never call it on the GUI thread.

    The figure must be the caller's alone (built there, not yet shown): matplotlib is not thread-safe for
    one figure. Drawing a 4-metric chart costs 200-400 ms of text, ticks and layout: on the GUI thread
    that was the compare window's stalls (bench_soak.py)."""
    return _RENDERER.submit(_render, fig, pixel_ratio).result()


def dispose(fig: Figure) -> None:
    """Clear `fig` (its artists, and the series they hold) on the render thread, later: clearing resets
    every axis' ticks, ~14 ms of the GUI thread for a 4-metric chart as a compare window closed. The figure
    must be drawn by nobody any more (its window closed: a hidden canvas does not draw)."""
    _RENDERER.submit(_dispose, fig)


def render_idle() -> None:
    """Wait until the render thread has done what was given to it so far (tests, the soak's snapshots)."""
    _RENDERER.submit(lambda: None).result()


def _dispose(fig: Figure) -> None:
    fig.clear()
    fig.set_layout_engine("none")


def _render(fig: Figure, pixel_ratio: float) -> FigureCanvasAgg:
    canvas = FigureCanvasAgg(fig)
    # as the Qt canvas will set it when it shows the figure (same dpi: no second layout there)
    canvas._set_device_pixel_ratio(pixel_ratio)  # type: ignore[attr-defined]  # (every GUI backend calls it)
    canvas.draw()
    return canvas


class BlitLegend(Legend):
    """A legend that Agg renders once and then copies back as pixels while nothing it depends on changed.

    Laying out and drawing 20 entries costs ~35 ms, as much as all the data; the legend does not change on a
    zoom. The frame is opaque and square (no rounded corners), so the copied rectangle inside its edge holds
    nothing but the legend. Other renderers (SVG export) draw it as usual."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.update(framealpha=1.0, fancybox=False)
        super().__init__(*args, **kwargs)
        self._blit: tuple[tuple[Any, ...], Any] | None = None

    def draw(self, renderer: Any) -> None:
        # savefig's layout pass draws with the renderer's draw_* methods replaced by no-ops on the instance
        # (matplotlib's `_draw_disabled`): nothing is rendered then, so nothing may be copied
        disabled = "draw_path" in vars(renderer)
        if not isinstance(renderer, RendererAgg) or disabled or not self.get_visible():
            super().draw(renderer)
            return
        key = (
            id(renderer),
            renderer.width,
            renderer.height,
            renderer.dpi,
            tuple(self.get_bbox_to_anchor().bounds),
        )
        if self._blit is not None and self._blit[0] == key:
            # the frame's antialiased edge blends with what is under it: drawn anew, the inside copied
            self.legendPatch.draw(renderer)
            renderer.restore_region(self._blit[1])
            self.stale = False
            return
        super().draw(renderer)
        inset = math.ceil(renderer.points_to_pixels(self.legendPatch.get_linewidth())) + 1
        inside = self.legendPatch.get_window_extent(renderer).padded(-inset)
        self._blit = (key, renderer.copy_from_bbox(inside))


def legend_columns(fig: Figure, labels: Sequence[str], most: int, fontsize: str = "small") -> int:
    """How many columns a legend under the axes can have and still fit the figure's width (at most `most`):
    long labels (a run's differing params) in four columns ran past the right edge."""
    if not labels:
        return 1
    size = FontProperties(size=fontsize).get_size_in_points()
    # estimated, not measured: measuring text loads fonts on the building thread, and matplotlib keeps fonts
    # per thread (the charts render on one thread for that reason); DejaVu Sans averages ~0.6 em a character
    widest = max(len(t) for t in labels) * 0.62 * size
    # each entry: its handle (2 em), the pad to its text (0.8 em) and the space to the next column (2 em)
    entry = widest + 4.8 * size
    room = fig.get_figwidth() * 72 - 2 * size
    return max(1, min(most, len(labels), int(room // entry)))
