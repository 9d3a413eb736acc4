"""Watched roots are registered in one place, and registering never forgets how a root is watched."""

from __future__ import annotations

from pathlib import Path

from expdesk.index.service import Index


def _network_flags(index: Index) -> dict[str, bool]:
    with index.reader() as reader:
        return {r["path"]: bool(r["network"]) for r in reader.roots()}


def test_indexing_a_network_root_keeps_its_network_flag(tmp_path: Path) -> None:
    # the GUI registers a folder as a network root, then indexes it; a cancelled job never reaches the
    # watcher, so the roots table is all that remembers to poll it on the next start
    root = tmp_path / "nfs"
    (root / "run").mkdir(parents=True)
    (root / "run" / "metrics.jsonl").write_text('{"step": 0, "loss": 1.0}\n')
    with Index(tmp_path / "index.sqlite") as index:
        index.add_root(root, network=True)
        index.index([root], cancelled=lambda: True)
        assert _network_flags(index) == {str(root): True}
        index.index([root])
        assert _network_flags(index) == {str(root): True}


def test_registering_again_without_a_flag_keeps_it_and_an_explicit_flag_changes_it(tmp_path: Path) -> None:
    with Index(tmp_path / "index.sqlite") as index:
        index.add_root(tmp_path, network=True)
        index.add_root(tmp_path)
        assert _network_flags(index) == {str(tmp_path): True}
        index.add_root(tmp_path, network=False)
        assert _network_flags(index) == {str(tmp_path): False}


def test_a_new_root_is_local_unless_told(tmp_path: Path) -> None:
    with Index(tmp_path / "index.sqlite") as index:
        index.index([tmp_path])
        assert _network_flags(index) == {str(tmp_path): False}
