"""``lcad bench service --mode celery`` gives its workers the benchmark's chunk size: the workers read the uploads,
so a chunk size given to the API alone would leave the whole upload one chunk (no scoring while reading)."""

from __future__ import annotations

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
