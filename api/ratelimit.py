"""Requests per minute per owner: a token bucket in each api process.

Each gunicorn worker keeps its own buckets, so the limit a client sees is at most
RATE_LIMIT_PER_MINUTE x WEB_CONCURRENCY per api host; a shared store would be needed for
an exact limit across processes and hosts.
"""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    def __init__(self, per_minute: int, clock=time.monotonic):
        self.capacity = float(per_minute)
        self.refill_per_second = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, owner: str, take: bool = True) -> int:
        """Take one token (or, with take=False, only look): 0 when allowed, else whole seconds
        until a token is back."""
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(owner, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.refill_per_second)
            if tokens >= 1:
                self._buckets[owner] = (tokens - 1 if take else tokens, now)
                return 0
            self._buckets[owner] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / self.refill_per_second))
