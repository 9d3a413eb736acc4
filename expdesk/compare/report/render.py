"""The report as one self-contained HTML page: no script, no external resource, every user string escaped.

- Nothing is loaded from anywhere: charts are SVG and media are images, both as `data:` URIs in `<img>`
  (an SVG shown as an image runs no script and loads nothing), styles are inline, and a Content Security
  Policy forbids every other source, so a browser fetches nothing even if something slipped through.
- Every string that comes from a run (names, keys, params, tags, paths, media text) goes through `text()`:
  control characters shown as `\\xNN`, invalid Unicode and bidi controls as `\\uNNNN` (a right-to-left
  override would make `\\u202egnp.exe` read "exe.png"), HTML-escaped, and wrapped in `<bdi>` so right-to-left
  text cannot reorder the page around it. Very long strings are cut where they label
  something and kept whole, folded, in the runs table.
- Numbers are exact: `repr` of the float (the shortest text that reads back to the same double); a logged
  NaN shows as NaN, a value the run does not hold as an em dash.
"""

from __future__ import annotations

import html
import math
import unicodedata
import zlib
from datetime import UTC, datetime
from typing import Any

from expdesk.compare.diff import Cell, DiffRow
from expdesk.compare.report.content import Chart, MediaCell, MediaRow, ReportData, data_uri

#: characters of a user string shown where it labels something (a column head, a caption)
LABEL_CHARS = 120
#: a longer string in the runs table is folded: its start shown, the whole inside <details>
FOLD_CHARS = 300
MISSING = "—"
#: params, and metrics, listed at most (the rest are counted in a note)
MAX_TABLE_KEYS = 2_000
#: explicit direction marks and overrides: shown as `\\u202e`, or a name like `\\u202egnp.exe` reads "exe.png"
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

