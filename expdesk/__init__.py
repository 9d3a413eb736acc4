"""expdesk: a local, read-only experiment tracker for ML run folders.

The Python API (`expdesk.open`, `Workspace`, `FilterError`, ...) lives in `expdesk.api` and is re-exported
here lazily: `import expdesk` stays a few milliseconds (the CLI and the app import this package first), and
the index, numpy and sqlite-utils load on the first use of a name below.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "Artifact",
    "ExpdeskError",
    "FilterError",
    "IndexSummary",
    "IndexTooNew",
    "Lineage",
    "LineageLink",
    "LookupKeyError",
    "MediaSeries",
    "MetricSummary",
    "NotAnIndex",
    "ParamValue",
    "Part",
    "Run",
    "Workspace",
    "__version__",
    "open",
]
#: the names `expdesk.api` exports, reachable as `expdesk.<name>`
_API = frozenset(__all__) - {"__version__"}

# typing.TYPE_CHECKING without importing typing (milliseconds at every start of the CLI and the app)
TYPE_CHECKING = False
if TYPE_CHECKING:  # what type checkers and IDEs see; at run time `__getattr__` imports on first use
    from typing import Any

    from expdesk.api import (
        Artifact,
        ExpdeskError,
        FilterError,
        IndexSummary,
        IndexTooNew,
        Lineage,
        LineageLink,
        LookupKeyError,
        MediaSeries,
        MetricSummary,
        NotAnIndex,
        ParamValue,
        Part,
        Run,
        Workspace,
        open,
    )


def __getattr__(name: str) -> Any:
    if name in _API:
        from expdesk import api

        value = getattr(api, name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'expdesk' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
