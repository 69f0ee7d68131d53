"""Initial tables: hook_calls, cards, feedback.

Revision ID: 0001
Revises:
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hook_calls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("time", sa.DateTime, nullable=False),
        sa.Column("service_id", sa.String(100), nullable=False),
        sa.Column("hook", sa.String(100)),
        sa.Column("hook_instance", sa.String(100)),
        sa.Column("issuer", sa.String(500)),
        sa.Column("patient_hash", sa.String(64)),
        sa.Column("http_status", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("stages", sa.Text, nullable=False),
    )
    op.create_index("ix_hook_calls_time", "hook_calls", ["time"])
    op.create_table(
        "cards",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.Integer, sa.ForeignKey("hook_calls.id", ondelete="CASCADE"), nullable=False),
        sa.Column("uuid", sa.String(100)),
        sa.Column("topic", sa.String(200)),
        sa.Column("indicator", sa.String(20), nullable=False),
        sa.Column("suggestions", sa.Text, nullable=False),
    )
    op.create_index("ix_cards_call_id", "cards", ["call_id"])
    op.create_index("ix_cards_uuid", "cards", ["uuid"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("service_id", sa.String(100), nullable=False),
        sa.Column("issuer", sa.String(500)),
        sa.Column("card_uuid", sa.String(100), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("accepted_suggestions", sa.Text, nullable=False),
        sa.Column("override_system", sa.String(500)),
        sa.Column("override_code", sa.String(200)),
        sa.Column("has_comment", sa.Boolean, nullable=False),
        sa.Column("outcome_timestamp", sa.DateTime, nullable=False),
        sa.Column("unknown_card", sa.Boolean, nullable=False),
    )
    op.create_index("ix_feedback_received_at", "feedback", ["received_at"])
    op.create_index("ix_feedback_card_uuid", "feedback", ["card_uuid"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("cards")
    op.drop_table("hook_calls")
