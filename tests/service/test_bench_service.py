"""``lcad bench service``: the Celery workers get the benchmark's chunk size, and the chunk timeline reads a real
batch."""

from __future__ import annotations

import time

import lcad_testkit as kit

from service.bench import service as bench
from service.config import Settings


def test_celery_workers_get_the_benchmarks_chunk_size(tmp_path, monkeypatch):
    started = []

    class FakeWorker:
        def __init__(self, command, stdout, env, **_):
            started.append(env)
            stdout.write(b"celery@host ready.\n")
            stdout.flush()

        def poll(self):
            return None

    monkeypatch.setattr(bench.subprocess, "Popen", FakeWorker)
    bench._start_workers(2, Settings(chunk_size=250), tmp_path)
    assert [env["LCAD_CHUNK_SIZE"] for env in started] == ["250", "250"]


def test_the_timeline_places_every_chunk_of_a_real_batch_in_order(embedded_client, embedded_settings, curves):
    """The chunk timeline of ``lcad bench service``: every scoring chunk is queued while the upload is read (so
    after the POST and before the reading ends) and claimed before the last one is done."""
    start = time.time()
    body = bench.jsonl_body(curves[:25], "timeline")
    response = embedded_client.post("/batches", content=body, headers={"Content-Type": "application/x-ndjson"})
    state = kit.wait_batch(embedded_client, response.headers["Location"])
    assert state["counts"]["scored"] == 25

    times = bench.timeline(embedded_settings.db_url, state["id"], start)

    assert times["chunks"] == 3  # 25 curves in chunks of 10
    assert 0 < times["first_chunk_queued_s"] <= times["upload_read_s"]
    assert times["first_chunk_queued_s"] <= times["first_chunk_claimed_s"] <= times["last_chunk_done_s"]
    assert times["last_chunk_done_s"] < time.time() - start
