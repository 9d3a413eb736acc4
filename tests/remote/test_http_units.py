"""No server needed: credentials, masking, URL handling, batching limits, names, non-finite values."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

from expdesk.remote import batching, credentials
from expdesk.remote.http import MlflowRest, ServerUnreachable, http_base, source_url


def test_credentials_order_and_masking() -> None:
    env = {
        "MLFLOW_TRACKING_TOKEN": "tok-1",
        "MLFLOW_TRACKING_USERNAME": "ann",
        "MLFLOW_TRACKING_PASSWORD": "pw",
    }
    c = credentials.resolve("http://h:5000", env)
    assert c.header == "Bearer tok-1" and c.origin == "env:MLFLOW_TRACKING_TOKEN"
    assert credentials.resolve("http://h", {**env, "EXPDESK_MLFLOW_TOKEN": "t0"}).header == "Bearer t0"
    basic = credentials.resolve(
        "http://h", {"MLFLOW_TRACKING_USERNAME": "ann", "MLFLOW_TRACKING_PASSWORD": "pw"}
    )
    assert basic.header == "Basic " + base64.b64encode(b"ann:pw").decode()
    assert "pw" not in repr(basic) and basic.mask("user ann pw") == "user ann ***"
    from_url = credentials.resolve("http://bob:s%40cret@h:5000", {})
    assert from_url.header == "Basic " + base64.b64encode(b"bob:s@cret").decode() and from_url.origin == "url"
    assert credentials.resolve("http://h", {}).header is None


def test_urls_never_keep_credentials() -> None:
    assert http_base("mlflow+https://u:p@host:5000/") == "https://host:5000"
    assert source_url("http://u:p@host:5000") == "mlflow+http://host:5000"


def test_unreachable_error_is_clear_and_masked() -> None:
    client = MlflowRest("http://bob:hunter2@127.0.0.1:9", retries=1, backoff=0.01)
    try:
        client.call("GET", "experiments/get-by-name", {"experiment_name": "x"})
    except ServerUnreachable as exc:
        text = str(exc)
    assert "cannot reach the tracking server http://127.0.0.1:9" in text and "hunter2" not in text
    assert client.requests_made == 2  # a refused connection is retried once, then reported


def test_batches_respect_log_batch_limits() -> None:
    params = [{"key": f"p{i}", "value": "x"} for i in range(250)]
    tags = [{"key": f"t{i}", "value": "y" * 7000} for i in range(150)]
    metrics = ({"key": "m", "value": float(i), "timestamp": 0, "step": i} for i in range(2500))
    out = list(batching.batches(params, tags, metrics))
    for b in out:
        assert len(b.params) <= 100 and len(b.tags) <= 100 and len(b.metrics) <= 1000 and len(b) <= 1000
        assert len(json.dumps(b.body("r" * 32))) < 1_000_000
    assert sum(len(b.params) for b in out) == 250 and sum(len(b.tags) for b in out) == 150
    assert [m["step"] for b in out for m in b.metrics] == list(range(2500))


def test_names_and_values() -> None:
    assert batching.name_problem("val/loss") is None and batching.name_problem("a b:c-d.e_f") is None
    assert batching.name_problem("lr=0.1") and batching.name_problem("../x") and batching.name_problem("a//b")
    assert batching.name_problem("x" * 251) and batching.name_problem("")
    assert [batching.json_value(v) for v in (float("nan"), float("inf"), -float("inf"), 1.5)] == [
        "NaN",
        "Infinity",
        "-Infinity",
        1.5,
    ]


def test_remote_package_imports_no_qt_and_no_mlflow() -> None:
    code = (
        "import sys, expdesk.remote.push, expdesk.remote.browse, expdesk.cli_remote;"
        "bad = [m for m in ('PySide6', 'mlflow', 'requests') if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0
