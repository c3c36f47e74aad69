"""Platform rate limits as dramatiq rate limiters, shared by every worker process
(Redis backend at scale, in-process on the embedded default)."""

from __future__ import annotations

import math
import time

from dramatiq.rate_limits import WindowRateLimiter
from dramatiq.rate_limits.backends import StubBackend

from ..adapters.base import Adapter, Address


class SlidingWindowRateLimiter(WindowRateLimiter):
    """dramatiq's window limiter with buckets of a twentieth of the window.

    dramatiq counts whole-second buckets, so a 30/s limit could let 60 messages through
    around a second boundary; platforms measure a sliding window. Summing 21 fine buckets
    keeps every sliding window under the limit, at about 87 % of its rate with the margin."""

    BUCKETS = 20
    # Requests reach the platform a little after we count them, not always in order:
    # a 10 % margin on the window absorbs that jitter.
    MARGIN = 1.10

    def __init__(self, backend, key: str, *, limit: int, window_seconds: float):
        super().__init__(backend, key, limit=limit, window=max(1, math.ceil(window_seconds)))
        self.bucket_ms = max(1, int(window_seconds * self.MARGIN * 1000 / self.BUCKETS))
        self.window_millis = self.bucket_ms * (self.BUCKETS + 2)

    def _get_keys(self) -> list[str]:
        bucket = int(time.time() * 1000) // self.bucket_ms
        return [f"{self.key}@{bucket - i}" for i in range(self.BUCKETS + 1)]


def make_backend(redis_url: str | None = None):
    if redis_url:
        from dramatiq.rate_limits.backends import RedisBackend

        return RedisBackend(url=redis_url)
    return StubBackend()


def acquire(backend, adapter: Adapter, address: Address) -> float:
    """Take one slot of every limit that applies: 0 if the message may go now, else the
    seconds to wait before trying again."""
    for limit in adapter.capabilities.rate_limits:
        if limit.scope == "chat" and address.is_group or limit.scope == "group" and not address.is_group:
            continue
        key = f"{adapter.name}:{limit.scope}" + ("" if limit.scope == "bot" else f":{address.chat}")
        limiter = SlidingWindowRateLimiter(backend, key, limit=limit.limit, window_seconds=limit.window_seconds)
        with limiter.acquire(raise_on_failure=False) as acquired:
            if not acquired:
                return limiter.bucket_ms / 1000
    return 0.0
