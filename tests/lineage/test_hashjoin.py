"""Content-hash joins: an ancestor appears by the SHA-256 of a file it produced and another run read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from expdesk.core.entities import FileRef, RunRef, RunUpdate, Status
from expdesk.index.service import Index
from expdesk.lineage import Options, build_lineage
from expdesk.lineage.files import HashCache
from expdesk.sources.base import list_artifacts
from tests.bundle.conftest import add_updates
from tests.bundle.helpers import export, unzip
from tests.sql import query

T0 = 1_700_000_000.0


def run(
    root: Path, name: str, start: float, end: float, files: dict[str, bytes], reads: list[Path] = ()
) -> tuple[RunRef, RunUpdate]:  # type: ignore[assignment]
    folder = root / name
    folder.mkdir(parents=True)
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    update = RunUpdate(
        name=name, status=Status.FINISHED, start_time=start, end_time=end, artifacts=list_artifacts(folder)
    )
    update.files = [FileRef("input", "init-checkpoint", str(p), str(p), p.stat().st_size) for p in reads]
    return RunRef("generic", folder, root), update


@pytest.fixture
def trio(index: Index, tmp_path: Path) -> tuple[Index, dict[str, str]]:
    """A trains a checkpoint; B resumes from a *copy* of it (so only the hash joins them); C reads a tiny file."""
    root = tmp_path / "root"
    ckpt = os.urandom(4096)
    a = run(root, "a", T0, T0 + 100, {"ckpt/last.ckpt": ckpt, "labels.txt": b"cat\ndog\n"})
    (root / "inbox").mkdir(parents=True)
    (root / "inbox" / "resume.ckpt").write_bytes(ckpt)
    (root / "inbox" / "labels.txt").write_bytes(b"cat\ndog\n")
    b = run(
        root,
        "b",
        T0 + 200,
        T0 + 300,
        {"model.safetensors": os.urandom(2048)},
        [root / "inbox" / "resume.ckpt"],
    )
    c = run(root, "c", T0 + 400, T0 + 500, {}, [root / "inbox" / "labels.txt"])
    add_updates(index, [a, b, c])
    keys = {u.name: r.key for r, u in (a, b, c)}
    return index, keys


def test_ancestor_by_hash_with_evidence(trio: tuple[Index, dict[str, str]]) -> None:
    index, keys = trio
    with index.reader() as reader:
        graph = build_lineage(reader, keys["b"], writer_call=index.writer.call)
    assert graph.ancestors() == [keys["b"], keys["a"]]
    (edge,) = graph.edges
    assert (edge.upstream, edge.downstream, edge.rule, edge.kind) == (
        keys["a"],
        keys["b"],
        "hash-join",
        "derived",
    )
    assert edge.evidence["paths"] == [{"produced": "a/ckpt/last.ckpt", "read": "inbox/resume.ckpt"}]
    assert edge.evidence["hashes"][0]["size"] == 4096
    assert edge.evidence["time_order"]["producer_end"] <= edge.evidence["time_order"]["consumer_start"]
    with index.reader() as reader:  # the digests were cached by file identity in the index
        assert query(reader, "SELECT COUNT(*) FROM hashes")[0][0] >= 2
        down = build_lineage(reader, keys["a"])
    assert down.descendants() == [keys["b"]]


def test_tiny_files_are_ambiguous_not_edges(trio: tuple[Index, dict[str, str]]) -> None:
    index, keys = trio
    with index.reader() as reader:
        graph = build_lineage(reader, keys["c"])
    assert graph.edges == [] and graph.ambiguous[0]["reason"].startswith("smaller than 1024")


def test_time_order_is_required(index: Index, tmp_path: Path) -> None:
    root = tmp_path / "root"
    blob = os.urandom(3000)
    (root / "in").mkdir(parents=True)
    (root / "in" / "x.bin").write_bytes(blob)
    late = run(root, "late", T0 + 1000, T0 + 2000, {"x.bin": blob})
    early = run(root, "early", T0, T0 + 10, {}, [root / "in" / "x.bin"])
    add_updates(index, [late, early])
    with index.reader() as reader:
        graph = build_lineage(reader, early[0].key)
    assert graph.edges == [] and "ended after the consumer started" in graph.ambiguous[0]["reason"]


def test_ubiquitous_blobs_link_nothing(index: Index, tmp_path: Path) -> None:
    root = tmp_path / "root"
    blob = os.urandom(2000)
    (root / "shared").mkdir(parents=True)
    (root / "shared" / "tok.json").write_bytes(blob)
    producers = [run(root, f"p{i}", T0, T0 + 1, {"tok.json": blob}) for i in range(3)]
    consumer = run(root, "consumer", T0 + 100, T0 + 200, {}, [root / "shared" / "tok.json"])
    add_updates(index, [*producers, consumer])
    with index.reader() as reader:
        graph = build_lineage(reader, consumer[0].key, Options(max_runs=3))
    assert graph.edges == [] and "seen in 4 runs" in graph.ambiguous[0]["reason"]


def test_hash_cache_refuses_links_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret").write_bytes(b"s" * 2000)
    (root / "link").symlink_to(tmp_path / "secret")
    os.mkfifo(root / "fifo")
    cache = HashCache()
    assert cache.sha256(root, root / "link") is None
    assert cache.sha256(root, root / "fifo") is None
    assert cache.sha256(root, "../secret") is None


def test_trainer_style_resume_bundle_holds_the_ancestor(
    trio: tuple[Index, dict[str, str]], tmp_path: Path
) -> None:
    index, keys = trio
    plan, path = export(index, keys["b"], tmp_path / "out")
    assert plan.runs == [keys["b"], keys["a"]]
    bag = unzip(path, tmp_path / "x")
    card = (bag / "data" / "README.md").read_text()
    assert "by hash-join (sha256" in card and "ancestor (depth 1)" in card
