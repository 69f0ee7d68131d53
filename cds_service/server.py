"""Run the app on gunicorn, configured from code (no config file to get out of step)."""
from __future__ import annotations

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


def run(settings: Settings, host: str, port: int, workers: int, threads: int) -> None:
    """Serve forever on ``host:port`` with ``workers`` processes of ``threads`` threads each."""
    _hide_server_banner()
    _prepare_metrics_dir(settings)
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        # the hook time budget is enforced inside the app; this is only a last resort
        "timeout": max(30, int(settings.time_budget_ms / 1000) * 4),
        "graceful_timeout": 10,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        # room for a token of CDS_MAX_TOKEN_BYTES, so the app (not gunicorn) refuses bigger ones
        "limit_request_field_size": max(16384, settings.max_token_bytes + 64),
    }
    _Gunicorn(settings, options).run()
