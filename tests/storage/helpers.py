"""Shared builders for the storage tests: hook-call events, feedback bodies, row counts."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select

from cds_service.events import CardSummary, HookCallEvent
from cds_service.storage import Storage
from cds_service.storage.models import cards, feedback, hook_calls


def event(service_id: str = "leg-weakness", when: datetime | None = None, status: int = 200,
          outcome: str = "ok", duration_ms: float = 12.0, card_list: tuple[CardSummary, ...] = ()) -> HookCallEvent:
    return HookCallEvent(time=when or datetime.now(timezone.utc), service_id=service_id, hook="encounter-start",
                         hook_instance=str(uuid.uuid4()), issuer=None, patient_hash="ab" * 16,
                         http_status=status, outcome=outcome, duration_ms=duration_ms,
                         stages={"validate": 1.0, "handler": 5.0}, cards=card_list)


def card(topic: str, indicator: str = "warning") -> CardSummary:
    return CardSummary(uuid=str(uuid.uuid4()), topic=topic, indicator=indicator, suggestions=(str(uuid.uuid4()),))


def accepted(card_uuid: str, suggestion: str = "s1", at: str = "2021-12-11T10:05:31Z") -> dict[str, Any]:
    return {"card": card_uuid, "outcome": "accepted", "acceptedSuggestions": [{"id": suggestion}],
            "outcomeTimestamp": at}


def overridden(card_uuid: str, code: str | None = None, at: str = "2021-12-11T10:05:31.375Z") -> dict[str, Any]:
    item: dict[str, Any] = {"card": card_uuid, "outcome": "overridden", "outcomeTimestamp": at}
    if code:
        item["overrideReason"] = {"reason": {"code": code, "system": "http://example.org/override"}}
    return item


def count(storage: Storage, table: Any) -> int:
    with storage.database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def feedback_rows(storage: Storage) -> list[Any]:
    with storage.database.read() as conn:
        return list(conn.execute(select(feedback)).mappings())


__all__ = ["event", "card", "accepted", "overridden", "count", "feedback_rows", "cards", "hook_calls", "feedback"]


def vignette_call(reason: str = "both legs weak since yesterday and cannot pass urine") -> dict[str, Any]:
    """An encounter-start call whose encounter reason should give red-flag cards."""
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-01-01"}
    encounter = {"resourceType": "Encounter", "id": "e1", "status": "in-progress",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                 "subject": {"reference": "Patient/p1"}, "reasonCode": [{"text": reason}]}
    return {"hook": "encounter-start", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/u1", "patientId": "p1", "encounterId": "e1"},
            "prefetch": {"patient": patient, "encounter": encounter}}
