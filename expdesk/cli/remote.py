"""Sub-commands `push` (runs to an MLflow tracking server) and `remote runs` (list a server's runs)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from expdesk.cli.common import db_arg, open_reader
from expdesk.core.errors import UsageError
from expdesk.core.paths import is_server_url


def _client(url: str) -> Any:
    from expdesk.remote.http import MlflowRest, http_base

    if not is_server_url(url, plain_http=True):
        raise UsageError(f"not a server URL: {url!r} (expected http://host:5000)")
    if not http_base(url).split("://", 1)[1]:
        raise UsageError(f"no host in {url!r}")
    return MlflowRest(url)


def cmd_push(args: argparse.Namespace) -> int:
    from expdesk.remote.push import push_runs

    client = _client(args.to)
    show_progress = sys.stderr.isatty() and not args.quiet

    def progress(done: int, total: int, message: str) -> None:
        if show_progress:
            print(f"\r  {done}/{total}  {message[:50]}".ljust(72), end="", file=sys.stderr, flush=True)

    started = time.perf_counter()
    with open_reader(args) as reader:
        keys = [reader.resolve(run) for run in args.runs]
        report = push_runs(reader, keys, client, args.experiment, not args.no_artifacts, progress)
    if show_progress:
        print(file=sys.stderr)
    seconds = time.perf_counter() - started
    conflicts = sum(len(r.conflicts) for r in report.runs)
    if args.json:
        out = {"server": report.server, "requests": report.requests, "seconds": round(seconds, 3)}
        out["runs"] = [vars(r) for r in report.runs]
        json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    for r in report.runs:
        state = "up to date" if r.unchanged else ("created" if r.created else "updated")
        print(
            f"{r.key}  {state:<10} {r.remote_id}  {r.points} points, {r.params} params, {r.tags} tags,"
            f" {r.artifacts} artifacts  {r.name}"
        )
        for line in r.conflicts:
            print(f"  conflict: {line}")
        for line in r.warnings:
            print(f"  warning: {line}")
    print(
        f"\n{len(report.runs)} runs pushed to {report.server} ({report.points} points, {report.requests} HTTP"
        f" requests, {seconds:.2f} s){f'; {conflicts} param conflicts' if conflicts else ''}"
    )
    return 0


def cmd_remote_runs(args: argparse.Namespace) -> int:
    from expdesk.remote.mlflow_api import ServerApi

    api = ServerApi(_client(args.url))
    experiments = api.experiments()
    rows = []
    for run in api.search_runs(sorted(experiments)):
        info = run.get("info", {})
        rows.append(
            {
                "run_id": info.get("run_id"),
                "experiment": experiments.get(str(info.get("experiment_id")), ""),
                "name": info.get("run_name"),
                "status": info.get("status"),
                "start_time": info.get("start_time"),
            }
        )
    if args.json:
        json.dump(rows, sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    for row in rows:
        start = (
            time.strftime("%Y-%m-%d %H:%M", time.gmtime(row["start_time"] / 1000))
            if row["start_time"]
            else ""
        )
        print(
            f"{row['run_id']}  {row['status'] or '':<9} {start:<16}  {row['experiment'][:24]:<24} {row['name']}"
        )
    print(f"\n{len(rows)} runs on {api.client.base}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("push", help="upload runs (any format) to an MLflow tracking server")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run keys or unique prefixes")
    p.add_argument("--to", required=True, metavar="URL", help="tracking server, e.g. http://host:5000")
    p.add_argument("--experiment", metavar="NAME", help="server experiment (default: each run's own)")
    p.add_argument("--no-artifacts", action="store_true", help="push params, tags and metrics only")
    p.add_argument("--json", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    db_arg(p)
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("remote", help="look at a tracking server without indexing it")
    remote = p.add_subparsers(dest="remote_command", metavar="WHAT", required=True)
    q = remote.add_parser("runs", help="list the runs of a server")
    q.add_argument("url", metavar="URL")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_remote_runs)
