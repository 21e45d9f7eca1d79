"""Migrations build the schema from empty and roll back cleanly, on PostgreSQL and on SQLite."""

from __future__ import annotations

import lcad_testkit as kit
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from service.db import Base, get_engine, migrate

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
