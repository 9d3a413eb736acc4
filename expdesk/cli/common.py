"""What every sub-command shares: the `--db` option, opening the index, the documented run JSON."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def db_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, default=None, help="index DB (default: $EXPDESK_DB or the user data dir)"
    )


def open_index(args: argparse.Namespace) -> Any:
    from expdesk.index.service import Index

    return Index(args.db)


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
