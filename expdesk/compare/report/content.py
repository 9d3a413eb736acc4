"""What a report holds, gathered from the index: runs, the params that differ, every metric summary, one chart
per chosen metric (SVG, drawn by the same figure code as the GUI and `expdesk plot`) and the chosen media.

Gathering reads the index (call it off the GUI thread); `render.render_html` turns the result into the page.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import matplotlib
from matplotlib.figure import Figure

from expdesk import __version__
from expdesk.compare.diff import DiffTable, build_diff, legend_labels
from expdesk.compare.figures import MAX_LEGEND, metric_chart, mpl_text, run_colors
from expdesk.compare.group_figures import group_chart
from expdesk.compare.groups import BandKind, GroupBy, group_curves, group_runs
from expdesk.compare.series import XMode, load_series, prepare
from expdesk.core.errors import UsageError
from expdesk.index.reader import IndexReader

#: runs listed from an MLflow tracking server (`expdesk.remote.browse.FORMAT`): the index keeps their latest values
SERVER_FORMAT = "mlflow-remote"
#: charts drawn when the caller names no metric: the metrics most runs have, this many at most
DEFAULT_CHARTS = 6
#: one embedded media item at most (bigger ones are listed with their size, not embedded)
MAX_MEDIA_ITEM_BYTES = 8 << 20
#: all embedded media together at most
MAX_MEDIA_BYTES = 64 << 20


@dataclass(frozen=True)
class MediaChoice:
    """A media key to show for every run: the item at `step`, or the last at or before it (None: the last)."""

    key: str
    step: int | None = None

    @classmethod
    def parse(cls, text: str) -> MediaChoice:
        """`KEY` or `KEY@STEP` (the last `@` splits, so keys may hold `@`)."""
        key, sep, step = text.rpartition("@")
        if sep and key:
            try:
                return cls(key, int(step))
            except ValueError:
                pass
        if not text:
            raise UsageError("--media takes KEY or KEY@STEP")
        return cls(text)


class ItemTooLarge(Exception):
    """An item over the per-item limit, found before reading it (`size` bytes)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{size:,} bytes")
        self.size = size


@dataclass(frozen=True)
class MediaSeriesInfo:
    key: str
    kind: str
    steps: tuple[int, ...]  # sorted; empty for step-less items


class MediaSource(Protocol):
    """Where a report finds media (the index's media tables; see `report.media`)."""

    def series(self, run_key: str) -> list[MediaSeriesInfo]: ...

    def item(self, run_key: str, key: str, kind: str, step: int | None) -> bytes: ...


@dataclass
class MediaCell:
    """One run's item for a media choice: its bytes, or why there are none."""

    run_key: str
    kind: str = ""
    step: int | None = None
    data: bytes | None = None
    #: what is shown instead of the item, or next to it ("the last at or before step 50")
    note: str = ""
    svg: bytes | None = None  # a histogram, drawn


@dataclass
class MediaRow:
    choice: MediaChoice
    cells: list[MediaCell]


@dataclass
class Chart:
    metric: str
    svg: bytes
    note: str = ""
    key: list[tuple[str, str]] = field(default_factory=list)  # (label, #rrggbb) when the figure has no legend


@dataclass
class ReportOptions:
    title: str = ""
    metrics: Sequence[str] | None = None  # None: the metrics most runs have (DEFAULT_CHARTS at most)
    x_mode: XMode = XMode.STEP
    smoothing: float = 0.0
    group_by: GroupBy | None = None
    band: BandKind = BandKind.MINMAX
    media: Sequence[MediaChoice] = ()
    generated_at: float | None = None  # epoch seconds; None: now


@dataclass
class ReportData:
    title: str
    generated_at: float
    version: str
    runs: list[dict[str, Any]]
    labels: list[str]
    diff: DiffTable
    charts: list[Chart]
    media: list[MediaRow]
    options: ReportOptions
    notes: list[str] = field(default_factory=list)


