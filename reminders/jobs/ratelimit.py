"""Platform rate limits as dramatiq rate limiters, shared by every worker process
(Redis backend at scale, in-process on the embedded default), and the waiting for them that
reminders (jobs.send) and replies (jobs.replies) share."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from dramatiq.rate_limits import RateLimiterBackend
from dramatiq.rate_limits.backends import StubBackend

from reminders.adapters.base import Adapter, Address
from reminders.jobs.slots import Slots

# A message counts in the platform's window from the moment it arrives there, which is
# somewhere between our sending it and our reading the answer. So a slot of a limit of L per
# W seconds is held from the send until W seconds after the answer: the (L+1)-th message
# then starts at least W after the first one arrived, whatever the network, the event loop
# or the platform's own queue did meanwhile. Nothing depends on a margin for jitter; the
# cost is the round trip, a few per cent of the window. Besides, bot-wide sends are spaced
# W/L apart on the limiter's clock (a GCRA letting a sixth of the limit run ahead), so a
# window's worth does not leave at once and the arrivals spread over the window.
# A slot whose answer never comes (the process died mid-send) is given back after this long:
IN_FLIGHT_HORIZON = 60.0
BURST_PARTS = 6
POLL_IN_FLIGHT = 0.01  # every slot is held by a send still waiting for its answer: look again soon

# KEYS: per limit, its slot set and its GCRA instant. ARGV: now, ticket, take (0/1), then per
# limit: limit, window, spacing, tolerance. Returns the seconds to wait (as a string), "0" once taken.
_SCRIPT = """
local now, ticket, take = tonumber(ARGV[1]), ARGV[2], ARGV[3] == '1'
local wait = 0
for i = 1, #KEYS / 2 do
  local slots, nextkey = KEYS[2 * i - 1], KEYS[2 * i]
  local limit, window = tonumber(ARGV[4 * i]), tonumber(ARGV[4 * i + 1])
  redis.call('ZREMRANGEBYSCORE', slots, '-inf', now - window)
  if redis.call('ZCARD', slots) >= limit then
    local oldest = tonumber(redis.call('ZRANGE', slots, 0, 0, 'WITHSCORES')[2])
    local w = (oldest > now) and POLL or (oldest + window - now)
    if w > wait then wait = w end
  end
  local tat = tonumber(redis.call('GET', nextkey) or '0')
  if tat - tonumber(ARGV[4 * i + 3]) - now > wait then wait = tat - tonumber(ARGV[4 * i + 3]) - now end
end
if wait > 0 or not take then return tostring(wait) end
for i = 1, #KEYS / 2 do
  local window, spacing = tonumber(ARGV[4 * i + 1]), tonumber(ARGV[4 * i + 2])
  local tat = math.max(tonumber(redis.call('GET', KEYS[2 * i]) or '0'), now) + spacing
  redis.call('ZADD', KEYS[2 * i - 1], now + HORIZON, ticket)
  redis.call('PEXPIRE', KEYS[2 * i - 1], math.ceil((window + HORIZON) * 1000))
  redis.call('SET', KEYS[2 * i], string.format('%.6f', tat), 'PX', math.ceil((tat - now + 1) * 1000))
