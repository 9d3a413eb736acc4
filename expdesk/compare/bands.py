"""The min/max bands of the metric charts: a filled polygon per series (what SVG and PDF exports draw) and, on
raster canvases, all the bands of an axes drawn as one image composited pixel column by pixel column.

Why an image: Agg fills polygons through matplotlib's non-premultiplied blender at ~30 Mpx/s, so 20 overlapping
translucent bands cost 25-50 ms of every redraw, about half of it. A band is one span of pixel rows per pixel
column (the decimation's columns are the pixel columns), so the bands of up to 16 series become a 16-bit mask
per pixel (a difference array and one cumulative sum); a colour table of every subset of those bands,
composited in draw order, turns the mask into one RGBA image that Agg blends once.

A column covers the pixel rows whose centres lie within its [min, max], and at least the row its span is in:
a spike is as tall as its value and never thinner than a pixel. Each span also reaches halfway to its
neighbours' extremes, where the data's line passes between two columns (see `_reach_neighbours`).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.colors import to_rgba
from matplotlib.patches import PathPatch
from matplotlib.path import Path as MplPath

EMPTY_PATH = MplPath(np.empty((0, 2)))
#: bands composited into one image: a mask bit each, so the colour table has 2**BAND_GROUP entries
BAND_GROUP = 16


def band_path(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> MplPath:
    """Closed polygons (hi left to right, lo back) for every run of columns with finite values."""
    finite = np.isfinite(lo) & np.isfinite(hi)
    if not len(x) or not finite.any():
        return EMPTY_PATH
    if finite.all():
        runs = [(0, len(x))]
    else:
        change = np.flatnonzero(np.diff(np.concatenate(([0], finite.astype(np.int8), [0]))))
        runs = list(zip(change[::2].tolist(), change[1::2].tolist(), strict=True))
    verts, codes = [], []
    for a, b in runs:
        xs = np.concatenate((x[a:b], x[a:b][::-1], x[a : a + 1]))
        ys = np.concatenate((hi[a:b], lo[a:b][::-1], hi[a : a + 1]))
        c = np.full(len(xs), MplPath.LINETO, dtype=MplPath.code_type)
        c[0], c[-1] = MplPath.MOVETO, MplPath.CLOSEPOLY
        verts.append(np.column_stack((xs, ys)))
        codes.append(c)
    return MplPath(np.concatenate(verts), np.concatenate(codes))


def _reach_neighbours(bottom: np.ndarray, top: np.ndarray, band: np.ndarray) -> None:
    """Extend each column's span, in place, halfway to its neighbours' extremes where those lie beyond it.

    The data's line leaves a column from its last point and enters the next at its first, so between two
    columns it passes through values of both: a pixel column shows some of its neighbours' range, and the
    polygon (interpolated between column centres) did the same. Without this a steep stretch would be drawn
    as disconnected or thinner pieces. No span reaches further than its neighbours' own values."""
    same = band[1:] == band[:-1]  # the neighbours of another series are not neighbours
    with np.errstate(invalid="ignore"):
        up = np.where(same, (top[1:] + top[:-1]) / 2, -np.inf)
        down = np.where(same, (bottom[1:] + bottom[:-1]) / 2, np.inf)
    top[:-1] = np.fmax(top[:-1], up)
    top[1:] = np.fmax(top[1:], up)
    bottom[:-1] = np.fmin(bottom[:-1], down)
    bottom[1:] = np.fmin(bottom[1:], down)


