"""expdesk from Python (a notebook, a script): runs and full metric histories as pandas DataFrames, on any
format expdesk reads, in place.

    import expdesk
    ws = expdesk.open("runs.sqlite")        # an index file, created if missing; expdesk.open() = the app's
    ws.index("~/lightning_logs", "~/mlruns", progress=True)
    df = ws.runs(where="params.lr < 1e-3 and status != failed", sort="metrics.val_loss.min")
    h = ws.history(df.index[:20], ["loss", "val_loss"])   # long frame: run, metric, step, value, time
    r = ws.run("3f2a")                                    # params, tags, metrics, artifacts, lineage

Built on the index and the query code the GUI and the CLI use (the same filter language, the same figures).
Importing it loads no Qt; pandas is imported when a frame is first asked for. docs/python-api.md has more.
"""

from expdesk.api.errors import LookupKeyError
from expdesk.api.records import (
    Artifact,
    IndexSummary,
    Lineage,
    LineageLink,
    MediaSeries,
    MetricSummary,
    Part,
    Run,
)
from expdesk.api.values import ParamValue
from expdesk.api.workspace import Workspace, open
from expdesk.core.errors import ExpdeskError
from expdesk.index.filter import FilterError
from expdesk.index.version import IndexTooNew, NotAnIndex

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
    "open",
]
