"""`expdesk split` and `expdesk join`: the user's word on which parts are one run.

A run is one training job: expdesk joins the parts several tools wrote for it (docs/joins.md). These
commands undo a join or add one; the choice is kept in expdesk's index (never in a run folder) and survives
re-indexing. `expdesk show RUN --json` lists a run's `parts` with the rule that joined each.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from expdesk.cli.common import db_arg, open_index, open_reader


def _describe(reader: Any, key: str) -> str:
    run = reader.run_json(key)
    parts = ", ".join(f"{p['label']} ({p['key']})" for p in run["parts"])
    return f"{run['key']}  {run['name'] or ''}  parts: {parts}"


def cmd_split(args: argparse.Namespace) -> int:
    with open_reader(args) as reader:
        key = reader.resolve_part(args.run)
    with open_index(args) as index:
        apart = index.split(key)
    with open_reader(args) as reader:
        if not args.quiet:
            for part in apart:
                print(_describe(reader, reader.resolve(part)))
    return 0


def cmd_join(args: argparse.Namespace) -> int:
    with open_reader(args) as reader:
        keys = [reader.resolve_part(k) for k in args.runs]
    if len(set(keys)) < 2:
        print("expdesk: join needs at least two different runs", file=sys.stderr)
        return 2
    with open_index(args) as index:
        run_key = index.join(keys)
    if not args.quiet:
        with open_reader(args) as reader:
            print(_describe(reader, reader.resolve(run_key)))
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "split",
        help="undo a join: RUN's parts become runs of their own (or the part RUN leaves its run)",
    )
    p.add_argument("run", metavar="RUN", help="a joined run's key (all its parts) or one part's key")
    p.add_argument("-q", "--quiet", action="store_true")
    db_arg(p)
    p.set_defaults(func=cmd_split)

    p = sub.add_parser("join", help="make these runs (or parts) one run, keyed by the first")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run or part keys (or unique prefixes)")
    p.add_argument("-q", "--quiet", action="store_true")
    db_arg(p)
    p.set_defaults(func=cmd_join)
