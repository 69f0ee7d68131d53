"""Shared fixtures: settings, an in-process app and client, and a real server on loopback.

Each test area adds its own fixtures in its own folder's conftest.py.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cds_service import Settings, create_app

pytest_plugins = ["tests.postgres"]  # the throwaway PostgreSQL cluster (pg_cluster), for every area

#: Test data kept in the repository (sources and licences: tests/data/README.md).
DATA = Path(__file__).resolve().parent / "data"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db", default="both", choices=("sqlite", "postgres", "both"),
                     help="database backends for the storage tests (default: both)")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CDS_ variable from the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("CDS_"):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for in-process tests: auth off, data in a temporary directory."""
    return Settings(require_auth=False, data_dir=str(tmp_path / "data"))


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    return create_app(settings)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A real ``cds-service serve`` process (gunicorn) on a loopback port.

    ``{url}`` in an env value becomes the server's own URL (for ``CDS_BASE_URL``).
    """

    def __init__(self, env: dict[str, str], workers: int = 1, log_path: Path | None = None,
                 new_session: bool = False, port: int | None = None, threads: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        cmd = [sys.executable, "-m", "cds_service", "serve", "--host", "127.0.0.1",
               "--port", str(self.port), "--workers", str(workers)]
        if threads is not None:
            cmd += ["--threads", str(threads)]
        env = {k: v.replace("{url}", self.url) for k, v in env.items()}
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")} | env
        self._log = open(log_path, "wb") if log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(cmd, env=full_env, stdout=self._log, stderr=self._log,
                                        start_new_session=new_session)  # own group: killpg in tests
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"cds-service serve exited with {self.process.returncode}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("cds-service serve did not become ready")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._log is not subprocess.DEVNULL:
            self._log.close()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real gunicorn server with authentication off, shared by the protocol tests."""
    tmp = tmp_path_factory.mktemp("live")
    server = LiveServer({"CDS_REQUIRE_AUTH": "false", "CDS_DATA_DIR": str(tmp / "data")},
                        log_path=tmp / "server.log")
    yield server
    server.stop()