def default_metrics(runs: Sequence[dict[str, Any]], limit: int = DEFAULT_CHARTS) -> list[str]:
    counts: dict[str, int] = {}
    for run in runs:
        for metric in run.get("metrics") or {}:
            counts[metric] = counts.get(metric, 0) + 1
    return sorted(counts, key=lambda m: (-counts[m], m))[:limit]


def _svg(fig: Figure) -> bytes:
    out = io.BytesIO()
    # glyphs as paths (no font or text element in the file), ids from a fixed salt, no date: the same runs
    # give the same bytes
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "expdesk-report"}):
        fig.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def _hex(color: tuple[float, ...]) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in color[:3])


def _charts(
    reader: IndexReader,
    runs: list[dict[str, Any]],
    labels: list[str],
    options: ReportOptions,
    notes: list[str],
) -> list[Chart]:
    keys = [r["key"] for r in runs]
    metrics = list(options.metrics) if options.metrics is not None else default_metrics(runs)
    grouped = options.group_by is not None
    x_mode = XMode.STEP if grouped else options.x_mode
    if grouped and options.x_mode is not XMode.STEP:
        notes.append("Grouped curves are drawn over steps: runs share no wall-clock axis.")
    raws = load_series(reader, keys, metrics, with_timestamps=x_mode is not XMode.STEP)
    label_of = dict(zip(keys, labels, strict=True))
    charts: list[Chart] = []
    for metric in metrics:
        mine = [r for r in raws if r.metric == metric]
        if not mine:
            notes.append(f"No run has the metric {metric!r}.")
            continue
        fig = Figure(figsize=(9.0, 4.2), dpi=100, layout="constrained")
        key: list[tuple[str, str]] = []
        if options.group_by is not None:
            groups = group_runs(runs, options.group_by)
            curves = group_curves(groups, mine, [metric], options.band, options.smoothing)
            group_chart(curves, groups, figure=fig)
            note = f"Mean of each group by {options.group_by.text}; {_band_words(options.band)}."
        else:
            series = [prepare(r, label_of[r.run_key], x_mode, options.smoothing) for r in mine]
            metric_chart({metric: series}, keys, x_mode, options.smoothing, figure=fig)
            note = (
                f"{len(mine)} of {len(runs)} runs; every point drawn (min/max per pixel column where dense)"
            )
            note += (
                f", EMA smoothing {options.smoothing:g} (raw data faint)." if options.smoothing > 0 else "."
            )
            if len(mine) > MAX_LEGEND:
                colors = run_colors(len(keys))
                have = {r.run_key for r in mine}
                key = [(label_of[k], _hex(c)) for k, c in zip(keys, colors, strict=True) if k in have]
        charts.append(Chart(metric, _svg(fig), note, key))
        fig.clear()
    return charts


def _band_words(band: BandKind) -> str:
    if band is BandKind.MINMAX:
        return "the band spans the lowest to the highest value at each step"
    if band is BandKind.STD:
        return "the band is ± one sample standard deviation"
    return "no band"


def _media(
    source: MediaSource | None, runs: list[dict[str, Any]], choices: Sequence[MediaChoice]
) -> list[MediaRow]:
    rows: list[MediaRow] = []
    if not choices:
        return rows
    if source is None:
        raise UsageError("media cannot be embedded: this index has no media tables")
    budget = MAX_MEDIA_BYTES
    listed = {r["key"]: source.series(r["key"]) for r in runs}
    for choice in choices:
        cells = []
        for run in runs:
            cell = _media_cell(source, run["key"], listed[run["key"]], choice, budget)
            budget -= len(cell.data or b"")
            cells.append(cell)
        rows.append(MediaRow(choice, cells))
    return rows


