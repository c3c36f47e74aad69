"""One active scheduler among replicas: a lease row in the database (the source of truth).

The holder renews it on every tick; if it dies, the lease lapses after `ttl` and another
replica takes over. Works the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine

from reminders.store.models import SCHEDULER_LEASE
from reminders.store.upsert import dialect_insert
from reminders.timeutil import as_utc


def hold(engine: Engine, holder: str, now: datetime, ttl: timedelta, name: str = "scheduler") -> bool:
    """Take or renew the lease; True if `holder` is the active one until now + ttl."""
    with engine.begin() as conn:
        conn.execute(dialect_insert(conn, SCHEDULER_LEASE).values(name=name, holder="", expires_at=as_utc(now))
                     .on_conflict_do_nothing())
        taken = conn.execute(update(SCHEDULER_LEASE).where(
            SCHEDULER_LEASE.c.name == name, or_(SCHEDULER_LEASE.c.holder == holder, SCHEDULER_LEASE.c.expires_at < as_utc(now))
        ).values(holder=holder, expires_at=as_utc(now + ttl))).rowcount
    return taken == 1


def release(engine: Engine, holder: str, name: str = "scheduler") -> None:
    with engine.begin() as conn:
        conn.execute(update(SCHEDULER_LEASE).where(SCHEDULER_LEASE.c.name == name, SCHEDULER_LEASE.c.holder == holder)
                     .values(holder="", expires_at=as_utc(datetime(1970, 1, 1))))
