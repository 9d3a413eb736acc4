"""No server needed: credentials, masking, URL handling, batching limits, names, non-finite values."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

from expdesk.remote import batching, credentials
from expdesk.remote.http import MlflowRest, ServerRefused, ServerUnreachable, http_base, source_url


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
        "import sys, expdesk.remote.push, expdesk.remote.browse, expdesk.cli.remote;"
        "bad = [m for m in ('PySide6', 'mlflow', 'requests') if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0


def test_refusal_names_the_code_hints_at_credentials_and_masks_the_token(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import http.server
    import threading

    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            body = json.dumps({"error_code": "UNAUTHENTICATED", "message": "bad token tok-secret"}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("EXPDESK_MLFLOW_TOKEN", "tok-secret")
    try:
        client = MlflowRest(f"http://127.0.0.1:{server.server_address[1]}")
        try:
            client.call("GET", "experiments/get-by-name", {"experiment_name": "x"})
        except ServerRefused as exc:
            refused = exc
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["Bearer tok-secret"]
    assert refused.status == 401 and refused.error_code == "UNAUTHENTICATED"
    text = str(refused)
    assert "HTTP 401 UNAUTHENTICATED" in text and "EXPDESK_MLFLOW_TOKEN" in text and "tok-secret" not in text
