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
        return create_app(self._settings)


def run(settings: Settings, host: str, port: int, workers: int, threads: int) -> None:
    """Serve forever on ``host:port`` with ``workers`` processes of ``threads`` threads each."""
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
        "limit_request_field_size": 16384,
    }
    _Gunicorn(settings, options).run()
