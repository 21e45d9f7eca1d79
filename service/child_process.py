"""Work handed to a child process of its own, beside the threads that score.

Reading an upload (parsing, validating, cleaning, storing) and storing a chunk's scores are Python that holds the
GIL, and so is much of a scorer (its folding, its smoothing): in one process they take turns on one core. A
:class:`ChildProcess` runs such work on another core instead: the embedded API and each Celery worker keep one child
that reads uploads (``("ingest", chunk_id)``: :func:`service.batches.ingest_chunk`, with its lease and heartbeat)
and one that stores the scores of chunks (``("store", ChunkScores)``: :func:`service.scoring.store_scores`), each
started on its first request. The reading child sends back the id of every scoring chunk it commits, and the parent
queues it as it arrives, so scoring starts while the upload is read. A caller waits for its answer without holding
the GIL, so the model runs on while a chunk's scores are stored.

A child is a plain ``python -m service.child_process`` talking over two pipes (pickled messages), not a
``multiprocessing`` child: a Celery prefork worker is itself a daemonic process, which ``multiprocessing`` forbids to
have children, and a fresh interpreter inherits no threads or locks from one that holds torch. A child that dies
(killed, out of memory) fails that call; the next call starts a new child, and the chunk itself, left unfinished in
the database, is taken up again by the sweeper like any other. A child ends when its parent does (its pipe closes).
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
from typing import TYPE_CHECKING, Any

from service.config import Settings

if TYPE_CHECKING:
    from service.crud import ChunkScores
    from service.dispatch import Dispatcher
    from service.scoring import ChunkOutcome

log = logging.getLogger(__name__)
POLL_S = 0.5  # how often a waiting parent checks that its child is still alive


class ChildProcessDied(RuntimeError):
    """The child ended without an answer (killed, or out of memory)."""


class ChildProcess:
    """One child process that serves this process's requests one at a time (see the module docstring)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()  # one request at a time: the child and its pipes are shared
        self._closed = False
        self._process: subprocess.Popen | None = None
        self._tasks: Connection | None = None
        self._answers: Connection | None = None

    def ingest(self, chunk_id: int, dispatcher: Dispatcher) -> ChunkOutcome:
        """Read ingest chunk ``chunk_id`` in the child; each scoring chunk it stores is queued on ``dispatcher``."""
        return self._call("ingest", chunk_id, dispatcher)

    def store(self, scores: ChunkScores) -> int:
        """Store a scored chunk in the child (:func:`service.scoring.store_scores`); its scored count."""
        return self._call("store", scores)

    def _call(self, kind: str, argument: object, dispatcher: Dispatcher | None = None) -> Any:
        """Send one request and wait for its answer, queueing on ``dispatcher`` the chunks the child reports.

        Raises what the work raised (a database outage, for the worker's retries), or :class:`ChildProcessDied`
        (also once :meth:`close` has been called: a thread still running after shutdown starts no new child).
        """
        with self._lock:
            if self._closed:
                raise ChildProcessDied(f"the child process was closed before {kind!r}")
            self._start()
            try:
                self._tasks.send((kind, argument))
                while (message := self._answer())[0] == "chunks":
                    dispatcher.submit(message[1])
            except (EOFError, OSError) as err:  # the pipes broke: the child is gone
                self._discard()
                raise ChildProcessDied(f"the child process ended without answering {kind!r}") from err
        answer, value = message
        if answer == "error":
            raise value
        return value

    def _answer(self) -> tuple[str, object]:
        """The child's next message, checking every ``POLL_S`` that it is still alive."""
        while not self._answers.poll(POLL_S):
            if self._process.poll() is not None:
                raise EOFError(f"exit status {self._process.returncode}")
        return self._answers.recv()

    def _start(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        task_read, task_write = os.pipe()
        answer_read, answer_write = os.pipe()
        self._process = subprocess.Popen([sys.executable, "-m", "service.child_process", str(task_read),
                                          str(answer_write)], pass_fds=(task_read, answer_write),
                                         stdin=subprocess.DEVNULL)
        os.close(task_read)
        os.close(answer_write)
        self._tasks, self._answers = Connection(task_write, readable=False), Connection(answer_read, writable=False)
        self._tasks.send(self.settings)

    def close(self) -> None:
        """Stop the child for good (a chunk it was working on stays unfinished in the database, for the sweeper).

        Called from another thread than a call in flight: it ends the child first, so that the waiting call sees its
        pipe close and lets go of the lock, and only then, holding the lock, closes the pipes, which only one thread
        may do (closing a file descriptor twice can close another one opened meanwhile).
        """
        self._closed = True
        process = self._process
        if process is not None:
            process.terminate()
        with self._lock:
            self._discard()

    def _discard(self) -> None:
        """End the child and close its pipes; the caller holds the lock."""
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
    """The child's loop: do each request it is given, answer its result or its error; end with the parent."""
    from service.batches import ingest_chunk
    from service.db import get_sessionmaker
    from service.scoring import store_scores

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops this process
    settings: Settings = tasks.recv()
    sessions = get_sessionmaker(settings.db_url)
    relay = _Relay(answers)
    work = {"ingest": lambda chunk_id: ingest_chunk(sessions=sessions, dispatcher=relay, settings=settings,
                                                    chunk_id=chunk_id),
            "store": lambda scores: store_scores(sessions, scores)}
    while True:
        try:
            kind, argument = tasks.recv()
        except EOFError:  # the parent is gone
            return
        try:
            answers.send(("done", work[kind](argument)))
        except Exception as err:
            log.exception("%s: failed", kind)
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
