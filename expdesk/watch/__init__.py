"""Live watching: watchdog observers (native, polling fallback), per-run coalescing, periodic reconcile."""

from expdesk.watch.watcher import RootStatus, Watcher

__all__ = ["RootStatus", "Watcher"]
