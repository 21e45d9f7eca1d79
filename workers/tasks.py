"""Celery tasks: thin wrappers that take ids, call :mod:`service.dispatch`, and return.

Names are explicit (``lcad.*``) because messages carry them. The loaded model and the database engine are per
worker process (created lazily after the fork), cached on the task base class.
"""

from __future__ import annotations

import logging
from functools import cached_property

from celery import Task
from celery.signals import worker_process_init
from sqlalchemy.exc import OperationalError

from service.config import get_settings
from service.db import get_sessionmaker
from service.dispatch import CeleryDispatcher, EmbeddedDispatcher, Tee
from service.scoring import ScorerCache
from workers.celery_app import app

log = logging.getLogger(__name__)


class ScoringTask(Task):
    """Holds the per-process resources: a session factory, the cache of loaded models, and the dispatcher that runs
    this worker's chunks (uploads read in a child process; the scoring chunks they store queued for every worker
    and scored here beside the reading)."""

    @cached_property
    def sessions(self):
        return get_sessionmaker(get_settings().db_url)

    @cached_property
    def scorers(self) -> ScorerCache:
        return ScorerCache(get_settings().device)

    @cached_property
    def local(self) -> EmbeddedDispatcher:
        """Runs this worker's chunks: uploads in its reading process, the chunks they store in its scoring thread
        (queued through the broker too, for any idle worker)."""
        settings = get_settings()
        local = EmbeddedDispatcher(self.sessions, self.scorers, settings)
        local.queue_to = Tee(CeleryDispatcher(settings), local)
        return local


# A database outage is waited out: backoff doubling to one minute, up to 40 retries (over half an hour), so chunks
# resume when it is back instead of waiting for the sweeper.
@app.task(name="lcad.score_chunk", base=ScoringTask, bind=True, autoretry_for=(OperationalError, ConnectionError),
          retry_backoff=True, retry_backoff_max=60, max_retries=40)
def score_chunk_task(self: ScoringTask, chunk_id: int) -> dict:
    """Read a batch's upload into chunks, or score one chunk (idempotent: a chunk already done is skipped)."""
    outcome = self.local.run(chunk_id)
    log.info("chunk %d: %s (scored %d, failed %d)", chunk_id, outcome.state, outcome.scored, outcome.failed)
    return {"chunk": chunk_id, "state": outcome.state, "scored": outcome.scored, "failed": outcome.failed}


@worker_process_init.connect
def preload_model(**_) -> None:
    """Each worker process starts loading the active model as it starts, not on its first chunk."""
    task = app.tasks["lcad.score_chunk"]
    task.scorers.preload(task.sessions)
