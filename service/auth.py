"""Who is calling (an API key's scopes, or the anonymous scopes from settings) and how fast they may call.

Keys travel as ``Authorization: Bearer <key>`` and are stored as SHA-256 hashes (:func:`service.crud.hash_key`).
Scopes: ``read`` (rankings, objects, batches), ``submit`` (``/score``, ``/batches``), ``label`` (mark objects),
``admin`` (models).
The rate limit is a fixed one-minute window per key (per client address for anonymous calls), kept in this process:
with several API replicas each enforces it separately.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """The caller: ``identity`` is "key:<id>" or "anonymous:<address>"; ``owner`` scopes idempotency keys."""

    identity: str
    owner: str
    scopes: frozenset[str]
    key_pk: int | None = None
    rate_limit_per_minute: int | None = None


class RateLimiter:
    """Fixed one-minute windows per identity; ``hit`` returns 0 when allowed, else seconds until the next window."""

    def __init__(self, window_s: float = 60.0):
        self.window_s = window_s
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, identity: str, limit: int) -> int:
        if limit <= 0:
            return 0
        now = time.monotonic()
        with self._lock:
            start, count = self._windows.get(identity, (now, 0))
            if now - start >= self.window_s:
                start, count = now, 0
            if count >= limit:
                return max(1, math.ceil(self.window_s - (now - start)))
            self._windows[identity] = (start, count + 1)
            if len(self._windows) > 100_000:  # forget idle callers rather than grow without bound
                self._windows = {k: v for k, v in self._windows.items() if now - v[0] < self.window_s}
            return 0
