"""Push three formats to a real MLflow server and read them back with MLflow's own client."""

from __future__ import annotations

import math
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from expdesk.cli import main
from expdesk.index.reader import IndexReader
from expdesk.remote.http import MlflowRest, ServerRefused, ServerUnreachable
from expdesk.remote.push import SOURCE_KEY_TAG, push_runs
from tests.remote.conftest import CuttableProxy, Server

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

STATUS = {"finished": "FINISHED", "failed": "FAILED", "running": "RUNNING", "unknown": "FINISHED"}


def _ms(iso: str | None) -> int | None:
    return round(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000) if iso else None


def _as_server_stores(value: float) -> float:
    # MLflow's SQL store keeps ±inf as ±max double and has no -0.0
    if math.isinf(value):
        return math.copysign(sys.float_info.max, value)
    return value + 0.0


def _points(
    steps: np.ndarray, values: np.ndarray, stamps: np.ndarray, fallback: int
) -> list[tuple[Any, ...]]:
    out = set()  # the server stores a repeated (step, timestamp, value) once
    for s, v, t in zip(steps.tolist(), values.tolist(), stamps.tolist(), strict=True):
        out.add((s, fallback if math.isnan(t) else int(t), "nan" if math.isnan(v) else _as_server_stores(v)))
    return sorted(out, key=repr)


def _server_run(client: MlflowClient, experiment: str, key: str) -> Any:
    exp = client.get_experiment_by_name(experiment)
    found = client.search_runs([exp.experiment_id], f"tags.`{SOURCE_KEY_TAG}` = '{key}'")
    assert len(found) == 1, f"{len(found)} server runs for {key}"
    return found[0]


def compare_with_server(db: Path, url: str, experiment: str) -> int:
    """Every param, tag, metric point, status and time of every indexed run, as MLflow's client sees it."""
    client = MlflowClient(url)
    checked_points = 0
    with IndexReader(db) as reader:
        runs = reader.runs_json(reader.run_keys())
        formats = {r["format"] for r in runs}
        assert {"generic", "mlflow", "sacred"} <= formats
        remote_ids = {}
        for run in runs:
            server = _server_run(client, experiment, run["key"])
            remote_ids[run["key"]] = server.info.run_id
            assert server.data.params == run["params"], run["name"]
            for k, v in run["tags"].items():
                if k != "mlflow.parentRunId":
                    assert server.data.tags[k] == v, (run["name"], k)
            assert server.data.tags["expdesk.source_format"] == run["format"]
            assert server.info.status == STATUS[run["status"]]
            assert server.info.run_name == (run["name"] or run["key"])
            assert server.info.start_time == _ms(run["start_time"]) or run["start_time"] is None
            if run["status"] != "running" and run["end_time"]:
                assert server.info.end_time == _ms(run["end_time"])
            fallback = _ms(run["start_time"]) or _ms(run["end_time"]) or 0
            assert set(server.data.metrics) == set(run["metrics"])
            for metric in run["metrics"]:
                local = _points(*reader.series(run["key"], metric), fallback)
                history = client.get_metric_history(server.info.run_id, metric)
                remote = sorted(
                    ((m.step, m.timestamp, "nan" if math.isnan(m.value) else m.value) for m in history),
                    key=repr,
                )
                assert remote == local, (run["name"], metric)
                checked_points += len(local)
            pushed = {a.path for a in _walk(client, server.info.run_id)}
            assert {a["path"] for a in run["artifacts"]} <= pushed, run["name"]
        for run in runs:
            if run["parent"]:
                tags = client.get_run(remote_ids[run["key"]]).data.tags
                assert tags["mlflow.parentRunId"] == remote_ids[run["parent"]]
    return checked_points


def _server_point_count(url: str, experiment: str) -> int:
    client = MlflowClient(url)
    exp = client.get_experiment_by_name(experiment)
    return sum(
        len(client.get_metric_history(run.info.run_id, key))
        for run in client.search_runs([exp.experiment_id])
        for key in run.data.metrics
    )


def _walk(client: MlflowClient, run_id: str, path: str | None = None) -> list[Any]:
    out = []
    for entry in client.list_artifacts(run_id, path):
        out += _walk(client, run_id, entry.path) if entry.is_dir else [entry]
    return out


def test_push_three_formats_then_again(mlflow_server: Server, three_formats: Path) -> None:
    with IndexReader(three_formats) as reader:
        keys = reader.run_keys()
        first = push_runs(reader, keys, MlflowRest(mlflow_server.url), experiment="it-push")
    assert all(r.created and not r.conflicts for r in first.runs)
    # the only warnings: points a sample logged twice, which an MLflow server keeps once
    warnings = [w for r in first.runs for w in r.warnings]
    assert warnings and all("repeated (step, timestamp, value) points sent once" in w for w in warnings)
    assert compare_with_server(three_formats, mlflow_server.url, "it-push") > 150

    with IndexReader(three_formats) as reader:
        again = push_runs(reader, keys, MlflowRest(mlflow_server.url), experiment="it-push")
    assert all(r.unchanged and r.points == 0 for r in again.runs)
    # one lookup per run plus the experiment: nothing else is sent for runs that did not change
    assert again.requests == len(keys) + 1
    compare_with_server(three_formats, mlflow_server.url, "it-push")  # still exactly one copy each