end
return '0'
""".replace("POLL", repr(POLL_IN_FLIGHT)).replace("HORIZON", repr(IN_FLIGHT_HORIZON))
_RELEASE = """
for i = 1, #KEYS do redis.call('ZADD', KEYS[i], 'XX', ARGV[1], ARGV[2]) end
return 0
"""


@dataclass(frozen=True)
class _Limit:
    key: str
    limit: int
    window: float
    spacing: float  # seconds between two sends' starts on average (0: none)
    tolerance: float  # how far ahead of that pace a short burst may run (seconds)


@dataclass
class _Slots:
    """One limit's state in this process (the embedded worker's backend)."""

    held: dict[str, float] = field(default_factory=dict)  # ticket -> when it stops counting
    tat: float = 0.0  # GCRA's theoretical arrival time


class Ticket:
    """The slots one send holds; `release` once the platform answered (or the send failed)."""

    def __init__(self, backend: RateLimiterBackend, limits: list[_Limit]) -> None:
        self.backend, self.limits, self.id, self.released = backend, limits, uuid.uuid4().hex, False

    def release(self) -> None:
        """From now on these slots count for one window more, then they are free."""
        if self.released or not self.limits:
            return
        self.released = True
        now = time.time()
        client = _redis(self.backend)
        if client is not None:
            client.eval(_RELEASE, len(self.limits), *(f"{lim.key}:slots" for lim in self.limits), now, self.id)
            return
        with _LOCK:
            for lim in self.limits:
                slots = _local(self.backend).get(lim.key)
                if slots is not None and self.id in slots.held:
                    slots.held[self.id] = now


_LOCK = threading.Lock()
_LOCAL: weakref.WeakKeyDictionary[RateLimiterBackend, dict[str, _Slots]] = weakref.WeakKeyDictionary()


def _local(backend: RateLimiterBackend) -> dict[str, _Slots]:
    return _LOCAL.setdefault(backend, {})


def _redis(backend: RateLimiterBackend) -> Any:
    return getattr(backend, "client", None)  # dramatiq's RedisBackend; the StubBackend has none


def _try(backend: RateLimiterBackend, limits: list[_Limit], ticket: str, take: bool) -> float:
    """0 and the slots taken (when `take`), or the seconds until every limit has room."""
    now = time.time()
    client = _redis(backend)
    if client is not None:
        keys = [k for lim in limits for k in (f"{lim.key}:slots", f"{lim.key}:next")]
        args = [v for lim in limits for v in (lim.limit, lim.window, lim.spacing, lim.tolerance)]
        return float(client.eval(_SCRIPT, len(keys), *keys, repr(now), ticket, int(take), *args))
    with _LOCK:
        table, wait = _local(backend), 0.0
        for lim in limits:
            slots = table.setdefault(lim.key, _Slots())
            for held, until in list(slots.held.items()):
                if until <= now - lim.window:
                    del slots.held[held]
            if len(slots.held) >= lim.limit:
                oldest = min(slots.held.values())
                wait = max(wait, POLL_IN_FLIGHT if oldest > now else oldest + lim.window - now)
            wait = max(wait, slots.tat - lim.tolerance - now)
        if wait > 0 or not take:
            return wait
        for lim in limits:
            slots = table[lim.key]
            slots.held[ticket] = now + IN_FLIGHT_HORIZON
            slots.tat = max(slots.tat, now) + lim.spacing
        return 0.0


def make_backend(redis_url: str | None = None) -> RateLimiterBackend:
    if redis_url:
        from dramatiq.rate_limits.backends import RedisBackend

        # dramatiq exports it through a module __getattr__, so the type checker sees Any here
        backend: RateLimiterBackend = RedisBackend(url=redis_url)
        return backend
    return StubBackend()  # type: ignore[no-untyped-call]  # dramatiq's backends are unannotated


NARROW = ("chat", "group")
BOT_WIDE = ("bot",)


def applicable(adapter: Adapter, address: Address, scopes: tuple[str, ...]) -> list[_Limit]:
    limits = []
    for limit in adapter.capabilities.rate_limits:
        if limit.scope not in scopes:
            continue
        if limit.scope == "chat" and address.is_group or limit.scope == "group" and not address.is_group:
            continue
        key = f"{adapter.name}:{limit.scope}" + ("" if limit.scope == "bot" else f":{address.chat}")
        # Bot-wide sends are spaced evenly; a chat's (1/s) needs no spacing, and a group may
        # get a few messages at once (a reminder, then its progress edits) within its 20/min.
        # A burst of a sixth of the limit may run ahead of the pace (a reminder and a few answers).
        spacing = limit.window_seconds / limit.limit if limit.scope == "bot" else 0.0
        limits.append(_Limit(key, limit.limit, limit.window_seconds, spacing, spacing * (limit.limit // BURST_PARTS)))
    return limits


def acquire(backend: RateLimiterBackend, adapter: Adapter, address: Address,
            scopes: tuple[str, ...] = NARROW + BOT_WIDE) -> tuple[float, Ticket | None]:
    """Take one slot of every limit of `scopes` that applies, all or none: (0, the ticket to
    release once the platform answered) if the message may go now, else (seconds to wait, None)."""
    limits = applicable(adapter, address, scopes)
    ticket = Ticket(backend, limits)
    wait = _try(backend, limits, ticket.id, take=True) if limits else 0.0
    return (wait, None) if wait > 0 else (0.0, ticket)


def room(backend: RateLimiterBackend, adapter: Adapter, address: Address, scopes: tuple[str, ...]) -> float:
    """Like `acquire`, without taking anything: 0 if every limit has room now."""
    limits = applicable(adapter, address, scopes)
    return _try(backend, limits, "", take=False) if limits else 0.0


# Longer than this under a platform's limit and a reminder goes back through the broker
# (well inside dramatiq's time limit for one batch).
MAX_RATE_WAIT = timedelta(seconds=15)
_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, Any]] = weakref.WeakKeyDictionary()


def per_loop() -> dict[Any, Any]:
    """A dictionary of the running event loop's own (dramatiq's worker loop, or a test's
    asyncio.run): semaphores and other per-loop helpers live there, gone with the loop."""
    return _per_loop.setdefault(asyncio.get_running_loop(), {})


def gate(adapter: Adapter, purpose: str) -> Slots:
    """One set of slots per adapter, purpose and event loop, shared by all the batches this
    process is sending: `send` admits the adapter's concurrency, `rate` one waiter."""
    gates = per_loop()
    found: Slots | None = gates.get(("gate", adapter.name, purpose))
    if found is None:  # (not setdefault: a gate made and thrown away for every message)
        found = gates[("gate", adapter.name, purpose)] = Slots(
            adapter.capabilities.concurrency if purpose == "send" else 1)
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
                          budget: WaitBudget) -> tuple[float, Ticket | None]:
    """Take the platform's slots for one message, waiting here up to the budget in all
    (MAX_RATE_WAIT for a reminder): (0, the ticket to release when the platform answered),
    or beyond that (the seconds after which to come back, None).

    Called holding a send slot, just before the request: nothing may wait between taking
    the slots and sending. Waiting in the batch keeps the pace smooth and costs no broker
    round trip. One coroutine per process waits for the limits at a time (the others queue
    behind it), and it sleeps exactly until the limiter says there is room, so a crowd of
    waiting messages does not become a crowd of Redis calls."""
    while True:
        if wait := await wait_for_chat_room(backend, adapter, address, budget):
            return wait, None
        async with gate(adapter, "rate"):
            while True:
                wait, ticket = acquire(backend, adapter, address)
                if ticket is not None:
                    return 0.0, ticket
                if room(backend, adapter, address, NARROW):
                    break  # another process took this chat's slot meanwhile: back to waiting for it
                if not await budget.sleep(wait):
                    return wait, None
