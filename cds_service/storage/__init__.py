"""Storage: the audit trail, feedback and their report, in SQLite or PostgreSQL.

No Flask here: the HTTP layer (``http/feedback.py``, ``http/metrics.py``) and the CLI
call these functions. ``Storage`` ties one database to the audit writer of this process.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection

from ..events import HookCallEvent
from .audit import AuditWriter
from .database import Database, SchemaStatus
from .feedback import RecentCards, StoreResult, known_cards, parse_feedback, store_feedback
from .metrics import Metrics
from .report import Report, Trends, build_report, build_trends
from .retention import PurgeResult, purge


class Storage:
    """The service's database: migrations, audit observer, feedback, report, purge."""

    def __init__(self, url: str) -> None:
        self.database = Database(url)
        self.audit = AuditWriter(self.database)
        self.recent_cards = RecentCards()

    @property
    def observers(self) -> tuple[Callable[[HookCallEvent], None], ...]:
        """What the app hands every hook call to: the audit writer and the recent-cards memory."""
        return self.audit, self.recent_cards

    def migrate(self) -> None:
        self.database.migrate()

    @property
    def migrates_at_start(self) -> bool:
        """Whether ``serve`` migrates this database itself when it starts.

        SQLite belongs to one host, so the service migrates it at start (under a file
        lock: the workers of that host queue). A PostgreSQL database is shared by every
        instance, so only ``cds-service migrate`` (one job per deployment) changes its
        schema; instances report not-ready on /readyz until it has run.
        """
        return self.database.is_sqlite

    def schema_status(self) -> SchemaStatus:
        return self.database.schema_status()

    def record_feedback(self, body: Any, service_id: str, issuer: str | None) -> tuple[StoreResult, Counter[str]]:
        """Validate and commit a feedback batch; returns only after the commit.

        Raises:
            SchemaValidationError: a malformed item (400, naming the field).
        """
        items = parse_feedback(body, service_id)
        uuids = [i.card for i in items]
        recent = self.recent_cards.known(uuids)
        now = datetime.now(timezone.utc)
        unknown: set[str] = set()

        def work(conn: Connection) -> list[str]:
            unknown.clear()  # a retried transaction looks the cards up again
            unseen = set(uuids) - recent  # a card this process just sent needs no query
            if unseen:
                unknown.update(unseen - known_cards(conn, sorted(unseen)))
            return store_feedback(conn, items, service_id, issuer, unknown, now)

        inserted = self.database.write(work)
        return (StoreResult(stored=len(inserted), duplicates=len(items) - len(inserted),
                            unknown_cards=tuple(sorted(unknown))), Counter(inserted))

    def report(self, since: datetime | None = None) -> Report:
        self.audit.flush()
        with self.database.read() as conn:
            return build_report(conn, since)

    def trends(self, since: datetime | None = None) -> Trends:
        """Per-week outcomes, override reasons and per-stage latency (the HTML report's charts)."""
        self.audit.flush()
        with self.database.read() as conn:
            return build_trends(conn, since)

    def purge(self, retention_days: int) -> PurgeResult:
        return self.database.write(lambda conn: purge(conn, retention_days))

    def close(self) -> None:
        self.audit.close()
        self.database.dispose()


__all__ = ["Storage", "Metrics", "Report", "Trends", "PurgeResult", "SchemaStatus", "StoreResult"]
