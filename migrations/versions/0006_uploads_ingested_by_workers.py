"""Uploads are parsed by the workers: a batch keeps its stored upload, and a chunk is either an ingestion (the
whole upload) or a scoring unit.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 11:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("upload", sa.Text(), nullable=True))
        batch.add_column(sa.Column("upload_format", sa.String(length=16), nullable=True))
    with op.batch_alter_table("chunks") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="score"))


def downgrade() -> None:
    with op.batch_alter_table("chunks") as batch:
        batch.drop_column("kind")
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("upload_format")
        batch.drop_column("upload")
