"""The audit trail of hook calls, in process, on SQLite and PostgreSQL: what is kept and what is not."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from sqlalchemy import select

from cds_service import Settings, create_app
from tests.storage.helpers import cards, hook_calls, vignette_call


def test_hook_calls_and_cards_are_audited_without_identifiers(tmp_path: Path, database_url: str) -> None:
    app = create_app(Settings(require_auth=False, data_dir=str(tmp_path / "data"), database_url=database_url,
                              patient_hash_salt="pepper"))
    storage = app.extensions["cds"].extras["storage"]
    try:
        client = app.test_client()
        body = vignette_call()
        answer = client.post("/cds-services/leg-weakness", json=body)
        assert answer.status_code == 200
        refused = client.post("/cds-services/leg-weakness", json={"hook": "encounter-start"})
        assert refused.status_code == 400
        storage.audit.flush()
        with storage.database.read() as conn:
            calls = list(conn.execute(select(hook_calls).order_by(hook_calls.c.id)).mappings())
            shown = list(conn.execute(select(cards)).mappings())
    finally:
        storage.close()
    assert [(c["http_status"], c["outcome"]) for c in calls] == [(200, "ok"), (400, "400")]
    first = calls[0]
    assert first["hook_instance"] == body["hookInstance"] and first["hook"] == "encounter-start"
    assert re.fullmatch(r"[0-9a-f]{32}", first["patient_hash"])
    assert first["duration_ms"] > 0 and json.loads(first["stages"])
    returned = answer.json["cards"]
    assert sorted(c["uuid"] for c in shown) == sorted(c["uuid"] for c in returned)
    assert {c["topic"] for c in shown} == {c["source"]["topic"]["code"] for c in returned}
    stored_text = json.dumps([{k: str(v) for k, v in row.items()} for row in calls + shown])
    assert '"p1"' not in stored_text and "legs weak" not in stored_text and "Practitioner" not in stored_text


def test_metrics_need_no_token(tmp_path: Path) -> None:
    app = create_app(Settings(require_auth=True, base_url="https://cds.example.org", data_dir=str(tmp_path / "data")))
    try:
        response = app.test_client().get("/metrics")
        assert response.status_code == 200 and b"cds_hook_calls_total" in response.data
    finally:
        app.extensions["cds"].extras["storage"].close()


def test_a_note_not_read_is_audited_with_its_reason_and_never_its_text(tmp_path: Path, database_url: str) -> None:
    app = create_app(Settings(require_auth=False, data_dir=str(tmp_path / "data"), database_url=database_url))
    storage = app.extensions["cds"].extras["storage"]
    body = vignette_call()
    pdf = {"resourceType": "DocumentReference", "id": "d1", "status": "current",
           "subject": {"reference": "Patient/p1"}, "context": {"encounter": [{"reference": "Encounter/e1"}]},
           "content": [{"attachment": {"contentType": "application/pdf",
                                       "data": base64.b64encode(b"%PDF-1.4 secret words").decode()}}]}
    body["prefetch"]["documents"] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": pdf}]}
    try:
        client = app.test_client()
        assert client.post("/cds-services/leg-weakness", json=body).status_code == 200
        assert client.post("/cds-services/leg-weakness", json=vignette_call()).status_code == 200
        storage.audit.flush()
        with storage.database.read() as conn:
            rows = [r["notes_skipped"] for r in conn.execute(select(hook_calls).order_by(hook_calls.c.id)).mappings()]
    finally:
        storage.close()
    assert rows[1] is None  # no notes: nothing to say
    skipped = json.loads(rows[0])
    assert [s["element"] for s in skipped] == ["DocumentReference.content"]
    assert "pdf" in skipped[0]["reason"].lower() and "secret" not in rows[0] and "d1" not in rows[0]


def test_one_batch_of_calls_keeps_each_card_with_its_own_call(database_url: str) -> None:
    """The writer inserts a batch's calls in one statement and takes their ids from RETURNING, in
    the order sent: a card stored against a neighbour's call would put a red flag in the wrong
    patient's audit row. A batch of calls with 0-3 cards each, on SQLite and PostgreSQL."""
    from datetime import datetime, timezone

    from cds_service.events import CardSummary, HookCallEvent
    from cds_service.storage import Storage
    from cds_service.storage.audit import write_events

    events = [HookCallEvent(time=datetime.now(timezone.utc), service_id="leg-weakness", hook="encounter-start",
                            hook_instance=f"call-{n}", issuer=None, patient_hash=None, http_status=200,
                            outcome="ok", duration_ms=float(n),
                            cards=tuple(CardSummary(uuid=f"card-{n}-{k}", topic=f"topic-{k}", indicator="info")
                                        for k in range(n % 4)))
              for n in range(40)]
    storage = Storage(database_url)
    try:
        if storage.migrates_at_start:
            storage.migrate()
        storage.database.write(lambda conn: write_events(conn, events), durable=False)
        with storage.database.read() as conn:
            rows = conn.execute(select(hook_calls.c.hook_instance, cards.c.uuid)
                                .join(cards, cards.c.call_id == hook_calls.c.id)).all()
            calls = conn.execute(select(hook_calls.c.hook_instance)).scalars().all()
    finally:
        storage.close()
    assert sorted(calls) == sorted(e.hook_instance for e in events)
    assert len(rows) == sum(len(e.cards) for e in events) == 60
    assert all(card.startswith(instance.replace("call", "card") + "-") for instance, card in rows)
