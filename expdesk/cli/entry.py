"""Command line: `expdesk [PATH...]` opens the app; `expdesk COMMAND ...` runs one job without Qt.

Exit codes: 0 done (even when some runs had errors: they are reported with the runs), 1 fatal, 2 usage.
Sub-commands live in the modules of this package listed in COMMAND_MODULES; each exposes `register(subparsers)` and sets
`func(args) -> int` on its parser.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from expdesk import __version__
from expdesk.cli.common import db_arg
from expdesk.core.errors import ExpdeskError, UsageError

#: modules that add sub-commands: each has `register(subparsers)`
COMMAND_MODULES: list[str] = [
    "expdesk.cli.runs",
    "expdesk.cli.bundle",
    "expdesk.cli.compare",
    "expdesk.cli.watch",
    "expdesk.cli.remote",
    "expdesk.cli.media",
    "expdesk.cli.parts",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="expdesk", description="Local, read-only experiment tracker.")
    parser.add_argument("--version", action="version", version=f"expdesk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _path_or_file_uri(value: str) -> Path:
    """A path, or a `file://` URI as desktop shells pass it through the desktop entry's `Exec=expdesk %U`."""
    if value.startswith("file://"):
        from urllib.parse import urlsplit
        from urllib.request import url2pathname

        parts = urlsplit(value)
        if parts.netloc not in ("", "localhost"):
            return Path(value)  # a remote host: left as given, so it is reported as missing
        return Path(url2pathname(parts.path))  # decodes %20 etc. once
    return Path(value)


def _gui_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="expdesk", description="Open the expdesk window.")
    parser.add_argument(
        "paths", nargs="*", type=_path_or_file_uri, metavar="PATH", help="folders to add as watched roots"
    )
    parser.add_argument("--demo", action="store_true", help="open the bundled demo workspace")
    parser.add_argument("--self-test", action="store_true", help="open, index the demo, exit 0 (smoke test)")
    db_arg(parser)
    args = parser.parse_args(argv)
    try:
        from expdesk.app import run_app
    except ImportError as exc:
        print(
            f"expdesk: the desktop app is not available here ({exc}); "
            "use `expdesk index PATH` and `expdesk runs`",
            file=sys.stderr,
        )
        return 1
    return int(run_app(args))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    choices = parser._subparsers._group_actions[0].choices if parser._subparsers else None
    commands = set(choices or ())
    if not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help", "--version")):
        return _gui_main(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"expdesk: {exc}", file=sys.stderr)
        return 2
    except ExpdeskError as exc:
        print(f"expdesk: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
