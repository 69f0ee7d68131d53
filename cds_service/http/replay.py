"""The ``jti`` replay store: a token id is remembered until the token expires.

gunicorn runs several worker processes, so an in-memory set would let a token be replayed
against another worker. Which store depends on ``CDS_DATABASE_URL`` (``open_replay_store``):

- SQLite (the single-host default): a SQLite file in ``CDS_DATA_DIR`` (WAL, busy timeout),
  whose primary key makes "first use wins" atomic across the processes of ONE host.
- PostgreSQL (several instances): the ``seen_jti`` table of that database
  (storage/replay.py), so a token accepted by one instance is refused by all.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import make_url

from ..settings import Settings
from ..storage.replay import SharedReplayStore


class JtiStore(Protocol):
    def remember(self, issuer: str, jti: str, expires_at: int) -> bool:
        """Record a first use; False when this (issuer, jti) was already seen and has not expired."""


def open_replay_store(settings: Settings) -> JtiStore:
    """The shared table when the database is PostgreSQL, else the per-host SQLite file."""
    url = settings.effective_database_url
    if make_url(url).get_backend_name() == "postgresql":
        return SharedReplayStore(url)
    return ReplayStore(Path(settings.data_dir) / "jti-replay.sqlite3")

_SCHEMA = """CREATE TABLE IF NOT EXISTS seen_jti (
    issuer TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, jti)
)"""
_PURGE_EVERY_SECONDS = 60.0


class ReplayStore:
    """Per-host store: remembers (issuer, jti) pairs until their expiry, across threads and processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._last_purge = 0.0

    def _connection(self) -> sqlite3.Connection:
        # a connection must not cross a fork: open one per process, lazily
        if self._conn is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA journal_mode = WAL")
            # no fsync per insert (WAL keeps it consistent; a process crash loses nothing, only an
            # OS crash or power loss could forget the last jti, which tokens' short life bounds)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(_SCHEMA)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def remember(self, issuer: str, jti: str, expires_at: int) -> bool:
        """Record a first use; False when this (issuer, jti) was already seen and has not expired."""
        now = time.time()
        with self._lock:
            conn = self._connection()
            if now - self._last_purge > _PURGE_EVERY_SECONDS:
                conn.execute("DELETE FROM seen_jti WHERE expires_at < ?", (int(now),))
                self._last_purge = now
            try:
                conn.execute("INSERT INTO seen_jti (issuer, jti, expires_at) VALUES (?, ?, ?)",
                             (issuer, jti, int(expires_at)))
            except sqlite3.IntegrityError:
                # an expired leftover not yet purged is not a replay; the WHERE keeps this atomic
                cursor = conn.execute(
                    "UPDATE seen_jti SET expires_at = ? WHERE issuer = ? AND jti = ? AND expires_at < ?",
                    (int(expires_at), issuer, jti, int(now)))
                return cursor.rowcount == 1
            return True
