"""The Celery app's delivery guarantees, and the chunk task's idempotency and the sweeper (on SQLite)."""

from __future__ import annotations

import io
import json

import lcad_testkit as kit
import pytest
from sqlalchemy import func, select, update

from service import crud
from service.batches import submit_batch
from service.config import Settings
from service.db import Chunk, Score, get_sessionmaker, migrate
from service.dispatch import sweep
from service.scoring import ScorerCache, score_chunk


def test_celery_app_is_at_least_once_with_prefetch_one():
    from workers import tasks  # noqa: F401 - registers the tasks
    from workers.celery_app import app

    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1
    assert "lcad.score_chunk" in app.tasks
    task = app.tasks["lcad.score_chunk"]
    assert task.max_retries >= 30 and task.retry_backoff  # a database outage is waited out, not given up on


class RecordingDispatcher:
    """Records what would be queued (the sweeper's contract is the list of chunk ids it re-queues)."""

    def __init__(self):
        self.sent: list[int] = []

    def submit(self, chunk_ids):
        self.sent.extend(chunk_ids)

    def healthy(self):
        return True, "recording"

    def close(self):
        pass


@pytest.fixture
def batch(tmp_path, model_file):
    settings = Settings(data_dir=tmp_path, chunk_size=4)
    migrate(settings.db_url)
    sessions = get_sessionmaker(settings.db_url)
    with sessions() as session:
        model = crud.register_model(session=session, path=model_file)
        body = io.BytesIO("".join(json.dumps(kit.curve_json(lc)) + "\n" for lc in kit.sample().lightcurves[:10])
                          .encode())
        dispatcher = RecordingDispatcher()
        submission = submit_batch(session=session, dispatcher=dispatcher, settings=settings, owner="anonymous",
                                  key_pk=None, model_pk=model.id, body=body, content_type="application/x-ndjson",
                                  idempotency_key=None)
    return sessions, dispatcher, submission.batch.id, model.id


def _n_scores(sessions, model_pk) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Score).where(Score.model_pk == model_pk))


def test_chunks_are_recorded_before_queueing_and_scoring_twice_stores_once(batch):
    sessions, dispatcher, batch_id, model_pk = batch
    with sessions() as session:
        chunk_ids = list(session.scalars(select(Chunk.id).where(Chunk.batch_id == batch_id).order_by(Chunk.seq)))
    assert dispatcher.sent == chunk_ids and len(chunk_ids) == 3  # 10 curves in chunks of 4
    cache = ScorerCache("cpu")
    first = score_chunk(sessions=sessions, cache=cache, chunk_id=chunk_ids[0])
    assert (first.state, first.scored) == ("done", 4)
    assert score_chunk(sessions=sessions, cache=cache, chunk_id=chunk_ids[0]).skipped
    # A redelivery after a crash finds the chunk still "running": it is scored again, and nothing doubles.
    with sessions.begin() as session:
        session.execute(update(Chunk).where(Chunk.id == chunk_ids[0]).values(state="running"))
    again = score_chunk(sessions=sessions, cache=cache, chunk_id=chunk_ids[0])
    assert (again.state, again.scored) == ("done", 4)
    assert _n_scores(sessions, model_pk) == 4


def test_sweeper_requeues_stale_chunks_and_gives_up_after_max_attempts(batch):
    sessions, _, batch_id, _ = batch
    dispatcher = RecordingDispatcher()
    assert sweep(sessions=sessions, dispatcher=dispatcher, requeue_after_s=3600, max_attempts=3) == 0
    assert sweep(sessions=sessions, dispatcher=dispatcher, requeue_after_s=0, max_attempts=3) == 3
    with sessions.begin() as session:
        session.execute(update(Chunk).where(Chunk.batch_id == batch_id).values(attempts=3, state="running"))
    assert sweep(sessions=sessions, dispatcher=dispatcher, requeue_after_s=0, max_attempts=3) == 0
    with sessions() as session:
        states = set(session.scalars(select(Chunk.state).where(Chunk.batch_id == batch_id)))
    assert states == {"failed"}


def _lease(sessions, chunk_id):
    with sessions() as session:
        return session.scalar(select(Chunk.lease_until).where(Chunk.id == chunk_id))


def test_a_leased_chunk_is_neither_requeued_nor_scored_twice_until_its_lease_ends(batch):
    sessions, _, batch_id, model_pk = batch
    with sessions() as session:
        chunk_id = session.scalar(select(Chunk.id).where(Chunk.batch_id == batch_id).order_by(Chunk.seq))
        assert crud.claim_chunk(session=session, chunk_id=chunk_id, lease_s=3600)  # a slow worker holds it
        assert not crud.claim_chunk(session=session, chunk_id=chunk_id, lease_s=3600)
    dispatcher = RecordingDispatcher()
    sweep(sessions=sessions, dispatcher=dispatcher, requeue_after_s=0, max_attempts=1)
    assert chunk_id not in dispatcher.sent  # the sweeper leaves a live lease alone, even past max_attempts
    with sessions() as session:
        assert session.get(Chunk, chunk_id).state == "running"  # not marked failed either
    redelivered = score_chunk(sessions=sessions, cache=ScorerCache("cpu"), chunk_id=chunk_id)
    assert redelivered.skipped and _n_scores(sessions, model_pk) == 0  # a second worker does not score it too
    with sessions.begin() as session:  # the worker died: its lease runs out
        session.execute(update(Chunk).where(Chunk.id == chunk_id).values(lease_until=Chunk.started_at))
    sweep(sessions=sessions, dispatcher=dispatcher, requeue_after_s=3600, max_attempts=5)
    assert chunk_id in dispatcher.sent


def test_the_heartbeat_renews_the_lease_while_scoring(batch):
    import time

    from service.lease import Heartbeat

    sessions, _, batch_id, _ = batch
    with sessions() as session:
        chunk_id = session.scalar(select(Chunk.id).where(Chunk.batch_id == batch_id).order_by(Chunk.seq))
        crud.claim_chunk(session=session, chunk_id=chunk_id, lease_s=0.3)
    first = _lease(sessions, chunk_id)
    with Heartbeat(sessions, chunk_id, lease_s=0.3):
        deadline = time.monotonic() + 5
        while _lease(sessions, chunk_id) == first and time.monotonic() < deadline:
            time.sleep(0.05)
    assert _lease(sessions, chunk_id) > first
