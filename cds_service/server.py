"""Run the app on gunicorn, configured from code (no config file to get out of step).

The edges gunicorn owns are made to answer like the app: its header limits leave room for
a token of ``CDS_MAX_TOKEN_BYTES`` (and well beyond), so an oversized token reaches the app
and gets our JSON 401; the few answers gunicorn still writes itself (a request line or
header it cannot parse or that is over its limits: 400, 414, 431, 501) are JSON with our
security and CORS headers instead of its HTML page. The settings are checked before
gunicorn starts, so a bad one is a single line and a non-zero exit.
"""
from __future__ import annotations

import json
from typing import Any

from gunicorn.app.base import BaseApplication

from .settings import Settings


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from .app import create_app
        app = create_app(self._settings)
        freeze_startup_objects()
        return app


def freeze_startup_objects() -> None:
    """Move what start-up built out of the garbage collector's reach (``gc.freeze``).

    The knowledge base, the medspaCy pipeline and the models are ~200k long-lived objects;
    every full collection walked them all (117-261 ms, measured) and landed on whichever
    request was running. Frozen, a collection walks only what requests allocate. Called
    in each worker once its app is built (gunicorn loads the app after forking).
    """
    import gc

    gc.collect()
    gc.freeze()


def _hide_server_banner() -> None:
    """Drop gunicorn's ``Server: gunicorn`` header (no version banner for scanners).

    gunicorn writes it in ``Response.default_headers`` from a module-level name, so the
    header line is filtered there; workers fork from this process and inherit the change.
    """
    from gunicorn.http import wsgi

    if getattr(wsgi.Response, "_cds_no_banner", False):
        return
    original = wsgi.Response.default_headers

    def default_headers(self: Any) -> list[str]:
        return [h for h in original(self) if not h.lower().startswith("server:")]

    wsgi.Response.default_headers = default_headers
    wsgi.Response._cds_no_banner = True


#: gunicorn's limit on one header line, as a multiple of CDS_MAX_TOKEN_BYTES: a token up to this
#: many times the limit is refused by the app (JSON 401); only a longer header line gets 431.
HEADER_ROOM = 4
_ERROR_CODES = {400: "bad-request", 403: "forbidden", 414: "uri-too-long", 417: "expectation-failed",
                431: "header-too-large", 501: "not-implemented"}


def header_field_limit(settings: Settings) -> int:
    """``limit_request_field_size``: room for ``Authorization: Bearer`` + HEADER_ROOM tokens."""
    return max(16384, HEADER_ROOM * settings.max_token_bytes + 1024)


def _json_gunicorn_errors(settings: Settings) -> None:
    """gunicorn's own error answers in our shape: JSON, security headers, CORS, no echo of input.

    gunicorn writes them with ``gunicorn.util.write_error`` (called through the module), before
    any app code runs; workers fork from this process and inherit the replacement.
    """
    from gunicorn import util

    allow_origin = "Access-Control-Allow-Origin: *\r\n" if "*" in settings.cors_origins else ""

    def write_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
        code = _ERROR_CODES.get(status_int, "bad-request" if status_int < 500 else "internal-error")
        body = json.dumps({"error": code, "message": reason}).encode()
        head = (f"HTTP/1.1 {status_int} {reason}\r\n"
                "Connection: close\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n"
                "X-Content-Type-Options: nosniff\r\n"
                "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
                "Referrer-Policy: no-referrer\r\n"
                f"{allow_origin}\r\n")
        util.write_nonblock(sock, head.encode("latin-1") + body)

    util.write_error = write_error


def check_settings(settings: Settings) -> None:
    """Everything that would stop a worker from booting, checked once in the master.

    Raises:
        ConfigurationError: one line naming the setting or file.
    """
    from .http.auth import check_configuration
    from .logs import patient_hash_salt
    check_configuration(settings)
    patient_hash_salt(settings.patient_hash_salt, settings.data_dir)  # made once, before the fork


def _prepare_metrics_dir(settings: Settings) -> None:
    """Prometheus multiprocess mode: a fresh directory the workers (forked later) all write to."""
    import os
    import shutil
    from pathlib import Path

    from .storage.metrics import MULTIPROC_ENV
    if os.environ.get(MULTIPROC_ENV):
        return  # the operator chose one
    path = Path(settings.data_dir) / "prometheus-multiproc"  # wiped: counters restart with the server
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(path)


def default_workers() -> int:
    """One worker per CPU this process may run on (affinity, else the CPU count).

    Hook calls with their data prefetched are CPU-bound Python: a second thread in a worker
    only waits for the same GIL, and a process per core measured the best p99 (see
    docs/performance.md, where sizing for FHIR-server fetches is explained too).
    """
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


LINGER_SECONDS = 2.0  # how long a closed connection's read side drains (as gunicorn's own close)
HEARTBEAT_SECONDS = 1.0  # at most one liveness touch per this long (the arbiter's timeout is >= 30 s)


