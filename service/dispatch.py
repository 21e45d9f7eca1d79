"""Getting chunks done: a Celery queue (deployed) or thread pools in the API process (embedded), and a sweeper.

A chunk either reads a batch's stored upload into scoring chunks (kind ``ingest``, :mod:`service.batches`) or scores
up to ``chunk_size`` curves (kind ``score``, :mod:`service.scoring`); :func:`run_chunk` does either. A chunk is
committed to the database (state ``queued``) before its id is queued. The queue is therefore only a
hint: if a message is lost (Redis restarted without persistence, a worker killed after taking it, a send that
failed), the chunk stays ``queued`` or ``running`` in the database, and :func:`sweep` queues it again once it has
been waiting longer than ``requeue_after_s``. Scoring a chunk twice is harmless (see :mod:`service.scoring`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from sqlalchemy.orm import sessionmaker

from service import crud, metrics
from service.batches import ingest_chunk
from service.child_process import ChildProcess
from service.config import Settings
from service.scoring import ChunkOutcome, ScorerCache, score_chunk

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def submit(self, chunk_ids: Sequence[int]) -> None: ...

    def healthy(self) -> tuple[bool, str]: ...

    def close(self) -> None: ...


def run_chunk(*, sessions: sessionmaker, cache: ScorerCache, dispatcher: Dispatcher, settings: Settings,
              chunk_id: int, reader: ChildProcess | None = None, writer: ChildProcess | None = None
              ) -> ChunkOutcome:
    """Work one queued chunk of either kind under its lease; safe to run again (a chunk finished, or leased by
    another worker, is skipped). ``dispatcher`` queues the scoring chunks an ingestion stores. ``reader`` and
    ``writer``, when given, are the child processes that read uploads and store scores (else this thread does)."""
    with sessions() as session:
        kind = crud.chunk_kinds(session=session, chunk_ids=[chunk_id]).get(chunk_id, "score")
    if kind != "ingest":
        return score_chunk(sessions=sessions, cache=cache, chunk_id=chunk_id, lease_s=settings.lease_s,
                           store=writer.store if writer is not None else None)
    if reader is not None:
        return reader.ingest(chunk_id, dispatcher)
    return ingest_chunk(sessions=sessions, dispatcher=dispatcher, settings=settings, chunk_id=chunk_id)


class EmbeddedDispatcher:
    """Runs chunks in background threads of this process (``lcad serve`` without a broker), with two child
    processes (:mod:`service.child_process`): one reads uploads (waited on by one thread here), so that scoring a
    batch's first chunks runs on another core than reading the rest of it, and one stores scores, so that the
    model goes on with the next chunk (``embedded_threads`` scoring threads take turns in it) while they are stored.

    ``queue_to`` is where the scoring chunks an ingestion stores are queued: this dispatcher, or in a Celery worker
    the :class:`Tee` of the broker and this dispatcher."""

    def __init__(self, sessions: sessionmaker, cache: ScorerCache, settings: Settings):
        self.sessions, self.cache, self.settings = sessions, cache, settings
        self.pool = ThreadPoolExecutor(max_workers=settings.embedded_threads, thread_name_prefix="lcad-score")
        self.ingest_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lcad-ingest")
        self.reader, self.writer = ChildProcess(settings), ChildProcess(settings)
        self.queue_to: Dispatcher = self
        self.closed = False

    def submit(self, chunk_ids: Sequence[int]) -> None:
        if self.closed:  # shutting down: the chunks wait in the database for the next start's sweep
            return
        try:
            with self.sessions() as session:
                kinds = crud.chunk_kinds(session=session, chunk_ids=chunk_ids)
        except Exception:  # the chunks are in the database: the sweeper will queue them
            log.exception("could not queue %d chunk(s); the sweeper will retry", len(chunk_ids))
            return
        for chunk_id in chunk_ids:
            pool = self.ingest_pool if kinds.get(chunk_id) == "ingest" else self.pool
            pool.submit(self._run, chunk_id)

    def run(self, chunk_id: int) -> ChunkOutcome:
        """Work one chunk of either kind now, in this thread and the child processes."""
        return run_chunk(sessions=self.sessions, cache=self.cache, dispatcher=self.queue_to, settings=self.settings,
                         chunk_id=chunk_id, reader=self.reader, writer=self.writer)

    def _run(self, chunk_id: int) -> None:
        try:
            self.run(chunk_id)
        except Exception:  # the chunk stays unfinished in the database; the sweeper retries it
            log.exception("chunk %d failed", chunk_id)

    def healthy(self) -> tuple[bool, str]:
        return (not self.closed, "in-process thread pool" if not self.closed else "thread pool stopped")

    def close(self) -> None:
        self.closed = True
        self.ingest_pool.shutdown(wait=False, cancel_futures=True)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.reader.close()
        self.writer.close()


class CeleryDispatcher:
    """Sends ``lcad.score_chunk`` messages (chunks of either kind) to the Celery workers through the broker."""

    def __init__(self, settings: Settings):
        from service.queue import make_celery

        self.settings = settings
        self.app = make_celery(settings)

    def submit(self, chunk_ids: Sequence[int]) -> None:
        try:
            for chunk_id in chunk_ids:
                self.app.send_task("lcad.score_chunk", args=[chunk_id], queue=self.settings.queue,
                                   retry=True, retry_policy={"max_retries": 2, "interval_start": 0.2})
        except Exception:  # the chunks are in the database: the sweeper will queue them when the broker is back
            log.exception("could not queue %d chunk(s); the sweeper will retry", len(chunk_ids))

    def healthy(self) -> tuple[bool, str]:
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
            return True, "broker reachable"
        except Exception as err:
            return False, f"broker unreachable: {type(err).__name__}"

    def close(self) -> None:
        self.app.close()


class Tee:
    """Hands every chunk to each dispatcher in turn. A Celery worker queues through the broker and runs here too
    (:class:`EmbeddedDispatcher`): the worker that reads an upload scores each chunk it stores in a background
    thread while it reads on, and an idle worker that takes a chunk's message first scores it instead; the lease
    lets exactly one of them do it."""

    def __init__(self, *dispatchers: Dispatcher):
        self.dispatchers = dispatchers

    def submit(self, chunk_ids: Sequence[int]) -> None:
        for dispatcher in self.dispatchers:
            dispatcher.submit(chunk_ids)

    def healthy(self) -> tuple[bool, str]:
        answers = [d.healthy() for d in self.dispatchers]
        return all(ok for ok, _ in answers), "; ".join(why for _, why in answers)

    def close(self) -> None:
        for dispatcher in self.dispatchers:
            dispatcher.close()


def make_dispatcher(settings: Settings, sessions: sessionmaker, cache: ScorerCache) -> Dispatcher:
    if settings.embedded:
        return EmbeddedDispatcher(sessions, cache, settings)
    return CeleryDispatcher(settings)


def sweep(*, sessions: sessionmaker, dispatcher: Dispatcher, requeue_after_s: float, max_attempts: int) -> int:
    """Queue again the chunks :func:`service.crud.requeue_stale_chunks` finds stale; their number."""
    with sessions() as session:
        requeued = crud.requeue_stale_chunks(session=session, requeue_after_s=requeue_after_s,
                                             max_attempts=max_attempts)
    if requeued:
        log.warning("re-queueing %d unfinished chunk(s)", len(requeued))
        metrics.CHUNKS_REQUEUED.inc(len(requeued))
        dispatcher.submit(requeued)
    return len(requeued)


class Sweeper:
    """Runs a function every ``interval_s`` seconds in a daemon thread until stopped."""

    def __init__(self, interval_s: float, fn: Callable[[], object]):
        self.interval_s, self.fn = interval_s, fn
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="lcad-sweeper", daemon=True)

    def start(self) -> Sweeper:
        self.thread.start()
        return self

    def _loop(self) -> None:
        while not self.stopped.wait(self.interval_s):
            try:
                self.fn()
            except Exception:
                log.exception("sweep failed")

    def stop(self) -> None:
        self.stopped.set()
