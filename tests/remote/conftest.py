"""A real `mlflow server` (SQLite backend, proxied artifacts) for the whole session, a cuttable TCP proxy in
front of it, and an index of three run formats from tests/data.

The server takes seconds to a minute to start on a loaded machine, so there is one per session; tests keep
apart by pushing into their own experiments.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from expdesk.index.service import Index

DATA = Path(__file__).resolve().parents[1] / "data" / "runs"
FORMATS = [DATA / "plain", DATA / "mlflow" / "filestore", DATA / "sacred"]
START_DEADLINE = 180.0  # seconds; a cold import of mlflow on a busy CI box is slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str  # http://127.0.0.1:PORT
    port: int
    log: Path


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if shutil.which("mlflow") is None and not _has_module("mlflow"):
        pytest.skip("the mlflow package (test extra) is not installed")
    base = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = base / "server.log"
    env = dict(os.environ)
    # no background job runner (7 extra processes we do not need) and one worker: starts faster
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        env.pop(name, None)
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{base / 'mlflow.db'}", "--artifacts-destination", str(base / "artifacts"),
    ]  # fmt: skip
    with open(log, "wb") as out:
        # own session: teardown ends the server and every worker it forked, and nothing else
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_DEADLINE
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"mlflow server did not answer /health in {START_DEADLINE} s:\n{log.read_text()[-3000:]}"
                )
            threading.Event().wait(0.25)
        yield Server(url, port, log)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


@pytest.fixture(scope="session")
def three_formats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An index DB of the plain, MLflow file store and Sacred samples."""
    db = tmp_path_factory.mktemp("index") / "index.sqlite"
    with Index(db) as index:
        report = index.index(FORMATS, remember=False)
    assert report.found >= 15 and not report.errors
    yield db


class CuttableProxy:
    """TCP proxy in front of the server, like a server that dies mid-push. After `cut_at(fragment, n)`, the
    n-th request whose request line contains `fragment` is forwarded (so the server commits it) but its answer
    is dropped, and the proxy stops listening: later connections are refused. urllib sends one request per
    connection, and a push is sequential, so connections are served one at a time."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[str] = []  # request lines seen
        self._cut: tuple[bytes, int] | None = None
        self.cut = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut_at(self, fragment: str, n: int) -> None:
        self._cut = (fragment.encode(), n)

    def close(self) -> None:
        self.cut.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.cut.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._serve(client)

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        try:
            head = client.recv(65536)
            line = head.split(b"\r\n", 1)[0]
            self.requests.append(line.decode("latin-1"))
            drop = False
            if self._cut is not None and self._cut[0] in line:
                drop = sum(self._cut[0].decode() in r for r in self.requests) >= self._cut[1]
            upstream.sendall(head)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                if drop:
                    # the server has answered, so it has committed the request: lose the answer and die
                    self.close()
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            for s in (client, upstream):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass


@pytest.fixture
def proxy(mlflow_server: Server) -> Iterator[CuttableProxy]:
    p = CuttableProxy(mlflow_server.port)
    yield p
    p.close()
