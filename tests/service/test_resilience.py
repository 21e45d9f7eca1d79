"""Neither a killed worker nor a restarted Redis loses work: each batch ends with exactly one score per curve.

Chunks of two curves make a batch of 100 curves 50 tasks long, so the fault lands in the middle of it. Recovery
comes from late acknowledgement plus the sweeper, which re-queues chunks the database still shows unfinished.
"""

from __future__ import annotations

import time

import lcad_testkit as kit
from sqlalchemy import func, select

from service.db import Chunk, ChunkItem, LightCurveRow, Score, get_sessionmaker


def _submit(client, curves, key: str) -> str:
    response = client.post("/batches", content=kit.jsonl(curves),
                           headers={"Content-Type": "application/x-ndjson", "Idempotency-Key": key})
    assert response.status_code == 202, response.text
    return response.headers["Location"]


def _wait_for_progress(client, location: str, done_chunks: int, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.get(location).json()
        if body["chunks"]["done"] >= done_chunks:
            return body
        time.sleep(0.05)
    raise AssertionError(f"no progress: {body}")


def _assert_one_score_per_curve(client, location: str, pg_url: str, n: int) -> None:
    body = kit.wait_batch(client, location, timeout_s=120)
    assert body["state"] == "done", body
    assert body["counts"]["accepted"] == body["counts"]["scored"] == n and body["counts"]["failed"] == 0, body
    results = client.get(f"{location}/results", params={"limit": 1000}).json()["data"]
    assert len(results) == n and len({r["object_id"] for r in results}) == n
    with get_sessionmaker(pg_url)() as session:
        hashes = select(LightCurveRow.content_hash).join(ChunkItem).join(Chunk).where(Chunk.batch_id == body["id"])
        rows = session.scalar(select(func.count()).select_from(Score).where(Score.content_hash.in_(hashes)))
    assert rows == n  # one stored score per accepted curve, no duplicate from a redelivery or a re-queue


def test_sigkill_worker_mid_batch(celery_client, start_worker, curves, pg_url):
    batch = curves[100:200]
    first = start_worker()
    location = _submit(celery_client, batch, "kill-test")
    progress = _wait_for_progress(celery_client, location, done_chunks=5)
    kit.kill_worker(first)  # SIGKILL to the main process and its prefork child
    assert progress["state"] != "done"
    killed_at = celery_client.get(location).json()
    assert killed_at["counts"]["pending"] > 0, killed_at
    start_worker()
    _assert_one_score_per_curve(celery_client, location, pg_url, len(batch))


def test_redis_restart_mid_batch(celery_client, start_worker, curves, pg_url, redis_guard):
    batch = curves[200:300]
    start_worker()
    location = _submit(celery_client, batch, "redis-restart-test")
    _wait_for_progress(celery_client, location, done_chunks=3)
    redis_guard.restart()  # every queued message is gone; the chunks are still in the database
    assert celery_client.get(location).json()["counts"]["pending"] > 0
    _assert_one_score_per_curve(celery_client, location, pg_url, len(batch))
