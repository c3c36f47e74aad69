"""Platform rate limits as dramatiq rate limiters, shared by every worker process
(Redis backend at scale, in-process on the embedded default)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

from dramatiq.rate_limits import RateLimiterBackend, WindowRateLimiter
from dramatiq.rate_limits.backends import StubBackend

from reminders.adapters.base import Adapter, Address


class SlidingWindowRateLimiter(WindowRateLimiter):
    """dramatiq's window limiter with buckets of a twentieth of the window.

    dramatiq counts whole-second buckets, so a 30/s limit could let 60 messages through
    around a second boundary; platforms measure a sliding window. Summing 21 fine buckets
    keeps every sliding window under the limit, at about 87 % of its rate with the margin."""

    BUCKETS = 20
    # Requests reach the platform a little after we count them, not always in order:
    # a 10 % margin on the window absorbs that jitter.
    MARGIN = 1.10

    def __init__(self, backend: RateLimiterBackend, key: str, *, limit: int, window_seconds: float) -> None:
        super().__init__(  # type: ignore[no-untyped-call]  # dramatiq's rate limiters are unannotated
            backend, key, limit=limit, window=max(1, math.ceil(window_seconds)))
        self.bucket_ms = max(1, int(window_seconds * self.MARGIN * 1000 / self.BUCKETS))
        self.window_millis = self.bucket_ms * (self.BUCKETS + 2)

    def has_room(self) -> bool:
        """Whether one more would fit now; counts nothing (dramatiq's backend primitive
        with an amount of 0 against a maximum one below the limit)."""
        keys = self._get_keys()
        return bool(self.backend.incr_and_sum(keys[0], self._get_keys, 0, maximum=self.limit - 1,
                                              ttl=self.window_millis))

    def _get_keys(self) -> list[str]:
        bucket = int(time.time() * 1000) // self.bucket_ms
        return [f"{self.key}@{bucket - i}" for i in range(self.BUCKETS + 1)]


PACING_PARTS = 6


def make_backend(redis_url: str | None = None) -> RateLimiterBackend:
    if redis_url:
        from dramatiq.rate_limits.backends import RedisBackend

        # dramatiq exports it through a module __getattr__, so the type checker sees Any here
        backend: RateLimiterBackend = RedisBackend(url=redis_url)
        return backend
    return StubBackend()  # type: ignore[no-untyped-call]  # dramatiq's backends are unannotated


NARROW = ("chat", "group")
BOT_WIDE = ("bot",)


def acquire(backend: RateLimiterBackend, adapter: Adapter, address: Address, scopes: tuple[str, ...] = NARROW + BOT_WIDE) -> float:
    """Take one slot of every limit of `scopes` that applies: 0 if the message may go now,
    else the seconds to wait before trying again."""
    for limiter in _applicable(backend, adapter, address, scopes):
        with limiter.acquire(raise_on_failure=False) as acquired:
            if not acquired:
                return limiter.bucket_ms / 1000
    return 0.0


def room(backend: RateLimiterBackend, adapter: Adapter, address: Address, scopes: tuple[str, ...]) -> float:
    """Like `acquire`, without taking anything: 0 if every limit has room now."""
    for limiter in _applicable(backend, adapter, address, scopes):
        if not limiter.has_room():
            return limiter.bucket_ms / 1000
    return 0.0


def _applicable(backend: RateLimiterBackend, adapter: Adapter, address: Address,
                scopes: tuple[str, ...]) -> Iterator[SlidingWindowRateLimiter]:
    # A window counts a slot even when a later limit refuses the message, so the narrow
    # limits (one chat, its pace) go first: a refusal there wastes nothing bot-wide.
    for limit in sorted(adapter.capabilities.rate_limits, key=lambda lim: lim.scope == "bot"):
        if limit.scope not in scopes:
            continue
        if limit.scope == "chat" and address.is_group or limit.scope == "group" and not address.is_group:
            continue
        key = f"{adapter.name}:{limit.scope}" + ("" if limit.scope == "bot" else f":{address.chat}")
        yield from _limiters(backend, key, limit.limit, limit.window_seconds)


def _limiters(backend: RateLimiterBackend, key: str, limit: int, window_seconds: float) -> list[SlidingWindowRateLimiter]:
    """The platform's limit, and a pacing limit: a little over a sixth of it per sixth of
    the window (so the platform's limit, not the pacing, sets the rate).

    Without pacing, a full window's worth goes out in one burst; if the burst's tail
    arrives late (a busy event loop, a slow connection) it lands in the platform's next
    window together with the next burst. Paced, messages arrive spread out and such jitter
    moves only a few of them."""
    limiters = [SlidingWindowRateLimiter(backend, key, limit=limit, window_seconds=window_seconds)]
    if limit >= PACING_PARTS * 2:
        limiters.insert(0, SlidingWindowRateLimiter(backend, f"{key}:pace", limit=limit // PACING_PARTS + 1,
                                                    window_seconds=window_seconds / PACING_PARTS))
    return limiters
