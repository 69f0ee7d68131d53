"""Feedback (CDS Hooks 2.0 §feedback): check the semantics, store idempotently, commit.

The JSON Schema checks the shape; this module checks what a schema says poorly
(``acceptedSuggestions`` required when accepted, a real RFC 3339 timestamp) and turns
each item into a row. Override comments are free text written by a clinician and may
name the patient, so only their presence is kept.

Feedback for a card uuid we have no audit row for is stored with ``unknown_card``
set and still answered 200: clients send feedback fire-and-forget, and the card may
come from another instance, from before a purge, or its audit row may still be queued.
A card this process answered recently (``RecentCards``) counts as known without waiting
for its audit row, so a feedback post never waits for the audit writer: it is one short
write transaction (look up the cards, insert, commit) whatever the audit queue holds.
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from ..errors import ErrorDetail, SchemaValidationError
from ..events import HookCallEvent
from .models import cards, feedback

OUTCOMES = ("accepted", "overridden")


@dataclass(frozen=True)
class FeedbackItem:
    card: str
    outcome: str
    accepted_suggestions: tuple[str, ...]
    override_system: str | None
    override_code: str | None
    has_comment: bool
    outcome_timestamp: datetime
    digest: str


@dataclass(frozen=True)
class StoreResult:
    stored: int
    duplicates: int
    unknown_cards: tuple[str, ...]


def parse_feedback(body: Any, service_id: str) -> list[FeedbackItem]:
    """The items of a ``{"feedback": [...]}`` body; raises SchemaValidationError naming the field."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list):
        _fail("$.feedback", "required: an array of feedback items")
    items = body["feedback"]
    if not items:
        _fail("$.feedback", "must hold at least one feedback item")
    return [_parse_item(item, f"$.feedback[{i}]", service_id) for i, item in enumerate(items)]


def _parse_item(item: Any, path: str, service_id: str) -> FeedbackItem:
    if not isinstance(item, dict):
        _fail(path, "must be an object")
    card = item.get("card")
    if not isinstance(card, str) or not card.strip():
        _fail(f"{path}.card", "required: the card's uuid (a non-empty string)")
    outcome = item.get("outcome")
    if outcome not in OUTCOMES:
        _fail(f"{path}.outcome", "required: 'accepted' or 'overridden'")
    suggestions = _accepted_suggestions(item.get("acceptedSuggestions"), outcome, path)
    system, code, has_comment = _override_reason(item.get("overrideReason"), path)
    timestamp = _timestamp(item.get("outcomeTimestamp"), f"{path}.outcomeTimestamp")
    canonical = json.dumps([service_id, item], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return FeedbackItem(card=card, outcome=outcome, accepted_suggestions=suggestions,
                        override_system=system, override_code=code, has_comment=has_comment,
                        outcome_timestamp=timestamp,
                        digest=hashlib.sha256(canonical.encode()).hexdigest())


def _accepted_suggestions(value: Any, outcome: str, path: str) -> tuple[str, ...]:
    where = f"{path}.acceptedSuggestions"
    if value is None:
        if outcome == "accepted":
            _fail(where, "required when outcome is 'accepted'")
        return ()
    if not isinstance(value, list) or (outcome == "accepted" and not value):
        _fail(where, "must be a non-empty array of {\"id\": suggestion uuid}")
    ids: list[str] = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"]:
            _fail(f"{where}[{i}].id", "required: the suggestion's uuid (a non-empty string)")
        ids.append(entry["id"])
    return tuple(ids)


def _override_reason(value: Any, path: str) -> tuple[str | None, str | None, bool]:
    where = f"{path}.overrideReason"
    if value is None:
        return None, None, False
    if not isinstance(value, dict):
        _fail(where, "must be an object {reason, userComment}")
    comment = value.get("userComment")
    if comment is not None and not isinstance(comment, str):
        _fail(f"{where}.userComment", "must be a string")
    reason = value.get("reason")
    if reason is None:
        return None, None, bool(comment)
    if not isinstance(reason, dict):
        _fail(f"{where}.reason", "must be a Coding object")
    for key in ("system", "code"):
        if key in reason and not isinstance(reason[key], str):
            _fail(f"{where}.reason.{key}", "must be a string")
    if not reason.get("code"):
        _fail(f"{where}.reason.code", "required in a Coding")
    return reason.get("system"), reason["code"], bool(comment)


def _timestamp(value: Any, where: str) -> datetime:
    """RFC 3339 with an explicit offset (``Z`` or ``+hh:mm``), as the spec requires."""
    if not isinstance(value, str) or "T" not in value.upper():
        _fail(where, "required: an RFC 3339 date-time, e.g. 2021-12-11T10:05:31Z")
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    except ValueError:
        _fail(where, "not an RFC 3339 date-time, e.g. 2021-12-11T10:05:31Z")
    if parsed.tzinfo is None:
        _fail(where, "needs a time zone offset (Z or +hh:mm)")
    return parsed.astimezone(timezone.utc)


def _fail(path: str, message: str) -> Any:
    raise SchemaValidationError(f"invalid feedback: {path}: {message}",
                                details=[ErrorDetail(path=path, message=message)])


class RecentCards:
    """An observer remembering the card uuids this process sent lately (bounded, thread-safe).

    Their audit rows may still be queued for the writer thread; feedback on them is on
    a known card. Older cards are found in the database.
    """

    def __init__(self, size: int = 50_000) -> None:
        self._size = size
        self._uuids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, event: HookCallEvent) -> None:
        issued = [c.uuid for c in event.cards if c.uuid]
        if not issued:
            return
        with self._lock:
            for uuid in issued:
                self._uuids[uuid] = None
            while len(self._uuids) > self._size:
                self._uuids.popitem(last=False)

    def known(self, uuids: Iterable[str]) -> set[str]:
        with self._lock:
            return {u for u in uuids if u in self._uuids}


def known_cards(conn: Connection, uuids: Sequence[str]) -> set[str]:
    rows = conn.execute(select(cards.c.uuid).where(cards.c.uuid.in_(set(uuids))).distinct())
    return {r[0] for r in rows}


def store_feedback(conn: Connection, items: Sequence[FeedbackItem], service_id: str,
                   issuer: str | None, unknown: set[str], now: datetime) -> list[str]:
    """Insert the items, skipping ones already stored (same digest); returns the inserted outcomes."""
    rows = [{"digest": i.digest, "received_at": now, "service_id": service_id, "issuer": issuer,
             "card_uuid": i.card, "outcome": i.outcome,
             "accepted_suggestions": json.dumps(list(i.accepted_suggestions)),
             "override_system": i.override_system, "override_code": i.override_code,
             "has_comment": i.has_comment, "outcome_timestamp": i.outcome_timestamp,
             "unknown_card": i.card in unknown} for i in items]
    statement = _INSERT_NEW[conn.dialect.name]
    inserted: list[str] = []
    for row in rows:  # one by one: a batch may repeat an item
        if conn.execute(statement, row).first() is not None:
            inserted.append(str(row["outcome"]))
    return inserted


# One statement per dialect, built once, its rows bound as parameters (SQLAlchemy compiles it
# once, where ``.values(row)`` made a new statement per item). RETURNING, because rowcount is
# -1 with psycopg: a returned id is exact.
_INSERT_NEW = {dialect.dialect.name: dialect.insert(feedback).on_conflict_do_nothing(index_elements=["digest"])
               .returning(feedback.c.id)
               for dialect in (postgresql, sqlite)}
