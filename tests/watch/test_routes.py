"""The route table: longest prefix wins, DB sidecars map to the store's runs, unknown paths to their root."""

from __future__ import annotations

from pathlib import Path

from expdesk.core.entities import RunRef
from expdesk.watch.routes import Route, RouteTable


def test_routes() -> None:
    root = Path("/data/exp")
    outer = RunRef("generic", root / "proj", root)
    inner = RunRef("generic", root / "proj" / "sub" / "run", root)
    db = root / "mlflow.db"
    db_runs = [RunRef("mlflow_sqlite", db, root, native_id=n, store=db) for n in ("a", "b")]
    other_root = Path("/data/exp/proj/nested-root")
    nested = RunRef("generic", other_root / "r", other_root)
    table = RouteTable.build({str(root): [outer, inner, *db_runs], str(other_root): [nested]})

    assert table.lookup("/data/exp/proj/sub/run/metrics.jsonl") == Route(keys=(inner.key,))
    assert table.lookup("/data/exp/proj/sub/run") == Route(keys=(inner.key,))
    assert table.lookup("/data/exp/proj/sub/other.txt") == Route(keys=(outer.key,))
    assert table.lookup("/data/exp/mlflow.db-wal") == Route(keys=tuple(r.key for r in db_runs))
    assert table.lookup("/data/exp/mlflow.db") == Route(keys=tuple(r.key for r in db_runs))
    assert table.lookup("/data/exp/new-run/metrics.jsonl") == Route(root=str(root))
    assert table.lookup("/data/exp/proj/nested-root/new") == Route(root=str(other_root))
    assert table.lookup("/data/exp/proj/nested-root/r/x") == Route(keys=(nested.key,))
    assert table.lookup("/elsewhere/file") == Route()
    assert table.lookup("/data/exp-other/file") == Route()
    assert table.by_key[inner.key] is inner
