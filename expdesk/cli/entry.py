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
    "expdesk.cli.report",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="expdesk", description="Local, read-only experiment tracker.")
    parser.add_argument("--version", action="version", version=f"expdesk {__version__}")
    # a global option: `expdesk --db X runs` and `expdesk runs --db X` mean the same (the sub-command's own
    # `--db` default would overwrite a shared dest, hence its own dest, merged in `main`)
    parser.add_argument(
        "--db", dest="global_db", type=Path, default=None, metavar="DB", help="index DB (any position)"
    )
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


#: options every invocation takes, before or after the sub-command, with whether they take a value
GLOBAL_OPTIONS = {"--db": True}


def first_word(argv: Sequence[str]) -> str | None:
    """The first argument that is not a global option (or its value): the sub-command, a path, or a flag."""
    i = 0
    while i < len(argv):
        word = argv[i]
        name = word.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            i += 1 if "=" in word or not GLOBAL_OPTIONS[name] else 2
            continue
        return word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    choices = parser._subparsers._group_actions[0].choices if parser._subparsers else None
    commands = set(choices or ())
    word = first_word(argv)
    if word is None or (word not in commands and word not in ("-h", "--help", "--version")):
        return _gui_main(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    given = getattr(args, "db", None)
    if args.global_db is not None and given is not None and Path(given) != Path(args.global_db):
        print("expdesk: --db is given twice with different paths", file=sys.stderr)
        return 2
    args.db = given if given is not None else args.global_db
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
