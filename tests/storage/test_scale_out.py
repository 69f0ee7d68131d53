"""Scale-out storage on a real PostgreSQL: the shared jti store, /readyz and `cds-service migrate`.

Two stores on one database stand for two instances (separate engines, as separate
processes on separate hosts would have).
"""
from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from cds_service import Settings, create_app
from cds_service.cli import main
from cds_service.errors import ServiceUnavailableError
from cds_service.http.replay import ReplayStore, open_replay_store
from cds_service.storage import Storage
from cds_service.storage.models import seen_jti
from cds_service.storage.replay import SharedReplayStore
from tests.postgres import PostgresCluster

ISS = "https://ehr.test"


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster) -> str:
    """A migrated PostgreSQL database (as after `cds-service migrate`)."""
    url = pg_cluster.create_database()
    result = CliRunner().invoke(main, ["migrate"], env={"CDS_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert "schema at 0003 (was empty)" in result.output
    return url


def test_store_choice_follows_the_database_url(tmp_path: Path, pg_url: str) -> None:
    assert isinstance(open_replay_store(Settings(data_dir=str(tmp_path))), ReplayStore)
    shared = open_replay_store(Settings(data_dir=str(tmp_path), database_url=pg_url))
    assert isinstance(shared, SharedReplayStore)
    shared.close()


def test_a_token_accepted_by_one_instance_is_refused_by_every_other(pg_url: str) -> None:
    instances = [SharedReplayStore(pg_url) for _ in range(3)]
    try:
        expires = int(time.time()) + 300
        jti = str(uuid.uuid4())
        assert instances[0].remember(ISS, jti, expires)
        assert not instances[1].remember(ISS, jti, expires)
        assert not instances[2].remember(ISS, jti, expires)
        assert not instances[0].remember(ISS, jti, expires)
        assert instances[1].remember("https://other-ehr.test", jti, expires)  # per issuer
    finally:
        for store in instances:
            store.close()


def test_racing_instances_accept_a_token_exactly_once(pg_url: str) -> None:
    instances = [SharedReplayStore(pg_url) for _ in range(4)]
    expires = int(time.time()) + 300
    jtis = [str(uuid.uuid4()) for _ in range(25)]
    barrier = threading.Barrier(8)

    def race(i: int) -> list[bool]:
        barrier.wait()
        return [instances[i % 4].remember(ISS, jti, expires) for jti in jtis]

    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(race, range(8)))
    finally:
        for store in instances:
            store.close()
    for column in zip(*results, strict=True):
        assert sum(column) == 1  # one winner per token, whichever instance it was


def test_expired_rows_are_purged_and_an_expired_leftover_is_not_a_replay(pg_url: str) -> None:
    store = SharedReplayStore(pg_url)
    try:
        now = int(time.time())
        assert store.remember(ISS, "old", now - 5)
        assert store.remember(ISS, "old", now + 300)  # same id, earlier use long expired
        assert not store.remember(ISS, "old", now + 300)
        assert store.remember(ISS, "gone", now - 10)
        assert store.purge_expired(now) == 1
        with store.database.read() as conn:
            rows = conn.execute(select(seen_jti.c.jti)).scalars().all()
        assert rows == ["old"]
    finally:
        store.close()


def test_an_unreachable_jti_store_refuses_the_token_with_503(pg_cluster: PostgresCluster) -> None:
    from tests.conftest import free_port
    store = SharedReplayStore(f"postgresql+psycopg://cds@127.0.0.1:{free_port()}/nothing")
    with pytest.raises(ServiceUnavailableError) as caught:
        store.remember(ISS, "x", int(time.time()) + 60)
    assert caught.value.status == 503


def test_readyz_follows_the_schema_and_healthz_stays_liveness(tmp_path: Path, pg_cluster: PostgresCluster) -> None:
    url = pg_cluster.create_database()  # empty: serve does not migrate a shared database
    app = create_app(Settings(require_auth=False, data_dir=str(tmp_path), database_url=url))
    http = app.test_client()
    assert http.get("/healthz").status_code == 200
    answer = http.get("/readyz")
    assert answer.status_code == 503
    assert answer.json["status"] == "not-ready"
    assert answer.json["schema"]["state"] == "empty"
    assert "cds-service migrate" in answer.json["reason"]
    assert Storage(url).schema_status().state == "empty"  # serve did not migrate it

    check = CliRunner().invoke(main, ["migrate", "--check"], env={"CDS_DATABASE_URL": url})
    assert check.exit_code == 1 and "schema empty" in check.output
    assert CliRunner().invoke(main, ["migrate"], env={"CDS_DATABASE_URL": url}).exit_code == 0
    ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ready", "database": "postgresql",
                          "schema": {"state": "at-head", "revision": "0003", "head": "0003"}}
    again = CliRunner().invoke(main, ["migrate"], env={"CDS_DATABASE_URL": url})
    assert again.exit_code == 0 and "schema at 0003 (was 0003)" in again.output
    assert CliRunner().invoke(main, ["migrate", "--check"], env={"CDS_DATABASE_URL": url}).exit_code == 0

    storage = Storage(url)
    try:
        with storage.database.engine.begin() as conn:  # a newer release migrated the database
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
        ahead = http.get("/readyz")
        assert ahead.status_code == 200 and ahead.json["schema"]["state"] == "ahead"
        with storage.database.engine.begin() as conn:  # an older schema: this release needs more
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
        behind = http.get("/readyz")
        assert behind.status_code == 503 and behind.json["schema"]["state"] == "behind"
    finally:
        storage.close()


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path, pg_url: str) -> None:
    from tests.conftest import free_port
    app = create_app(Settings(require_auth=False, data_dir=str(tmp_path), database_url=pg_url))
    app.extensions["cds"].extras["storage"] = Storage(f"postgresql+psycopg://cds@127.0.0.1:{free_port()}/x")
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.json["schema"]["state"] == "unreachable"
    assert answer.json["reason"] == "database unreachable (OperationalError)"


def test_sqlite_migrates_at_start_and_is_ready(tmp_path: Path) -> None:
    app = create_app(Settings(require_auth=False, data_dir=str(tmp_path)))
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 200
    assert answer.json["database"] == "sqlite" and answer.json["schema"]["state"] == "at-head"


def test_report_on_an_unmigrated_shared_database_says_to_migrate(pg_cluster: PostgresCluster) -> None:
    url = pg_cluster.create_database()
    result = CliRunner().invoke(main, ["report"], env={"CDS_DATABASE_URL": url})
    assert result.exit_code == 1
    assert "run `cds-service migrate`" in result.output
    storage = Storage(url)
    try:
        with storage.database.read() as conn:  # the report created nothing
            tables = conn.exec_driver_sql(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").scalar_one()
        assert tables == 0
    finally:
        storage.close()


def test_two_migrate_jobs_at_once_both_succeed(pg_cluster: PostgresCluster) -> None:
    url = pg_cluster.create_database()
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: Storage(url).migrate(), range(2)))
    assert results == [None, None]
    storage = Storage(url)
    try:
        assert storage.schema_status().state == "at-head"
        with storage.database.read() as conn:
            assert conn.execute(select(func.count()).select_from(seen_jti)).scalar_one() == 0
    finally:
        storage.close()
