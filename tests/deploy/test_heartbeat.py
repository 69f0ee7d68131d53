"""The worker's heartbeat: touched often enough for the arbiter, not on every event-loop turn."""
from __future__ import annotations

import os

from gunicorn.config import Config
from gunicorn.workers.workertmp import WorkerTmp

from cds_service import server


def test_the_heartbeat_file_is_touched_at_most_once_per_interval() -> None:
    worker_class = server._graceful_worker()
    worker = worker_class.__new__(worker_class)  # only the heartbeat is under test: no sockets, no app
    worker.tmp = WorkerTmp(Config())
    worker.heartbeat_at = 0.0
    try:
        worker.notify()
        assert worker.tmp.last_update() > 0  # the first turn touches it
        os.utime(worker.tmp.fileno(), (0, 0))
        for _ in range(1000):  # a busy event loop, within one interval
            worker.notify()
        assert worker.tmp.last_update() == 0
        worker.heartbeat_at -= server.HEARTBEAT_SECONDS  # an interval later
        worker.notify()
        assert worker.tmp.last_update() > 0
    finally:
        worker.tmp.close()
