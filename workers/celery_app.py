"""The workers' Celery app: the service's factory (:func:`service.queue.make_celery`) with the task modules.

``celery -A workers.celery_app worker`` and ``lcad worker`` run it.
"""

from __future__ import annotations

from service.config import get_settings
from service.queue import make_celery

app = make_celery(get_settings(), include=("workers.tasks",))
