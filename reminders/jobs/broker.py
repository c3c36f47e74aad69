"""The dramatiq broker: in-process StubBroker on one machine, Redis at scale.

Retries are tuned for chat delivery: a handful, backoff capped at minutes (dramatiq's
default is 20 retries over up to a week, far too late for a reminder).
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, Retries, TimeLimit

MAX_ATTEMPTS = 5
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
        broker: dramatiq.Broker = RedisBroker(url=redis_url, namespace=namespace)  # type: ignore[no-untyped-call]
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
