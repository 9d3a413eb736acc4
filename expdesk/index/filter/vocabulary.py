"""The words of the filter language: namespaces, aggregates, operators, keywords, attributes and flags.

Only names live here; what an attribute means in SQL is the compiler's (`compile.ATTRIBUTE_SQL`).
"""

from __future__ import annotations

from expdesk.core.entities import Status

AGGREGATES = ("last", "min", "max", "final", "count", "first_step", "last_step", "nan_count")
NAMESPACES = ("params", "tags", "metrics")
OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "~", "!~")
KEYWORDS = ("and", "or", "not", "in", "is", "null")
STATUSES = tuple(s.value for s in Status)
#: attributes of a run a filter or sort can name, in the order completion offers them
ATTRIBUTES = (
    "name",
    "format",
    "status",
    "experiment",
    "path",
    "native_id",
    "key",
    "native_status",
    "parent",
    "error",
    "note",
    "start_time",
    "end_time",
    "duration",
    "deleted",
    "starred",
    "stale",
    "label",
)
#: attributes that stand alone as a condition (`stale`, `not starred`); `error` means "has an error"
FLAGS = ("stale", "deleted", "starred", "error")
