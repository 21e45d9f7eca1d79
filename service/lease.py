"""The heartbeat that keeps a running chunk's lease alive while a worker scores it.

A worker claims a chunk for ``lease_s`` seconds (:func:`service.crud.claim_chunk`); while it scores, a daemon thread
renews the lease every third of that. A healthy chunk, however slow, is therefore never taken back by the sweeper,
and a chunk whose worker died is free again one lease after the last beat.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

from sqlalchemy.orm import sessionmaker

from service import crud

log = logging.getLogger(__name__)
T = TypeVar("T")


class Heartbeat:
    """``with Heartbeat(sessions, chunk_id, lease_s):`` renews the chunk's lease until the block ends."""

    def __init__(self, sessions: sessionmaker, chunk_id: int, lease_s: float):
        self.sessions, self.chunk_id, self.lease_s = sessions, chunk_id, lease_s
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"lcad-lease-{chunk_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stopped.set()
        self.thread.join()

    def _beat(self) -> None:
        while not self.stopped.wait(self.lease_s / 3):
            try:
                with self.sessions() as session:
                    crud.renew_lease(session=session, chunk_id=self.chunk_id, lease_s=self.lease_s)
            except Exception:  # a database hiccup: the next beat tries again, well within the lease
                log.warning("chunk %d: lease renewal failed", self.chunk_id, exc_info=True)


def run_leased(sessions: sessionmaker, chunk_id: int, lease_s: float, work: Callable[[], T]) -> T | None:
    """Claim the chunk and run ``work`` while the lease is renewed; None (nothing run) when the chunk is finished or
    another worker's lease still runs, so a chunk is never worked on twice at once, whatever its kind."""
    with sessions() as session:
        if not crud.claim_chunk(session=session, chunk_id=chunk_id, lease_s=lease_s):
            return None
    with Heartbeat(sessions, chunk_id, lease_s):
        return work()
