"""Tables of the audit trail, the feedback store and the shared jti store (SQLAlchemy 2 Core metadata).

The migrations in ``migrations/versions`` create exactly these tables; the metadata is
the query side. Rows hold no names, no free text and no tokens: patients appear only as
a salted hash, override comments only as "a comment was given".
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (BigInteger, Boolean, Column, DateTime, Float, ForeignKey, Integer, MetaData, String,
                        Table, Text)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (portable across SQLite and PostgreSQL), read back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)  # type: ignore[no-any-return]


metadata = MetaData()

hook_calls = Table(
    "hook_calls", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", UTCDateTime, nullable=False, index=True),
    Column("service_id", String(100), nullable=False),
    Column("hook", String(100)),
    Column("hook_instance", String(100)),
    Column("issuer", String(500)),
    Column("patient_hash", String(64)),
    Column("http_status", Integer, nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("stages", Text, nullable=False, default="{}"),  # JSON {stage: ms}
    Column("notes_skipped", Text),  # JSON [{element, reason}] of clinical notes not read; NULL: none
)

cards = Table(
    "cards", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", Integer, ForeignKey("hook_calls.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("uuid", String(100), index=True),
    Column("topic", String(200)),
    Column("indicator", String(20), nullable=False),
    Column("suggestions", Text, nullable=False, default="[]"),  # JSON [suggestion uuid]
)

feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(64), nullable=False, unique=True),  # idempotency key
    Column("received_at", UTCDateTime, nullable=False, index=True),
    Column("service_id", String(100), nullable=False),
    Column("issuer", String(500)),
    Column("card_uuid", String(100), nullable=False, index=True),
    Column("outcome", String(20), nullable=False),
    Column("accepted_suggestions", Text, nullable=False, default="[]"),  # JSON [suggestion uuid]
    Column("override_system", String(500)),
    Column("override_code", String(200)),
    Column("has_comment", Boolean, nullable=False, default=False),
    Column("outcome_timestamp", UTCDateTime, nullable=False),
    Column("unknown_card", Boolean, nullable=False, default=False),
)

# The jti replay store of a deployment on PostgreSQL (storage/replay.py): one row per token
# id until the token expires. On SQLite the table exists too but the per-host store
# (http/replay.py) is used instead.
seen_jti = Table(
    "seen_jti", metadata,
    Column("issuer", String(512), primary_key=True),
    Column("jti", String(512), primary_key=True),
    Column("expires_at", BigInteger, nullable=False, index=True),  # unix seconds, clock skew included
)
