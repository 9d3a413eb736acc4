"""`expdesk compare RUN...` prints the diff table; `expdesk plot RUN... --metric KEY --out FILE` draws a chart.

Both use the same `expdesk.compare` code the GUI uses, and no Qt.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from expdesk.cli.common import db_arg, open_reader
from expdesk.core.errors import UsageError

NUMBERS_NOTE = (
    "metric values are JSON numbers, exactly as indexed (a float64 round-trips); NaN and infinities, which JSON "
    'has no number for, are the strings "NaN", "Infinity", "-Infinity"; params, tags and attributes are the '
    "text the run recorded; a missing value is null"
)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "compare", help="diff table of runs: params, tags, metric summaries (only differences)"
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run keys or unique prefixes")
    p.add_argument("--all", action="store_true", help="also rows that are the same in every run")
    out = p.add_mutually_exclusive_group()
    out.add_argument(
        "--csv",
        action="store_true",
        help="CSV on stdout; metric numbers exact (repr: shortest round-trip; nan, inf)",
    )
    out.add_argument(
        "--json",
        action="store_true",
        help='JSON on stdout; metric numbers as JSON numbers ("NaN", "Infinity", "-Infinity" as strings)',
    )
    p.add_argument("--transpose", action="store_true", help="runs as rows, fields as columns")
    p.add_argument("--step", type=int, metavar="N", help="add each metric's value at step N")
    p.add_argument(
        "--direction",
        action="append",
        default=[],
        metavar="METRIC=min|max|none",
        help="override the inferred direction of a metric (repeatable)",
    )
    db_arg(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("plot", help="chart a metric across runs on their full data, to PNG or SVG")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument(
        "--metric", action="append", required=True, metavar="KEY", help="repeat for small multiples"
    )
    p.add_argument("--x", choices=["step", "wall", "relative"], default="step")
    p.add_argument(
        "--smooth", type=float, default=0.6, metavar="S", help="EMA weight 0..1 (default 0.6; 0 = off)"
    )
    p.add_argument("--log", action="store_true", help="log y axis")
    p.add_argument("--log-x", action="store_true", help="log x axis")
    p.add_argument("--size", default="10x6", metavar="WxH", help="inches at 100 dpi (default 10x6)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.png|svg")
    db_arg(p)
    p.set_defaults(func=cmd_plot)


def _parse_directions(items: list[str]) -> dict[str, Any]:
    from expdesk.compare.diff import Direction

    out: dict[str, Direction] = {}
    for item in items:
        metric, _, word = item.rpartition("=")
        try:
            out[metric] = Direction(word.strip().lower())
        except ValueError:
            raise UsageError(
                f"--direction {item!r}: expected METRIC=min, METRIC=max or METRIC=none"
            ) from None
        if not metric:
            raise UsageError(f"--direction {item!r}: missing metric name")
    return out


def _resolve_all(reader: Any, runs: list[str]) -> list[str]:
    keys: list[str] = []
    for r in runs:
        key = reader.resolve(r)
        if key not in keys:
            keys.append(key)
    return keys


def cmd_compare(args: argparse.Namespace) -> int:
    from expdesk.compare.diff import build_diff, json_value
    from expdesk.compare.series import values_at

    directions = _parse_directions(args.direction)
    with open_reader(args) as reader:
        keys = _resolve_all(reader, args.runs)
        runs = reader.runs_json(keys)
        at = None
        if args.step is not None:
            metrics = sorted({m for r in runs for m in r["metrics"]})
            at = values_at(reader, keys, metrics, args.step)
    table = build_diff(runs, directions, at_step=args.step, values_at_step=at)
    only = not args.all
    if args.json:
        rows = table.visible_rows(only)
        doc = {
            "runs": [
                {"key": k, "name": n, "label": lbl}
                for k, n, lbl in zip(table.run_keys, table.run_names, table.legend, strict=True)
            ],
            "rows": [
                {
                    "section": r.section,
                    "key": r.key,
                    "stat": r.stat,
                    "same": r.same,
                    "direction": str(r.direction),
                    "values": {k: json_value(c) for k, c in zip(table.run_keys, r.cells, strict=True)},
                    "best": [table.run_keys[i] for i in sorted(r.best)],
                }
                for r in rows
            ],
            "identical": []
            if not only
            else [{"row": r.label, "value": json_value(r.cells[0])} for r in table.constant_rows()],
            "numbers": NUMBERS_NOTE,
        }
        json.dump(doc, sys.stdout, indent=1, ensure_ascii=False, allow_nan=False)
        print()
        return 0
    if args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerows(table.as_matrix(only, args.transpose, exact=True))
        return 0
    _print_matrix(table.as_matrix(only, args.transpose, best_mark=" *"), table, only)
    return 0


def _print_matrix(matrix: list[list[str]], table: Any, only: bool) -> None:
    width = 28
    clip = lambda s: s if len(s) <= width else s[: width - 1] + "…"  # noqa: E731
    cols = len(matrix[0])
    widths = [max(len(clip(row[i])) for row in matrix) for i in range(cols)]
    for row in matrix:
        print("  ".join(clip(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    if len(matrix) == 1:
        print("(no differences)")
    if any(r.best for r in table.visible_rows(only)):
        print(
            "\n* best in its row (direction inferred from the metric name; --direction METRIC=min|max|none)"
        )
    summary = table.constant_summary() if only else ""
    if summary:
        print(f"{summary}   (--all shows them)")


def cmd_plot(args: argparse.Namespace) -> int:
    from expdesk.compare.figures import metric_chart, save_figure
    from expdesk.compare.plot import plot_series
    from expdesk.compare.series import XMode
    from expdesk.remote.browse import server_histories

    if args.out.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"--out {args.out}: use a .png or .svg file name")
    if not 0 <= args.smooth <= 1:
        raise UsageError("--smooth takes a weight between 0 and 1")
    try:
        w, h = (float(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size {args.size!r}: expected WxH in inches, e.g. 10x6") from None
    x_mode = XMode(args.x)
    with open_reader(args) as reader:
        keys = _resolve_all(reader, args.runs)
        runs = reader.runs_json(keys)
        # runs browsed on a tracking server keep only their latest values in the index: plot their full
        # history, fetched from the server (as the detail and compare charts do); a server that does not
        # answer is said on stderr and its runs are plotted with what the index has
        histories, problems = server_histories(runs, args.metric)
        for problem in problems:
            print(f"expdesk: not fetched from the server: {problem}", file=sys.stderr)
        by_metric, missing = plot_series(reader, runs, args.metric, x_mode, args.smooth, histories)
    if len(missing) == len(by_metric):
        raise UsageError(f"none of these runs has {', '.join(repr(m) for m in missing)}")
    chart = metric_chart(by_metric, keys, x_mode, args.smooth, args.log_x, args.log, figsize=(w, h))
    save_figure(chart.figure, args.out)
    for m in missing:
        print(f"expdesk: no run has {m!r}", file=sys.stderr)
    print(args.out)
    return 0