def test_server_dies_mid_push_then_retry_completes(
    mlflow_server: Server, three_formats: Path, proxy: CuttableProxy
) -> None:
    # the 6th log-batch is committed by the server but its answer never arrives; then the server is gone
    proxy.cut_at("runs/log-batch", 6)
    with IndexReader(three_formats) as reader, pytest.raises(ServerUnreachable) as failure:
        push_runs(
            reader, reader.run_keys(), MlflowRest(proxy.url, retries=1, backoff=0.05), experiment="it-cut"
        )
    assert proxy.cut.is_set()  # the cut really happened mid-push, after the server committed a request
    message = str(failure.value)
    assert (
        proxy.url.split("//")[1] in message
        and "push again" in message
        and "Nothing was recorded locally" in message
    )
    already = _server_point_count(mlflow_server.url, "it-cut")
    assert already > 0
    with IndexReader(three_formats) as reader:
        retry = push_runs(reader, reader.run_keys(), MlflowRest(mlflow_server.url), experiment="it-cut")
    assert any(not r.created for r in retry.runs) and any(r.created for r in retry.runs)
    # the retry sent exactly the points the server lacked, including after the batch whose answer was lost
    # (the SQL store would silently merge exact repeats, so counting what we send is the real check)
    assert already + retry.points == _server_point_count(mlflow_server.url, "it-cut")
    compare_with_server(three_formats, mlflow_server.url, "it-cut")  # no duplicated point, nothing missing


def test_changed_param_is_a_reported_conflict(mlflow_server: Server, three_formats: Path) -> None:
    with IndexReader(three_formats) as reader:
        key = reader.run_keys(where_sql="r.format = 'sacred'")[0]
        run = reader.run_json(key)
        push_runs(reader, [key], MlflowRest(mlflow_server.url), experiment="it-conflict")
        name = sorted(run["params"])[0]
        server = _server_run(MlflowClient(mlflow_server.url), "it-conflict", key)
        # the server run has a new param and a different value for an old one (pushed by someone else)
        client = MlflowClient(mlflow_server.url)
        client.set_tag(server.info.run_id, "expdesk.push_digest", "stale")
        client.log_param(server.info.run_id, "added_remotely", "1")
        client_runs = reader.runs_json([key])
        client_runs[0]["params"][name] = "changed here"
        original = reader.runs_json

        def patched(keys: list[str], history: bool = False) -> list[dict[str, Any]]:
            return client_runs if keys == [key] else original(keys, history)

        reader.runs_json = patched  # type: ignore[method-assign]
        report = push_runs(reader, [key], MlflowRest(mlflow_server.url), experiment="it-conflict")
    (result,) = report.runs
    # the run changed, so it was pushed again, but its artifacts were already there: none re-uploaded
    assert not result.unchanged and result.artifacts == 0 and run["artifacts"]
    assert (
        len(result.conflicts) == 1
        and repr(name) in result.conflicts[0]
        and "cannot change" in result.conflicts[0]
    )
    assert client.get_run(server.info.run_id).data.params[name] == run["params"][name]


def test_cli_push_and_errors(
    mlflow_server: Server, three_formats: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with IndexReader(three_formats) as reader:
        key = reader.run_keys(where_sql="r.format = 'generic'")[0]
    args = ["push", key[:8], "--to", mlflow_server.url, "--experiment", "it-cli", "--db", str(three_formats)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "created" in out and "1 runs pushed" in out
    assert main(args) == 0
    assert "up to date" in capsys.readouterr().out
    dead = ["push", key, "--to", "http://127.0.0.1:9", "--db", str(three_formats)]
    assert main(dead) == 1
    assert "cannot reach the tracking server http://127.0.0.1:9" in capsys.readouterr().err
    assert main(["push", key, "--to", "ftp://x", "--db", str(three_formats)]) == 2


def test_a_refusing_server_gives_a_clear_error(mlflow_server: Server, three_formats: Path) -> None:
    with IndexReader(three_formats) as reader, pytest.raises(ServerRefused) as failure:
        # MLflow refuses experiment names longer than 500 characters
        push_runs(reader, reader.run_keys()[:1], MlflowRest(mlflow_server.url), experiment="x" * 600)
    assert failure.value.status == 400 and failure.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "refused experiments/create" in str(failure.value) and "push again" in str(failure.value)
