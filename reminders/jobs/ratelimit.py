"""Platform rate limits as dramatiq rate limiters, shared by every worker process
(Redis backend at scale, in-process on the embedded default), and the waiting for them that
reminders (jobs.send) and replies (jobs.replies) share."""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

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


# Longer than this under a platform's limit and a reminder goes back through the broker
# (well inside dramatiq's time limit for one batch).
MAX_RATE_WAIT = timedelta(seconds=15)
_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, Any]] = weakref.WeakKeyDictionary()


def per_loop() -> dict[Any, Any]:
    """A dictionary of the running event loop's own (dramatiq's worker loop, or a test's
    asyncio.run): semaphores and other per-loop helpers live there, gone with the loop."""
    return _per_loop.setdefault(asyncio.get_running_loop(), {})


def gate(adapter: Adapter, purpose: str) -> asyncio.Semaphore:
    """One semaphore per adapter, purpose and event loop, shared by all the batches this
    process is sending: `send` admits the adapter's concurrency, `rate` one waiter."""
    found: asyncio.Semaphore = per_loop().setdefault(
        ("gate", adapter.name, purpose),
        asyncio.Semaphore(adapter.capabilities.concurrency if purpose == "send" else 1))
    return found


class WaitBudget:
    """How long one message may wait for the limits, in seconds (None: as long as it takes)."""

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self.waited = 0.0

    async def sleep(self, seconds: float) -> bool:
        """Sleep if the budget allows; False when the message should go back to the broker."""
        if self.limit is not None and self.waited + seconds > self.limit:
            return False
        await asyncio.sleep(seconds)
        self.waited += seconds
        return True


async def wait_for_chat_room(backend: RateLimiterBackend, adapter: Adapter, address: Address,
                              budget: WaitBudget) -> float:
    """Wait, taking nothing, until the chat's own limit has room (a chat that got a message
    a moment ago); 0, or the seconds to come back after when the wait would be too long."""
    while wait := room(backend, adapter, address, NARROW):
        if not await budget.sleep(wait):
            return wait
    return 0.0


async def take_rate_slot(backend: RateLimiterBackend, adapter: Adapter, address: Address,
                          budget: WaitBudget) -> float:
    """Take the platform's slots for one message, waiting here up to the budget in all
    (MAX_RATE_WAIT for a reminder); beyond that, the seconds after which to come back.

    Called holding a send slot, just before the request: the platform counts a message
    when it arrives, so nothing may wait between counting and sending. Waiting in the
    batch keeps the pace smooth and costs no broker round trip. One coroutine per process
    polls the bot-wide limit at a time (the others queue behind it), so a crowd of waiting
    messages does not become a crowd of Redis calls."""
    while True:
        if wait := await wait_for_chat_room(backend, adapter, address, budget):
            return wait
        async with gate(adapter, "rate"):
            while wait := acquire(backend, adapter, address, BOT_WIDE):
                if not await budget.sleep(wait):
                    return wait
            wait = acquire(backend, adapter, address, NARROW)
        if not wait:
            return 0.0
        # Another process took this chat's slot meanwhile: one bot-wide slot goes unused.
        if not await budget.sleep(wait):
            return wait
