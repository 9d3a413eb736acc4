"""The stale rule: a running run with no sign of life for `stale_after` seconds is shown as stale.

One rule, spelled twice: in Python for rows already fetched (`is_stale`), and in SQL for filters and sorts
(`stale_sql`). Both live here so they cannot drift apart; the reader and the filter compiler import it.
"""

from __future__ import annotations

import math

#: a running run with no sign of life for this long is shown as stale (seconds)
DEFAULT_STALE_AFTER = 600.0


def is_stale(status: str, last_activity: float | None, now: float, stale_after: float) -> bool:
    return status == "running" and last_activity is not None and now - last_activity > stale_after


def stale_sql(now: float, stale_after: float) -> str:
    """`is_stale` over `runs r`, as SQL text that is never NULL."""
    if not (math.isfinite(now) and math.isfinite(stale_after)):
        return "0"  # stale_after = inf: nothing is ever stale (and 'inf' is no SQL number)
    # numbers we produce (never user text), so they may be spelled into the SQL
    return (
        f"(r.status = 'running' AND r.last_activity IS NOT NULL"
        f" AND {float(now)!r} - r.last_activity > {float(stale_after)!r})"
    )
