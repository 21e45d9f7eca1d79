"""Reading uploads in a process of its own, beside the process that scores.

Parsing, validating, cleaning and storing an upload is Python that holds the GIL, and so is much of a scorer (its
folding, its smoothing): in one process, the thread that reads an upload and the thread that scores its first chunks
take turns on one core. :class:`IngestProcess` runs each ingest chunk (:func:`service.batches.ingest_chunk`, with
its lease and heartbeat) in a child process instead, so the two run on two cores. The child sends back the id of
every scoring chunk it commits, and the parent queues it on its own dispatcher as it arrives: scoring still starts
while the upload is read. The embedded API and each Celery worker keep one such child, started on the first upload.

A child that dies (killed, out of memory) fails that call; the next call starts a new child, and the chunk itself,
left unfinished in the database, is resumed by the sweeper like any other.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import queue
import signal
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from service.config import Settings
from service.scoring import ChunkOutcome

if TYPE_CHECKING:
    from service.dispatch import Dispatcher

log = logging.getLogger(__name__)
POLL_S = 0.5  # how often a waiting parent checks that its child is still alive


class IngestProcessDied(RuntimeError):
    """The child reading an upload ended without an answer (killed, or out of memory)."""


class IngestProcess:
    """One child process that reads uploads, one at a time, for this process (see the module docstring)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()  # one ingestion at a time: the child and its answers are shared
        self._context = multiprocessing.get_context("spawn")  # never fork a process that holds threads and torch
        self._process: multiprocessing.Process | None = None
        self._tasks: multiprocessing.SimpleQueue | None = None
        self._answers: multiprocessing.Queue | None = None

    def run(self, chunk_id: int, dispatcher: Dispatcher) -> ChunkOutcome:
        """Read ingest chunk ``chunk_id`` in the child; each scoring chunk it stores is queued on ``dispatcher``.

        Raises what the ingestion raised (a database outage, for the worker's retries), or :class:`IngestProcessDied`.
        """
        with self._lock:
            self._start()
            self._tasks.put(chunk_id)
            while True:
                try:
                    kind, value = self._answers.get(timeout=POLL_S)
                except queue.Empty:
                    if not self._process.is_alive():
                        self._process = None
                        raise IngestProcessDied(f"the process reading chunk {chunk_id} ended without an answer"
                                                ) from None
                    continue
                if kind == "chunks":
                    dispatcher.submit(value)
                elif kind == "done":
                    return value
                else:
                    raise value

    def _start(self) -> None:
        if self._process is not None and self._process.is_alive():
            return
        self._tasks, self._answers = self._context.SimpleQueue(), self._context.Queue()
        self._process = self._context.Process(target=_serve, args=(self.settings, self._tasks, self._answers),
                                              name="lcad-ingest", daemon=True)
        self._process.start()

    def close(self) -> None:
        """Stop the child (an ingestion it was running stays unfinished in the database, for the sweeper)."""
        if self._process is not None:
            self._process.terminate()
            self._process.join(timeout=5)
            self._process = None


class _Relay:
    """The child's dispatcher: hands each stored chunk's id to the parent, which queues it."""

    def __init__(self, answers: multiprocessing.Queue):
        self.answers = answers

    def submit(self, chunk_ids: Sequence[int]) -> None:
        self.answers.put(("chunks", list(chunk_ids)))

    def healthy(self) -> tuple[bool, str]:
        return True, "relayed to the parent process"

    def close(self) -> None:
        pass


def _serve(settings: Settings, tasks: multiprocessing.SimpleQueue, answers: multiprocessing.Queue) -> None:
    """The child's loop: ingest each chunk id it is given, answer its outcome or its error."""
    from service.batches import ingest_chunk
    from service.db import get_sessionmaker

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops this process
    sessions = get_sessionmaker(settings.db_url)
    relay = _Relay(answers)
    while (chunk_id := tasks.get()) is not None:
        try:
            answers.put(("done", ingest_chunk(sessions=sessions, dispatcher=relay, settings=settings,
                                              chunk_id=chunk_id)))
        except Exception as err:
            log.exception("chunk %d: reading the upload failed", chunk_id)
            answers.put(("error", _picklable(err)))


def _picklable(err: Exception) -> Exception:
    """The error itself when it can travel to the parent (its type drives the worker's retries), else its text."""
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:
        return RuntimeError(f"{type(err).__name__}: {err}")
