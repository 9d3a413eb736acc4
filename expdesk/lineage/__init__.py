"""Lineage: which runs produced a run's inputs (tool-native links + content-hash joins), and per-run provenance.

No Qt here; the GUI's lineage view and the bundle export both build on `build_lineage` and `build_record`.
"""

from expdesk.lineage.build import LineageBuilder, Options, build_lineage
from expdesk.lineage.graph import Edge, LineageGraph, RunNode

__all__ = ["Edge", "LineageBuilder", "LineageGraph", "Options", "RunNode", "build_lineage"]
