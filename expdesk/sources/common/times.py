"""Times as tools record them, read as seconds since the epoch."""

from __future__ import annotations

from datetime import UTC, datetime


def naive_utc(text: object) -> float | None:
    """An ISO 8601 time that tools write from `datetime.utcnow().isoformat()` (Sacred's run times, W&B's
    `startedAt`): no zone means UTC, never the local zone of whoever reads it. None when it is not a time."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
