"""`expdesk media RUN KEY --step N --out FILE`: one logged media item, as the run holds it.

An image is written as its original encoded bytes (byte for byte what the tool stored), a histogram as a
CSV of its buckets (`left,right,count`, full precision), text as UTF-8. Without `--out`, the run's media
series are listed. Exit 2 with a one-line reason for a run, key, step or index the run does not have.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from expdesk.cli.common import db_arg, open_reader
from expdesk.core.errors import UsageError


def cmd_media(args: argparse.Namespace) -> int:
    from expdesk.index.media import find_item, run_media, write_item

    with open_reader(args) as reader:
        key = reader.resolve(args.run)
        if args.key is None:
            return _list(run_media(reader, key))
        if args.out is None:
            raise UsageError("say where to write the item: --out FILE (or '-' for standard output)")
        step = None if args.step is None else args.step
        # the item is found (and a bad key/step reported) before anything is created on disk
        find_item(reader, key, args.key, step, args.index, args.kind)
        _refuse_watched(reader.watched_folders(), args.out)
        if args.out == "-":
            write_item(reader, key, args.key, step, sys.stdout.buffer, args.index, args.kind)
            sys.stdout.buffer.flush()
            return 0
        out = Path(args.out)
        # written to a temporary file next to the target and renamed: a failed read leaves no half file
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent if str(out.parent) else ".")
        try:
            with os.fdopen(fd, "wb") as handle:
                write_item(reader, key, args.key, step, handle, args.index, args.kind)
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return 0


def _refuse_watched(watched: set[str], target: str) -> None:
    """Never write into a watched folder (not a byte): the item goes somewhere else."""
    if target == "-":
        return
    resolved = Path(target).resolve()
    for folder in watched:
        try:
            resolved.relative_to(Path(folder).resolve())
        except (ValueError, OSError):
            continue
        raise UsageError(f"{target} is inside the watched folder {folder}: expdesk never writes there")


def _list(series: list[dict[str, Any]]) -> int:
    if not series:
        print("no media")
        return 0
    print(f"{'KIND':<10} {'STEPS':>6}  {'RANGE':<24} KEY")
    for s in series:
        steps = s["steps"]
        span = "(no step)" if not steps else (f"{steps[0]}..{steps[-1]}" if len(steps) > 1 else str(steps[0]))
        print(f"{s['kind']:<10} {len(steps):>6}  {span:<24} {s['key']}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "media", help="list a run's media, or write one item (image bytes, histogram CSV, text)"
    )
    p.add_argument("run", metavar="RUN")
    p.add_argument("key", metavar="KEY", nargs="?", help="the media key (omit to list the run's media)")
    p.add_argument("--step", type=int, default=None, help="the item's step (omit for a step-less item)")
    p.add_argument("--index", type=int, default=0, help="which item when several were logged at one step")
    p.add_argument(
        "--kind",
        choices=["image", "histogram", "text", "audio", "table", "other"],
        help="when one key holds media of two kinds",
    )
    p.add_argument("--out", metavar="FILE", help="where to write the item ('-': standard output)")
    db_arg(p)
    p.set_defaults(func=cmd_media)
