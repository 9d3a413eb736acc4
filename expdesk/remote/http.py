"""A small client for MLflow's REST API 2.0 over plain `urllib` (no `mlflow` package at runtime).

Why the standard library: every call here is one JSON POST/GET or one file PUT; `requests` would add a
runtime dependency for no behaviour we need. Every request is counted (`requests_made`), which the
benchmark reports. Errors are `ServerUnreachable` (no answer) or `ServerRefused` (an HTTP error, with
MLflow's `error_code`); both carry messages scrubbed of credentials.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from expdesk.core.errors import ExpdeskError
from expdesk.core.paths import is_server_url
from expdesk.remote import credentials as creds

API = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"


class RemoteError(ExpdeskError):
    """Talking to a tracking server failed. The message names the server (never its credentials)."""


class ServerUnreachable(RemoteError):
    """No HTTP answer: connection refused or reset, DNS failure, timeout."""


class ServerRefused(RemoteError):
    """The server answered with an error status (auth, validation, internal error)."""

    def __init__(self, message: str, status: int, error_code: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


def http_base(url: str) -> str:
    """`mlflow+http://u:p@host:5000/` -> `http://host:5000` (credentials are resolved separately)."""
    if is_server_url(url):
        url = url[len("mlflow+") :]
    clean, _user, _password = creds.split_userinfo(url)
    return clean.rstrip("/")


def source_url(url: str) -> str:
    """The canonical `mlflow+http(s)://host:port` used as an index root: no credentials, no trailing `/`."""
    return "mlflow+" + http_base(url)


class MlflowRest:
    """One tracking server. Thread-safe for sequential use by one worker; make one per thread otherwise."""

    def __init__(
        self,
        url: str,
        credentials: creds.Credentials | None = None,
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.25,
    ) -> None:
        self.base = http_base(url)
        self.credentials = credentials if credentials is not None else creds.resolve(url)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.requests_made = 0
        self.seconds_waiting = 0.0  # wall time inside HTTP round trips (the rest of a push is ours)
        # set by close(): cuts retry back-off waits short so a cancel or shutdown returns promptly
        self._closing = threading.Event()

    def close(self) -> None:
        self._closing.set()

    # -- plumbing -------------------------------------------------------------------------------------
    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "expdesk"}
        if content_type:
            headers["Content-Type"] = content_type
        if self.credentials.header:
            headers["Authorization"] = self.credentials.header
        return headers

    def _send(self, request: urllib.request.Request, what: str) -> bytes:
        attempt = 0
        while True:
            self.requests_made += 1
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return bytes(response.read())
            except urllib.error.HTTPError as exc:
                raise self._refused(exc, what) from None
            except (urllib.error.URLError, OSError) as exc:
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                # only a refused connection is retried: the request never reached the server, so a retry
                # cannot record anything twice (a timeout might have been committed server-side)
                if isinstance(reason, ConnectionRefusedError) and attempt < self.retries:
                    attempt += 1
                    if self._closing.wait(self.backoff * 2 ** (attempt - 1)):
                        attempt = self.retries
                    continue
                raise ServerUnreachable(
                    self.credentials.mask(f"cannot reach the tracking server {self.base} ({what}): {reason}")
                ) from None
            finally:
                self.seconds_waiting += time.perf_counter() - started

    def _refused(self, exc: urllib.error.HTTPError, what: str) -> ServerRefused:
        body = exc.read()[:4000].decode("utf-8", "replace")
        code: str | None = None
        detail = body.strip()
        try:
            payload = json.loads(body)
            code = payload.get("error_code")
            detail = payload.get("message", detail)
        except (ValueError, AttributeError):
            pass
        if exc.code in (401, 403):
            hint = " — set EXPDESK_MLFLOW_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
        else:
            hint = ""
        message = f"the tracking server {self.base} refused {what}: HTTP {exc.code}"
        message += f" {code}" if code else ""
        message += f": {detail[:500]}" if detail else ""
        return ServerRefused(self.credentials.mask(message + hint), exc.code, code)

    def call(self, method: str, endpoint: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One REST call under `/api/2.0/mlflow/`. GET bodies become the query string."""
        url = f"{self.base}{API}/{endpoint}"
        data = None
        if method == "GET" and body:
            url += "?" + urlencode(body, doseq=True)
        elif body is not None:
            # allow_nan=False: non-finite metric values are sent as the protobuf JSON strings instead
            data = json.dumps(body, allow_nan=False, separators=(",", ":")).encode("utf-8")
        request = urllib.request.Request(
            url, data=data, method=method, headers=self._headers("application/json" if data else None)
        )
        raw = self._send(request, endpoint)
        return json.loads(raw) if raw.strip() else {}

    def health(self) -> bool:
        try:
            self._send(urllib.request.Request(f"{self.base}/health", headers=self._headers(None)), "health")
        except RemoteError:
            return False
        return True

    def list_artifacts(self, artifact_path: str) -> dict[str, int]:
        """Files directly inside `artifact_path` on the artifact proxy: name -> size (folders left out).
        Protobuf JSON omits zero values, so an empty file comes without `file_size`."""
        url = f"{self.base}{ARTIFACTS_API}?{urlencode({'path': artifact_path})}"
        raw = self._send(urllib.request.Request(url, headers=self._headers(None)), "the artifact listing")
        files = json.loads(raw or b"{}").get("files", [])
        return {
            f["path"].rsplit("/", 1)[-1]: int(f.get("file_size", 0)) for f in files if not f.get("is_dir")
        }

    def put_artifact(self, artifact_path: str, file: Path) -> None:
        """Upload one file through the server's artifact proxy (`mlflow server --serve-artifacts`)."""
        url = f"{self.base}{ARTIFACTS_API}/{quote(artifact_path)}"
        with open(file, "rb") as handle:
            request = urllib.request.Request(
                url, data=handle, method="PUT", headers=self._headers("application/octet-stream")
            )
            request.add_header("Content-Length", str(file.stat().st_size))
            self._send(request, f"the upload of {artifact_path}")
