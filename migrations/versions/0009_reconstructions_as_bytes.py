"""Score reconstructions are kept as the bytes of their JSON (``service.db.JSONBytes``) instead of a JSON column.

A reconstruction is about 20 kB of JSON a score, and a chunk stores one per curve: in a JSON column PostgreSQL
parsed each to check it and compressed it into TOAST, on the cores the workers need. As bytes stored out of line
without compression (``STORAGE EXTERNAL``, as the curve arrays of 0008) the server only copies them. The text is
unchanged both ways: PostgreSQL converts it in place, SQLite casts it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE scores ALTER COLUMN reconstruction TYPE bytea "
                   "USING convert_to(reconstruction::text, 'UTF8')")
        op.execute("ALTER TABLE scores ALTER COLUMN reconstruction SET STORAGE EXTERNAL")
        return
    with op.batch_alter_table("scores") as batch:
        batch.alter_column("reconstruction", existing_type=sa.JSON(), type_=sa.LargeBinary())
    op.execute("UPDATE scores SET reconstruction = CAST(reconstruction AS BLOB)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE scores ALTER COLUMN reconstruction SET STORAGE EXTENDED")
        op.execute("ALTER TABLE scores ALTER COLUMN reconstruction TYPE json "
                   "USING convert_from(reconstruction, 'UTF8')::json")
        return
    with op.batch_alter_table("scores") as batch:
        batch.alter_column("reconstruction", existing_type=sa.LargeBinary(), type_=sa.JSON())
    op.execute("UPDATE scores SET reconstruction = CAST(reconstruction AS TEXT)")