class BandPatch(PathPatch):
    """One series' band: the polygon, and the per-column extremes it was made from (for `BandImage`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(EMPTY_PATH, **kwargs)
        self.columns: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # x, lo, hi per column
        self.image: BandImage | None = None

    def set_columns(self, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        self.columns = (x, lo, hi)
        self.set_path(band_path(x, lo, hi))

    def clear_columns(self) -> None:
        self.columns = None
        self.set_path(EMPTY_PATH)

    def draw(self, renderer: Any) -> None:
        if self.image is not None and self.image.get_visible() and self.image.draws_on(renderer):
            return  # drawn as part of its axes' band image
        super().draw(renderer)


class BandImage(Artist):
    """The bands of one axes as images on Agg canvases, in the place (z-order) of the band patches. An image
    costs ~10 ms per 16 bands whatever they cover (a full-range chart of 20 runs: ~22 ms against ~45 ms of
    polygons); a chart of one or two thin bands pays a few ms more than polygons would."""

    def __init__(self, ax: Axes, bands: list[BandPatch]) -> None:
        super().__init__()
        self.ax = ax
        self.bands = bands
        for band in bands:
            band.image = self
        self.set_zorder(min((b.get_zorder() for b in bands), default=1.0))
        self.set_in_layout(False)
        self._tables: dict[tuple[tuple[float, ...], ...], np.ndarray] = {}
        self.drawn_as: str | None = None  # "image" or "polygons": how the last raster draw went

    @staticmethod
    def draws_on(renderer: Any) -> bool:
        # savefig's layout pass replaces the draw methods with no-ops (see BlitLegend): patches then, too
        return isinstance(renderer, RendererAgg) and "draw_path" not in vars(renderer)

    def draw(self, renderer: Any) -> None:
        if not self.get_visible() or not self.draws_on(renderer):
            return
        bbox = self.ax.bbox
        x0, y0 = math.floor(bbox.x0), math.floor(bbox.y0)
        width, height = math.ceil(bbox.x1) - x0, math.ceil(bbox.y1) - y0
        shown = [b for b in self.bands if b.columns is not None and b.get_visible()]
        if width <= 0 or height <= 0 or not shown:
            return
        spans = self._spans(shown, x0, y0, width, height)
        if any(len(cols) > 1 and cols[-1] - cols[0] + 1 > 1.5 * len(cols) for cols, _, _ in spans):
            # columns wider than a pixel (decimated for another canvas size, no refresh since): a column
            # per pixel would leave gaps, the polygons do not
            self.drawn_as = "polygons"
            for band in shown:
                PathPatch.draw(band, renderer)
            return
        self.drawn_as = "image"
        gc = renderer.new_gc()
        gc.set_clip_rectangle(bbox)
        for start in range(0, len(shown), BAND_GROUP):
            group = shown[start : start + BAND_GROUP]
            # +bit where a span starts, -bit past its end; uint16 wraps, but every prefix sum is a real mask
            diff = np.zeros((height + 1, width), dtype=np.uint16)
            for k, (cols, first, last) in enumerate(spans[start : start + BAND_GROUP]):
                bit = np.uint16(1 << k)
                diff[first, cols] += bit
                diff[last + 1, cols] -= bit
            mask = np.cumsum(diff[:-1], axis=0, dtype=np.uint16)
            table = self._table(tuple(tuple(to_rgba(b.get_facecolor())) for b in group))
            image = table[mask].view(np.uint8).reshape(height, width, 4)
            renderer.draw_image(gc, x0, y0, image)  # row 0 is the bottom row
        gc.restore()
        self.stale = False

    def _spans(
        self, bands: list[BandPatch], x0: int, y0: int, width: int, height: int
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per band: (pixel column, first row, last row) of its columns inside the image, rows from the
        bottom, one entry per pixel column (columns falling into one pixel are merged). One transform for
        all the bands: most of the cost is per call."""
        columns = [b.columns for b in bands if b.columns is not None]
        x = np.concatenate([c[0] for c in columns])
        n = len(x)
        band = np.repeat(np.arange(len(columns)), [len(c[0]) for c in columns])
        ys = np.concatenate([c[1] for c in columns] + [c[2] for c in columns])
        pts = self.ax.transData.transform(np.column_stack((np.concatenate((x, x)), ys)))
        with np.errstate(invalid="ignore"):  # columns without finite extremes are NaN: dropped below
            cols = np.floor(pts[:n, 0]) - x0
            bottom, top = np.fmin(pts[:n, 1], pts[n:, 1]), np.fmax(pts[:n, 1], pts[n:, 1])
            _reach_neighbours(bottom, top, band)
            # the rows whose centres (row + 0.5) lie in [bottom, top]; a thinner span keeps the row it is in
            first, last = np.ceil(bottom - 0.5), np.floor(top - 0.5)
            thin = last < first
            middle = np.floor((bottom + top) / 2)
            first, last = np.where(thin, middle, first) - y0, np.where(thin, middle, last) - y0
            keep = (cols >= 0) & (cols < width) & (last >= 0) & (first < height)  # NaN compares false
        key = band[keep] * (width + 1) + cols[keep].astype(np.int64)  # band by band, column by column
        first = np.clip(first[keep], 0, height - 1).astype(np.int64)
        last = np.clip(last[keep], 0, height - 1).astype(np.int64)
        if len(key) > 1 and bool(np.any(key[1:] < key[:-1])):  # an inverted x axis
            order = np.argsort(key, kind="stable")
            key, first, last = key[order], first[order], last[order]
        starts = np.flatnonzero(np.diff(key, prepend=-1))
        if len(starts) < len(key):
            key = key[starts]
            first = np.minimum.reduceat(first, starts)
            last = np.maximum.reduceat(last, starts)
        bounds = np.searchsorted(key, np.arange(len(columns) + 1) * (width + 1))
        cols = key % (width + 1)
        return [(cols[a:b], first[a:b], last[a:b]) for a, b in itertools.pairwise(bounds.tolist())]

    def _table(self, colors: tuple[tuple[float, ...], ...]) -> np.ndarray:
        """RGBA (as uint32) of every subset of `colors` composited in order, indexed by the subset's bits."""
        table = self._tables.get(colors)
        if table is None:
            premultiplied = np.zeros((1 << len(colors), 4))
            for k, (r, g, b, a) in enumerate(colors):
                below = premultiplied[: 1 << k]  # the subsets of the bands drawn before band k
                premultiplied[1 << k : 2 << k] = np.array([r * a, g * a, b * a, a]) + below * (1.0 - a)
            alpha = premultiplied[:, 3:]
            rgb = premultiplied[:, :3] / np.where(alpha > 0, alpha, 1.0)  # Agg's buffer is not premultiplied
            rgba = np.round(np.concatenate((rgb, alpha), axis=1) * 255).astype(np.uint8)
            table = rgba.view(np.uint32).reshape(-1)
            self._tables[colors] = table
        return table
