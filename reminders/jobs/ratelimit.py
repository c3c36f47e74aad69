"""Platform rate limits as dramatiq rate limiters, shared by every worker process
(Redis backend at scale, in-process on the embedded default)."""

from __future__ import annotations

import math

from dramatiq.rate_limits import WindowRateLimiter
from dramatiq.rate_limits.backends import StubBackend

from ..adapters.base import Adapter, Address


def make_backend(redis_url: str | None = None):
    if redis_url:
        from dramatiq.rate_limits.backends import RedisBackend

        return RedisBackend(url=redis_url)
    return StubBackend()


def acquire(backend, adapter: Adapter, address: Address) -> float:
    """Take one slot of every limit that applies; 0 if sent may go now, else seconds to wait."""
    for limit in adapter.capabilities.rate_limits:
        if limit.scope == "chat" and address.is_group or limit.scope == "group" and not address.is_group:
            continue
        key = f"{adapter.name}:{limit.scope}" + ("" if limit.scope == "bot" else f":{address.chat}")
        # dramatiq counts whole-second buckets; one extra bucket keeps every sliding window of
        # `window_seconds` under the limit (Telegram measures a sliding window).
        window = math.ceil(limit.window_seconds) + 1
        limiter = WindowRateLimiter(backend, key, limit=limit.limit, window=window)
        with limiter.acquire(raise_on_failure=False) as acquired:
            if not acquired:
                return max(0.05, limit.window_seconds / limit.limit)
    return 0.0
