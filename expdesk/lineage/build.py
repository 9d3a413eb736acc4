"""Build the lineage of one run: tool-native links plus content-hash joins, breadth-first up and down.

Hash joins (BUNDLE.md section 3): run A -> run B when B read a file whose SHA-256 equals a file A produced
and A ended before B started (within `skew`). Only candidates are hashed: a file is hashed when another run
has a file of exactly the same size on the other side. Tiny files (< `min_size`), the empty file and
blobs seen in more than `max_runs` runs cannot discriminate: they are recorded as ambiguous, not edges.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

from expdesk.index.lineage_queries import RunRow
from expdesk.lineage.catalog import Catalog, FileUse
from expdesk.lineage.files import HashCache
from expdesk.lineage.graph import Edge, LineageGraph, RunNode

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#: native parent rules per format (the tool's own word for "this run is nested in that one")
PARENT_RULES = {"mlflow": "mlflow.parentRunId", "mlflow-sqlite": "mlflow.parentRunId"}
#: link rules that carry data (a checkpoint, a stage output) rather than context
DATA_RULES = (
    "trainer.resume",
    "trainer.best_model_checkpoint",
    "dvc.stage",
    "dvc.dep",
    "lightning.ckpt_path",
    "trackio.artifact",  # the run used an artifact version the target run produced
)


#: links to folders that are not runs (a Hydra multirun folder): described by `lineage.sweep`, not gaps
CONTEXT_RULES = ("hydra.sweep",)


@dataclass(frozen=True)
class Options:
    max_depth: int = 20
    skew: float = 300.0  # seconds a producer may end after its consumer started (clock skew, flushes)
    min_size: int = 1024
    max_runs: int = 8  # a blob in more runs than this (tokenizer, label map) links nothing


def node_of(run: RunRow) -> RunNode:
    return RunNode(
        run.key,
        run.format,
        run.label,
        run.native_id,
        run.experiment,
        run.status,
        run.start_time,
        run.end_time,
        run.path,
    )


def _parent_rule(run: RunRow) -> str:
    return PARENT_RULES.get(run.format, f"{run.format}.parent")


class LineageBuilder:
    def __init__(self, catalog: Catalog, hashes: HashCache, options: Options | None = None) -> None:
        self.catalog = catalog
        self.hashes = hashes
        self.options = options or Options()

    # -- public ----------------------------------------------------------------------------------------
    def build(self, key: str, up: bool = True, down: bool = True) -> LineageGraph:
        focus = self.catalog.run(key)
        if focus is None:
            raise KeyError(key)
        graph = LineageGraph(key, max_depth=self.options.max_depth)
        graph.nodes[key] = node_of(focus)
        graph.depth[key] = 0
        if up:
            self._walk(graph, key, upstream=True)
        if down:
            self._walk(graph, key, upstream=False)
        self.hashes.flush()
        return graph

    # -- traversal -------------------------------------------------------------------------------------
    def _walk(self, graph: LineageGraph, start: str, upstream: bool) -> None:
        sign = -1 if upstream else 1
        queue = deque([(start, 0)])
        visited = {start}
        while queue:
            key, dist = queue.popleft()
            if dist >= self.options.max_depth:
                graph.gaps.append(f"lineage depth cap {self.options.max_depth} reached at run {key}")
                continue
            edges = self.upstream_edges(key, graph) if upstream else self.downstream_edges(key, graph)
            for edge in edges:
                other = edge.upstream if upstream else edge.downstream
                run = self.catalog.run(other)
                if run is None:
                    continue
                graph.add_edge(edge)
                if other not in graph.nodes:
                    graph.nodes[other] = node_of(run)
                    graph.depth[other] = sign * (dist + 1)
                if other not in visited:
                    visited.add(other)
                    queue.append((other, dist + 1))

    def upstream_edges(self, key: str, graph: LineageGraph) -> list[Edge]:
        run = self.catalog.run(key)
        assert run is not None
        edges = []
        if run.parent_key:
            edges.append(
                Edge(
                    run.parent_key,
                    key,
                    _parent_rule(run),
                    "informed",
                    {
                        "rule": _parent_rule(run),
                        "recorded_parent_id": run.parent_native_id,
                        "confidence": "recorded",
                    },
                )
            )
        elif run.parent_native_id:
            graph.gaps.append(f"run {key}: parent {run.parent_native_id} is not in the index")
        for link in self.catalog.links_from(key):
            if link["target_key"]:
                edges.append(self._link_edge(link["target_key"], key, link))
            elif link["rule"] not in CONTEXT_RULES:
                # a path as this run's store sees it: an absolute one would name this machine's folders
                path = link["target_path"]
                target = link["target_native_id"] or (run.relative(path) if path else "an unnamed target")
                graph.gaps.append(f"run {key}: {link['rule']} link to {target} is not in the index")
        for use in self.catalog.inputs(key):
            edges += self._join(use, graph, upstream=True)
        return edges

    def downstream_edges(self, key: str, graph: LineageGraph) -> list[Edge]:
        run = self.catalog.run(key)
        assert run is not None
        edges = []
        for child in self.catalog.children(key):
            child_run = self.catalog.run(child)
            if child_run is not None:
                rule = _parent_rule(child_run)
                edges.append(
                    Edge(
                        key,
                        child,
                        rule,
                        "informed",
                        {"rule": rule, "recorded_parent_id": run.native_id, "confidence": "recorded"},
                    )
                )
        for link in self.catalog.links_to(key):
            edges.append(self._link_edge(key, link["run_key"], link))
        for use in self.catalog.outputs(key):
            edges += self._join(use, graph, upstream=False)
        return edges

    def _link_edge(self, upstream: str, downstream: str, link: dict[str, object]) -> Edge:
        rule = str(link["rule"])
        evidence = {"rule": rule, "recorded": link.get("evidence") or {}, "confidence": "recorded"}
        for name in ("target_native_id", "target_path"):
            if link.get(name):
                evidence[name] = link[name]
        kind = "derived" if rule.startswith(DATA_RULES) else "informed"
        return Edge(upstream, downstream, rule, kind, evidence)

    # -- content-hash joins ----------------------------------------------------------------------------
    def _join(self, use: FileUse, graph: LineageGraph, upstream: bool) -> list[Edge]:
        """Edges through one file of `use.run_key`: its producers (upstream) or its consumers (downstream)."""
        run = self.catalog.run(use.run_key)
        if run is None or use.local is None:
            return []
        if not upstream and use.size is not None and not self.catalog.may_be_input(use.size):
            return []  # nobody read a file of this size: no stat, no hash
        size = self.hashes.size(run.root, use.local)
        if size is None:
            return []
        if size < self.options.min_size:
            if upstream:  # tiny inputs are worth naming once; tiny outputs are everywhere
                graph.ambiguous.append(
                    {
                        "run": use.run_key,
                        "path": use.path,
                        "size": size,
                        "reason": f"smaller than {self.options.min_size} bytes",
                    }
                )
            return []
        others = (
            self.catalog.outputs_of_size(size, use.run_key)
            if upstream
            else self.catalog.inputs_of_size(size, use.run_key)
        )
        others = [o for o in others if o.local is not None]
        if not others:
            return []
        digest = self.hashes.sha256(run.root, use.local)
        if digest is None:
            return []
        if digest == EMPTY_SHA256:
            return []
        matches = []
        for other in others:
            other_run = self.catalog.run(other.run_key)
            if other_run is None or other.local is None:
                continue
            if self.hashes.size(other_run.root, other.local) != size:
                continue
            if self.hashes.sha256(other_run.root, other.local) == digest:
                matches.append((other, other_run))
        runs_with_blob = {use.run_key} | {o.run_key for o, _ in matches}
        if len(runs_with_blob) > self.options.max_runs:
            graph.ambiguous.append(
                {
                    "run": use.run_key,
                    "path": use.path,
                    "size": size,
                    "sha256": digest,
                    "reason": f"seen in {len(runs_with_blob)} runs (> {self.options.max_runs})",
                }
            )
            return []
        edges = []
        for other, other_run in matches:
            producer, consumer = (other_run, run) if upstream else (run, other_run)
            p_use, c_use = (other, use) if upstream else (use, other)
            if producer.end_time is None or consumer.start_time is None:
                graph.ambiguous.append(
                    {
                        "run": use.run_key,
                        "path": use.path,
                        "size": size,
                        "sha256": digest,
                        "other_run": other.run_key,
                        "reason": "same bytes, but no timings to order the runs",
                    }
                )
                continue
            if producer.end_time > consumer.start_time + self.options.skew:
                graph.ambiguous.append(
                    {
                        "run": use.run_key,
                        "path": use.path,
                        "size": size,
                        "sha256": digest,
                        "other_run": other.run_key,
                        "reason": "same bytes, but the producer ended after the consumer started",
                    }
                )
                continue
            evidence = {
                "rule": "hash-join",
                "hashes": [{"sha256": digest, "size": size}],
                "paths": [{"produced": _show(producer, p_use), "read": _show(consumer, c_use)}],
                "time_order": {
                    "producer_end": producer.end_time,
                    "consumer_start": consumer.start_time,
                    "skew_s": self.options.skew,
                },
                "confidence": "content-hash",
            }
            edges.append(Edge(producer.key, consumer.key, "hash-join", "derived", evidence))
        return edges


def _show(run: RunRow, use: FileUse) -> str:
    """A path as the evidence shows it: relative to the run's root when it is inside it."""
    if use.local is None:
        return use.path
    try:
        return Path(use.local).relative_to(run.root).as_posix()
    except ValueError:
        return use.path


def build_lineage(
    reader: object,
    key: str,
    options: Options | None = None,
    writer_call: object = None,
    up: bool = True,
    down: bool = True,
) -> LineageGraph:
    """Convenience: lineage of `key` from an `IndexReader` (hash cache stored through `writer_call` if given)."""
    catalog = Catalog(reader)  # type: ignore[arg-type]
    hashes = HashCache.for_index(reader, writer_call)  # type: ignore[arg-type]
    return LineageBuilder(catalog, hashes, options).build(key, up, down)
