"""Alerts: observations that grow an object's curve, what each score saw, and stream batches' publication.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("object_pk", sa.Integer(), nullable=False),
        sa.Column("mjd", sa.Float(), nullable=False),
        sa.Column("band", sa.String(length=16), nullable=False),
        sa.Column("mag", sa.Float(), nullable=False),
        sa.Column("mag_err", sa.Float(), nullable=False),
        sa.Column("survey", sa.String(length=16), nullable=False),
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["object_pk"], ["objects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("object_pk", "mjd", "band", name="uq_observations_object_time_band"),
    )
    with op.batch_alter_table("objects") as batch:
        batch.add_column(sa.Column("points_queued", sa.Integer(), nullable=True))
    with op.batch_alter_table("scores") as batch:
        batch.add_column(sa.Column("n_points", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("mjd_first", sa.Float(), nullable=True))
        batch.add_column(sa.Column("mjd_last", sa.Float(), nullable=True))
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("stream", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_batches_stream", ["stream"])


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.drop_index("ix_batches_stream")
        batch.drop_column("published_at")
        batch.drop_column("stream")
    with op.batch_alter_table("scores") as batch:
        batch.drop_column("mjd_last")
        batch.drop_column("mjd_first")
        batch.drop_column("n_points")
    with op.batch_alter_table("objects") as batch:
        batch.drop_column("points_queued")
    op.drop_table("observations")
