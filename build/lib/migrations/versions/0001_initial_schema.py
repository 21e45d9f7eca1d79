"""Initial schema: model versions, objects, light curves, scores, batches (chunks, rejections), API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 20:11:52.125606
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
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=64), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("scorer", sa.String(length=64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("version"),
    )
    op.create_table(
        "objects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("object_id", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("object_id"),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=256), nullable=True),
        sa.Column("api_key_pk", sa.Integer(), nullable=True),
        sa.Column("model_pk", sa.Integer(), nullable=False),
        sa.Column("n_received", sa.Integer(), nullable=False),
        sa.Column("n_accepted", sa.Integer(), nullable=False),
        sa.Column("n_rejected", sa.Integer(), nullable=False),
        sa.Column("cleaning", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["api_key_pk"], ["api_keys.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["model_pk"],
            ["model_versions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "idempotency_key", name="uq_batches_idempotency"),
    )
    op.create_table(
        "lightcurves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("object_pk", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("period", sa.Float(), nullable=True),
        sa.Column("n_points", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["object_pk"], ["objects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("content_hash"),
    )
    with op.batch_alter_table("lightcurves", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lightcurves_object_pk"), ["object_pk"], unique=False)

    op.create_table(
        "chunks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("n_curves", sa.Integer(), nullable=False),
        sa.Column("n_scored", sa.Integer(), nullable=False),
        sa.Column("n_failed", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chunks_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index("ix_chunks_state_queued", ["state", "queued_at"], unique=False)

    op.create_table(
        "rejections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("chunk_id", sa.Integer(), nullable=True),
        sa.Column("object_id", sa.String(length=256), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("rejections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rejections_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("lightcurve_pk", sa.Integer(), nullable=False),
        sa.Column("object_pk", sa.Integer(), nullable=False),
        sa.Column("model_pk", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("predicted_class", sa.String(length=64), nullable=True),
        sa.Column("class_posterior", sa.JSON(), nullable=True),
        sa.Column("latent_mean", sa.JSON(), nullable=True),
        sa.Column("reconstruction", sa.JSON(), nullable=True),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["lightcurve_pk"], ["lightcurves.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["model_pk"], ["model_versions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["object_pk"], ["objects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("content_hash", "model_pk", name="uq_scores_content_model"),
    )
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scores_lightcurve_pk"), ["lightcurve_pk"], unique=False)
        batch_op.create_index("ix_scores_model_score", ["model_pk", "score", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_scores_object_pk"), ["object_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_scores_predicted_class"), ["predicted_class"], unique=False)
        batch_op.create_index(batch_op.f("ix_scores_scored_at"), ["scored_at"], unique=False)

    op.create_table(
        "chunk_items",
        sa.Column("chunk_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("lightcurve_pk", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["chunk_id"], ["chunks.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["lightcurve_pk"], ["lightcurves.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("chunk_id", "position"),
    )
    with op.batch_alter_table("chunk_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chunk_items_lightcurve_pk"), ["lightcurve_pk"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("chunk_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chunk_items_lightcurve_pk"))

    op.drop_table("chunk_items")
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scores_scored_at"))
        batch_op.drop_index(batch_op.f("ix_scores_predicted_class"))
        batch_op.drop_index(batch_op.f("ix_scores_object_pk"))
        batch_op.drop_index("ix_scores_model_score")
        batch_op.drop_index(batch_op.f("ix_scores_lightcurve_pk"))

    op.drop_table("scores")
    with op.batch_alter_table("rejections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rejections_batch_id"))

    op.drop_table("rejections")
    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.drop_index("ix_chunks_state_queued")
        batch_op.drop_index(batch_op.f("ix_chunks_batch_id"))

    op.drop_table("chunks")
    with op.batch_alter_table("lightcurves", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lightcurves_object_pk"))

    op.drop_table("lightcurves")
    op.drop_table("batches")
    op.drop_table("objects")
    op.drop_table("model_versions")
    op.drop_table("api_keys")
