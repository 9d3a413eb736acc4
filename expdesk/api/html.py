"""Short HTML summaries for Jupyter (`_repr_html_`). Every string that comes from a run, a tool or a path is
escaped (`html.escape`, quotes included): a run named `<img src=x onerror=...>` shows as that text."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from expdesk.index.column_queries import IndexOverview

#: rows shown per table before "… N more"
ROWS = 25
#: characters of a value shown before an ellipsis
CHARS = 120
TABLE = '<table style="border-collapse:collapse;text-align:left">'
CELL = 'style="padding:1px 8px;text-align:left;vertical-align:top"'


def esc(value: Any) -> str:
    """Any value as escaped text: None as —, floats as 6 significant digits (NaN, inf as such)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        text = "NaN" if math.isnan(value) else f"{value:.6g}"
    elif isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S UTC")
    else:
        text = str(value)
    if len(text) > CHARS:
        text = text[: CHARS - 1] + "…"
    return html.escape(text, quote=True)


def table(rows: Iterable[tuple[Any, ...]], header: tuple[str, ...] = (), total: int | None = None) -> str:
    body = [TABLE]
    if header:
        body.append("<tr>" + "".join(f"<th {CELL}>{esc(h)}</th>" for h in header) + "</tr>")
    shown = 0
    for row in rows:
        if shown == ROWS:
            break
        body.append("<tr>" + "".join(f"<td {CELL}>{esc(c)}</td>" for c in row) + "</tr>")
        shown += 1
    body.append("</table>")
    if total is not None and total > shown:
        body.append(f"<div>… {total - shown} more</div>")
    return "".join(body)


def mapping_table(title: str, mapping: Mapping[str, Any]) -> str:
    if not mapping:
        return ""
    return f"<details><summary>{esc(title)} ({len(mapping)})</summary>{table(mapping.items(), total=len(mapping))}</details>"


def workspace_html(path: Path, overview: IndexOverview) -> str:
    formats = ", ".join(f"{esc(fmt)} {count}" for fmt, count in overview.formats.items()) or "none yet"
    parts = [
        f"<div><strong>expdesk workspace</strong> <code>{esc(str(path))}</code>",
        f"<div>{overview.runs} runs ({overview.deleted} deleted in their tool, {overview.with_errors} not read"
        f" fully) · {formats}</div>",
    ]
    if overview.roots:
        parts.append(table(overview.roots, ("folder", "runs", "with errors"), len(overview.roots)))
    else:
        parts.append("<div>no folders yet: <code>ws.index(&quot;~/mlruns&quot;)</code></div>")
    parts.append("</div>")
    return "".join(parts)
