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
# heartbeat stopped to the others: after this long (dramatiq's default is a minute) ...
HEARTBEAT_TIMEOUT_MS = 15_000
# ... looked for on this many of a million broker commands (dramatiq's default, 1,000, takes
# minutes to notice on a quiet queue; a look is one sorted-set range in Redis).
MAINTENANCE_CHANCE = 50_000
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


_seen: weakref.WeakKeyDictionary[dramatiq.Broker, tuple[str, float]] = weakref.WeakKeyDictionary()


def broker_restarted(broker: dramatiq.Broker) -> bool:
    """Whether the broker's server restarted since this process last looked (Redis's run id
    changed): its queue may be gone. Looks at most every BROKER_LOOK_SECONDS; False for an
    in-process StubBroker, and the first time. Raises if Redis is out of reach."""
    client = getattr(broker, "client", None)
    if client is None:
        return False
    seen, looked = _seen.get(broker, ("", 0.0))
    if time.monotonic() - looked < BROKER_LOOK_SECONDS:
        return False
    run_id = str(client.info("server").get("run_id", ""))
    _seen[broker] = (run_id, time.monotonic())
    return bool(seen) and run_id != seen
