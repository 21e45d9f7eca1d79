"""Scores carry the period they were folded at, where it came from, and flags on what the model understood.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.add_column(sa.Column("period", sa.Float(), nullable=True))
        batch.add_column(sa.Column("period_source", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("flags", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.drop_column("flags")
        batch.drop_column("period_source")
        batch.drop_column("period")
