"""HookCallEvent: what one hook call did, for the log, the audit trail and the metrics.

Built by the HTTP layer after every call (answered or refused) and handed to observers
(audit writer, metrics). It holds no names, no free text and no tokens: the patient
appears only as a salted hash.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: The service id recorded for a call to an id we do not serve (never the caller's text).
UNKNOWN_SERVICE = "unknown"


@dataclass(frozen=True)
class CardSummary:
    uuid: str | None
    topic: str | None
    indicator: str
    suggestions: tuple[str, ...] = ()  # suggestion uuids

    @classmethod
    def of(cls, card: dict[str, Any]) -> CardSummary:
        topic = ((card.get("source") or {}).get("topic") or {}).get("code")
        return cls(uuid=card.get("uuid"), topic=topic, indicator=card.get("indicator", ""),
                   suggestions=tuple(s["uuid"] for s in card.get("suggestions", []) if s.get("uuid")))


@dataclass(frozen=True)
class HookCallEvent:
    time: datetime
    service_id: str
    hook: str | None
    hook_instance: str | None
    issuer: str | None
    patient_hash: str | None
    http_status: int
    outcome: str  # ok | overrun | 412 | 400 | 401 | ... | error
    duration_ms: float
    stages: dict[str, float] = field(default_factory=dict)
    cards: tuple[CardSummary, ...] = ()
    # clinical notes not read, and why ({element, reason}; never their text): the audit keeps them
    notes_skipped: tuple[dict[str, str], ...] = ()
    # the caller was authenticated and the service is one we serve; only such calls are audited
    admitted: bool = True


Observer = Callable[[HookCallEvent], None]
