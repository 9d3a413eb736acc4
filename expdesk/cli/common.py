"""What every sub-command shares: the `--db` option, opening the index, the documented run JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def db_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, default=None, help="index DB (default: $EXPDESK_DB or the user data dir)"
    )


def open_index(args: argparse.Namespace) -> Any:
    from expdesk.index.service import Index

    return announce_notices(Index(args.db))


def announce_notices(index: Any) -> Any:
    """Say the index's notices (network filesystem, read-only, another process writing, a crashed
    writer taken over) on stderr, one line each, now and as they come; returns `index`."""

    def say(line: str) -> None:
        print(f"expdesk: {line}", file=sys.stderr, flush=True)

    for line in index.notices:
        # a read-only index: the first write refuses with this very line (one line, not two)
        if line != index.read_only:
            say(line)
    index.add_notice_listener(say)
    return index


def open_reader(args: argparse.Namespace) -> Any:
    """A read-only view; creates an empty index first if there is none yet."""
    from expdesk.core.paths import default_db_path
    from expdesk.index.db import ensure_db
    from expdesk.index.reader import IndexReader

    path = args.db or default_db_path()
    if not Path(path).exists():
        ensure_db(Path(path))
    return IndexReader(Path(path))


def public_json(run: dict[str, Any]) -> dict[str, Any]:
    """The documented run JSON (internal fields such as `info`/`gone` stay out unless asked for)."""
    return {k: v for k, v in run.items() if k not in ("info", "gone")}
