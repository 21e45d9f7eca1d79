"""The Celery app's delivery guarantees; the ingestion of a stored upload by a worker, the chunk task's idempotency
and the sweeper (on SQLite)."""

from __future__ import annotations

import json

import lcad_testkit as kit
import pytest
from sqlalchemy import func, select, update

from service import crud
from service.batches import submit_batch
from service.config import Settings
from service.db import Batch, Chunk, ChunkItem, LightCurveRow, Score, get_sessionmaker, migrate
from service.dispatch import run_chunk, sweep
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

    def __init__(self, fail_after: int | None = None):
        self.sent: list[int] = []
        self.fail_after = fail_after  # a worker that dies once it has queued this many chunks

    def submit(self, chunk_ids):
        self.sent.extend(chunk_ids)
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise SystemExit("worker killed")

    def healthy(self):
        return True, "recording"

    def close(self):
        pass


def _upload(settings, n_curves: int = 10):
    path = settings.upload_path / "test.upload"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(kit.curve_json(lc)) + "\n" for lc in kit.sample().lightcurves[:n_curves]))
    return path


@pytest.fixture
def submitted(tmp_path, model_file):
    """A batch as the request leaves it: the body stored, the ingest chunk committed and queued, nothing parsed."""
    settings = Settings(data_dir=tmp_path, chunk_size=4)
    migrate(settings.db_url)
    sessions = get_sessionmaker(settings.db_url)
    with sessions() as session:
        model = crud.register_model(session=session, path=model_file)
        dispatcher = RecordingDispatcher()
        submission = submit_batch(session=session, dispatcher=dispatcher, owner="anonymous", key_pk=None,
                                  model_pk=model.id, upload=_upload(settings), content_type="application/x-ndjson",
                                  idempotency_key=None)
    return settings, sessions, dispatcher, submission.batch.id, model.id


def _ingest(settings, sessions, chunk_id, dispatcher):
    return run_chunk(sessions=sessions, cache=ScorerCache("cpu"), dispatcher=dispatcher, settings=settings,
                     chunk_id=chunk_id)


@pytest.fixture
def batch(submitted):
    settings, sessions, dispatcher, batch_id, model_pk = submitted
    scoring = RecordingDispatcher()
    assert _ingest(settings, sessions, dispatcher.sent[0], scoring).state == "done"
    return sessions, scoring, batch_id, model_pk


def _count(sessions, table) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(table))


def test_the_request_only_stores_the_upload_and_a_worker_parses_it(submitted):
    settings, sessions, dispatcher, batch_id, _ = submitted
    upload = settings.upload_path / "test.upload"
    with sessions() as session:
        chunks = session.scalars(select(Chunk).where(Chunk.batch_id == batch_id)).all()
        assert [(c.kind, c.state) for c in chunks] == [("ingest", "queued")]
        assert dispatcher.sent == [chunks[0].id]  # committed, then queued
        assert session.get(Batch, batch_id).upload == upload.name
    assert upload.is_file() and _count(sessions, LightCurveRow) == 0  # nothing parsed in the request
    scoring = RecordingDispatcher()
    outcome = _ingest(settings, sessions, dispatcher.sent[0], scoring)
    assert outcome.state == "done" and not upload.exists()  # deleted once everything in it is stored
    with sessions() as session:
        chunks = session.scalars(select(Chunk).where(Chunk.batch_id == batch_id, Chunk.kind == "score")
                                 .order_by(Chunk.seq)).all()
        assert scoring.sent == [c.id for c in chunks] and [c.n_curves for c in chunks] == [4, 4, 2]
        batch = session.get(Batch, batch_id)
        assert (batch.n_received, batch.n_accepted, batch.upload) == (10, 10, None)
    assert _ingest(settings, sessions, dispatcher.sent[0], scoring).skipped  # a redelivery does nothing


def test_an_ingestion_killed_half_way_resumes_after_its_last_committed_chunk(submitted):
    settings, sessions, dispatcher, batch_id, _ = submitted
    ingest_id = dispatcher.sent[0]
    dying = RecordingDispatcher(fail_after=2)  # dies right after queueing (so after committing) its 2nd chunk
    with pytest.raises(SystemExit):
        _ingest(settings, sessions, ingest_id, dying)
    assert _count(sessions, ChunkItem) == 8 and (settings.upload_path / "test.upload").is_file()
    with sessions.begin() as session:  # its lease runs out; the sweeper hands the ingest chunk to another worker
        session.execute(update(Chunk).where(Chunk.id == ingest_id).values(lease_until=Chunk.started_at))
    sweeper = RecordingDispatcher()
    sweep(sessions=sessions, dispatcher=sweeper, requeue_after_s=3600, max_attempts=5)
    assert ingest_id in sweeper.sent
    scoring = RecordingDispatcher()
    assert _ingest(settings, sessions, ingest_id, scoring).state == "done"
    assert len(scoring.sent) == 1 and _count(sessions, ChunkItem) == 10  # only the rest, nothing twice
    with sessions() as session:
        assert session.get(Batch, batch_id).n_received == 10
        assert sorted(session.scalars(select(Chunk.seq).where(Chunk.kind == "score"))) == [0, 1, 2]


