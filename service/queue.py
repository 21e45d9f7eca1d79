"""The Celery application factory of lcad, built from :class:`service.config.Settings`.

The API only sends messages (by task name) through an app from :func:`make_celery`; the workers build theirs in
:mod:`workers.celery_app` with the task modules included. So the service never imports the workers.

Delivery is at-least-once: a message is acknowledged only after its task finished (``task_acks_late``), a task
whose worker process died is put back (``task_reject_on_worker_lost``), and each worker process reserves one
message at a time (prefetch 1) so that a crash strands at most one chunk. Tasks are idempotent, so a redelivery
costs time, never a duplicate score. Messages that the broker itself loses are recovered by the sweeper
(:mod:`service.dispatch`), because every chunk is recorded in the database before it is queued.

Start a worker with ``lcad worker`` (one process per GPU) or ``celery -A workers.celery_app worker``.
"""

from __future__ import annotations

from celery import Celery

from service.config import Settings

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


def make_celery(settings: Settings, include: tuple[str, ...] = ()) -> Celery:
    """The app for ``settings``; ``include`` names the task modules a worker imports (none for the API)."""
    app = Celery("lcad", broker=settings.broker_url or DEFAULT_BROKER, include=list(include))
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        result_expires=3600,
        task_default_queue=settings.queue,
        task_routes={"lcad.*": {"queue": settings.queue}},
        task_serializer="json",
        accept_content=["json"],
        # A message taken by a worker that then vanished (SIGKILL of the whole worker) comes back after this long;
        # the sweeper usually re-queues its chunk sooner.
        broker_transport_options={"visibility_timeout": max(int(settings.requeue_after_s) * 2, 60)},
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
    )
    return app
