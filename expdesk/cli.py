"""Command line: `expdesk [PATH...]` opens the app; `expdesk COMMAND ...` runs one job without Qt.

Exit codes: 0 done (even when some runs had errors: they are reported with the runs), 1 fatal, 2 usage.
Sub-commands live in modules listed in COMMAND_MODULES; each exposes `register(subparsers)` and sets
`func(args) -> int` on its parser.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from expdesk import __version__
from expdesk.core.errors import ExpdeskError, UsageError

#: modules that add sub-commands (the foundation's own are defined below)
COMMAND_MODULES: list[str] = [
    "expdesk.cli_bundle",
    "expdesk.cli_compare",
    "expdesk.cli_watch",
    "expdesk.cli_remote",
]


def _db_arg(parser: argparse.ArgumentParser) -> None:
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


def cmd_index(args: argparse.Namespace) -> int:
    # tracking servers (`mlflow+http://host:5000`) are listed by expdesk.remote; folders by the indexer
    servers = [p for p in args.paths if p.startswith(("mlflow+http://", "mlflow+https://"))]
    args.paths = [Path(p) for p in args.paths if p not in servers]
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(map(str, missing))}")
    show_progress = sys.stderr.isatty() and not args.quiet

    def progress(done: int, total: int, path: str) -> None:
        if show_progress:
            print(f"\r  indexed {done}/{total} runs", end="", file=sys.stderr, flush=True)

    with open_index(args) as index:
        report = index.index(args.paths, progress=progress, force=args.force)
        if servers:
            from expdesk.remote.browse import index_servers

            report = index_servers(index, servers, report, progress)
    if show_progress:
        print(file=sys.stderr)
    if not args.quiet:
        print(
            f"{report.found} runs found, {report.read} read, {report.unchanged} unchanged, "
            f"{len(report.errors)} with errors, {len(report.gone)} gone ({report.seconds:.2f} s)"
        )
        for path, message in report.errors:
            print(f"  error: {message}" if path in message else f"  error: {path}: {message}")
    return 0


def _short(text: str | None, width: int) -> str:
    text = (text or "").replace("\n", " ").replace("\r", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def print_runs_table(runs: list[dict[str, Any]]) -> None:
    if not runs:
        print("no runs (index some with: expdesk index PATH)")
        return
    header = f"{'KEY':<16}  {'FORMAT':<13} {'STATUS':<11} {'START (UTC)':<19}  {'EXPERIMENT':<22} NAME"
    print(header)
    for r in runs:
        status = r["status"] + ("*" if r["stale"] else "") + ("!" if r["error"] else "")
        start = (r["start_time"] or "")[:19].replace("T", " ")
        name = r["name"] or ""
        if r["deleted"]:
            name += " (deleted)"
        print(
            f"{r['key']:<16}  {r['format']:<13} {status:<11} {start:<19}  {_short(r['experiment'], 22):<22} "
            f"{_short(name, 60)}"
        )
    print(
        f"\n{len(runs)} runs   (* stale: says running but no sign of life; ! could not be read fully: "
        f"see `expdesk show KEY`)"
    )


def public_json(run: dict[str, Any]) -> dict[str, Any]:
    """The documented run JSON (internal fields such as `info`/`gone` stay out unless asked for)."""
    return {k: v for k, v in run.items() if k not in ("info", "gone")}


def cmd_runs(args: argparse.Namespace) -> int:
    with open_reader(args) as reader:
        where_sql, params, order_sql = "", (), None
        if getattr(args, "where", None) or getattr(args, "sort", None):
            from expdesk.index.query import compile_filter, compile_sort

            if args.where:
                where_sql, params = compile_filter(args.where)
            if args.sort:
                order_sql = compile_sort(args.sort)
        kwargs: dict[str, Any] = {
            "include_deleted": args.all,
            "where_sql": where_sql,
            "params": tuple(params),
        }
        if order_sql:
            kwargs["order_sql"] = order_sql
        runs = reader.runs_json(reader.run_keys(**kwargs))
    if args.json:
        json.dump([public_json(r) for r in runs], sys.stdout, indent=1, ensure_ascii=False, allow_nan=False)
        print()
    else:
        print_runs_table(runs)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with open_reader(args) as reader:
        key = reader.resolve(args.run)
        run = reader.run_json(key, history=args.history)
    if args.json:
        out = public_json(run)
        if args.info:
            out["info"] = run["info"]
        json.dump(out, sys.stdout, indent=1, ensure_ascii=False, allow_nan=False)
        print()
        return 0
    print(f"{run['name']}  [{run['format']}]  {run['key']}")
    for label, field in (
        ("path", "path"),
        ("native id", "native_id"),
        ("experiment", "experiment"),
        ("status", "status"),
        ("tool status", "native_status"),
        ("start", "start_time"),
        ("end", "end_time"),
        ("parent", "parent"),
    ):
        if run.get(field) is not None:
            print(f"  {label:<12} {run[field]}{' (stale)' if field == 'status' and run['stale'] else ''}")
    if run["deleted"]:
        print("  deleted      yes (soft-deleted in the tool)")
    if run["error"]:
        print(f"  ERROR        {run['error']}")
    for title, mapping in (("params", run["params"]), ("tags", run["tags"])):
        if mapping:
            print(f"\n{title}:")
            width = min(40, max(len(k) for k in mapping))
            for k, v in mapping.items():
                print(f"  {_short(k, 40):<{width}}  {_short(v, 100)}")
    if run["metrics"]:
        print("\nmetrics:                                   count   last          min           max")
        for k, m in run["metrics"].items():
            print(
                f"  {_short(k, 40):<40} {m['count']:>6}   {_fmt(m['last']):<13} {_fmt(m['min']):<13} {_fmt(m['max'])}"
            )
            if args.history:
                for p in m["history"]:
                    print(f"      step {p['step']:>8}  {_fmt(p['value'])}  {p['timestamp'] or ''}")
    if run["artifacts"]:
        print(f"\nartifacts ({len(run['artifacts'])}):")
        for a in run["artifacts"][:200]:
            print(f"  {a['size']:>12,}  {a['path']}")
    return 0


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="expdesk", description="Local, read-only experiment tracker.")
    parser.add_argument("--version", action="version", version=f"expdesk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("index", help="discover and index every run below these folders")
    p.add_argument("paths", nargs="+", metavar="PATH", help="a folder, or a server: mlflow+http://host:5000")
    p.add_argument("--force", action="store_true", help="re-read every run even if unchanged")
    p.add_argument("-q", "--quiet", action="store_true")
    _db_arg(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("runs", help="list indexed runs")
    p.add_argument("--all", action="store_true", help="include runs deleted in their tool")
    p.add_argument("--json", action="store_true", help="a JSON list of run objects")
    p.add_argument("--where", metavar="EXPR", help="filter, e.g. 'params.lr < 1e-3 and status != failed'")
    p.add_argument("--sort", metavar="KEY", help="sort key, e.g. metrics.val_loss.min or -start_time")
    _db_arg(p)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("show", help="one run (RUN = its key or a unique prefix)")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--json", action="store_true")
    p.add_argument("--history", action="store_true", help="include every metric point")
    p.add_argument("--info", action="store_true", help="with --json: include tool-specific details")
    _db_arg(p)
    p.set_defaults(func=cmd_show)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _gui_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="expdesk", description="Open the expdesk window.")
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="folders to add as watched roots")
    parser.add_argument("--demo", action="store_true", help="open the bundled demo workspace")
    parser.add_argument("--self-test", action="store_true", help="open, index the demo, exit 0 (smoke test)")
    _db_arg(parser)
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
    commands = set(parser._subparsers._group_actions[0].choices) if parser._subparsers else set()  # type: ignore[union-attr]
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
