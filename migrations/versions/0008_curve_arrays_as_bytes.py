"""Stored light curves keep their arrays as bytes (``lightcurves.arrays``, :mod:`service.curve_bytes`) instead of
JSON text (``lightcurves.data``): 2.5 times fewer bytes, no number formatting or parsing on the way in and out.

Stored curves are converted both ways, a page at a time. On PostgreSQL the column is stored out of line without
compression (``STORAGE EXTERNAL``): float64 bytes hardly compress, and compressing them only cost time.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:00:00
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from alembic import op

from service import curve_bytes

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

PAGE = 1000
LIGHTCURVES = sa.table("lightcurves", sa.column("id", sa.Integer), sa.column("data", sa.JSON),
                       sa.column("arrays", sa.LargeBinary))


def _convert(source: str, target: str, change) -> None:
    """Fill column ``target`` from ``source`` for every stored curve, ``PAGE`` rows at a time (by id)."""
    bind = op.get_bind()
    table, last = LIGHTCURVES.c, 0
    while rows := bind.execute(sa.select(table.id, table[source]).where(table.id > last)
                               .order_by(table.id).limit(PAGE)).all():
        bind.execute(sa.update(LIGHTCURVES).where(table.id == sa.bindparam("pk")).values({target: sa.bindparam("v")}),
                     [{"pk": pk, "v": change(value)} for pk, value in rows])
        last = rows[-1][0]


def _to_bytes(data: dict) -> bytes:
    return curve_bytes.encode(*(np.asarray(data[k], dtype=np.float64) for k in ("mjd", "mag", "mag_err")),
                              np.asarray(data["band"], dtype=object))


def _to_json(arrays: bytes) -> dict:
    mjd, mag, mag_err, band = curve_bytes.decode(arrays)
    return {"mjd": mjd.tolist(), "mag": mag.tolist(), "mag_err": mag_err.tolist(), "band": band.tolist()}


def _move(source: str, target: str, target_type: sa.types.TypeEngine, change) -> None:
    """Replace column ``source`` of every stored curve by ``target``, converted by ``change``."""
    with op.batch_alter_table("lightcurves") as batch:
        batch.add_column(sa.Column(target, target_type, nullable=True))
    _convert(source, target, change)
    with op.batch_alter_table("lightcurves") as batch:
        batch.alter_column(target, existing_type=target_type, nullable=False)
        batch.drop_column(source)


def upgrade() -> None:
    _move("data", "arrays", sa.LargeBinary(), _to_bytes)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE lightcurves ALTER COLUMN arrays SET STORAGE EXTERNAL")


def downgrade() -> None:
    _move("arrays", "data", sa.JSON(), _to_json)
