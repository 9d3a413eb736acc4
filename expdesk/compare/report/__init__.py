"""The hand-over report: one self-contained HTML page comparing runs (`expdesk report`, File > Export report).

`gather` reads what the page shows from the index (off the GUI thread), `render_html` writes the page, and
`write_report` puts it on disk, never inside a watched folder. No Qt.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path

from expdesk.compare.report.content import MediaChoice, MediaSource, ReportData, ReportOptions, gather
from expdesk.compare.report.render import render_html
from expdesk.core.errors import ExpdeskError, UsageError
from expdesk.core.paths import watched_folder_holding
from expdesk.index.reader import IndexReader

__all__ = ["MediaChoice", "MediaSource", "ReportData", "ReportOptions", "build_report", "write_report"]


def build_report(
    reader: IndexReader,
    run_keys: Sequence[str],
    options: ReportOptions | None = None,
    media_source: MediaSource | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> str:
    """The report page for these runs, in this order."""
    return render_html(gather(reader, run_keys, options, media_source, cancelled))


def write_report(page: str, out: Path, watched: set[str]) -> Path:
    """Write the page to `out` (through a temporary file beside it, so a failure leaves no half page),
    never into a watched folder."""
    folder = watched_folder_holding(out, watched)
    if folder is not None:
        raise UsageError(f"{out} is inside the watched folder {folder}; expdesk never writes there")
    if not out.parent.is_dir():
        raise UsageError(f"folder {out.parent} does not exist")
    # a new file beside the target, created as any file the user writes (their umask: a report is for
    # handing over, not private like mkstemp's 0600), then renamed over the target
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as handle:
            handle.write(page)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExpdeskError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out
