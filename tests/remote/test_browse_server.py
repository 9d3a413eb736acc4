"""A tracking server as a source: `expdesk index mlflow+http://...` lists its runs into the index, read-only."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import pytest

from expdesk.cli import main
from expdesk.index.reader import IndexReader
from expdesk.index.service import Index
from expdesk.remote.browse import FORMAT, ServerRefresher, fetch_history, index_server
from expdesk.remote.http import MlflowRest
from expdesk.remote.push import push_runs
from tests.remote.conftest import Server

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402


@pytest.fixture(scope="module")
def pushed(mlflow_server: Server, three_formats: Path) -> dict[str, str]:
    """local key -> server run id, for runs pushed into experiment it-browse."""
    with IndexReader(three_formats) as reader:
        report = push_runs(reader, reader.run_keys(), MlflowRest(mlflow_server.url), experiment="it-browse")
    return {r.key: r.remote_id for r in report.runs}


def test_index_a_server(mlflow_server: Server, pushed: dict[str, str], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    source = "mlflow+" + mlflow_server.url
    db = tmp_path / "index.sqlite"
    assert main(["index", source, "--db", str(db)]) == 0
    assert "0 with errors" in capsys.readouterr().out
    client = MlflowClient(mlflow_server.url)
    with IndexReader(db) as reader:
        runs = {r["native_id"]: r for r in reader.runs_json(reader.run_keys())}
        assert [r["path"] for r in reader.roots()] == [source]
    assert set(pushed.values()) <= set(runs)
    for run_id in pushed.values():
        local, server = runs[run_id], client.get_run(run_id)
        assert local["format"] == FORMAT and local["path"] == source
        assert local["params"] == server.data.params and local["tags"] == server.data.tags
        assert local["experiment"] == "it-browse" and local["name"] == server.info.run_name
        for key, value in server.data.metrics.items():
            last = local["metrics"][key]["last"]
            assert (last is None and math.isnan(value)) or last == pytest.approx(value)
        parent = server.data.tags.get("mlflow.parentRunId")
        if parent:
            assert local["parent"] == runs[parent]["key"]
    # a second listing changes nothing; the history of a metric is fetched on demand
    with Index(db) as index:
        again = index_server(index, source)
    assert again.unchanged == again.found and again.read == 0
    run_id = next(iter(pushed.values()))
    metric = next(iter(client.get_run(run_id).data.metrics))
    steps, values, stamps = fetch_history(source, run_id, metric)
    assert len(steps) == len(client.get_metric_history(run_id, metric)) == len(values) == len(stamps)


def test_deleted_on_server_is_marked_and_refresher_stops(
    mlflow_server: Server, pushed: dict[str, str], tmp_path: Path
) -> None:
    source = "mlflow+" + mlflow_server.url
    client = MlflowClient(mlflow_server.url)
    victim = next(iter(pushed.values()))
    with Index(tmp_path / "index.sqlite") as index:
        index_server(index, source)
        client.delete_run(victim)
        try:
            refresher = ServerRefresher(index, source, interval=3600)
            refresher.start()
            deadline = time.monotonic() + 30
            while refresher.refreshed == 0 and time.monotonic() < deadline:
                threading.Event().wait(0.05)
            refresher.stop()  # returns promptly although the interval is an hour
            assert refresher.refreshed == 1 and refresher.error is None
            with index.reader() as reader:
                (run,) = [
                    r
                    for r in reader.runs_json(reader.run_keys(include_deleted=True))
                    if r["native_id"] == victim
                ]
                assert run["deleted"]
        finally:
            client.restore_run(victim)


def test_detail_charts_fetch_the_full_history_of_a_server_run(
    mlflow_server: Server, pushed: dict[str, str], tmp_path: Path
) -> None:
    from expdesk.gui.detail.metrics_view import load_series_views

    source = "mlflow+" + mlflow_server.url
    db = tmp_path / "index.sqlite"
    with Index(db) as index:
        index_server(index, source)
    client = MlflowClient(mlflow_server.url)
    run_id = next(iter(pushed.values()))
    metric = next(iter(client.get_run(run_id).data.metrics))
    history = client.get_metric_history(run_id, metric)
    with IndexReader(db) as reader:
        key = next(r["key"] for r in reader.runs_json(reader.run_keys()) if r["native_id"] == run_id)
        assert reader.run_json(key)["metrics"][metric]["count"] == 1  # the index keeps the latest value only
        (view,) = load_series_views(reader, key, [metric], 100_000)
    assert len(view.steps) == len(history) and sorted(view.steps.tolist()) == sorted(m.step for m in history)


def test_compare_charts_the_full_history_of_server_runs(
    mlflow_server: Server, pushed: dict[str, str], tmp_path: Path, qtbot
) -> None:  # type: ignore[no-untyped-def]
    from expdesk.gui.compare.view import CompareView
    from expdesk.gui.compare.workers import SERVER_FORMAT

    assert SERVER_FORMAT == FORMAT
    source = "mlflow+" + mlflow_server.url
    client = MlflowClient(mlflow_server.url)
    with Index(tmp_path / "index.sqlite") as index:
        index_server(index, source)
        with index.reader() as reader:
            runs = {r["native_id"]: r for r in reader.runs_json(reader.run_keys())}
        ids = [i for i in pushed.values() if client.get_run(i).data.metrics][:2]
        metric = next(iter(client.get_run(ids[0]).data.metrics))
        view = CompareView(index, [runs[i]["key"] for i in ids])
        qtbot.addWidget(view)
        qtbot.waitUntil(lambda: len(view.runs) == len(ids), timeout=30_000)
        with qtbot.waitSignal(view.chart_ready, timeout=30_000):
            view.charts.set_selected_metrics([metric])
            view.tabs.setCurrentIndex(1)
        qtbot.waitUntil(
            lambda: view.charts.chart is not None and list(view.charts.chart.axes) == [metric], timeout=30_000
        )
        charted = {s.run_key: len(s.x) for s in view.charts.chart.series.values()}
        view.close()
    lengths = {i: len(client.get_metric_history(i, metric)) for i in ids if metric in runs[i]["metrics"]}
    assert max(lengths.values()) > 1  # else the test could not tell history from the latest value
    for run_id, length in lengths.items():
        # every point from the server, not the one latest value the index keeps
        assert charted[runs[run_id]["key"]] == length


def test_a_server_that_does_not_answer_costs_only_its_curves() -> None:
    from expdesk.gui.compare.workers import server_series

    run = {
        "key": "k",
        "name": "r1",
        "path": "mlflow+http://127.0.0.1:9",
        "native_id": "abc",
        "metrics": {"loss": {}},
    }
    problems: list[str] = []
    assert server_series(run, ["loss", "acc"], False, problems) == []
    assert len(problems) == 1 and problems[0].startswith("r1: ")


def test_plot_fetches_server_histories(mlflow_server: Server, pushed: dict[str, str], tmp_path: Path) -> None:
    from expdesk.remote.browse import server_histories

    source = "mlflow+" + mlflow_server.url
    db = tmp_path / "index.sqlite"
    client = MlflowClient(mlflow_server.url)
    with Index(db) as index:
        index_server(index, source)
    run_id = next(i for i in pushed.values() if client.get_run(i).data.metrics)
    metric = next(iter(client.get_run(run_id).data.metrics))
    with IndexReader(db) as reader:
        (run,) = [r for r in reader.runs_json(reader.run_keys()) if r["native_id"] == run_id]
    # the index holds the latest point only; the plot gets every point, fetched from the server
    histories, problems = server_histories([run], [metric])
    assert problems == [] and list(histories) == [(run["key"], metric)]
    assert len(histories[(run["key"], metric)][0]) == len(client.get_metric_history(run_id, metric))
    out = tmp_path / "plot.png"
    assert main(["plot", run["key"], "--metric", metric, "--out", str(out), "--db", str(db)]) == 0
    assert out.stat().st_size > 0
