"""Getting chunks scored: a Celery queue (deployed) or a thread pool in the API process (embedded), and a sweeper.

A chunk is committed to the database (state ``queued``) before its id is queued. The queue is therefore only a
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
from service.config import Settings
from service.scoring import ScorerCache, score_chunk

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def submit(self, chunk_ids: Sequence[int]) -> None: ...

    def healthy(self) -> tuple[bool, str]: ...

    def close(self) -> None: ...


class EmbeddedDispatcher:
    """Scores chunks in a background thread pool of this process (``lcad serve`` without a broker)."""

    def __init__(self, sessions: sessionmaker, cache: ScorerCache, threads: int = 1, lease_s: float = 60.0):
        self.sessions, self.cache, self.lease_s = sessions, cache, lease_s
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lcad-score")
        self.closed = False

    def submit(self, chunk_ids: Sequence[int]) -> None:
        for chunk_id in chunk_ids:
            self.pool.submit(self._run, chunk_id)

    def _run(self, chunk_id: int) -> None:
        try:
            score_chunk(sessions=self.sessions, cache=self.cache, chunk_id=chunk_id, lease_s=self.lease_s)
        except Exception:  # the chunk stays unfinished in the database; the sweeper retries it
            log.exception("chunk %d: scoring failed", chunk_id)

    def healthy(self) -> tuple[bool, str]:
        return (not self.closed, "in-process thread pool" if not self.closed else "thread pool stopped")

    def close(self) -> None:
        self.closed = True
        self.pool.shutdown(wait=False, cancel_futures=True)


class CeleryDispatcher:
    """Sends ``lcad.score_chunk`` messages to the Celery workers through the broker."""

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


def make_dispatcher(settings: Settings, sessions: sessionmaker, cache: ScorerCache) -> Dispatcher:
    if settings.embedded:
        return EmbeddedDispatcher(sessions, cache, settings.embedded_threads, settings.lease_s)
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
