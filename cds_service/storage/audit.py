"""The audit trail: one row per hook call and one per card shown, written off the request path.

Hook calls must not wait for the disk, so the observer only puts the event on a bounded
queue (never blocking: when ``MAX_QUEUED`` events wait, more are dropped and counted in the
log); a background thread of this process writes them in batches, one commit per batch of
up to ``BATCH`` events gathered for at most ``LINGER_SECONDS``. The queue is drained at
interpreter exit (gunicorn's graceful worker shutdown exits normally), so a graceful stop
loses nothing; a SIGKILL can lose the last fraction of a second of audit rows (never
feedback, which is written before its 200).

Only admitted calls are audited (authenticated, to a service we serve): refused and
unknown-service calls are counted in the metrics, not stored. Every string is cut to its
column's length and cleaned of what PostgreSQL refuses (NUL, lone surrogates) before the
insert, and a batch the database refuses all the same is retried event by event, so one
bad event never costs the good ones.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import threading
import time
from typing import Any

from sqlalchemy import Connection, String, Table, insert

from ..events import HookCallEvent
from ..logs import log_event
from .database import Database
from .models import cards, hook_calls

BATCH = 200
LINGER_SECONDS = 0.05  # one commit per this long under load, not one per call
MAX_QUEUED = 10_000
MAX_TEXT = 64 * 1024  # JSON text columns (stages, suggestions)
_STOP = object()


def write_events(conn: Connection, events: list[HookCallEvent]) -> None:
    """Insert hook calls and their cards in the caller's transaction.

    Two statements per batch, not one per call: the calls go in as one multi-row insert whose
    RETURNING gives their ids in the order sent (SQLAlchemy's "insertmanyvalues", on SQLite
    and PostgreSQL alike), then every card of the batch in one executemany. Per-call inserts
    spent about 0.25 ms of the worker's CPU each in SQLAlchemy, competing with the requests.
    """
    if not events:
        return
    statement = insert(hook_calls).returning(hook_calls.c.id, sort_by_parameter_order=True)
    ids = conn.execute(statement, [_call_row(event) for event in events]).scalars().all()
    rows = [_card_row(call_id, card) for call_id, event in zip(ids, events, strict=True) for card in event.cards]
    if rows:
        conn.execute(insert(cards), rows)


def _call_row(event: HookCallEvent) -> dict[str, Any]:
    return _fit(hook_calls, {
        "time": event.time, "service_id": event.service_id, "hook": event.hook,
        "hook_instance": event.hook_instance, "issuer": event.issuer,
        "patient_hash": event.patient_hash, "http_status": event.http_status,
        "outcome": event.outcome, "duration_ms": event.duration_ms,
        "stages": json.dumps(event.stages, sort_keys=True),
        "notes_skipped": json.dumps(list(event.notes_skipped)) if event.notes_skipped else None})


def _card_row(call_id: int, card: Any) -> dict[str, Any]:
    return _fit(cards, {"call_id": call_id, "uuid": card.uuid, "topic": card.topic,
                        "indicator": card.indicator, "suggestions": json.dumps(list(card.suggestions))})


def _fit(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """Every string cut to its column's length (the ``String(n)`` of the model) and made storable."""
    out = dict(row)
    for name, value in row.items():
        if isinstance(value, str):
            column_type = table.c[name].type
            length = column_type.length if isinstance(column_type, String) and column_type.length else MAX_TEXT
            out[name] = clean_text(value, length)
    return out


def clean_text(value: str, length: int) -> str:
    """``value`` without NUL or lone surrogates (PostgreSQL refuses both), at most ``length`` chars."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value[:length]


class AuditWriter:
    """An observer (``writer(event)``) that queues events for a per-process writer thread."""

    def __init__(self, database: Database, linger: float = LINGER_SECONDS) -> None:
        self.database = database
        self.linger = linger
        self._queue: queue.Queue[Any] = queue.Queue(MAX_QUEUED)
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._dropped = 0

    def __call__(self, event: HookCallEvent) -> None:
        if not event.admitted:
            return  # not authenticated, or not a service we serve: metrics only
        self._ensure_thread()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._dropped += 1  # never delay the answer; the loss is logged by the writer

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
                self._queue = queue.Queue(MAX_QUEUED)
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="cds-audit-writer", daemon=True)
            self._thread.start()
            atexit.register(self.close)

    def _run(self) -> None:
        while True:
            batch, markers, stop = self._gather()
            self._write(batch)
            for marker in markers:
                marker.set()
            if stop:
                return

    def _gather(self) -> tuple[list[HookCallEvent], list[threading.Event], bool]:
        """Up to BATCH events: those that arrive within ``linger`` of the first one.

        A flush marker or the stop sign ends the wait at once (flush and exit are prompt).
        """
        item = self._queue.get()
        batch: list[HookCallEvent] = []
        markers: list[threading.Event] = []
        until = time.monotonic() + self.linger
        while True:
            if item is _STOP:
                return batch, markers, True
            if isinstance(item, threading.Event):
                markers.append(item)
            else:
                batch.append(item)
            if len(batch) >= BATCH:
                return batch, markers, False
            try:
                left = until - time.monotonic()
                item = self._queue.get(timeout=left) if left > 0 and not markers else self._queue.get_nowait()
            except queue.Empty:
                return batch, markers, False

    def _write(self, batch: list[HookCallEvent]) -> None:
        dropped, self._dropped = self._dropped, 0
        if dropped:
            log_event("audit-queue-full", level=logging.ERROR, lost=dropped, queued=MAX_QUEUED)
        if not batch:
            return
        try:
            self.database.write(lambda conn: write_events(conn, batch), durable=False)
            return
        except Exception:
            if len(batch) == 1:
                log_event("audit-write-failed", level=logging.ERROR, exc_info=True, lost=1)
                return
        lost = 0  # the batch failed: one transaction per event, so only the bad ones are lost
        for event in batch:
            try:
                self.database.write(lambda conn, one=event: write_events(conn, [one]),  # type: ignore[misc]
                                    durable=False)
            except Exception:
                lost += 1
                log_event("audit-write-failed", level=logging.ERROR, exc_info=True, lost=1,
                          hookInstance=clean_text(event.hook_instance or "", 100) or None)
        if lost:
            log_event("audit-batch-partly-lost", level=logging.ERROR, lost=lost, written=len(batch) - lost)
