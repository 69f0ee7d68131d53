"""Report, purge and migrations through the library and the CLI, on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from cds_service.cli import main
from cds_service.storage import Storage
from tests.storage.helpers import accepted, card, cards, count, event, feedback, hook_calls, overridden

NOW = datetime.now(timezone.utc)


@pytest.fixture
def storage(database_url: str) -> Iterator[Storage]:
    store = Storage(database_url)
    store.migrate()
    yield store
    store.close()


def _seed(storage: Storage) -> dict[str, str]:
    """Three cauda-equina cards, one gbs card, a 412, an overrun; feedback on three cards."""
    ce = [card("cauda-equina", "critical") for _ in range(3)]
    gbs = card("gbs")
    storage.audit(event(card_list=(ce[0], ce[1]), duration_ms=10))
    storage.audit(event(card_list=(ce[2], gbs), duration_ms=20))
    storage.audit(event(status=412, outcome="412", duration_ms=30))
    storage.audit(event(outcome="overrun", duration_ms=1600))
    storage.audit(event(service_id="leg-weakness-patient-view", duration_ms=5))
    storage.audit(event(when=NOW - timedelta(days=400), card_list=(card("old"),), duration_ms=99))
    storage.audit.flush()
    storage.record_feedback({"feedback": [
        accepted(ce[0].uuid or ""),
        overridden(ce[1].uuid or "", code="already-imaged", at="2021-12-11T10:00:00Z"),
        accepted(ce[1].uuid or "", at="2021-12-11T09:00:00Z"),  # earlier: the override is the latest
        overridden(gbs.uuid or ""),
        accepted("unknown-card"),
    ]}, "leg-weakness", None)
    return {"ce0": ce[0].uuid or ""}


def test_report_counts_per_topic_and_service(storage: Storage) -> None:
    _seed(storage)
    report = storage.report(since=NOW - timedelta(days=1)).to_json()
    topics = {t["topic"]: t for t in report["topics"]}
    assert set(topics) == {"cauda-equina", "gbs"}
    ce = topics["cauda-equina"]
    assert (ce["shown"], ce["accepted"], ce["overridden"], ce["no_feedback"]) == (3, 1, 1, 1)
    assert ce["override_reasons"] == {"http://example.org/override|already-imaged": 1}
    assert ce["acceptance_rate"] == 0.5
    assert topics["gbs"]["override_reasons"] == {"(no reason)": 1}
    assert topics["gbs"]["acceptance_rate"] == 0.0
    services = {s["service_id"]: s for s in report["services"]}
    lw = services["leg-weakness"]
    assert (lw["calls"], lw["status_412"], lw["overruns"]) == (4, 1, 1)
    assert (lw["p50_ms"], lw["p90_ms"], lw["p99_ms"]) == (20, 1600, 1600)
    assert services["leg-weakness-patient-view"]["calls"] == 1
    assert report["feedback_unknown_card"] == 1
    everything = storage.report().to_json()
    assert {t["topic"] for t in everything["topics"]} == {"cauda-equina", "gbs", "old"}


def test_cli_report_in_three_formats(storage: Storage, database_url: str) -> None:
    _seed(storage)
    runner = CliRunner()
    env = {"CDS_DATABASE_URL": database_url}
    since = (NOW - timedelta(days=1)).strftime("%Y-%m-%d")
    as_json = runner.invoke(main, ["report", "--since", since, "--format", "json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    assert {t["topic"] for t in json.loads(as_json.output)["topics"]} == {"cauda-equina", "gbs"}
    as_csv = runner.invoke(main, ["report", "--since", since, "--format", "csv"], env=env)
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    ce = next(r for r in rows if r["key"] == "cauda-equina")
    assert (ce["shown_or_calls"], ce["accepted_or_412"], ce["acceptance_rate_or_p50_ms"]) == ("3", "1", "0.5")
    table = runner.invoke(main, ["report"], env=env)
    assert table.exit_code == 0 and "cauda-equina" in table.output and "50.0%" in table.output
    assert "p99 ms" in table.output and "old" in table.output


def test_purge_deletes_old_calls_cards_and_feedback(storage: Storage, database_url: str) -> None:
    _seed(storage)
    assert count(storage, hook_calls) == 6 and count(storage, cards) == 5
    result = CliRunner().invoke(main, ["purge"], env={"CDS_DATABASE_URL": database_url,
                                                      "CDS_AUDIT_RETENTION_DAYS": "365"})
    assert result.exit_code == 0, result.output
    assert "deleted 1 hook calls, 1 cards and 0 feedback items" in result.output
    assert count(storage, hook_calls) == 5 and count(storage, cards) == 4 and count(storage, feedback) == 5
    everything = CliRunner().invoke(main, ["purge", "--days", "0"], env={"CDS_DATABASE_URL": database_url})
    assert "deleted 5 hook calls, 4 cards and 5 feedback items" in everything.output
    assert count(storage, hook_calls) == count(storage, cards) == count(storage, feedback) == 0


def test_migrations_are_idempotent_and_reach_head(storage: Storage) -> None:
    storage.migrate()  # a second worker starting up
    with storage.database.read() as conn:
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    assert version == storage.database.head == "0003"
