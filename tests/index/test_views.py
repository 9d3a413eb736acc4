"""Saved views: stored in the index and kept through re-indexing, exported and imported as JSON, and a hostile
view file refused with its reason."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from expdesk.core.errors import UsageError
from expdesk.core.views import MAX_FILE_BYTES, ChartPanel, SavedView, ViewError, parse_view
from expdesk.index.service import Index
from expdesk.index.views import (
    delete_view,
    export_view,
    import_view,
    list_views,
    load_view,
    rename_view,
    save_view,
)
from tests.groundtruth import RUNS
from tests.sql import query


def _view(name: str = "seed sweep", selection: tuple[str, ...] = ()) -> SavedView:
    return SavedView(
        name=name,
        filter='params.lr < 1e-3 and name ~ "bert"',
        columns=("attr:name", "param:lr", "metric:val/loss:min"),
        sort="metric:val/loss:min",
        descending=True,
        table_group="optimizer",
        starred_only=True,
        charts=ChartPanel(
            visible=True,
            metrics=("loss", "val/acc"),
            x="relative",
            smoothing=0.9,
            group_by="params.seed",
            band="std",
            log_y=True,
        ),
        selection=selection,
    )


def test_a_view_round_trips_through_the_index(tmp_path: Path) -> None:
    with Index(tmp_path / "i.db") as index:
        view = _view()
        save_view(index, view)
        save_view(index, _view("Another <b>view</b>"))
        with index.reader() as reader:
            assert [e.name for e in list_views(reader)] == ["Another <b>view</b>", "seed sweep"]
            assert load_view(reader, "seed sweep") == view
            created = query(reader, "SELECT created_at FROM views WHERE name='seed sweep'")[0][0]
        changed = SavedView("seed sweep", filter="status = failed")
        save_view(index, changed)  # same name: replaced, created_at kept
        with index.reader() as reader:
            assert load_view(reader, "seed sweep") == changed
            assert query(reader, "SELECT created_at FROM views WHERE name='seed sweep'")[0][0] == created
        rename_view(index, "seed sweep", "  failed runs ")
        with pytest.raises(UsageError, match="exists already"):
            rename_view(index, "failed runs", "Another <b>view</b>")
        delete_view(index, "Another <b>view</b>")
        with index.reader() as reader:
            assert [e.name for e in list_views(reader)] == ["failed runs"]
            assert load_view(reader, "failed runs") == SavedView("failed runs", filter="status = failed")
            with pytest.raises(UsageError, match="no saved view named 'seed sweep'"):
                load_view(reader, "seed sweep")


def test_views_survive_re_indexing_and_a_rebuilt_runs_cache(tmp_path: Path) -> None:
    root = tmp_path / "store"
    shutil.copytree(RUNS / "mlflow" / "filestore", root)
    with Index(tmp_path / "i.db") as index:
        index.index([root])
        with index.reader() as reader:
            keys = tuple(reader.run_keys()[:3])
        assert len(keys) == 3
        save_view(index, _view(selection=keys))
        index.index([root], force=True)  # everything read again
        index.remove_root(root)  # the runs cache of that root is dropped ...
        with index.reader() as reader:
            assert reader.run_keys() == []
            assert load_view(reader, "seed sweep").selection == keys  # ... the view stays
        index.index([root])  # ... and its runs come back under the same keys
        with index.reader() as reader:
            assert set(load_view(reader, "seed sweep").selection) <= reader.all_keys()
    with Index(tmp_path / "i.db") as index, index.reader() as reader:  # a new process
        assert load_view(reader, "seed sweep") == _view(selection=keys)


def test_export_then_import_gives_the_same_view(tmp_path: Path) -> None:
    view = _view(selection=("abc", "def"))
    path = export_view(view, tmp_path / "view.json", watched=set())
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["format"] == "expdesk-view" and doc["version"] == 1 and doc["charts"]["band"] == "std"
    assert import_view(path) == view
    assert path.stat().st_size < 2000  # a small file


def test_export_never_writes_into_a_watched_folder(tmp_path: Path) -> None:
    watched = tmp_path / "runs"
    (watched / "sub").mkdir(parents=True)
    with pytest.raises(UsageError, match="inside the watched folder"):
        export_view(_view(), watched / "sub" / "v.json", watched={str(watched)})
    link = tmp_path / "link"
    link.symlink_to(watched, target_is_directory=True)
    with pytest.raises(UsageError, match="inside the watched folder"):
        export_view(_view(), link / "v.json", watched={str(watched)})
    assert sorted(p.name for p in watched.rglob("*")) == ["sub"]


def _doc(**changes: object) -> dict:
    doc = _view().to_doc()
    doc.update(changes)
    return doc


HOSTILE = [
    (b"", "not JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[1, 2]", "not an expdesk view"),
    (b'{"format": "something-else", "version": 1, "name": "x"}', "not an expdesk view"),
    (json.dumps(_doc(version=2)).encode(), "made by a newer expdesk"),
    (json.dumps(_doc(version="1")).encode(), "version: expected a whole number"),
    (json.dumps({k: v for k, v in _doc().items() if k != "version"}).encode(), "no format version"),
    (json.dumps({k: v for k, v in _doc().items() if k != "name"}).encode(), "has no name"),
    (json.dumps(_doc(name="")).encode(), "needs a name"),
    (json.dumps(_doc(name="a\nb")).encode(), "control characters"),
    (json.dumps(_doc(name="x" * 201)).encode(), "at most 200"),
    (json.dumps(_doc(extra=1)).encode(), "^view.json: unknown key 'extra'"),
    (json.dumps(_doc(columns="attr:name")).encode(), "columns: expected a list"),
    (json.dumps(_doc(columns=[1])).encode(), r"columns\[0\]: expected text"),
    (json.dumps(_doc(columns=["x"] * 10_001)).encode(), "10001 items"),
    (json.dumps(_doc(selection=["k" * 1001])).encode(), "1001 characters"),
    (json.dumps(_doc(filter="a\x00b")).encode(), "NUL"),
    (json.dumps(_doc(filter='name = "\ud800"')).encode(), "lone surrogate"),
    (json.dumps(_doc(descending="yes")).encode(), "descending: expected true or false"),
    (json.dumps(_doc(charts={"x": "hour"})).encode(), "charts.x: 'hour' is not one of step"),
    (json.dumps(_doc(charts={"smoothing": 1.5})).encode(), "not a smoothing weight"),
    (json.dumps(_doc(charts={"smoothing": True})).encode(), "expected a number"),
    (json.dumps(_doc(charts={"spy": 1})).encode(), "charts: unknown key 'spy'"),
    (json.dumps(_doc(charts=[])).encode(), "charts: expected an object"),
    (b'{"format": "expdesk-view", "version": 1, "name": "a", "charts": {"smoothing": NaN}}', "NaN is not"),
    (b'{"format": "expdesk-view", "format": "expdesk-view", "version": 1, "name": "a"}', "appears twice"),
    (b'{"format": "expdesk-view", "version": 1, "name": "a", "selection": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    (b'{"format": "expdesk-view", "version": 1' + b"0" * 5000 + b', "name": "a"}', "not JSON"),
    (b'{"format": "expdesk-view", "version": 1, "name": "a", "filter": "params.lr <"}', "filter does not parse"),
    (b'{"format": "expdesk-view", "version": 1, "name": "a", "filter": "' + b"x" * 10_001 + b'"}', "at most 10000"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "reason"), HOSTILE, ids=[r for _, r in HOSTILE])
def test_a_hostile_view_file_is_refused_with_the_reason(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "view.json"
    path.write_bytes(data)
    with pytest.raises(ViewError, match=reason) as caught:
        import_view(path)
    assert str(caught.value).startswith("view.json")


def test_a_file_that_is_not_a_small_regular_file_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_FILE_BYTES + 1))
    with pytest.raises(ViewError, match="over the"):
        import_view(big)
    good = export_view(_view(), tmp_path / "good.json", watched=set())
    link = tmp_path / "link.json"
    link.symlink_to(good)
    with pytest.raises(ViewError, match="symbolic link"):
        import_view(link)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(ViewError, match="not a regular file"):
        import_view(fifo)


def test_a_bom_and_a_minimal_view_are_fine() -> None:
    view = parse_view(b'\xef\xbb\xbf{"format": "expdesk-view", "version": 1, "name": " minimal "}')
    assert view == SavedView("minimal")
    assert view.charts == ChartPanel()
