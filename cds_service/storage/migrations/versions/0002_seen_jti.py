"""The shared jti replay store: seen_jti (issuer, jti) -> expires_at.

Used when the database is PostgreSQL, so that a token accepted by one instance is
refused by every other. Additive only: the previous release runs unchanged on this
schema during a rolling upgrade.

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seen_jti",
        sa.Column("issuer", sa.String(512), nullable=False),
        sa.Column("jti", sa.String(512), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("issuer", "jti", name="pk_seen_jti"),
    )
    op.create_index("ix_seen_jti_expires_at", "seen_jti", ["expires_at"])


def downgrade() -> None:
    op.drop_table("seen_jti")
