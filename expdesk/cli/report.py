"""`expdesk report RUN RUN... --out FILE.html`: one self-contained HTML page to hand a comparison over.

Runs, the params that differ, every metric summary at full precision, a chart per metric (SVG, on the full
data) and the chosen media; nothing in the page is loaded from anywhere (`expdesk.compare.report`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from expdesk.cli.common import db_arg, open_reader
from expdesk.core.errors import UsageError


def register(sub: Any) -> None:
    p = sub.add_parser("report", help="write one self-contained HTML page comparing runs, to hand over")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run keys or unique prefixes, in the order shown")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.html")
    p.add_argument(
        "--metric", action="append", default=None, metavar="KEY",
        help="chart this metric (repeatable; default: the metrics most runs have, 6 at most)",
    )  # fmt: skip
    p.add_argument("--x", choices=["step", "wall", "relative"], default="step", help="x axis of the charts")
    p.add_argument("--smooth", type=float, default=0.0, metavar="S", help="EMA weight 0..1 (default 0: raw)")
    p.add_argument(
        "--group-by", metavar="FIELD",
        help="chart each group's mean and band instead of each run: params.KEY, tags.KEY, experiment, ...",
    )  # fmt: skip
    p.add_argument(
        "--band", choices=["minmax", "std", "none"], default="minmax", help="band of grouped curves"
    )
    p.add_argument(
        "--media", action="append", default=[], metavar="KEY[@STEP]",
        help="embed this media key for every run: the item at STEP or the last before it (default: the last)",
    )  # fmt: skip
    p.add_argument("--title", default="", help="the page's title (default: 'N runs compared')")
    db_arg(p)
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from expdesk.compare.groups import BandKind, GroupBy
    from expdesk.compare.report import MediaChoice, ReportOptions, build_report, write_report
    from expdesk.compare.series import XMode
    from expdesk.core.paths import watched_folder_holding

    if args.out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out {args.out}: the report is an .html file")
    if not 0 <= args.smooth < 1:
        raise UsageError("--smooth takes a weight from 0 up to (not including) 1")
    try:
        group_by = GroupBy.parse(args.group_by) if args.group_by else None
    except ValueError as exc:
        raise UsageError(f"--group-by: {exc}") from None
    options = ReportOptions(
        title=args.title,
        metrics=args.metric,
        x_mode=XMode(args.x),
        smoothing=args.smooth,
        group_by=group_by,
        band=BandKind(args.band),
        media=[MediaChoice.parse(m) for m in args.media],
    )
    with open_reader(args) as reader:
        keys: list[str] = []
        for run in args.runs:
            key = reader.resolve(run)
            if key not in keys:
                keys.append(key)
        watched = reader.watched_folders()
        # refused before any work (write_report checks again): the page never goes into a watched folder
        folder = watched_folder_holding(args.out, watched)
        if folder is not None:
            raise UsageError(f"{args.out} is inside the watched folder {folder}; expdesk never writes there")
        media = _media_source(reader) if options.media else None
        page = build_report(reader, keys, options, media)
    write_report(page, args.out, watched)
    print(args.out)
    return 0


def _media_source(reader: Any) -> Any:
    from expdesk.compare.report.content import MAX_MEDIA_ITEM_BYTES
    from expdesk.compare.report.media import IndexMedia

    return IndexMedia(reader, MAX_MEDIA_ITEM_BYTES)