def _media_cell(
    source: MediaSource, run_key: str, series: list[MediaSeriesInfo], choice: MediaChoice, budget: int
) -> MediaCell:
    found = [s for s in series if s.key == choice.key]
    if not found:
        return MediaCell(run_key, note="not logged by this run")
    info = found[0]
    step: int | None = None
    note = ""
    if info.steps:
        eligible = [s for s in info.steps if choice.step is None or s <= choice.step]
        if not eligible:
            return MediaCell(run_key, info.kind, note=f"nothing at or before step {choice.step}")
        step = eligible[-1]
        if choice.step is not None and step != choice.step:
            note = f"the last at or before step {choice.step}"
    try:
        data = source.item(run_key, info.key, info.kind, step)
    except ItemTooLarge as exc:
        return MediaCell(
            run_key, info.kind, step, note=f"{exc.size:,} bytes: over the per-item limit, not embedded"
        )
    except Exception as exc:  # a bad item is a placeholder with its reason, never a failed report
        return MediaCell(run_key, info.kind, step, note=f"cannot be read: {exc}")
    if len(data) > min(MAX_MEDIA_ITEM_BYTES, budget):
        limit = "the report's media budget" if len(data) <= MAX_MEDIA_ITEM_BYTES else "the per-item limit"
        return MediaCell(run_key, info.kind, step, note=f"{len(data):,} bytes: over {limit}, not embedded")
    cell = MediaCell(run_key, info.kind, step, data, note)
    if info.kind == "histogram":
        cell.svg = histogram_svg(data, f"{info.key} · step {step}" if step is not None else info.key)
        if cell.svg is None and data.strip() == b"left,right,count":
            cell.data, cell.note = None, "a histogram with no buckets"
    return cell


#: buckets drawn in a report's histogram (a finer one is summed into this many bars; the CSV stays whole)
MAX_DRAWN_BUCKETS = 512


def histogram_svg(csv_bytes: bytes, title: str) -> bytes | None:
    """A histogram item (CSV: left, right, count) as a small bar chart; None when it is not that CSV."""
    import csv

    import numpy as np

    try:
        rows = list(csv.reader(io.StringIO(csv_bytes.decode("utf-8"))))
        table = np.array([[float(v) for v in row] for row in rows[1:]], dtype=np.float64).reshape(-1, 3)
    except (UnicodeDecodeError, ValueError):
        return None
    if rows[:1] != [["left", "right", "count"]] or not len(table):
        return None
    if len(table) > MAX_DRAWN_BUCKETS:
        edges = np.linspace(0, len(table), MAX_DRAWN_BUCKETS + 1).astype(np.int64)
        left, right = table[edges[:-1], 0], table[edges[1:] - 1, 1]
        counts = np.add.reduceat(table[:, 2], edges[:-1])
        table = np.column_stack((left, right, counts))
    fig = Figure(figsize=(3.2, 2.2), dpi=100, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    widths = table[:, 1] - table[:, 0]
    ax.bar(table[:, 0], table[:, 2], width=np.where(widths > 0, widths, 1e-12), align="edge", color="#4477aa")
    ax.set_title(mpl_text(title[:80]), fontsize="small")
    ax.tick_params(labelsize="x-small")
    return _svg(fig)


def gather(
    reader: IndexReader,
    run_keys: Sequence[str],
    options: ReportOptions | None = None,
    media_source: MediaSource | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> ReportData:
    """Everything the report shows, for these runs in this order."""
    options = options or ReportOptions()
    if not run_keys:
        raise UsageError("a report needs at least one run")
    runs = reader.runs_json(list(run_keys))
    missing = [k for k in run_keys if k not in {r["key"] for r in runs}]
    if missing:
        raise UsageError(f"no run {missing[0]!r} in the index")
    labels = legend_labels(runs)
    notes: list[str] = []
    if any(r.get("format") == SERVER_FORMAT for r in runs):
        notes.append(
            "Runs listed from a tracking server are charted from what the index holds of them (their latest"
            " values); `expdesk plot` fetches their full history."
        )
    charts = [] if cancelled() else _charts(reader, runs, labels, options, notes)
    media = [] if cancelled() else _media(media_source, runs, options.media)
    title = options.title.strip() or f"{len(runs)} run{'s' if len(runs) != 1 else ''} compared"
    when = time.time() if options.generated_at is None else options.generated_at
    return ReportData(title, when, __version__, runs, labels, build_diff(runs), charts, media, options, notes)


def data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