CSP = "default-src 'none'; img-src data:; media-src data:; style-src 'unsafe-inline'; form-action 'none'"

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #1d1d1f; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
.meta, .note { color: #666; } .note { font-size: .9em; }
.scroll { overflow-x: auto; margin: .5em 0; }
table { border-collapse: collapse; font-size: .92em; }
th, td { border: 1px solid #ddd; padding: .25em .55em; text-align: left; vertical-align: top; }
th { background: #f5f5f7; } td.num { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace;
       text-align: right; white-space: nowrap; } td.best { font-weight: 600; background: #eef7ee; }
td.missing { color: #999; text-align: center; }
bdi, pre { overflow-wrap: break-word; } details summary { cursor: pointer; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
.swatch { display: inline-block; width: .9em; height: .9em; margin-right: .3em; vertical-align: middle; }
.media td { text-align: center; } .media img { max-width: 260px; max-height: 260px; image-rendering: auto; }
pre { white-space: pre-wrap; text-align: left; margin: 0; max-height: 20em; overflow: auto; }
"""


def text(value: Any, limit: int | None = None) -> str:
    """A user string as inert HTML text (see the module docstring); cut to `limit` characters with a mark."""
    s = "" if value is None else str(value)
    cut = limit is not None and len(s) > limit
    if cut:
        assert limit is not None
        s = s[:limit]
    out = []
    for ch in s:
        cat = unicodedata.category(ch)
        if cat == "Cc" and ch not in "\n\t":
            out.append(f"\\x{ord(ch):02x}")
        elif cat == "Cs" or ch in BIDI_CONTROLS:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    escaped = html.escape("".join(out), quote=True)
    more = f"… ({len(str(value)):,} characters)" if cut else ""
    return f"<bdi>{escaped}</bdi>{more}"


def folded(value: Any) -> str:
    """A user string shown whole; beyond FOLD_CHARS its start, the rest a click away."""
    s = "" if value is None else str(value)
    if len(s) <= FOLD_CHARS:
        return text(s)
    return f"<details><summary>{text(s, FOLD_CHARS)}</summary>{text(s)}</details>"


def exact(number: float | None) -> str:
    if number is None:
        return MISSING
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return repr(float(number))


def _when(ts: str | None) -> str:
    return text(ts.replace("T", " ").replace("Z", " UTC")) if ts else MISSING


def _cell(c: Cell, number: bool, best: bool) -> str:
    if not c.present:
        return f'<td class="missing">{MISSING}</td>'
    classes = ["num"] if number else []
    if best:
        classes.append("best")
    attr = f' class="{" ".join(classes)}"' if classes else ""
    shown = exact(c.number) if number and c.exact is not None else folded(c.text)
    return f"<td{attr}>{shown}</td>"


def _head(data: ReportData, first: str) -> str:
    heads = "".join(f"<th>{text(label, LABEL_CHARS)}</th>" for label in data.labels)
    return f"<thead><tr><th>{first}</th>{heads}</tr></thead>"


def _runs(data: ReportData) -> str:
    rows = []
    for r, label in zip(data.runs, data.labels, strict=True):
        start, end = r.get("start_time"), r.get("end_time")
        rows.append(
            "<tr>"
            f"<td>{text(label, LABEL_CHARS)}</td><td>{folded(r.get('name') or MISSING)}</td>"
            f"<td><code>{text(r['key'])}</code></td><td>{text(_tools(r))}</td>"
            f"<td>{folded(r.get('experiment') or MISSING)}</td><td>{text(r.get('status'))}</td>"
            f"<td>{_when(start)}</td><td>{_when(end)}</td><td>{folded(r.get('path'))}</td>"
            "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("label", "name", "key", "format", "experiment", "status", "start", "end", "path")
    )
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _tools(run: dict[str, Any]) -> str:
    """The run's format, or every tool of a job logged by several (`hydra + wandb + lightning`)."""
    return " + ".join(str(f) for f in run.get("formats") or [run.get("format") or ""])


def _diff_rows(data: ReportData, rows: list[DiffRow], number: bool) -> str:
    body = []
    for row in rows:
        label = row.key if row.section != "metric" else f"{row.key} · {row.stat}"
        cells = "".join(_cell(c, number, i in row.best) for i, c in enumerate(row.cells))
        body.append(f"<tr><th>{text(label, LABEL_CHARS)}</th>{cells}</tr>")
    return "".join(body)


def _params(data: ReportData) -> str:
    params = [r for r in data.diff.rows if r.section == "param"]
    differ = [r for r in params if not r.same or len(data.runs) < 2]
    same = [r for r in params if r.same and len(data.runs) >= 2]
    parts = [_cut_note(len(differ), len(same), "params")] if len(differ) + len(same) > MAX_TABLE_KEYS else []
    differ = differ[:MAX_TABLE_KEYS]
    same = same[: max(0, MAX_TABLE_KEYS - len(differ))]
    if differ:
        table = _head(data, "param") + f"<tbody>{_diff_rows(data, differ, False)}</tbody>"
        parts.append(f'<div class="scroll"><table>{table}</table></div>')
    else:
        parts.append('<p class="note">No param differs between these runs.</p>')
    if same:
        table = _head(data, "param") + f"<tbody>{_diff_rows(data, same, False)}</tbody>"
        parts.append(
            f"<details><summary>{len(same)} param{'s' if len(same) != 1 else ''} the same in every run"
            f'</summary><div class="scroll"><table>{table}</table></div></details>'
        )
    tags = [r for r in data.diff.rows if r.section == "tag" and not r.same]
    if tags and len(data.runs) >= 2:
        table = _head(data, "tag") + f"<tbody>{_diff_rows(data, tags, False)}</tbody>"
        parts.append(f'<h3>Tags that differ</h3><div class="scroll"><table>{table}</table></div>')
    return "".join(parts)


def _metrics(data: ReportData) -> str:
    rows = [r for r in data.diff.rows if r.section == "metric"]
    if not rows:
        return '<p class="note">These runs logged no metrics.</p>'
    by_metric: dict[str, list[DiffRow]] = {}
    for r in rows:
        by_metric.setdefault(r.key, []).append(r)
    cut = _cut_note(len(by_metric), 0, "metrics") if len(by_metric) > MAX_TABLE_KEYS else ""
    by_metric = dict(list(by_metric.items())[:MAX_TABLE_KEYS])
    body = []
    for metric, stats in by_metric.items():
        body.append(_diff_rows(data, stats, True))
        body.append(_points_row(data, metric))
    note = (
        '<p class="note">Exact values (the shortest decimal that reads back to the same float64); '
        f"the best of a row in bold where the metric's name says which way is better; {MISSING}: "
        "the run does not have it.</p>"
    )
    table = f"<table>{_head(data, 'metric')}<tbody>{''.join(body)}</tbody></table>"
    return f'{note}{cut}<div class="scroll">{table}</div>'


def _cut_note(first: int, second: int, what: str) -> str:
    """Said above a table cut at MAX_TABLE_KEYS keys (100,000 metric keys make a page no one reads)."""
    return (
        f'<p class="note">The first {MAX_TABLE_KEYS:,} of {first + second:,} {what} (by name); '
        "<code>expdesk compare --all --csv</code> lists them all.</p>"
    )


def _points_row(data: ReportData, metric: str) -> str:
    """How many points each run logged for `metric`, over which steps, how many of them NaN."""
    cells = []
    for run in data.runs:
        summary = (run.get("metrics") or {}).get(metric)
        if summary is None:
            cells.append(f'<td class="missing">{MISSING}</td>')
            continue
        if not summary.get("count"):
            # a result the run reported with no series (a Trainer's `eval_samples`): its `final` row says it
            cells.append(f'<td class="num">0{" (reported result only)" if "final" in summary else ""}</td>')
            continue
        span = f"{summary.get('first_step')}…{summary.get('last_step')}"
        nan = f", {summary['nan_count']} NaN" if summary.get("nan_count") else ""
        cells.append(f'<td class="num">{summary.get("count", 0)} ({text(span)}{nan})</td>')
    return f"<tr><th>{text(metric, LABEL_CHARS)} · points (steps)</th>{''.join(cells)}</tr>"


def _chart(chart: Chart) -> str:
    key = ""
    if chart.key:
        items = "".join(
            f'<li><span class="swatch" style="background:{color}"></span>{text(label, LABEL_CHARS)}</li>'
            for label, color in chart.key
        )
        key = f"<ul>{items}</ul>"
    src = data_uri("image/svg+xml", chart.svg)
    alt = html.escape(f"chart of {chart.metric[:LABEL_CHARS]}", quote=True)
    return (
        f'<figure><img alt="{alt}" src="{src}"><figcaption>{text(chart.metric, LABEL_CHARS)}: '
        f"{html.escape(chart.note)}</figcaption>{key}</figure>"
    )


_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_AUDIO_MAGIC = (
    (b"RIFF", "audio/wav"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"ID3", "audio/mpeg"),
)


def _sniff(data: bytes, table: tuple[tuple[bytes, str], ...]) -> str | None:
    """The type of an item from its own first bytes (not from a name the run chose): only raster images and
    plain audio are embedded; an SVG or anything unknown is not."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and table is _IMAGE_MAGIC:
        return "image/webp"
    return next((mime for magic, mime in table if data.startswith(magic)), None)


def png_problem(data: bytes) -> str | None:
    """Why PNG bytes would not decode, from their chunk structure (length, type, CRC of every chunk up to
    IEND); None when it holds. A browser draws nothing for a broken image: the report says why instead."""
    pos = 8
    seen_header = False
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            return f"its {kind.decode('latin-1')!r} chunk runs past the end"
        if zlib.crc32(data[pos + 4 : end - 4]) != int.from_bytes(data[end - 4 : end], "big"):
            return f"the CRC of its {kind.decode('latin-1')!r} chunk does not match"
        if not seen_header and kind != b"IHDR":
            return "it does not start with an IHDR chunk"
        seen_header = True
        if kind == b"IEND":
            return None
        pos = end
    return "it ends before its IEND chunk"


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG or GIF header; None for other types (their size is left to the browser)."""
    if data.startswith(b"\x89PNG") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:4] == b"GIF8" and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    return None


#: images narrower than this are drawn larger, pixel for pixel (a 12 x 8 sample is unreadable as is)
SMALL_IMAGE = 96


def _image(data: bytes, mime: str) -> str:
    size = image_size(data)
    style = ""
    if size is not None and 0 < size[0] < SMALL_IMAGE and 0 < size[1] < SMALL_IMAGE:
        scale = max(1, min(SMALL_IMAGE * 2 // size[0], SMALL_IMAGE * 2 // size[1]))
        style = f' style="width:{size[0] * scale}px;image-rendering:pixelated"'
    return f'<img alt="" src="{data_uri(mime, data)}"{style}>'


def _media_cell(cell: MediaCell) -> str:
    where = f"step {cell.step}" if cell.step is not None else "no step"
    note = f'<div class="note">{text(where)}{"; " + text(cell.note) if cell.note else ""}</div>'
    if cell.data is None:
        return f'<td class="missing">{text(cell.note or MISSING)}</td>'
    if cell.kind == "image":
        mime = _sniff(cell.data, _IMAGE_MAGIC)
        if mime is None:
            return f'<td class="missing">{text(where)}: not a PNG, JPEG, GIF or WebP image, not embedded</td>'
        problem = png_problem(cell.data) if mime == "image/png" else None
        if problem is not None:
            return f'<td class="missing">{text(where)}: a PNG that does not decode ({text(problem)})</td>'
        return f"<td>{_image(cell.data, mime)}{note}</td>"
    if cell.kind == "audio":
        mime = _sniff(cell.data, _AUDIO_MAGIC)
        if mime is None:
            return f'<td class="missing">{text(where)}: audio of an unknown type, not embedded</td>'
        return f'<td><audio controls src="{data_uri(mime, cell.data)}"></audio>{note}</td>'
    if cell.svg is not None:  # a histogram, drawn; its buckets exactly as a CSV a click away
        chart = f'<img alt="histogram" src="{data_uri("image/svg+xml", cell.svg)}">'
        body = text(cell.data.decode("utf-8", "backslashreplace"))
        return f"<td>{chart}<details><summary>buckets (CSV)</summary><pre>{body}</pre></details>{note}</td>"
    # text, tables and anything else: shown as text, exactly as the item holds it
    body = cell.data.decode("utf-8", "backslashreplace")
    return f"<td><pre>{text(body)}</pre>{note}</td>"


def _media(data: ReportData) -> str:
    rows = []
    for row in data.media:
        rows.append(_media_row(row))
    return f'<div class="scroll"><table class="media">{_head(data, "media")}<tbody>{"".join(rows)}</tbody></table></div>'


def _media_row(row: MediaRow) -> str:
    label = row.choice.key + (f" @ {row.choice.step}" if row.choice.step is not None else " (last step)")
    return f"<tr><th>{text(label, LABEL_CHARS)}</th>{''.join(_media_cell(c) for c in row.cells)}</tr>"


def render_html(data: ReportData) -> str:
    when = datetime.fromtimestamp(data.generated_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    n = len(data.runs)
    sections = [
        ("runs", "Runs", _runs(data)),
        ("params", "Params that differ", _params(data)),
        ("metrics", "Metrics", _metrics(data)),
    ]
    if data.charts:
        sections.append(("charts", "Charts", "".join(_chart(c) for c in data.charts)))
    if data.media:
        sections.append(("media", "Media", _media(data)))
    nav = " · ".join(f'<a href="#{sid}">{title}</a>' for sid, title, _ in sections)
    notes = "".join(f'<p class="note">{text(note)}</p>' for note in data.notes)
    body = "".join(
        f'<section id="{sid}"><h2>{title}</h2>{content}</section>' for sid, title, content in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="expdesk {html.escape(data.version)}">'
        f"<title>{html.escape(_plain(data.title))}</title><style>{STYLE}</style></head>\n<body>"
        f"<header><h1>{text(data.title, LABEL_CHARS)}</h1>"
        f'<p class="meta">{n} run{"s" if n != 1 else ""} · written {when} by expdesk '
        f"{html.escape(data.version)} from its index · read-only copies of what the runs logged</p>"
        f"<nav>{nav}</nav>{notes}</header>\n{body}\n</body></html>\n"
    )


def _plain(title: str) -> str:
    """The <title> is plain text in the tab: control characters out, cut short."""
    cleaned = "".join(c for c in title[:LABEL_CHARS] if unicodedata.category(c) not in ("Cc", "Cs"))
    return cleaned or "expdesk report"
