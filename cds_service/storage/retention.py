"""Retention: delete audit rows (hook calls, their cards) and feedback older than the limit."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, delete, select

from .models import cards, feedback, hook_calls


@dataclass(frozen=True)
class PurgeResult:
    cutoff: datetime
    hook_calls: int
    cards: int
    feedback: int


def purge(conn: Connection, retention_days: int, now: datetime | None = None) -> PurgeResult:
    """Delete everything recorded before ``now - retention_days`` (in the caller's transaction)."""
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=retention_days)
    old_calls = select(hook_calls.c.id).where(hook_calls.c.time < cutoff)
    n_cards = conn.execute(delete(cards).where(cards.c.call_id.in_(old_calls))).rowcount
    n_calls = conn.execute(delete(hook_calls).where(hook_calls.c.time < cutoff)).rowcount
    n_feedback = conn.execute(delete(feedback).where(feedback.c.received_at < cutoff)).rowcount
    return PurgeResult(cutoff=cutoff, hook_calls=n_calls, cards=n_cards, feedback=n_feedback)
