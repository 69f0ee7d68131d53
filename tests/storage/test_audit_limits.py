"""The audit writer on SQLite and a real PostgreSQL: no bad event costs a good one, commits batched.

Over-long ids (PostgreSQL refuses a value over its VARCHAR length and so failed the whole
batch), NUL characters and lone surrogates (PostgreSQL refuses both) are fitted before the
insert; an event the database refuses all the same (a NOT NULL column) is lost alone;
refused and unknown-service calls are never stored; events arriving together share a commit.
"""
from __future__ import annotations

import dataclasses
import time

from sqlalchemy import event as sa_event
from sqlalchemy import select

from cds_service.storage import Storage
from cds_service.storage.audit import AuditWriter
from tests.storage.helpers import card, cards, count, event, hook_calls


def _hostile(index: int) -> object:
    return dataclasses.replace(
        event(card_list=(dataclasses.replace(card("x" * 500), uuid="u" * 300 + str(index)),)),
        service_id="s" * 5000, hook="h\x00ook" * 100, hook_instance="i" * 2000 + "\ud800",
        issuer="https://" + "e" * 2000, outcome="ok" * 50)


def test_over_long_and_unstorable_values_lose_no_good_event(database_url: str) -> None:
    storage = Storage(database_url)
    storage.migrate()
    try:
        good = [event() for _ in range(20)]
        batch = good[:10] + [_hostile(i) for i in range(5)] + good[10:]  # all queued at once: one batch
        for item in batch:
            storage.audit(item)  # type: ignore[arg-type]
        storage.audit.flush()
        with storage.database.read() as conn:
            instances = set(conn.execute(select(hook_calls.c.hook_instance)).scalars())
            long_rows = list(conn.execute(select(hook_calls).where(hook_calls.c.service_id.like("sss%"))).mappings())
        assert {e.hook_instance for e in good} <= instances  # every good event is there
        assert len(long_rows) == 5  # and the hostile ones too, fitted to their columns
        row = long_rows[0]
        assert len(row["service_id"]) == 100 and len(row["hook_instance"]) == 100 and len(row["issuer"]) == 500
        assert "\x00" not in row["hook"] and len(row["outcome"]) == 20
        assert count(storage, cards) == 5
    finally:
        storage.close()


def test_an_event_the_database_refuses_is_lost_alone(database_url: str) -> None:
    storage = Storage(database_url)
    storage.migrate()
    try:
        good = [event() for _ in range(8)]
        broken = dataclasses.replace(event(), duration_ms=None)  # NOT NULL column: refused by any database
        for item in [*good[:4], broken, *good[4:]]:
            storage.audit(item)  # type: ignore[arg-type]
        storage.audit.flush()
        assert count(storage, hook_calls) == 8
    finally:
        storage.close()


def test_refused_calls_are_not_audited(database_url: str) -> None:
    storage = Storage(database_url)
    storage.migrate()
    try:
        storage.audit(dataclasses.replace(event(status=401, outcome="401"), admitted=False))
        storage.audit(event())
        storage.audit.flush()
        assert count(storage, hook_calls) == 1
    finally:
        storage.close()


def test_events_arriving_together_share_one_commit(tmp_path: object, database_url: str) -> None:
    storage = Storage(database_url)
    storage.migrate()
    writer = AuditWriter(storage.database, linger=0.3)
    commits: list[float] = []
    sa_event.listen(storage.database.engine, "commit", lambda conn: commits.append(time.monotonic()))
    try:
        started = time.monotonic()
        for _ in range(50):
            writer(event())
        queued = time.monotonic() - started
        writer.flush()
        assert count(storage, hook_calls) == 50
        assert len(commits) <= 3, len(commits)  # not one commit per event
        assert queued < 0.5  # the observer never waits for the database
    finally:
        writer.close()
        storage.close()
