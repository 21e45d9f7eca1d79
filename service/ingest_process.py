"""Reading uploads in a process of its own, beside the process that scores.

Parsing, validating, cleaning and storing an upload is Python that holds the GIL, and so is much of a scorer (its
folding, its smoothing): in one process, the thread that reads an upload and the thread that scores its first chunks
take turns on one core. :class:`IngestProcess` runs each ingest chunk (:func:`service.batches.ingest_chunk`, with
its lease and heartbeat) in a child process instead, so the two run on two cores. The child sends back the id of
every scoring chunk it commits, and the parent queues it on its own dispatcher as it arrives: scoring still starts
while the upload is read. The embedded API and each Celery worker keep one such child, started on the first upload.

The child is a plain ``python -m service.ingest_process`` talking over two pipes (pickled messages), not a
``multiprocessing`` child: a Celery prefork worker is itself a daemonic process, which ``multiprocessing`` forbids to
have children, and a fresh interpreter inherits no threads or locks from one that holds torch. A child that dies
(killed, out of memory) fails that call; the next call starts a new child, and the chunk itself, left unfinished in
the database, is resumed by the sweeper like any other. The child ends when its parent does (its pipe closes).
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
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
        self._lock = threading.Lock()  # one ingestion at a time: the child and its pipes are shared
        self._process: subprocess.Popen | None = None
        self._tasks: Connection | None = None
        self._answers: Connection | None = None

    def run(self, chunk_id: int, dispatcher: Dispatcher) -> ChunkOutcome:
        """Read ingest chunk ``chunk_id`` in the child; each scoring chunk it stores is queued on ``dispatcher``.

        Raises what the ingestion raised (a database outage, for the worker's retries), or :class:`IngestProcessDied`.
        """
        with self._lock:
            self._start()
            try:
                self._tasks.send(chunk_id)
                while True:
                    kind, value = self._answer(chunk_id)
                    if kind == "chunks":
                        dispatcher.submit(value)
                    elif kind == "done":
                        return value
                    else:
                        raise value
            except (EOFError, OSError) as err:
                self.close()
                raise IngestProcessDied(f"the process reading chunk {chunk_id} ended without an answer") from err

    def _answer(self, chunk_id: int) -> tuple[str, object]:
        """The child's next message, checking every ``POLL_S`` that it is still alive."""
        while not self._answers.poll(POLL_S):
            if self._process.poll() is not None:
                raise EOFError(f"exit status {self._process.returncode} while reading chunk {chunk_id}")
        return self._answers.recv()

    def _start(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        task_read, task_write = os.pipe()
        answer_read, answer_write = os.pipe()
        self._process = subprocess.Popen([sys.executable, "-m", "service.ingest_process", str(task_read),
                                          str(answer_write)], pass_fds=(task_read, answer_write),
                                         stdin=subprocess.DEVNULL)
        os.close(task_read)
        os.close(answer_write)
        self._tasks, self._answers = Connection(task_write, readable=False), Connection(answer_read, writable=False)
        self._tasks.send(self.settings)

    def close(self) -> None:
        """Stop the child (an ingestion it was running stays unfinished in the database, for the sweeper)."""
        if self._process is None:
            return
        self._process.terminate()
        self._process.wait(timeout=10)
        self._tasks.close()
        self._answers.close()
        self._process = None


class _Relay:
    """The child's dispatcher: hands each stored chunk's id to the parent, which queues it."""

    def __init__(self, answers: Connection):
        self.answers = answers

    def submit(self, chunk_ids: Sequence[int]) -> None:
        self.answers.send(("chunks", list(chunk_ids)))

    def healthy(self) -> tuple[bool, str]:
        return True, "relayed to the parent process"

    def close(self) -> None:
        pass


def serve(tasks: Connection, answers: Connection) -> None:
    """The child's loop: ingest each chunk id it is given, answer its outcome or its error; end with the parent."""
    from service.batches import ingest_chunk
    from service.db import get_sessionmaker

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops this process
    settings: Settings = tasks.recv()
    sessions = get_sessionmaker(settings.db_url)
    relay = _Relay(answers)
    while True:
        try:
            chunk_id = tasks.recv()
        except EOFError:  # the parent is gone
            return
        try:
            answers.send(("done", ingest_chunk(sessions=sessions, dispatcher=relay, settings=settings,
                                               chunk_id=chunk_id)))
        except Exception as err:
            log.exception("chunk %d: reading the upload failed", chunk_id)
            answers.send(("error", _picklable(err)))


def _picklable(err: Exception) -> Exception:
    """The error itself when it can travel to the parent (its type drives the worker's retries), else its text."""
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:
        return RuntimeError(f"{type(err).__name__}: {err}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
