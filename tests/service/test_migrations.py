"""Migrations build the schema from empty and roll back cleanly, on PostgreSQL and on SQLite."""

from __future__ import annotations

import lcad_testkit as kit
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import JSON, LargeBinary, column, inspect, select, table
from sqlalchemy.orm import Session

from service import curve_bytes
from service.db import Base, Score, get_engine, migrate, utcnow

TABLES = {"model_versions", "objects", "lightcurves", "scores", "api_keys", "batches", "rejections", "chunks",
          "chunk_items", "labels", "observations"}


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server = request.getfixturevalue("pg_server")
    name, url = kit.create_pg_database(server)
    yield url
    get_engine(url).dispose()
    kit.drop_pg_database(server, name)


def test_upgrade_from_empty_matches_the_models_and_downgrade_removes_everything(empty_url):
    migrate(empty_url)
    engine = get_engine(empty_url)
    assert set(inspect(engine).get_table_names()) >= TABLES
    with engine.connect() as connection:
        # The migration and the SQLAlchemy tables describe the same schema (no autogenerate diff left).
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    migrate(empty_url, "base")
    engine.dispose()
    assert set(inspect(get_engine(empty_url)).get_table_names()) <= {"alembic_version"}
    migrate(empty_url)  # and up again after a full downgrade
    assert set(inspect(get_engine(empty_url)).get_table_names()) >= TABLES


def test_stored_curves_move_from_json_to_bytes_and_back(empty_url):
    """0008 converts every stored curve's arrays to bytes, bit for bit, and its downgrade restores the JSON."""
    migrate(empty_url, "0007")
    engine = get_engine(empty_url)
    data = {"mjd": [53000.1, 53001.25, 53002.5, 53000.5], "mag": [17.1, 17.3, 16.9, 18.0],
            "mag_err": [0.05, 0.06, 0.04, 0.1], "band": ["g", "g", "g", "r"]}
    lightcurves = table("lightcurves", column("id"), column("content_hash"), column("object_pk"),
                        column("data", JSON), column("arrays", LargeBinary), column("period"), column("n_points"),
                        column("created_at"))
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(table("objects", column("id"), column("object_id"), column("created_at")).insert(),
                           [{"id": 1, "object_id": "a", "created_at": now}])
        connection.execute(lightcurves.insert(), [{"id": 7, "content_hash": "h", "object_pk": 1, "data": data,
                                                   "period": 0.5, "n_points": 4, "created_at": now}])
    migrate(empty_url, "0008")
    with engine.connect() as connection:
        (arrays,) = connection.execute(select(lightcurves.c.arrays)).one()
    mjd, mag, mag_err, band = curve_bytes.decode(arrays)
    assert (mjd.tolist(), mag.tolist(), mag_err.tolist(), band.tolist()) == tuple(data.values())
    migrate(empty_url, "-1")
    with engine.connect() as connection:
        assert connection.execute(select(lightcurves.c.data)).scalar_one() == data


def test_score_reconstructions_move_from_json_to_bytes_and_back(empty_url):
    """0009 keeps each reconstruction's JSON text as bytes (read back as the same dict) and its downgrade restores
    the JSON column; a score without a reconstruction stays without one."""
    migrate(empty_url, "0008")
    engine = get_engine(empty_url)
    recon = {"period": 0.5123456789012345, "bands": {"g": {"phase": [0.1, 0.7], "mu_hat": [1e-7, -2.5],
                                                             "mean_mag": 17.25}}, "t_induction": [0.0, 0.5]}
    now = utcnow()
    scores = table("scores", *map(column, ["id", "content_hash", "lightcurve_pk", "object_pk", "model_pk", "score",
                                            "terms", "scored_at"]), column("reconstruction", JSON))
    with engine.begin() as connection:
        connection.execute(table("objects", column("id"), column("object_id"), column("created_at")).insert(),
                           [{"id": 1, "object_id": "a", "created_at": now}])
        connection.execute(table("lightcurves", *map(column, ["id", "content_hash", "object_pk", "arrays", "n_points",
                                                               "created_at"])).insert(),
                           [{"id": 7, "content_hash": "h", "object_pk": 1, "arrays": b"x", "n_points": 1,
                             "created_at": now}])
        connection.execute(table("model_versions", *map(column, ["id", "version", "scorer", "path", "sha256",
                                                                  "metrics", "active", "created_at"])).insert(),
                           [{"id": 3, "version": "v", "scorer": "s", "path": "p", "sha256": "0", "metrics": "{}",
                             "active": True, "created_at": now}])
        connection.execute(scores.insert(), [
            {"id": i, "content_hash": f"h{i}", "lightcurve_pk": 7, "object_pk": 1, "model_pk": 3, "score": 1.0,
             "terms": "{}", "scored_at": now, "reconstruction": r} for i, r in ((1, recon), (2, None))])
    migrate(empty_url, "0009")
    with Session(engine) as session:
        assert session.scalars(select(Score.reconstruction).order_by(Score.id)).all() == [recon, None]
    with engine.connect() as connection:
        raw = connection.execute(select(column("reconstruction", LargeBinary)).select_from(table("scores"))
                                 .where(column("id") == 1)).scalar_one()
    assert isinstance(raw, bytes)
    migrate(empty_url, "-1")
    with engine.connect() as connection:
        assert connection.execute(select(scores.c.reconstruction).order_by(scores.c.id)).scalars().all() == [recon,
                                                                                                           None]
