"""Sub-commands `lineage`, `export`, `verify` and `open` (no Qt unless `open` is asked to show a window)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from expdesk.cli.common import db_arg, open_index
from expdesk.core.errors import ExpdeskError, UsageError


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts)) if ts else "—"


def cmd_lineage(args: argparse.Namespace) -> int:
    from expdesk.lineage import Options, build_lineage

    with open_index(args) as index, index.reader() as reader:
        key = reader.resolve(args.run)
        graph = build_lineage(reader, key, Options(max_depth=args.depth), writer_call=index.writer.call)
    if args.json:
        json.dump(graph.as_json(), sys.stdout, indent=1, ensure_ascii=False, allow_nan=False, sort_keys=True)
        print()
        return 0
    node = graph.nodes[key]
    print(f"{node.name}  [{node.format}]  {key}")
    for title, keys, edges_of in (
        ("ancestors", graph.ancestors()[1:], graph.downstream_of),
        ("descendants", graph.descendants(), graph.upstream_of),
    ):
        print(f"\n{title} ({len(keys)}):")
        for k in keys:
            n = graph.nodes[k]
            print(
                f"  {'  ' * (abs(graph.depth[k]) - 1)}{k}  [{n.format}] {n.name}  ended {_when(n.end_time)}"
            )
            for e in edges_of(k):
                if e.upstream in graph.nodes and e.downstream in graph.nodes:
                    hashes = ", ".join(h["sha256"][:12] for h in e.evidence.get("hashes", []))
                    print(
                        f"  {'  ' * abs(graph.depth[k])}via {e.rule}{f' sha256 {hashes}' if hashes else ''}"
                    )
    if graph.ambiguous:
        print(f"\nambiguous ({len(graph.ambiguous)}, not linked):")
        for a in graph.ambiguous[:50]:
            print(f"  {a.get('path')}: {a['reason']}")
    for gap in sorted(set(graph.gaps)):
        print(f"gap: {gap}")
    return 0


def _progress(enabled: bool) -> Any:
    def report(done: int, total: int, message: str) -> None:
        if enabled:
            print(f"\r  {message} {done}/{total}".ljust(70), end="", file=sys.stderr, flush=True)

    return report


def cmd_export(args: argparse.Namespace) -> int:
    from expdesk.bundle.export import ExportOptions, plan_bundle, refuse_watched, write_bundle

    show = sys.stderr.isatty() and not args.quiet
    options = ExportOptions(
        artifact=args.artifact,
        with_training_state=args.with_training_state,
        sweep_metric=args.sweep_metric,
        license=args.license,
        redact=args.redact,
        observe_git=not args.no_git,
    )
    with open_index(args) as index, index.reader() as reader:
        key = reader.resolve(args.run)
        refuse_watched(reader, args.out)
        started = time.perf_counter()
        plan = plan_bundle(reader, key, options, _progress(show), writer_call=index.writer.call)
        path = write_bundle(plan, args.out, _progress(show))
    if show:
        print(file=sys.stderr)
    if args.quiet:
        return 0  # -q: nothing but errors (they reach stderr through the CLI's error handler)
    print(f"{path}  ({path.stat().st_size:,} bytes, {len(plan.files)} payload files, {len(plan.runs)} run(s), "
          f"{time.perf_counter() - started:.2f} s)")  # fmt: skip
    print(f"model: {plan.model}")
    print(f"fingerprint (sha256 of tagmanifest-sha256.txt): {plan.fingerprint}")
    if plan.gaps:
        print(f"known gaps ({len(plan.gaps)}), listed in data/README.md:")
        for gap in plan.gaps[:20]:
            print(f"  - {gap}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from expdesk.bundle.verify import verify

    if not args.path.exists():
        raise UsageError(f"no such file or folder: {args.path}")
    report = verify(args.path)
    for problem in report.problems:
        print(f"FAIL {problem}")
    if report.fingerprint:
        print(f"fingerprint (sha256 of tagmanifest-sha256.txt): {report.fingerprint}")
    if report.ok:
        print(f"OK {report.base}: {report.payload_files} payload files, {report.payload_bytes:,} bytes; "
              "both manifests, Payload-Oxum, completeness and the RO-Crate file list hold")  # fmt: skip
        return 0
    print(f"NOT VERIFIED: {len(report.problems)} problem(s)")
    return 1


def cmd_open(args: argparse.Namespace) -> int:
    from expdesk.bundle.extract import extract_bundle

    if not args.path.is_file():
        raise UsageError(f"no such file: {args.path}")
    opened = extract_bundle(args.path, args.into)
    try:
        print(f"verified {opened.report.base}: fingerprint {opened.report.fingerprint}")
        print(
            f"extracted (read-only) to {opened.bag}{'' if args.keep else ' (removed on exit; --keep keeps it)'}"
        )
        # the app window for received bundles is not built yet: the card is the read-only view for now
        print((opened.bag / "data" / "README.md").read_text(encoding="utf-8", errors="replace"))
    finally:
        if not args.keep:
            opened.cleanup()
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("lineage", help="ancestors and descendants of a run, with the evidence of each link")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--json", action="store_true")
    p.add_argument("--depth", type=int, default=20, help="how many links to follow each way (default 20)")
    db_arg(p)
    p.set_defaults(func=cmd_lineage)

    p = sub.add_parser("export", help="a verifiable model bundle (BagIt + RO-Crate + model card) for a run")
    p.add_argument("run", metavar="RUN")
    p.add_argument(
        "--artifact", metavar="PATH", help="the model file or folder, relative to the run's artifacts"
    )
    p.add_argument("--out", type=Path, required=True, metavar="FILE.zip|DIR")
    p.add_argument(
        "--with-training-state",
        action="store_true",
        help="also pack optimizer, scheduler, RNG and scaler state and training_args.bin (left out by default)",
    )
    p.add_argument(
        "--sweep-metric",
        metavar="KEY",
        help="rank the run's sweep siblings on this metric (default: inferred)",
    )
    p.add_argument("--license", metavar="SPDX", help="license of the model (none is recorded by the tools)")
    p.add_argument("--redact", action="store_true", help="leave out host and user names")
    p.add_argument("--no-git", action="store_true", help="do not look at the run folder's git work tree")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    db_arg(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("verify", help="check a bundle zip or folder; exit 0 only when everything holds")
    p.add_argument("path", type=Path, metavar="FILE.zip|DIR")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("open", help="safely extract and verify a received bundle, then show its model card")
    p.add_argument("path", type=Path, metavar="FILE.zip")
    p.add_argument("--into", type=Path, default=None, help="parent folder for the extraction (default: temp)")
    p.add_argument("--keep", action="store_true", help="keep the extracted folder")
    p.set_defaults(func=cmd_open)


__all__ = ["ExpdeskError", "register"]
