"""Fixtures of the service tests: a real model file, a fresh PostgreSQL database, Redis, Celery workers, apps."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lcad_testkit as kit  # noqa: E402

from service.api.main import create_app  # noqa: E402
from service.config import Settings  # noqa: E402
from service.db import get_engine  # noqa: E402


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    return kit.fit_model(tmp_path_factory.mktemp("model") / "iforest.pt")


@pytest.fixture(scope="session")
def multiband_model_file(tmp_path_factory) -> Path:
    return kit.fit_multiband_model(tmp_path_factory.mktemp("model") / "iforest_ugriz.pt")


@pytest.fixture(scope="session")
def curves():
    return kit.sample().lightcurves


@pytest.fixture(scope="session")
def pg_server():
    """The tests' own PostgreSQL on a free port (the machine's is never used)."""
    server = kit.PostgresServer().start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def pg_url(pg_server):
    name, url = kit.create_pg_database(pg_server)
    yield url
    get_engine(url).dispose()
    kit.drop_pg_database(pg_server, name)


@pytest.fixture
def embedded_settings(tmp_path, model_file) -> Settings:
    """The embedded mode (SQLite, in-process scoring), with small chunks and a fast sweeper."""
    return Settings(data_dir=tmp_path / "data", model_path=model_file, models_dir=model_file.parent, chunk_size=10,
                    sweep_interval_s=0.5, requeue_after_s=5, rate_limit_per_minute=10_000)


@pytest.fixture
def embedded_client(embedded_settings):
    with TestClient(create_app(embedded_settings)) as client:
        yield client


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """The tests' own Redis on a free port (the machine's Redis is never used, let alone stopped)."""
    server = kit.RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def celery_env(pg_url, model_file, redis_server, tmp_path_factory) -> dict[str, str]:
    """LCAD_* settings of the deployed mode, shared by the API under test and its worker processes."""
    return {"LCAD_DATABASE_URL": pg_url, "LCAD_BROKER_URL": redis_server.url, "LCAD_MODELS_DIR": str(model_file.parent),
            "LCAD_UPLOAD_DIR": str(tmp_path_factory.mktemp("uploads")),
            "LCAD_QUEUE": f"lcad-test-{uuid.uuid4().hex[:8]}", "LCAD_MODEL_PATH": str(model_file),
            "LCAD_CHUNK_SIZE": "2", "LCAD_SWEEP_INTERVAL_S": "0.5", "LCAD_REQUEUE_AFTER_S": "4", "LCAD_LEASE_S": "3",
            "LCAD_MAX_ATTEMPTS": "20", "LCAD_RATE_LIMIT_PER_MINUTE": "100000"}


@pytest.fixture(scope="session")
def celery_settings(celery_env) -> Settings:
    return Settings(**{k.removeprefix("LCAD_").lower(): v for k, v in celery_env.items()})


@pytest.fixture(scope="session")
def celery_client(celery_settings):
    with TestClient(create_app(celery_settings)) as client:
        yield client


@pytest.fixture
def start_worker(celery_env, tmp_path):
    """Starts real Celery worker processes on demand; stops whatever is left at the end of the test."""
    started = []

    def start():
        process = kit.start_worker(celery_env, tmp_path / f"worker{len(started)}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        kit.kill_worker(process)  # faster than a warm shutdown; unacked messages stay in the test queue


@pytest.fixture
def redis_guard(redis_server):
    """Whatever a test does to the tests' Redis, it is answering again afterwards."""
    yield redis_server
    if not redis_server.ping():
        redis_server.start()
