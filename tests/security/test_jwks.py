"""JWKS fetching can never starve valid callers: loopback JWKS servers that hang and that drip.

- a fetch has one total deadline (connect + every read) of CDS_JWKS_TIMEOUT_SECONDS: a JWKS
  that drips a byte every 0.2 s is cut at the deadline, not read for minutes;
- a lock per URL, and a call never queues behind another call's fetch;
- a failed fetch is cached (CDS_JWKS_FAILURE_CACHE_SECONDS): the next calls are refused at once;
- against the real server (gunicorn, 1 worker x 4 threads): 8 concurrent calls naming issuers
  whose JWKS hang or drip do not delay another issuer's calls.
"""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds_service.client import generate_key, public_jwks, sign_token
from cds_service.errors import AuthenticationError
from cds_service.http.auth import JwksCache, fetch_jwks
from tests.conftest import LiveServer

from .conftest import JwksServer, hook_body


class BadJwksServer:
    """A loopback TCP server that accepts and then hangs (``drip=False``) or drips a 200 answer."""

    def __init__(self, drip: bool) -> None:
        self.drip = drip
        self.connections = 0
        self._stop = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/jwks.json"
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            if self.drip:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
            while not self._stop.wait(0.2):
                if self.drip:
                    try:
                        conn.sendall(b" ")
                    except OSError:
                        return

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()


@pytest.fixture
def hanging() -> Iterator[BadJwksServer]:
    server = BadJwksServer(drip=False)
    yield server
    server.stop()


@pytest.fixture
def dripping() -> Iterator[BadJwksServer]:
    server = BadJwksServer(drip=True)
    yield server
    server.stop()


def _timed(work: Any) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        work()
    except BaseException as exc:  # noqa: BLE001 (the test inspects it)
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


@pytest.mark.parametrize("kind", ["hanging", "dripping"])
def test_a_fetch_has_one_total_deadline(kind: str, request: pytest.FixtureRequest) -> None:
    server: BadJwksServer = request.getfixturevalue(kind)
    outcome: list[tuple[float, BaseException | None]] = []
    worker = threading.Thread(target=lambda: outcome.append(_timed(lambda: fetch_jwks(server.url, 1.0, True))),
                              daemon=True)
    worker.start()
    worker.join(10)
    assert outcome, "the fetch was still running after 10 s"
    elapsed, error = outcome[0]
    assert isinstance(error, AuthenticationError) and "longer than 1 s" in str(error)
    assert elapsed < 1.6, elapsed


def test_failures_are_cached_and_a_fetch_in_flight_is_never_waited_for(hanging: BadJwksServer) -> None:
    cache = JwksCache(timeout=1.0, cache_seconds=3600, refresh_interval=60, allow_http=True,
                      failure_cache_seconds=30)
    results: list[tuple[float, BaseException | None]] = []
    first = threading.Thread(target=lambda: results.append(_timed(lambda: cache.key(hanging.url, "k"))))
    first.start()
    time.sleep(0.2)  # the first call is now fetching
    elapsed, error = _timed(lambda: cache.key(hanging.url, "k"))
    assert isinstance(error, AuthenticationError) and "being fetched" in str(error)
    assert elapsed < 0.1
    first.join(5)
    assert isinstance(results[0][1], AuthenticationError)
    connections = hanging.connections
    elapsed, error = _timed(lambda: cache.key(hanging.url, "k"))
    assert isinstance(error, AuthenticationError) and "not retried" in str(error)
    assert elapsed < 0.1 and hanging.connections == connections == 1


def test_stale_keys_keep_working_while_a_refresh_fails(tmp_path: Path) -> None:
    key = generate_key("ES384")
    good = JwksServer(public_jwks([key]))
    try:
        cache = JwksCache(timeout=1.0, cache_seconds=0, refresh_interval=0, allow_http=True,
                          failure_cache_seconds=30)
        assert cache.key(good.url, key["kid"]) is not None
        good.stop()  # the JWKS goes down; the cached keys still verify
        assert cache.key(good.url, key["kid"]) is not None
        assert cache.key(good.url, key["kid"]) is not None  # failure cached: no second attempt
    finally:
        pass


@dataclass
class StarvationEnv:
    server: LiveServer
    good_key: dict[str, Any]
    bad_key: dict[str, Any]
    hanging: BadJwksServer
    dripping: BadJwksServer
    good_jwks: JwksServer

    def post(self, issuer: str, key: dict[str, Any], jku: str) -> tuple[int, float]:
        url = f"{self.server.url}/cds-services/leg-weakness"
        token = sign_token(key, issuer, url, jku=jku)
        started = time.monotonic()
        response = httpx.post(url, content=hook_body(), timeout=60, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        return response.status_code, time.monotonic() - started


@pytest.fixture(scope="module")
def starvation_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StarvationEnv]:
    tmp = tmp_path_factory.mktemp("jwks-starvation")
    good_key, bad_key = generate_key("ES384"), generate_key("ES384")
    good_jwks = JwksServer(public_jwks([good_key]))
    hanging, dripping = BadJwksServer(drip=False), BadJwksServer(drip=True)
    (tmp / "trust.yaml").write_text(
        "clients:\n"
        f"  - {{issuer: https://good.test, jwks_url: [{good_jwks.url}]}}\n"
        f"  - {{issuer: https://hangs.test, jwks_url: [{hanging.url}]}}\n"
        f"  - {{issuer: https://drips.test, jwks_url: [{dripping.url}]}}\n")
    server = LiveServer({"CDS_TRUST_FILE": str(tmp / "trust.yaml"), "CDS_BASE_URL": "{url}",
                         "CDS_ALLOW_HTTP_JWKS": "true", "CDS_DATA_DIR": str(tmp / "data"),
                         "CDS_JWKS_TIMEOUT_SECONDS": "1.5", "CDS_JWKS_FAILURE_CACHE_SECONDS": "60"},
                        workers=1, log_path=tmp / "server.log")
    yield StarvationEnv(server, good_key, bad_key, hanging, dripping, good_jwks)
    server.stop()
    for stub in (hanging, dripping, good_jwks):
        stub.stop()


def test_hanging_and_dripping_jwks_never_delay_another_issuer(starvation_env: StarvationEnv) -> None:
    env = starvation_env
    assert env.post("https://good.test", env.good_key, env.good_jwks.url)[0] == 200  # keys now cached
    with ThreadPoolExecutor(max_workers=8) as pool:
        bad = [pool.submit(env.post, issuer, env.bad_key, stub.url)
               for issuer, stub in [("https://hangs.test", env.hanging), ("https://drips.test", env.dripping)] * 4]
        time.sleep(0.1)  # the bad calls are in the server now, their fetches hanging
        good = [env.post("https://good.test", env.good_key, env.good_jwks.url) for _ in range(8)]
        refused = [f.result() for f in bad]
    assert all(status == 200 for status, _ in good), good
    assert max(took for _, took in good) < 1.0, good  # before: p50 3.9 s
    assert all(status == 401 for status, _ in refused), refused
    assert max(took for _, took in refused) < 1.5 + 1.5, refused  # the deadline, not 30 s of dripping
    assert env.hanging.connections == 1 and env.dripping.connections == 1  # one fetch per URL
    # the failures are cached: more calls are refused at once, without a new connection
    again = [env.post("https://hangs.test", env.bad_key, env.hanging.url) for _ in range(3)]
    assert all(status == 401 and took < 0.5 for status, took in again), again
    assert env.hanging.connections == 1
    assert "not retried" in env.server.log_text()
