"""The foundation's sub-commands: `index`, `runs` and `show`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from expdesk.cli.common import db_arg, open_index, open_reader, public_json
from expdesk.core.artifact_uri import artifact_dirs
from expdesk.core.errors import UsageError
from expdesk.core.paths import is_server_url


def cmd_index(args: argparse.Namespace) -> int:
    # tracking servers (`mlflow+http://host:5000`) are listed by expdesk.remote; folders by the indexer
    servers = [p for p in args.paths if is_server_url(p)]
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
        with index.reader() as reader:
            runs = len(reader.runs_of(report.keys))
        if servers:
            from expdesk.remote.browse import index_servers

            report = index_servers(index, servers, report, progress)
    if show_progress:
        print(file=sys.stderr)
    if not args.quiet:
        print(
            f"{report.found} runs found, {report.read} read, {report.unchanged} unchanged, "
            f"{len(report.errors)} with errors, {len(report.unread)} with files not read, "
            f"{len(report.gone)} gone ({report.seconds:.2f} s)"
            # one training job read from several tools' folders is one run (docs/joins.md)
            + (f"; the {report.found} found make {runs} runs" if runs < report.found else "")
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
        status = r["status"] + ("*" if r["stale"] else "") + ("!" if r["error"] or r.get("unread") else "")
        start = (r["start_time"] or "")[:19].replace("T", " ")
        name = r["name"] or ""
        if r["deleted"]:
            name += " (deleted)"
        if r.get("hidden"):
            name += " (hidden)"
        formats = r.get("formats") or [r["format"]]
        fmt = r["format"] + (f"+{len(formats) - 1}" if len(formats) > 1 else "")
        print(
            f"{r['key']:<16}  {_short(fmt, 13):<13} {status:<11} {start:<19}  {_short(r['experiment'], 22):<22} "
            f"{_short(name, 60)}"
        )
    print(
        f"\n{len(runs)} runs   (* stale: says running but no sign of life; ! could not be read fully: "
        f"see `expdesk show KEY`; +N: N more tools joined into the run)"
    )


def cmd_runs(args: argparse.Namespace) -> int:
    with open_reader(args) as reader:
        where_sql: str = ""
        params: list[Any] | tuple[Any, ...] = ()
        order_sql: str | None = None
        if getattr(args, "where", None) or getattr(args, "sort", None):
            from expdesk.index.filter import compile_filter, compile_sort

            if args.where:
                where_sql, params = compile_filter(args.where)
            if args.sort:
                order_sql = compile_sort(args.sort)
        from expdesk.index.column_queries import matching_keys

        # what the window lists (not deleted in the tool, not hidden by the user); --all: everything
        everything = None if args.all else False
        keys = matching_keys(reader, where_sql, params, order_sql, deleted=everything, hidden=everything)
        runs = reader.runs_json(keys)
    if args.json:
        json.dump([public_json(r) for r in runs], sys.stdout, indent=1, ensure_ascii=False, allow_nan=False)
        print()
    else:
        print_runs_table(runs)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with open_reader(args) as reader:
        if args.part:
            part = reader.resolve_part(args.run)
            out = public_json(reader.parts_json([part])[0])
            json.dump(out, sys.stdout, indent=1, ensure_ascii=False, allow_nan=False)
            print()
            return 0
        key = reader.resolve(args.run)
        run = reader.run_json(key, history=args.history)
    if args.json:
        out = public_json(run)
        # where the artifacts are on this machine (the one resolver shared with export and the GUI), or why not
        dirs = artifact_dirs(run["path"], run["info"])
        out["artifact_dir"] = str(dirs[0]) if dirs else None
        if run["info"].get("artifact_dir_rule"):
            out["artifact_dir_rule"] = run["info"]["artifact_dir_rule"]
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
            note = " (stale)" if field == "status" and run["stale"] else ""
            if field == "start_time" and "mtime" in (run.get("start_time_from") or ""):
                note = f" (from {run['start_time_from']}: not recorded by the run)"
            print(f"  {label:<12} {run[field]}{note}")
    if run["deleted"]:
        print("  deleted      yes (soft-deleted in the tool)")
    if run["error"]:
        print(f"  ERROR        {run['error']}")
    if run["unread"]:
        print(f"\nnot read ({len(run['unread'])}):")
        for item in run["unread"]:
            print(f"  {item['path']}: {item['reason']}")
    if len(run["parts"]) > 1 or run.get("join_notes"):
        print("\nparts:")
        for part in run["parts"]:
            how = "" if part["rule"] in ("head", "alone") else f"  ({part['rule']})"
            print(f"  {part['key']}  {part['label']:<22} {part['path']}{how}")
        for note in run.get("join_notes", []):
            print(f"  note: {note}")
    for title, mapping in (("params", run["params"]), ("tags", run["tags"])):
        if mapping:
            print(f"\n{title}:")
            width = min(40, max(len(k) for k in mapping))
            for k, v in mapping.items():
                print(f"  {_short(k, 40):<{width}}  {_short(v, 100)}")
    if run["metrics"]:
        print(
            "\nmetrics:                                   count   last          min           max"
            "           final"
        )
        for k, m in run["metrics"].items():
            print(
                f"  {_short(k, 40):<40} {m['count']:>6}   {_fmt(m['last']):<13} {_fmt(m['min']):<13}"
                f" {_fmt(m['max']):<13} {_fmt(m.get('final'))}"
            )
            if args.history:
                for p in m["history"]:
                    print(f"      step {p['step']:>8}  {_fmt(p['value'])}  {p['timestamp'] or ''}")
    if run["artifacts"] or run["info"].get("artifact_uri"):
        # the same resolver as export and the GUI: where the files are on this machine, or why not
        dirs = artifact_dirs(run["path"], run["info"])
        rule = run["info"].get("artifact_dir_rule", "unknown")
        where = f" in {dirs[0]}" if dirs else f": the folder is not on this machine ({rule})"
        print(f"\nartifacts ({len(run['artifacts'])}){where}" + (":" if run["artifacts"] else ""))
        for a in run["artifacts"][:200]:
            print(f"  {a['size']:>12,}  {a['path']}")
    return 0


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _glue_signed_values(args: list[str], options: tuple[str, ...]) -> list[str]:
    """`--sort -start_time` as `--sort=-start_time`: argparse takes a word starting with "-" for an option
    (and refuses the value), yet "-" is how a sort key says descending. Only a single-dash word is glued
    (a sort key never starts with "--", so `--sort --json` still reads as a missing value)."""
    out: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--":
            return out + args[i:]
        following = args[i + 1] if i + 1 < len(args) else ""
        if word in options and following[:1] == "-" and following[1:2] not in ("", "-") and following != "-h":
            out.append(f"{word}={following}")
            i += 2
            continue
        out.append(word)
        i += 1
    return out


def _take_signed_values(parser: argparse.ArgumentParser, *options: str) -> None:
    """Make `parser` (a sub-command's) accept values starting with "-" after `options` as typed."""
    parse = parser.parse_known_args

    def parse_known_args(args: Any = None, namespace: Any = None) -> Any:
        words = list(sys.argv[1:] if args is None else args)
        return parse(_glue_signed_values(words, options), namespace)

    # the sub-command's parser is handed its words through parse_known_args (argparse's sub-parser action)
    parser.parse_known_args = parse_known_args  # type: ignore[method-assign]


def register(sub: Any) -> None:
    p = sub.add_parser("index", help="discover and index every run below these folders")
    p.add_argument("paths", nargs="+", metavar="PATH", help="a folder, or a server: mlflow+http://host:5000")
    p.add_argument("--force", action="store_true", help="re-read every run even if unchanged")
    p.add_argument("-q", "--quiet", action="store_true")
    db_arg(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("runs", help="list indexed runs")
    p.add_argument(
        "--all", action="store_true", help="include runs deleted in their tool and runs hidden in the window"
    )
    p.add_argument("--json", action="store_true", help="a JSON list of run objects")
    p.add_argument("--where", metavar="EXPR", help="filter, e.g. 'params.lr < 1e-3 and status != failed'")
    p.add_argument("--sort", metavar="KEY", help="sort key, e.g. metrics.val_loss.min or -start_time")
    db_arg(p)
    p.set_defaults(func=cmd_runs)
    _take_signed_values(p, "--sort")

    p = sub.add_parser("show", help="one run (RUN = its key or a unique prefix)")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--json", action="store_true")
    p.add_argument("--history", action="store_true", help="include every metric point")
    p.add_argument("--info", action="store_true", help="with --json: include tool-specific details")
    p.add_argument("--part", action="store_true", help="RUN is a part's key: show it as its reader read it")
    db_arg(p)
    p.set_defaults(func=cmd_show)
