"""`expdesk watch PATH...`: index, then keep the index current until SIGINT/SIGTERM (exit 0).

The main thread blocks reading a wake-up pipe that the signal machinery writes to (`signal.set_wakeup_fd`):
no sleep loop, and no lock is taken inside a signal handler.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from expdesk.core.errors import UsageError
from expdesk.index.stale import DEFAULT_STALE_AFTER


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "watch", help="index these folders, then keep the index current until Ctrl-C / SIGTERM"
    )
    p.add_argument(
        "paths", nargs="*", type=Path, metavar="PATH", help="folders (or mlflow.db files) to watch"
    )
    p.add_argument(
        "--network",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help="a root on a network mount (NFS, SMB, sshfs): watched by polling; repeatable",
    )
    p.add_argument(
        "--stale-after",
        type=float,
        default=DEFAULT_STALE_AFTER,
        metavar="SECONDS",
        help=f"a running run with no sign of life for this long is stale (default {DEFAULT_STALE_AFTER:g})",
    )
    p.add_argument(
        "--poll-interval", type=float, default=1.0, metavar="SECONDS", help="polling period (default 1)"
    )
    p.add_argument(
        "--reconcile",
        type=float,
        default=None,
        metavar="SECONDS",
        help="full fingerprint reconcile period (default 30 native, 5 polling)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument(
        "--db", type=Path, default=None, help="index DB (default: $EXPDESK_DB or the user data dir)"
    )
    p.set_defaults(func=cmd_watch)


def cmd_watch(args: argparse.Namespace) -> int:
    from expdesk.cli.common import announce_notices
    from expdesk.index.service import Index
    from expdesk.watch import Watcher

    roots = [(p, False) for p in args.paths] + [(p, True) for p in args.network]
    if not roots:
        raise UsageError("nothing to watch: give at least one PATH or --network PATH")
    missing = [str(p) for p, _ in roots if not p.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    for name in ("stale_after", "poll_interval", "reconcile"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive number of seconds")

    def say(message: str) -> None:
        print(f"expdesk: {message}", file=sys.stderr, flush=True)

    def changed(keys: set[str]) -> None:
        # writer thread: one short line, no DB access here
        if not args.quiet:
            print(f"{time.strftime('%H:%M:%S')}  {len(keys)} run(s) updated", flush=True)

    options: dict[str, Any] = {"stale_after": args.stale_after, "poll_interval": args.poll_interval}
    if args.reconcile is not None:
        options["reconcile_native"] = options["reconcile_polling"] = args.reconcile
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous_fd = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    try:
        with announce_notices(Index(args.db)) as index:
            watcher = Watcher(index, on_message=say, **options)
            for path, network in roots:
                watcher.add_root(path, network)
            watcher.start()
            try:
                woke = _ready_or_signal(watcher, wake_r)
                if woke and not args.quiet:
                    r = watcher.initial_report
                    print(
                        f"{r.found} runs found, {r.read} read, {r.unchanged} unchanged, "
                        f"{len(r.errors)} with errors, {len(r.gone)} gone",
                        flush=True,
                    )
                    for status in watcher.status():
                        print(f"watching {status.path} ({status.mode})", flush=True)
                    print("press Ctrl-C to stop", flush=True)
                    watcher.add_listener(changed)
                if woke:
                    os.read(wake_r, 1)  # blocks until SIGINT/SIGTERM
            finally:
                watcher.stop()
    finally:
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(wake_r)
        os.close(wake_w)
    if not args.quiet:
        print("stopped; the index is up to date", flush=True)
    return 0


def _ready_or_signal(watcher: Any, wake_r: int) -> bool:
    """Wait for the first index pass; False if a signal came first (then we just stop)."""
    import select

    # the first pass runs on the watcher's thread and its end is an Event, while a signal is a byte on the
    # pipe: this thread cannot block on both, so it checks the pipe between short waits (first pass only)
    while not watcher.wait_ready(0.2):
        readable, _, _ = select.select([wake_r], [], [], 0)
        if readable:
            return False
    return True