def _n_scores(sessions, model_pk) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Score).where(Score.model_pk == model_pk))


def test_chunks_are_recorded_before_queueing_and_scoring_twice_stores_once(batch):
    sessions, dispatcher, batch_id, model_pk = batch
    with sessions() as session:
        chunk_ids = list(session.scalars(select(Chunk.id).where(Chunk.batch_id == batch_id, Chunk.kind == "score")
                                         .order_by(Chunk.seq)))
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
        chunk_id = session.scalar(select(Chunk.id).where(Chunk.batch_id == batch_id, Chunk.kind == "score")
                                   .order_by(Chunk.seq))
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
        chunk_id = session.scalar(select(Chunk.id).where(Chunk.batch_id == batch_id, Chunk.kind == "score")
                                   .order_by(Chunk.seq))
        crud.claim_chunk(session=session, chunk_id=chunk_id, lease_s=0.3)
    first = _lease(sessions, chunk_id)
    with Heartbeat(sessions, chunk_id, lease_s=0.3):
        deadline = time.monotonic() + 5
        while _lease(sessions, chunk_id) == first and time.monotonic() < deadline:
            time.sleep(0.05)
    assert _lease(sessions, chunk_id) > first


def test_a_worker_preloads_the_active_model_in_the_background(batch):
    sessions = batch[0]
    cache = ScorerCache("cpu")
    cache.preload(sessions).join(timeout=120)
    with sessions() as session:
        assert cache.loaded(crud.active_model(session=session))


def test_an_upload_read_in_a_child_process_queues_its_chunks_here_and_a_dead_child_is_replaced(submitted):
    import threading

    from service.child_process import ChildProcess, ChildProcessDied

    settings, sessions, dispatcher, batch_id, _ = submitted
    child = ChildProcess(settings)
    try:
        child._start()
        threading.Timer(0.2, child._process.kill).start()  # dies while it starts (its imports take over a second)
        with pytest.raises(ChildProcessDied):
            child.ingest(dispatcher.sent[0], RecordingDispatcher())
        scoring = RecordingDispatcher()
        outcome = child.ingest(dispatcher.sent[0], scoring)  # the next call starts a new child
        assert outcome.state == "done"
        with sessions() as session:
            chunks = list(session.scalars(select(Chunk.id).where(Chunk.batch_id == batch_id, Chunk.kind == "score")
                                          .order_by(Chunk.seq)))
        assert scoring.sent == chunks and len(chunks) == 3  # relayed to this process as the child committed them
    finally:
        child.close()


def test_closing_a_child_while_a_call_waits_on_it_ends_that_call_and_starts_no_other(submitted, monkeypatch):
    import threading

    from service.child_process import ChildProcess, ChildProcessDied

    settings, _, dispatcher, _, _ = submitted
    child = ChildProcess(settings)
    child._start()
    failures = []

    def call() -> None:
        try:
            child.ingest(dispatcher.sent[0], RecordingDispatcher())
        except ChildProcessDied as err:
            failures.append(err)

    waiting = threading.Thread(target=call)
    waiting.start()
    threading.Timer(0.2, child.close).start()  # while the child still imports, as at shutdown
    waiting.join(timeout=30)
    assert not waiting.is_alive() and len(failures) == 1
    started = []
    monkeypatch.setattr(child, "_start", lambda: started.append("a new child"))
    with pytest.raises(ChildProcessDied):
        child.ingest(dispatcher.sent[0], RecordingDispatcher())
    assert started == [] and child._process is None


def test_a_scoring_failure_travels_between_processes_whole():
    import pickle

    from models.lightcurve import LightCurveError

    error = pickle.loads(pickle.dumps(LightCurveError("obj", "mag", "the model could not score this curve")))
    assert (error.object_id, error.field, error.reason) == ("obj", "mag", "the model could not score this curve")


def test_scoring_threads_take_turns_in_the_model(batch):
    import threading
    import time

    sessions, _, batch_id, model_pk = batch
    cache = ScorerCache("cpu")
    with sessions() as session:
        scorer = cache.get(crud.active_model(session=session))
        chunk_ids = list(session.scalars(select(Chunk.id).where(Chunk.batch_id == batch_id, Chunk.kind == "score")))
    inside, most = [], []

    def score(curves):
        inside.append(1)
        most.append(len(inside))
        time.sleep(0.2)  # long enough for the other threads to arrive
        inside.pop()
        return type(scorer).score(scorer, curves)

    scorer.score = score
    threads = [threading.Thread(target=score_chunk, kwargs={"sessions": sessions, "cache": cache, "chunk_id": c})
               for c in chunk_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max(most) == 1 and _n_scores(sessions, model_pk) == 10
