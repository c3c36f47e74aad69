"""The dramatiq broker: in-process StubBroker on one machine, Redis at scale.

Retries are tuned for chat delivery: a handful, backoff capped at minutes (dramatiq's
default is 20 retries over up to a week, far too late for a reminder).
"""

from __future__ import annotations

import time
import weakref

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, Retries, TimeLimit

MAX_ATTEMPTS = 5
# dramatiq's Redis broker gives the unacknowledged messages of a worker process whose
# heartbeat stopped to the others: after this long (dramatiq's default is a minute; a live
# worker renews it on every broker command, at least every second) ...
HEARTBEAT_TIMEOUT_MS = 10_000
# ... looked for on this many of a million broker commands (dramatiq's default, 1,000, takes
# minutes to notice on a quiet queue; a look is two sorted-set ranges in Redis). A message
# given again to another worker by mistake costs nothing: its claims' token no longer
# matches once a worker has taken them (jobs.send).
MAINTENANCE_CHANCE = 250_000
BROKER_LOOK_SECONDS = 1.0  # how often `broker_restarted` asks Redis
MIN_BACKOFF_MS = 2_000
MAX_BACKOFF_MS = 5 * 60_000
TIME_LIMIT_MS = 60_000

# Actors are declared on this until `make_broker` binds them to the real one; it keeps
# dramatiq from creating its default RabbitMQ broker at import time.
placeholder_broker = StubBroker()


def _tune(broker: dramatiq.Broker) -> dramatiq.Broker:
    for middleware in broker.middleware:
        if isinstance(middleware, Retries):
            middleware.max_retries = MAX_ATTEMPTS
            middleware.min_backoff = MIN_BACKOFF_MS
            middleware.max_backoff = MAX_BACKOFF_MS
        elif isinstance(middleware, TimeLimit):
            middleware.time_limit = TIME_LIMIT_MS
    if not any(isinstance(m, AsyncIO) for m in broker.middleware):
        broker.add_middleware(AsyncIO())
    return broker


def make_broker(redis_url: str | None = None, namespace: str = "reminders") -> dramatiq.Broker:
    """A configured broker, set as dramatiq's global one, with every actor declared on the
    placeholder (the send actor: `reminders.jobs.send`, imported by whoever sends) moved to it."""
    if redis_url:
        from dramatiq.brokers.redis import RedisBroker  # imports redis: only when Redis is used

        # dramatiq's RedisBroker.__init__ is unannotated
        broker: dramatiq.Broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=redis_url, namespace=namespace, heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
            maintenance_chance=MAINTENANCE_CHANCE)
    else:
        broker = StubBroker()
    _tune(broker)
    dramatiq.set_broker(broker)
    actors = [placeholder_broker.get_actor(name) for name in placeholder_broker.get_declared_actors()]
    if not actors:
        raise RuntimeError("no actor is declared yet: import reminders.jobs.send before make_broker()")
    for actor in actors:
        actor.broker = broker
        broker.declare_actor(actor)
    return broker


_looked: weakref.WeakKeyDictionary[dramatiq.Broker, float] = weakref.WeakKeyDictionary()


def broker_restarted(broker: dramatiq.Broker) -> bool:
    """Whether the broker lost what it held since this process last looked: a key written
    the first time is gone (Redis restarted without persistence, or was flushed). True the
    first time a process looks at a broker that has never had it (nothing was queued there
    yet, or it was lost). Looks at most every BROKER_LOOK_SECONDS; always False for an
    in-process StubBroker. Raises if Redis is out of reach."""
    client = getattr(broker, "client", None)
    if client is None:
        return False
    if time.monotonic() - _looked.get(broker, float("-inf")) < BROKER_LOOK_SECONDS:
        return False
    _looked[broker] = time.monotonic()
    key = f"{getattr(broker, 'namespace', 'dramatiq')}:reminders-queue"
    return bool(client.set(key, "kept", nx=True))
