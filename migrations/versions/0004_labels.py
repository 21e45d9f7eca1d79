"""Labels: experts mark objects "interesting", "known_type" (naming it) or "artefact", with a note.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("object_pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("known_class", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("api_key_pk", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["object_pk"], ["objects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["api_key_pk"], ["api_keys.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_labels_object_created", "labels", ["object_pk", "id"])


def downgrade() -> None:
    op.drop_index("ix_labels_object_created", table_name="labels")
    op.drop_table("labels")
