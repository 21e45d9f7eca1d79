"""Outages of the tests' own PostgreSQL and Redis (started on free ports, stopped here): 503 + Retry-After, then
service again; and an Idempotency-Key reused for another request."""

from __future__ import annotations

import lcad_testkit as kit
import pytest
from fastapi.testclient import TestClient

from service.api.main import create_app
from service.db import get_engine


@pytest.fixture
def own_pg():
    server = kit.PostgresServer().start()
    yield server
    get_engine(server.url).dispose()
    server.close()


def test_database_outage_answers_503_with_retry_after(embedded_settings, own_pg, curves):
    settings = embedded_settings.model_copy(update={"database_url": own_pg.url, "retry_after_s": 7})
    body = {"lightcurves": [kit.curve_json(curves[0])]}
    with TestClient(create_app(settings)) as client:
        assert client.get("/anomalies").status_code == 200
        own_pg.stop()
        for answer in (client.get("/anomalies"), client.post("/score", json=body), client.get("/models")):
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"] == "7" and "database" in answer.json()["detail"]
        own_pg.start()
        assert client.get("/anomalies").status_code == 200
        assert client.post("/score", json=body).status_code == 200


def test_broker_outage_answers_503_with_retry_after(embedded_settings, tmp_path, curves):
    redis = kit.RedisServer(tmp_path / "redis").start()
    try:
        settings = embedded_settings.model_copy(update={"broker_url": redis.url, "queue": f"q-{tmp_path.name}"})
        with TestClient(create_app(settings)) as client:
            redis.stop()
            answer = client.post("/batches", content=kit.jsonl(curves[:2]),
                                 headers={"Content-Type": "application/x-ndjson"})
            assert answer.status_code == 503 and "Retry-After" in answer.headers, answer.text
            redis.start()
            answer = client.post("/batches", content=kit.jsonl(curves[:2]),
                                 headers={"Content-Type": "application/x-ndjson"})
            assert answer.status_code == 202, answer.text
    finally:
        redis.stop()


def test_an_idempotency_key_reused_for_another_body_is_422(embedded_client, curves):
    headers = {"Content-Type": "application/x-ndjson", "Idempotency-Key": "k-1"}
    first = embedded_client.post("/batches", content=kit.jsonl(curves[:2]), headers=headers)
    same = embedded_client.post("/batches", content=kit.jsonl(curves[:2]), headers=headers)
    assert first.status_code == same.status_code == 202 and same.json()["id"] == first.json()["id"]
    assert same.headers["Idempotent-Replayed"] == "true"
    other = embedded_client.post("/batches", content=kit.jsonl(curves[2:4]), headers=headers)
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
