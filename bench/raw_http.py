"""A minimal HTTP/1.1 keep-alive client on a plain socket: a load generator that costs little.

The bench runs its client on the same two cores as the server. A general-purpose client
(httpx) spends about 0.5-1 ms of Python per call building, sending and parsing a request,
and at concurrency 8 its threads queue for the GIL: both land in the measured latency,
and at concurrency 1 the cost of sending a 30 KB body is counted in the hook call and not
in ``/healthz``, so it inflates the service time the issue defines. This client writes the
request line, headers and body in one ``sendall`` and reads the answer with
``Content-Length`` or chunked framing, nothing more. ``bench_http.py --client httpx``
keeps the general-purpose client, to show what the client itself costs in the same run.

It speaks only what the bench needs: ``GET`` and ``POST`` to one ``http://host:port``, no
TLS, no redirects, no proxies, no compression.
"""
from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit


class ConnectionClosed(ConnectionError):
    """The server closed the keep-alive connection (or it broke) before a whole answer came back."""


class Response:
    """The parts of an answer the bench reads (the names httpx gives them)."""

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers  # lower-cased names
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content)


class RawClient:
    """One keep-alive connection, reopened on the next call once the server has closed it."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._where: tuple[str, int] | None = None
        self._buffer = b""

    def get(self, url: str) -> Response:
        return self.request("GET", url, b"", {})

    def post(self, url: str, content: bytes, headers: dict[str, str]) -> Response:
        return self.request("POST", url, content, headers)

    def request(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> Response:
        parts = urlsplit(url)
        where = (parts.hostname or "127.0.0.1", parts.port or 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        try:
            self._connect(where).sendall(message)
            return self._read_response(method)
        except OSError as exc:
            self.close()
            raise ConnectionClosed(str(exc)) from exc
        except ConnectionClosed:
            self.close()
            raise

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock, self._buffer = None, b""

    def _connect(self, where: tuple[str, int]) -> socket.socket:
        if self._sock is None or self._where != where:
            self.close()
            self._sock = socket.create_connection(where, timeout=self.timeout)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._where = where
        return self._sock

    def _read_response(self, method: str) -> Response:
        head = self._read_until(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            content = b""
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            content = self._read_chunked()
        elif "content-length" in headers:
            content = self._read_exactly(int(headers["content-length"]))
        else:  # framed by the end of the connection
            content = self._buffer + self._read_to_close()
            self._buffer = b""
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, content)

    def _recv(self) -> bytes:
        assert self._sock is not None
        data = self._sock.recv(262144)
        if not data:
            raise ConnectionClosed("the server closed the connection")
        return data

    def _read_until(self, marker: bytes) -> bytes:
        while (end := self._buffer.find(marker)) < 0:
            self._buffer += self._recv()
        head, self._buffer = self._buffer[:end], self._buffer[end + len(marker):]
        return head

    def _read_exactly(self, size: int) -> bytes:
        chunks, have = [self._buffer], len(self._buffer)
        while have < size:
            data = self._recv()
            chunks.append(data)
            have += len(data)
        joined = b"".join(chunks)
        self._buffer = joined[size:]
        return joined[:size]

    def _read_chunked(self) -> bytes:
        out: list[bytes] = []
        while True:
            size = int(self._read_until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                while self._read_until(b"\r\n"):  # trailers, up to the empty line
                    pass
                return b"".join(out)
            out.append(self._read_exactly(size))
            self._read_exactly(2)  # the CRLF after each chunk

    def _read_to_close(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            try:
                chunks.append(self._recv())
            except ConnectionClosed:
                self.close()
                return b"".join(chunks)
