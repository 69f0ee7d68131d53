"""Engines, per process, and the write discipline that keeps "database is locked" from clients.

gunicorn forks workers; a connection must never cross a fork, so the engine is created
lazily in the process that uses it (and re-created when the pid changes). SQLite runs in
WAL mode with a busy timeout, every transaction starts ``BEGIN IMMEDIATE`` (so two
writers queue on the lock instead of dead-locking on a read->write upgrade), and a write
that still meets "locked"/"busy" is retried.
"""
from __future__ import annotations

import fcntl
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

T = TypeVar("T")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
WRITE_ATTEMPTS = 6
SQLITE_POOL_SIZE = 2  # connections kept open per process
SQLITE_POOL_OVERFLOW = 8  # more, opened while the request threads and the audit writer all read or write
_MIGRATION_LOCK_KEY = 0x43445331  # pg_advisory_xact_lock key for migrations
CONNECT_TIMEOUT_SECONDS = 3  # a server that does not answer fails a call (and /readyz), never hangs it


@dataclass(frozen=True)
class SchemaStatus:
    """Where the database's schema stands against this release's migrations.

    ``state`` is ``at-head``; ``ahead`` (a revision this release does not know: a newer
    release migrated it; migrations are additive, so this release still runs); ``behind``
    or ``empty`` (``cds-service migrate`` has not run); or ``unreachable``.
    """

    state: str
    revision: str | None
    head: str
    reason: str = ""

    @property
    def ready(self) -> bool:
        return self.state in ("at-head", "ahead")


class Database:
    """One database URL; the engine behind it belongs to the current process.

    ``engine_options`` (PostgreSQL only) are extra ``create_engine`` arguments, for an
    engine with its own pool and connection settings (the shared jti store's).
    """

    def __init__(self, url: str, engine_options: Mapping[str, Any] | None = None) -> None:
        self.url = make_url(url)
        self._engine_options = dict(engine_options or {})
        self._engine: Engine | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._writer = threading.Lock()  # one SQLite writer per process at a time

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def engine(self) -> Engine:
        """This process's engine, created on first use after any fork."""
        with self._lock:
            if self._engine is None or self._pid != os.getpid():
                if self._engine is not None:
                    self._engine.dispose(close=False)  # the parent's connections stay the parent's
                self._engine = self._create_engine()
                self._pid = os.getpid()
            return self._engine

    def _create_engine(self) -> Engine:
        if not self.is_sqlite:
            options: dict[str, Any] = {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 10}
            options.update(self._engine_options)
            options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS,
                                       **options.get("connect_args", {})}
            return create_engine(self.url, **options)
        if self.url.database and self.url.database != ":memory:":
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        # A small pool: opening a SQLite connection (and its PRAGMAs) cost 0.6 ms per write, and
        # closing the last one of a WAL database checkpoints it; kept open, a write is 0.06 ms.
        # Two idle connections (3 fds each in WAL mode) stay per process; an in-memory database
        # keeps SQLAlchemy's own pool (one shared connection, or there is no database to share).
        pooling: dict[str, Any] = ({} if self.url.database in (None, "", ":memory:")
                                   else {"pool_size": SQLITE_POOL_SIZE, "max_overflow": SQLITE_POOL_OVERFLOW})
        engine = create_engine(self.url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, **pooling)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine

    def write(self, work: Callable[[Connection], T], durable: bool = True) -> T:
        """Run ``work`` in one transaction and commit; retry while the database is locked.

        Args:
            durable: False lets SQLite commit without waiting for the disk (``synchronous =
                NORMAL`` in WAL mode: safe against a crash of the process, not of the machine).
                The audit writer's batches use it, so that feedback, whose 200 means "on disk",
                does not queue behind their syncs; the next durable commit syncs them too.
        """
        for attempt in range(WRITE_ATTEMPTS):
            try:
                # SQLite takes one writer at a time: the threads of this process queue here, in
                # order, instead of in SQLite's busy handler, which sleeps in growing steps.
                with self._writer if self.is_sqlite else nullcontext(), self.engine.connect() as conn:
                    if self.is_sqlite:  # set on every write: a pooled connection keeps the last one's
                        conn.connection.driver_connection.execute(  # type: ignore[union-attr]
                            f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
                    with conn.begin():
                        return work(conn)
            except OperationalError as exc:
                if attempt == WRITE_ATTEMPTS - 1 or not _is_lock_error(exc):
                    raise
                time.sleep(0.05 * (2 ** attempt))
        raise AssertionError("unreachable")

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def migrate(self) -> None:
        """Bring the schema to the newest revision; safe when several processes run it at once.

        PostgreSQL: under a transaction-level advisory lock, so two ``cds-service migrate``
        jobs queue; SQLite: under a file lock beside the database.
        """
        config = _alembic_config()
        with self._migration_lock():
            with self.engine.begin() as conn:
                if not self.is_sqlite:
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
                config.attributes["connection"] = conn
                command.upgrade(config, "head")

    @property
    def head(self) -> str:
        """The newest revision this release's migrations know."""
        head = _scripts().get_current_head()
        assert head is not None, "no migrations packaged"
        return head

    def schema_status(self) -> SchemaStatus:
        """Reach the database and compare its revision with ours (for /readyz and the CLI)."""
        head = self.head
        try:
            with self.engine.connect() as conn:
                revisions = MigrationContext.configure(conn).get_current_heads()
        except SQLAlchemyError as exc:
            return SchemaStatus("unreachable", None, head, f"database unreachable ({type(exc).__name__})")
        if not revisions:
            return SchemaStatus("empty", None, head, "database has no schema: run `cds-service migrate`")
        revision = ",".join(revisions)
        if revisions == (head,):
            return SchemaStatus("at-head", revision, head)
        try:
            known = all(_scripts().get_revision(r) is not None for r in revisions)
        except CommandError:  # alembic's answer for a revision it has no script for
            known = False
        if not known:
            return SchemaStatus("ahead", revision, head,
                                f"database at revision {revision}, newer than this release ({head})")
        return SchemaStatus("behind", revision, head,
                            f"database at revision {revision}, this release needs {head}: run `cds-service migrate`")

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """SQLite: a file lock beside the database (BEGIN IMMEDIATE alone cannot cover DDL checks)."""
        if not self.is_sqlite or not self.url.database or self.url.database == ":memory:":
            yield
            return
        lock_path = Path(self.url.database + ".migrate-lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None and self._pid == os.getpid():
                self._engine.dispose()
            self._engine = None


@functools.cache
def _scripts() -> ScriptDirectory:
    """This release's migration scripts, read once per process."""
    return ScriptDirectory.from_config(_alembic_config())


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")  # a 200 for feedback means it is on disk
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _is_lock_error(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text
