"""SIGTERM on a real `cds-service serve` (gunicorn, 2 workers): nothing that was accepted is reset.

Real keep-alive clients (http.client, httpx) hold idle connections when the signal comes;
requests they send during the shutdown are answered, with ``Connection: close``. A request
half-uploaded at the signal completes. A client that ignores ``Connection: close`` and
keeps its socket does not hold up the others. Clients opening new connections the whole
time get either a full answer or a refused connection (which a load balancer retries
elsewhere), never a reset after the connection was made.
"""
from __future__ import annotations

import http.client
import json
import signal
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from tests.conftest import LiveServer
from tests.storage.helpers import vignette_call

HOOK = "/cds-services/leg-weakness"


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body, read off a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response ({data[:40]!r})")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the body")
        body += chunk
    return int(lines[0].split()[1]), headers, body


class NewConnectionLoad:
    """Threads that open a new connection per request until stopped, classifying every outcome."""

    def __init__(self, port: int, threads: int = 4) -> None:
        self.port = port
        self.outcomes: Counter[str] = Counter()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
            try:
                conn.connect()
            except ConnectionRefusedError:
                self.outcomes["refused"] += 1
                self._stop.wait(0.01)
                continue
            except ConnectionResetError:  # the listener closed with this handshake in its queue
                self.outcomes["reset at connect"] += 1
                continue
            try:
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                response.read()
                self.outcomes["ok" if response.status == 200 else f"status {response.status}"] += 1
            except (OSError, http.client.HTTPException) as exc:
                self.outcomes[f"failed after connect: {type(exc).__name__}"] += 1
            finally:
                conn.close()

    def stop(self) -> Counter[str]:
        self._stop.set()
        for thread in self._threads:
            thread.join(20)
        return self.outcomes


def _read_tail(sock: socket.socket) -> bytes | str:
    """What a kept connection yields after the server exits: b"" (a clean close) or "reset"."""
    try:
        return sock.recv(1)
    except ConnectionResetError:
        return "reset"


def test_sigterm_finishes_accepted_requests_and_closes_keepalive_cleanly(tmp_path: Path) -> None:
    # threads=4: a half-sent upload holds one thread of its worker for the whole test (what a
    # buffering proxy in front prevents); the shutdown behaviour is the same at any thread count
    server = LiveServer({"CDS_REQUIRE_AUTH": "false", "CDS_DATA_DIR": str(tmp_path / "data")}, workers=2,
                        threads=4, log_path=tmp_path / "server.log")
    idle = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=15) for _ in range(8)]
    pooled = httpx.Client(base_url=server.url, timeout=15)
    sticky = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    sticky.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    assert _read_response(sticky)[0] == 200
    body = json.dumps(vignette_call()).encode()
    uploading = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    uploading.sendall(f"POST {HOOK} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:100])
    load = NewConnectionLoad(server.port)
    time.sleep(0.3)
    for conn in idle:  # real keep-alive clients: one request done, the connection kept (2 s keepalive)
        conn.request("GET", "/healthz")
        conn.getresponse().read()
    assert pooled.get("/healthz").headers.get("connection") != "close"

    server.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    sticky.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")  # answered, then kept open by the client
    sticky_answer = _read_response(sticky)
    answers = []
    for i, conn in enumerate(idle):
        time.sleep(max(0.0, started + 0.3 + i * 0.12 - time.monotonic()))  # 0.3 .. 1.1 s after the signal
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        answers.append((response.status, response.getheader("Connection")))
    pooled_answer = pooled.get("/healthz")
    uploading.sendall(body[100:])  # the rest of an upload accepted before the signal
    upload_status, _, upload_body = _read_response(uploading)
    server.process.wait(20)
    # A request that raced the signal (answered before the worker saw it) may keep the connection;
    # it must then be closed cleanly when the worker exits: an end of stream, never a reset.
    sticky_tail = b"" if sticky_answer[1]["connection"] == "close" else _read_tail(sticky)
    outcomes = load.stop()
    pooled.close()
    sticky.close()
    uploading.close()
    server.stop()

    assert server.process.returncode == 0
    assert sticky_answer[0] == 200 and sticky_tail == b""
    assert answers == [(200, "close")] * len(idle)
    assert pooled_answer.status_code == 200 and pooled_answer.headers["connection"] == "close"
    assert upload_status == 200 and "cards" in json.loads(upload_body)
    assert outcomes["ok"] > 0 and outcomes["refused"] > 0
    # A new connection whose handshake the kernel completes in the instant between the last
    # worker's final accept and its close of the listening socket is reset before any request
    # reaches the app: not an accepted request, and rare (docs/deploy.md; a load balancer stops
    # sending first, see the preStop sleep). Anything else, or more than a trace, fails.
    # The same race can reach the client while connect() is still returning (seen once in CI).
    raced = outcomes.pop("failed after connect: ConnectionResetError", 0) + outcomes.pop("reset at connect", 0)
    assert raced <= max(1, sum(outcomes.values()) // 200), outcomes
    assert set(outcomes) <= {"ok", "refused"}, outcomes
