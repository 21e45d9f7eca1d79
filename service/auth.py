"""Who is calling (an API key's scopes, or the anonymous scopes from settings) and how fast they may call.

Keys travel as ``Authorization: Bearer <key>`` and are stored as SHA-256 hashes (:func:`service.crud.hash_key`).
Scopes: ``read`` (rankings, objects, batches), ``submit`` (``/score``, ``/batches``), ``label`` (mark objects),
``admin`` (models).
Rate limits are fixed one-minute windows per key (per client address for anonymous calls, and for failed
authentications). With a broker configured they are counted in its Redis, so every API replica shares them; in the
embedded mode (one process) they are counted in memory. The client address is the connection's, unless it comes
from a configured proxy (``LCAD_TRUSTED_PROXIES``, applied by uvicorn's ``ProxyHeadersMiddleware``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """The caller: ``identity`` is "key:<id>" or "anonymous:<address>", and also owns batches and idempotency keys.

    ``admin`` callers see every batch; everyone else sees the batches made under their own identity.
    """

    identity: str
    scopes: frozenset[str]
    key_pk: int | None = None
    rate_limit_per_minute: int | None = None

    @property
    def owner(self) -> str:
        return self.identity[:64]

    def may_see(self, owner: str) -> bool:
        return "admin" in self.scopes or owner == self.owner


class RateLimiter(Protocol):
    """Counts calls per identity in fixed windows; both methods return 0 when allowed, else seconds to wait."""

    def hit(self, identity: str, limit: int) -> int:
        """Count one call and say whether it was over ``limit``."""

    def blocked(self, identity: str, limit: int) -> int:
        """Whether ``identity`` already reached ``limit`` in this window (counts nothing)."""


class MemoryRateLimiter:
    """Windows kept in this process: right for the embedded mode, where one process serves everything."""

    def __init__(self, window_s: float = 60.0):
        self.window_s = window_s
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def _current(self, identity: str, now: float) -> tuple[float, int]:
        start, count = self._windows.get(identity, (now, 0))
        return (now, 0) if now - start >= self.window_s else (start, count)

    def _wait(self, start: float, now: float) -> int:
        return max(1, math.ceil(self.window_s - (now - start)))

    def hit(self, identity: str, limit: int) -> int:
        if limit <= 0:
            return 0
        now = time.monotonic()
        with self._lock:
            start, count = self._current(identity, now)
            if count >= limit:
                return self._wait(start, now)
            self._windows[identity] = (start, count + 1)
            if len(self._windows) > 100_000:  # forget idle callers rather than grow without bound
                self._windows = {k: v for k, v in self._windows.items() if now - v[0] < self.window_s}
            return 0

    def blocked(self, identity: str, limit: int) -> int:
        now = time.monotonic()
        with self._lock:
            start, count = self._current(identity, now)
        return self._wait(start, now) if limit > 0 and count >= limit else 0


class RedisRateLimiter:
    """Windows counted in Redis (``INCR`` + ``EXPIRE`` on a key per identity and wall-clock minute).

    Every replica shares the counts. When Redis does not answer, counting falls back to this process's memory
    rather than refusing every call (an outage then shows in ``/readyz``, not as a flood of 429s).
    """

    def __init__(self, url: str, window_s: int = 60, prefix: str = "lcad:rate:"):
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self.window_s, self.prefix = window_s, prefix
        self.fallback = MemoryRateLimiter(window_s)

    def _key(self, identity: str) -> tuple[str, int]:
        now = time.time()
        window = int(now // self.window_s)
        return f"{self.prefix}{identity}:{window}", max(1, math.ceil((window + 1) * self.window_s - now))

    def hit(self, identity: str, limit: int) -> int:
        if limit <= 0:
            return 0
        key, wait = self._key(identity)
        try:
            pipe = self.client.pipeline()
            pipe.incr(key)
            pipe.expire(key, self.window_s * 2)
            count = pipe.execute()[0]
        except Exception as err:
            log.warning("rate limits counted in memory: Redis unavailable (%s)", type(err).__name__)
            return self.fallback.hit(identity, limit)
        return wait if count > limit else 0

    def blocked(self, identity: str, limit: int) -> int:
        key, wait = self._key(identity)
        try:
            count = int(self.client.get(key) or 0)
        except Exception:
            return self.fallback.blocked(identity, limit)
        return wait if limit > 0 and count >= limit else 0


def make_rate_limiter(broker_url: str | None) -> RateLimiter:
    """Redis counters when the broker is a Redis (shared by replicas), memory otherwise."""
    if broker_url and broker_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisRateLimiter(broker_url)
    return MemoryRateLimiter()
