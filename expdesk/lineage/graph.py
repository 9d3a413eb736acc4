"""The lineage graph: runs as nodes, edges that always carry their evidence, and what could not be decided.

Direction: an edge goes from the *upstream* run (parent, producer of a file) to the *downstream* run.
`kind` is "derived" when data flowed (a file, a checkpoint) and "informed" when one run only gave context to
another (an MLflow parent run, a Hydra sweep).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "expdesk.lineage/1"


@dataclass(frozen=True)
class RunNode:
    key: str
    format: str
    name: str
    native_id: str | None
    experiment: str | None
    status: str
    start_time: float | None
    end_time: float | None
    path: str

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "format": self.format,
            "name": self.name,
            "native_id": self.native_id,
            "experiment": self.experiment,
            "status": self.status,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "path": self.path,
        }


@dataclass
class Edge:
    upstream: str
    downstream: str
    rule: str
    kind: str  # "derived" | "informed"
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def ident(self) -> tuple[str, str, str]:
        return (self.upstream, self.downstream, self.rule)

    def as_json(self) -> dict[str, Any]:
        return {
            "upstream": self.upstream,
            "downstream": self.downstream,
            "rule": self.rule,
            "kind": self.kind,
            "evidence": self.evidence,
        }


@dataclass
class LineageGraph:
    focus: str
    nodes: dict[str, RunNode] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    #: blobs that matched but cannot discriminate (tiny, ubiquitous, unordered in time)
    ambiguous: list[dict[str, Any]] = field(default_factory=list)
    #: what lineage could not establish (unresolved links, missing timings...)
    gaps: list[str] = field(default_factory=list)
    #: signed distance from the focus run: < 0 ancestors, > 0 descendants
    depth: dict[str, int] = field(default_factory=dict)
    max_depth: int = 20

    def add_edge(self, edge: Edge) -> None:
        for existing in self.edges:
            if existing.ident == edge.ident:
                # the same pair joined by several files: one edge, every hash and path kept
                for name in ("hashes", "paths"):
                    if name in edge.evidence:
                        merged = existing.evidence.setdefault(name, [])
                        merged += [x for x in edge.evidence[name] if x not in merged]
                return
        self.edges.append(edge)

    def upstream_of(self, key: str) -> list[Edge]:
        return [e for e in self.edges if e.downstream == key]

    def downstream_of(self, key: str) -> list[Edge]:
        return [e for e in self.edges if e.upstream == key]

    def ancestors(self) -> list[str]:
        """The focus run first, then ancestors breadth-first (the bundle's run order)."""
        order, seen = [self.focus], {self.focus}
        queue = deque([self.focus])
        while queue:
            key = queue.popleft()
            for edge in sorted(self.upstream_of(key), key=lambda e: (e.upstream, e.rule)):
                if edge.upstream not in seen:
                    seen.add(edge.upstream)
                    order.append(edge.upstream)
                    queue.append(edge.upstream)
        return order

    def descendants(self) -> list[str]:
        order, seen = [], {self.focus}
        queue = deque([self.focus])
        while queue:
            key = queue.popleft()
            for edge in sorted(self.downstream_of(key), key=lambda e: (e.downstream, e.rule)):
                if edge.downstream not in seen:
                    seen.add(edge.downstream)
                    order.append(edge.downstream)
                    queue.append(edge.downstream)
        return order

    def restricted(self, keys: list[str]) -> LineageGraph:
        """The subgraph on `keys` (e.g. the ancestry only, for a bundle)."""
        wanted = set(keys)
        sub = LineageGraph(self.focus, max_depth=self.max_depth)
        sub.nodes = {k: v for k, v in self.nodes.items() if k in wanted}
        sub.edges = [e for e in self.edges if e.upstream in wanted and e.downstream in wanted]
        sub.ambiguous = [a for a in self.ambiguous if a.get("run") in wanted]
        sub.gaps = list(self.gaps)
        sub.depth = {k: d for k, d in self.depth.items() if k in wanted}
        return sub

    def as_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "focus": self.focus,
            "max_depth": self.max_depth,
            "runs": [self.nodes[k].as_json() | {"depth": self.depth.get(k, 0)} for k in sorted(self.nodes)],
            "edges": [
                e.as_json() for e in sorted(self.edges, key=lambda e: (e.upstream, e.downstream, e.rule))
            ],
            "ambiguous": sorted(self.ambiguous, key=lambda a: (a.get("run", ""), a.get("path", ""))),
            "gaps": sorted(set(self.gaps)),
        }
