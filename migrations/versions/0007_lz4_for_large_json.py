"""PostgreSQL compresses the large JSON columns (curve arrays, score reconstructions) with lz4 instead of pglz.

Both are about 17-20 kB a row and are always compressed on the way into TOAST: with pglz that took about 2 ms a row
(storing 1000 curves or their scores cost more than scoring them); with lz4 about 0.4 ms. Values already stored
keep their compression and are still read. A server without lz4 (before PostgreSQL 14, or built without it) keeps
pglz; SQLite has no such setting.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 11:40:00
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LARGE_JSON = (("lightcurves", "data"), ("scores", "reconstruction"))
log = logging.getLogger(__name__)


def _set_compression(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or bind.dialect.server_version_info < (14,):
        return
    try:
        with bind.begin_nested():  # a savepoint: a server without lz4 refuses it without aborting the migration
            for table, column in LARGE_JSON:
                op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}")
    except DBAPIError as err:
        log.warning("keeping the default compression: %s", str(err).splitlines()[0])


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("default")
