"""Reading one run out of the index as a `Run`."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from expdesk.api.records import (
    Artifact,
    HistorySource,
    Lineage,
    LineageLink,
    MediaSeries,
    MetricSummary,
    Part,
    Run,
)
from expdesk.api.values import typed_value, utc_datetime
from expdesk.index import column_queries as queries
from expdesk.index.reader import IndexReader


def _summary(s: queries.SeriesSummary) -> MetricSummary:
    return MetricSummary(
        count=s.count,
        first_step=s.first_step,
        last_step=s.last_step,
        last=s.last,
        min=s.min,
        max=s.max,
        argmin_step=s.argmin_step,
        argmax_step=s.argmax_step,
        nan_count=s.nan_count,
        last_time=None if s.last_timestamp is None else utc_datetime(s.last_timestamp / 1000.0),
        final=s.final,
        final_source=s.final_source,
    )


def _lineage(reader: IndexReader, key: str) -> Lineage:
    from expdesk.lineage import build_lineage

    # lookups in the hash cache only: storing new hashes would need the index's writer (and its lock)
    graph = build_lineage(reader, key)

    def link(other: str, edge: Any) -> LineageLink:
        node = graph.nodes.get(other)
        name = node.name if node is not None else other
        return LineageLink(other, name, edge.rule, edge.kind, MappingProxyType(dict(edge.evidence)))

    return Lineage(
        upstream=tuple(link(e.upstream, e) for e in graph.upstream_of(key)),
        downstream=tuple(link(e.downstream, e) for e in graph.downstream_of(key)),
        ancestors=tuple(graph.ancestors()[1:]),
        descendants=tuple(graph.descendants()),
        gaps=tuple(sorted(set(graph.gaps))),
    )


def build_run(workspace: HistorySource, reader: IndexReader, key: str) -> Run:
    """The `Run` of a key the index holds (resolved by the caller)."""
    with queries.snapshot(reader):
        doc = reader.run_json(key)
        basics = reader.run_basics(key)
        summaries = queries.series_summaries(reader, key)
        lineage = _lineage(reader, key)
    assert basics is not None
    return Run(
        key=key,
        name=doc["name"],
        experiment=doc["experiment"],
        format=doc["format"],
        status=doc["status"],
        native_status=doc["native_status"],
        stale=bool(doc["stale"]),
        deleted=bool(doc["deleted"]),
        start_time=utc_datetime(basics.start_time),
        end_time=utc_datetime(basics.end_time),
        path=doc["path"],
        native_id=doc["native_id"],
        parent=doc["parent"],
        error=doc["error"],
        params=MappingProxyType({k: typed_value(v) for k, v in doc["params"].items()}),
        tags=MappingProxyType(dict(doc["tags"])),
        metrics=MappingProxyType({s.key: _summary(s) for s in summaries}),
        artifacts=tuple(Artifact(a["path"], a["size"]) for a in doc["artifacts"]),
        lineage=lineage,
        media=tuple(MediaSeries(m["key"], m["kind"], tuple(m["steps"])) for m in doc.get("media", ())),
        unread=tuple((u["path"], u["reason"]) for u in doc.get("unread", ())),
        starred=bool(doc.get("starred", False)),
        note=doc.get("note") or "",
        labels=tuple(doc.get("labels", ())),
        info=MappingProxyType(dict(doc.get("info") or {})),
        parts=tuple(
            Part(
                p["key"],
                p["format"],
                p["path"],
                p["native_id"],
                p["label"],
                p["rule"],
                MappingProxyType(dict(p["evidence"])),
            )
            for p in doc.get("parts", ())
        ),
        _workspace=workspace,
    )
