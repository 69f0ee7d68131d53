"""The audit trail: one row per hook call and one per card shown, written off the request path.

Hook calls must not wait for the disk, so the observer only puts the event on a queue;
a background thread of this process writes batches. The queue is drained at interpreter
exit (gunicorn's graceful worker shutdown exits normally), so a graceful stop loses
nothing; a SIGKILL can lose the last few milliseconds of audit rows (never feedback,
which is written before its 200).
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import threading
from typing import Any

from sqlalchemy import Connection, insert

from ..events import HookCallEvent
from ..logs import log_event
from .database import Database
from .models import cards, hook_calls

BATCH = 200
_STOP = object()


def write_events(conn: Connection, events: list[HookCallEvent]) -> None:
    """Insert hook calls and their cards in the caller's transaction."""
    for event in events:
        key = conn.execute(insert(hook_calls).values(_call_row(event))).inserted_primary_key
        assert key is not None
        call_id = key[0]
        if event.cards:
            conn.execute(insert(cards), [_card_row(call_id, c) for c in event.cards])


def _call_row(event: HookCallEvent) -> dict[str, Any]:
    return {"time": event.time, "service_id": event.service_id, "hook": event.hook,
            "hook_instance": event.hook_instance, "issuer": event.issuer,
            "patient_hash": event.patient_hash, "http_status": event.http_status,
            "outcome": event.outcome, "duration_ms": event.duration_ms,
            "stages": json.dumps(event.stages, sort_keys=True)}


def _card_row(call_id: int, card: Any) -> dict[str, Any]:
    return {"call_id": call_id, "uuid": card.uuid, "topic": card.topic, "indicator": card.indicator,
            "suggestions": json.dumps(list(card.suggestions))}


class AuditWriter:
    """An observer (``writer(event)``) that queues events for a per-process writer thread."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def __call__(self, event: HookCallEvent) -> None:
        self._ensure_thread()
        self._queue.put(event)

    def flush(self, timeout: float = 10.0) -> None:
        """Block until every event queued so far is committed (or failed and logged)."""
        if self._thread is None or self._pid != os.getpid():
            return
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def close(self) -> None:
        """Drain and stop the writer thread (registered with atexit)."""
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            return
        self._queue.put(_STOP)
        self._thread.join(30)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            if self._pid != os.getpid():  # after a fork: the parent's queue and thread are not ours
                self._queue = queue.Queue()
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="cds-audit-writer", daemon=True)
            self._thread.start()
            atexit.register(self.close)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[HookCallEvent] = []
            markers: list[threading.Event] = []
            stop = False
            while True:
                if item is _STOP:
                    stop = True
                elif isinstance(item, threading.Event):
                    markers.append(item)
                else:
                    batch.append(item)
                if len(batch) >= BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._write(batch)
            for marker in markers:
                marker.set()
            if stop:
                return

    def _write(self, batch: list[HookCallEvent]) -> None:
        if not batch:
            return
        try:
            self.database.write(lambda conn: write_events(conn, batch))
        except Exception:
            log_event("audit-write-failed", level=logging.ERROR, exc_info=True, lost=len(batch))