def _graceful_worker() -> type:
    """gunicorn's gthread worker, made to shut down without resetting a connection.

    On SIGTERM gunicorn already finishes in-flight requests and answers a request that
    arrives on a kept-alive connection with ``Connection: close``. Two gaps remain, both
    seen as connection resets by clients and by nginx (which cannot retry a POST it sent):

    - the stopping worker stops accepting but keeps its copy of the listening socket open
      until it exits, so the kernel keeps queueing new connections that nobody accepts and
      resets them all at exit. Here the worker accepts what is queued and closes its copy
      at once: later connections are refused (a load balancer tries the next instance).
    - a connection that ends (``Connection: close``) is closed "gracefully" on the worker's
      one event-loop thread, which blocks up to 2 s for a client that does not close its
      side; meanwhile no other connection of that worker is served, and the kept-alive
      ones expire unanswered. Here the request's thread sends the FIN (half-close) and the
      event loop drains the read side without blocking until the client closes or 2 s pass.
    """
    import selectors
    import socket
    import time
    from collections import deque
    from functools import partial

    from gunicorn.workers.gthread import TConn, ThreadWorker

    class GracefulThreadWorker(ThreadWorker):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.lingering: deque[Any] = deque()  # half-closed connections, by deadline
            self.heartbeat_at = 0.0

        def notify(self) -> None:
            """Tell the arbiter we are alive, at most once per HEARTBEAT_SECONDS.

            gunicorn's event loop touches its heartbeat file (a ``utime`` system call) on every
            turn, several times per request; profiled under load, that was 4 % of the worker's
            time, on the thread whose GIL the requests share. The arbiter only needs a touch
            within its timeout (30 s or more here).
            """
            now = time.monotonic()
            if now - self.heartbeat_at >= HEARTBEAT_SECONDS:
                self.heartbeat_at = now
                super().notify()

        def set_accept_enabled(self, enabled: bool) -> None:
            super().set_accept_enabled(enabled)
            if not enabled and not self.alive:
                self._accept_queued_then_close()

        def _accept_queued_then_close(self) -> None:
            for listener in self.sockets:
                if getattr(listener, "sock", None) is None:
                    continue  # closed already
                listener.setblocking(False)
                while True:
                    try:
                        client, address = listener.accept()
                    except OSError:  # BlockingIOError: the queue is empty
                        break
                    self.nr_conns += 1
                    client.setblocking(True)
                    self.enqueue_req(TConn(self.cfg, client, address, listener.getsockname()))
                listener.close()

        def handle(self, conn: Any) -> Any:
            result = super().handle(conn)
            if result is False and not conn.is_http2 and not self.cfg.is_ssl:
                try:
                    conn.sock.shutdown(socket.SHUT_WR)  # the FIN goes out now, from this thread
                except OSError:
                    pass
                conn.half_closed = True
            return result

        def finish_request(self, conn: Any, fs: Any) -> None:
            if not getattr(conn, "half_closed", False):
                super().finish_request(conn, fs)
                return
            try:
                conn.sock.setblocking(False)
                self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._drain, conn))
            except (OSError, ValueError):  # already closed
                self._end(conn, registered=False)
                return
            conn.linger_until = time.monotonic() + LINGER_SECONDS
            self.lingering.append(conn)

        def _drain(self, conn: Any, _sock: Any) -> None:
            try:
                data = conn.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:  # the client closed its side: nothing can be reset any more
                self.lingering.remove(conn)
                self._end(conn)

        def _end(self, conn: Any, registered: bool = True) -> None:
            if registered:
                try:
                    self.poller.unregister(conn.sock)
                except (OSError, KeyError, ValueError):
                    pass
            self.nr_conns -= 1
            conn.close()

        def murder_keepalived(self, force: bool = False) -> None:
            super().murder_keepalived(force)
            now = time.monotonic()
            while self.lingering and (force or self.lingering[0].linger_until <= now):
                self._end(self.lingering.popleft())

    return GracefulThreadWorker


def run(settings: Settings, host: str, port: int, workers: int, threads: int) -> None:
    """Serve forever on ``host:port`` with ``workers`` processes of ``threads`` threads each.

    Raises:
        ConfigurationError: a setting is wrong (before gunicorn starts).
    """
    check_settings(settings)
    _hide_server_banner()
    _json_gunicorn_errors(settings)
    _prepare_metrics_dir(settings)
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": _graceful_worker(),  # gthread, with a shutdown that resets nothing
        "threads": threads,
        # the hook time budget is enforced inside the app; this is only a last resort
        "timeout": max(30, int(settings.time_budget_ms / 1000) * 4),
        "graceful_timeout": 10,
        # gunicorn's control socket is one path per user ($HOME/.gunicorn/gunicorn.ctl): two
        # instances on a host would share it, and a read-only root filesystem has no $HOME to write
        "control_socket_disable": True,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        # room for tokens well over CDS_MAX_TOKEN_BYTES, so the app (not gunicorn) refuses them
        "limit_request_field_size": header_field_limit(settings),
    }
    _Gunicorn(settings, options).run()
