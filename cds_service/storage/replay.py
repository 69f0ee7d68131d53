"""The shared jti replay store: a table in the deployment's PostgreSQL database.

Several instances behind a load balancer must refuse a token that any of them has
accepted, so the (issuer, jti) pairs live in the one database they share. "First use
wins" is one atomic statement, ``INSERT ... ON CONFLICT DO NOTHING``: of two instances
racing with the same token exactly one inserts the row.

The store has its own small engine: autocommit (one round trip per token, no BEGIN and
COMMIT) and ``synchronous_commit=off`` for its sessions only. A committed row is visible
to every other session at once, so a replay is refused everywhere; only a crash of the
PostgreSQL server itself could forget the last few hundred milliseconds of token ids
(tokens live minutes). The audit and feedback tables keep full durability: they use
the main engine. Expired rows are deleted by each process about once a minute.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Connection, delete
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ..errors import ServiceUnavailableError
from .database import Database
from .models import seen_jti

PURGE_EVERY_SECONDS = 60.0
_ENGINE_OPTIONS = {
    "isolation_level": "AUTOCOMMIT",
    "pool_pre_ping": False,  # a dead pooled connection is retried once instead (no extra round trip)
    "pool_size": 4,
    "max_overflow": 4,
    "connect_args": {"options": "-c synchronous_commit=off"},
}

# Driver-level SQL (psycopg "pyformat"): half the per-call cost of compiled Core statements
_INSERT = (f"INSERT INTO {seen_jti.name} (issuer, jti, expires_at) "
           "VALUES (%(issuer)s, %(jti)s, %(expires_at)s) ON CONFLICT (issuer, jti) DO NOTHING RETURNING jti")
_RENEW_EXPIRED = (f"UPDATE {seen_jti.name} SET expires_at = %(expires_at)s "
                  "WHERE issuer = %(issuer)s AND jti = %(jti)s AND expires_at < %(now)s RETURNING jti")


class SharedReplayStore:
    """Remembers (issuer, jti) pairs in PostgreSQL until their expiry; safe across hosts."""

    def __init__(self, url: str) -> None:
        self.database = Database(url, engine_options=_ENGINE_OPTIONS)
        self._purge_lock = threading.Lock()
        self._last_purge = 0.0

    def remember(self, issuer: str, jti: str, expires_at: int) -> bool:
        """Record a first use; False when this (issuer, jti) was already seen and has not expired.

        Raises:
            ServiceUnavailableError: the database cannot be reached (the token is refused:
                an unrecorded token could be replayed elsewhere).
        """
        now = int(time.time())
        try:
            return self._with_retry(lambda: self._remember(issuer, jti, int(expires_at), now))
        except SQLAlchemyError as exc:
            raise ServiceUnavailableError(f"jti store unavailable ({type(exc).__name__})") from None

    def _remember(self, issuer: str, jti: str, expires_at: int, now: int) -> bool:
        params = {"issuer": issuer, "jti": jti, "expires_at": expires_at, "now": now}
        with self.database.engine.connect() as conn:
            self._maybe_purge(conn, now)
            if conn.exec_driver_sql(_INSERT, params).first() is not None:
                return True
            # an expired leftover not yet purged is not a replay; the WHERE keeps this atomic
            return conn.exec_driver_sql(_RENEW_EXPIRED, params).first() is not None

    def _maybe_purge(self, conn: Connection, now: int) -> None:
        with self._purge_lock:
            if now - self._last_purge < PURGE_EVERY_SECONDS:
                return
            self._last_purge = now
        self.purge_expired(now, conn)

    def purge_expired(self, now: int | None = None, conn: Connection | None = None) -> int:
        """Delete rows whose token has expired; returns how many."""
        statement = delete(seen_jti).where(seen_jti.c.expires_at < (int(time.time()) if now is None else now))
        if conn is not None:
            return int(conn.execute(statement).rowcount)
        with self.database.engine.connect() as own:
            return int(own.execute(statement).rowcount)

    @staticmethod
    def _with_retry(work: Callable[[], bool]) -> bool:
        """Run ``work``; once more when a pooled connection turned out dead (server restarted)."""
        try:
            return work()
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            return work()

    def close(self) -> None:
        self.database.dispose()
