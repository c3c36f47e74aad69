"""Looking into the outbox: listing deliveries and retrying the ones that failed for good."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from reminders.codes import delivery_code, parse_delivery_code
from reminders.kinds import DeliveryStatus
from reminders.store.models import DELIVERY, OCCURRENCE
from reminders.timeutil import as_utc, from_naive_utc


@dataclass(frozen=True)
class DeliveryView:
    code: str
    due_at: datetime
    summary: str
    recipient: str
    status: str
    error: str | None


def list_deliveries(engine: Engine, *, status: str | None = None, limit: int = 50) -> list[DeliveryView]:
    query = (select(DELIVERY.c.id, DELIVERY.c.due_at, OCCURRENCE.c.summary, DELIVERY.c.recipient,
                    DELIVERY.c.status, DELIVERY.c.error)
             .join(OCCURRENCE, OCCURRENCE.c.id == DELIVERY.c.occurrence_id)
             .order_by(DELIVERY.c.due_at.desc()).limit(limit))
    if status:
        query = query.where(DELIVERY.c.status == status)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [DeliveryView(delivery_code(r.id), from_naive_utc(r.due_at), r.summary, r.recipient, r.status, r.error)
            for r in rows]


def retry_failed(engine: Engine, now: datetime, *, codes: list[str] | None = None,
                 grace: timedelta = timedelta(hours=12)) -> int:
    """Put failed deliveries back in the outbox, due now, with a fresh retry budget."""
    stmt = update(DELIVERY).where(DELIVERY.c.status == DeliveryStatus.FAILED)
    if codes is not None:
        stmt = stmt.where(DELIVERY.c.id.in_([i for c in codes if (i := parse_delivery_code(c)) is not None]))
    stmt = stmt.values(status=DeliveryStatus.PENDING, due_at=as_utc(now), attempts=0, lease_until=None, claimed_by=None,
                       expires_at=as_utc(now + grace))
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount
