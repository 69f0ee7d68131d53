"""Serving configuration that is behaviour: start-up objects are frozen out of the collector."""
from __future__ import annotations

import gc
from pathlib import Path

from cds_service.server import _Gunicorn
from cds_service.settings import Settings


def test_the_worker_app_is_built_then_frozen(tmp_path: Path) -> None:
    """A full collection must not walk the start-up objects (knowledge base, NLP pipeline) again."""
    gc.unfreeze()
    try:
        app = _Gunicorn(Settings(require_auth=False, data_dir=str(tmp_path)), {"bind": "127.0.0.1:0"}).load()
        assert app.extensions["cds"].registry.entries
        assert gc.get_freeze_count() > 50_000
        assert gc.get_count()[2] == 0  # a clean slate: nothing young left over from start-up
    finally:
        gc.unfreeze()
