"""The dispatcher: claims due deliveries atomically and hands them to the send actor.

A claim is one guarded statement (UPDATE ... RETURNING; FOR UPDATE SKIP LOCKED on
PostgreSQL), so several dispatchers never claim the same row. Its token names the process
that holds it (`<worker id>:<nonce>` while it waits in the broker, `<worker id>!<nonce>`
while a send worker has it): when that process dies, its claims are given back on the next
dispatch (store.workers: heartbeats); the lease is the last resort. Only work due within
`lookahead` enters the broker.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.engine import Engine

from reminders.kinds import DeliveryStatus
from reminders.store.models import DELIVERY
from reminders.store.workers import Heartbeat, release_dead
from reminders.timeutil import as_utc, from_naive_utc

LOOKAHEAD = timedelta(seconds=30)
LEASE = timedelta(minutes=5)
CLAIM_BATCH = 500
# Claims outstanding at once. A burst of this size is claimed in one tick, within the
# lookahead, so the workers have all of it at the due instant and the scheduler is idle while
# they send (at 2,000 it ticked five times a second through a 10,000 burst, a quarter of a core).
# More than the workers can send within a lease only lapses and is claimed again (harmless,
# the claim token guards it): backpressure keeps the broker's queue bounded.
MAX_IN_FLIGHT = 10_000


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    due_at: datetime  # aware UTC
    token: str  # proves ownership: a claim retaken after its lease ran out gets a new token


def _claimable(now: datetime, lookahead: timedelta) -> ColumnElement[bool]:
    return and_(
        DELIVERY.c.due_at <= as_utc(now + lookahead),
        or_(DELIVERY.c.status == DeliveryStatus.PENDING,
            and_(DELIVERY.c.status == DeliveryStatus.CLAIMED, DELIVERY.c.lease_until < as_utc(now))),
    )


def claim_due(engine: Engine, now: datetime, *, worker: str, lookahead: timedelta = LOOKAHEAD,
              lease: timedelta = LEASE, limit: int = CLAIM_BATCH) -> list[Claim]:
    """Atomically claim up to `limit` deliveries due by now + lookahead (or with a lapsed lease)."""
    token = f"{worker}:{uuid.uuid4().hex[:12]}"
    candidates = (select(DELIVERY.c.id).where(_claimable(now, lookahead))
                  .order_by(DELIVERY.c.due_at).limit(limit))
    if engine.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    stmt = (update(DELIVERY)
            .where(DELIVERY.c.id.in_(candidates.scalar_subquery()), _claimable(now, lookahead))
            .values(status=DeliveryStatus.CLAIMED, lease_until=as_utc(now + lease), claimed_by=token)
            .returning(DELIVERY.c.id, DELIVERY.c.due_at))
    with engine.begin() as conn:
        rows = conn.execute(stmt).all()
    return sorted((Claim(r.id, from_naive_utc(r.due_at), token) for r in rows), key=lambda c: c.due_at)


def mark_missed(engine: Engine, now: datetime) -> int:
    """Deliveries whose occurrence is over before they could go out (see README policy)."""
    stmt = (update(DELIVERY)
            .where(DELIVERY.c.expires_at < as_utc(now),
                   or_(DELIVERY.c.status == DeliveryStatus.PENDING,
                       and_(DELIVERY.c.status == DeliveryStatus.CLAIMED, DELIVERY.c.lease_until < as_utc(now))))
            .values(status=DeliveryStatus.MISSED, error="not sent before the occurrence was over"))
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount


def next_due(engine: Engine) -> datetime | None:
    with engine.connect() as conn:
        value = conn.execute(select(DELIVERY.c.due_at).where(DELIVERY.c.status == DeliveryStatus.PENDING)
                             .order_by(DELIVERY.c.due_at).limit(1)).scalar()
    return from_naive_utc(value) if value else None


def seconds_to_next_tick(engine: Engine, now: datetime, tick_seconds: float, lookahead: timedelta = LOOKAHEAD,
                         minimum: float = 0.2) -> float:
    """How long a scheduler loop may sleep: its tick, but no later than the moment the next
    pending delivery comes within `lookahead`. A backlog (due already, held back by
    MAX_IN_FLIGHT) means the minimum, so a burst drains as fast as the workers send."""
    upcoming = next_due(engine)
    if upcoming is None:
        return tick_seconds
    return min(tick_seconds, max(minimum, (upcoming - lookahead - now).total_seconds()))


def release(engine: Engine, claims: list[Claim]) -> int:
    """Give claims back to `pending` (those still held under their token)."""
    tokens = {c.token for c in claims}
    with engine.begin() as conn:
        return conn.execute(update(DELIVERY).where(
            DELIVERY.c.id.in_([c.delivery_id for c in claims]), DELIVERY.c.status == DeliveryStatus.CLAIMED,
            DELIVERY.c.claimed_by.in_(tokens))
            .values(status=DeliveryStatus.PENDING, claimed_by=None, lease_until=None)).rowcount


def release_queued(engine: Engine) -> int:
    """Give back every claim waiting in the broker (a token `<id>:<nonce>`), none being sent
    (`<id>!<nonce>`): for a broker that lost its queue. Messages that do still arrive find
    their token gone and are skipped."""
    with engine.begin() as conn:
        return conn.execute(update(DELIVERY).where(
            DELIVERY.c.status == DeliveryStatus.CLAIMED, ~DELIVERY.c.claimed_by.contains("!"))
            .values(status=DeliveryStatus.PENDING, claimed_by=None, lease_until=None)).rowcount


def dispatch(engine: Engine, now: datetime, enqueue: Callable[[list[Claim], datetime], object], *,
             worker: str, lookahead: timedelta = LOOKAHEAD, lease: timedelta = LEASE,
             batch: int = CLAIM_BATCH, watching: Heartbeat | None = None,
             max_in_flight: int = MAX_IN_FLIGHT) -> int:
    """Claim what is due and hand the claims (sorted by due time) to `enqueue`, which
    batches them into broker messages delayed until they are due.

    First, the claims of processes that died are given back (store.workers; `watching`: this
    process's own heartbeat, which lets it judge silent processes elsewhere), and `enqueue`
    is called once with no claims: the send side looks at its broker there (jobs.send gives
    back what a restarted Redis lost). Claims whose `enqueue` fails are given back at once."""
    release_dead(engine, watching=watching)
    enqueue([], now)
    total = 0
    with engine.connect() as conn:
        in_flight = conn.execute(select(func.count()).select_from(DELIVERY).where(
            DELIVERY.c.status == DeliveryStatus.CLAIMED, DELIVERY.c.lease_until >= as_utc(now))).scalar_one()
    room = max_in_flight - in_flight
    while room > 0:
        wanted = min(batch, room)
        claims = claim_due(engine, now, worker=worker, lookahead=lookahead, lease=lease, limit=wanted)
        if claims:
            try:
                enqueue(claims, now)
            except BaseException:
                release(engine, claims)  # the broker is out of reach: nothing waits for them
                raise
        total += len(claims)
        room -= len(claims)
        if len(claims) < wanted:
            break
    return total
