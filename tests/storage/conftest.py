"""Storage fixtures: a database URL per test, on SQLite and on a real throwaway PostgreSQL.

Tests that take ``database_url`` run once per backend chosen with ``--db``
(sqlite|postgres|both, default both). The PostgreSQL cluster is ``pg_cluster`` from
tests/postgres.py (one per session, shared with the deploy tests).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from cds_service.storage import Storage
from tests.postgres import PostgresCluster


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--db")
        backends = ["sqlite", "postgres"] if choice == "both" else [choice]
        metafunc.parametrize("backend", backends, indirect=False)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh database on the backend under test, ready for ``serve``.

    SQLite: an empty file (the service migrates it at start). PostgreSQL: a new database
    migrated the way a deployment does it, by ``cds-service migrate`` before any
    instance serves (``serve`` never migrates a shared database).
    """
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'cds.sqlite3'}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    url = cluster.create_database()
    storage = Storage(url)
    try:
        storage.migrate()
    finally:
        storage.close()
    return url
