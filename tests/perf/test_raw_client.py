"""The bench's load generator (``bench/raw_http.py``) against a real HTTP server on loopback.

It must frame answers exactly (a byte too few or too many and the next answer on the
keep-alive connection is misread), follow chunked answers, and reopen a connection the
server closed, since the bench's figures are only as good as its client.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.raw_http import ConnectionClosed, RawClient


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: set[tuple[str, int]] = set()  # client (host, port): one per connection

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        _Handler.connections.add(self.client_address)
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b'{"a":', b' [1, 2, 3]', b"}"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/close":
            self._send(200, b'{"closing": true}', close=True)
        else:
            self._send(200, json.dumps({"path": self.path}).encode())

    def do_POST(self) -> None:
        _Handler.connections.add(self.client_address)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._send(201, json.dumps({"length": len(body), "type": self.headers["Content-Type"]}).encode())

    def _send(self, status: int, body: bytes, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    _Handler.connections = set()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_keep_alive_frames_each_answer_exactly(base: str) -> None:
    client = RawClient(timeout=5)
    big = b"x" * 300_000  # larger than one recv
    answers = [client.post(base + "/hook", big, {"Content-Type": "application/json"}) for _ in range(3)]
    answers.append(client.get(base + "/healthz?x=1"))
    assert [a.status_code for a in answers] == [201, 201, 201, 200]
    assert answers[0].json() == {"length": 300_000, "type": "application/json"}
    assert answers[3].json() == {"path": "/healthz?x=1"}
    assert answers[0].headers["content-type"] == "application/json"
    assert len(_Handler.connections) == 1  # one connection carried all four
    client.close()


def test_chunked_answer_is_joined(base: str) -> None:
    client = RawClient(timeout=5)
    assert client.get(base + "/chunked").json() == {"a": [1, 2, 3]}
    assert client.get(base + "/after").json() == {"path": "/after"}  # the chunked framing was consumed
    client.close()


def test_connection_closed_by_the_server_is_reopened(base: str) -> None:
    client = RawClient(timeout=5)
    assert client.get(base + "/close").json() == {"closing": True}
    assert client.get(base + "/next").json() == {"path": "/next"}
    assert len(_Handler.connections) == 2
    client.close()


def test_a_server_that_is_gone_is_a_connection_error() -> None:
    client = RawClient(timeout=1)
    with pytest.raises(ConnectionError):
        client.get("http://127.0.0.1:9/nothing")  # discard port: nothing listens
    with pytest.raises(ConnectionClosed):
        _closed_mid_answer(client)


def _closed_mid_answer(client: RawClient) -> None:
    """A server that accepts, reads the request and hangs up without answering."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        client.get(f"http://127.0.0.1:{listener.getsockname()[1]}/x")
    finally:
        thread.join(5)
        listener.close()
