"""hook_calls.notes_skipped: why clinical notes of a call were not read (issue 15).

A JSON list of {element, reason} ("DocumentReference.content[0].attachment", "application/pdf
is not read"), never a note's text or id; NULL when every note was read or there were none.
Additive and nullable: the previous release runs unchanged on this schema during a rolling
upgrade, and old rows stay valid.

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("hook_calls", sa.Column("notes_skipped", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hook_calls") as batch:
        batch.drop_column("notes_skipped")
