"""The send actor: renders one claimed delivery, sends it through its adapter, records the outcome."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import dramatiq
from sqlalchemy import select, update

from ..adapters.base import PermanentFailure, TemporaryFailure
from ..models import DeliveryRow, OccurrenceRow
from ..render import OccurrenceView, delivery_code, render_message
from ..runtime import current
from ..timeutil import as_utc, from_naive_utc
from .broker import MAX_ATTEMPTS, MAX_BACKOFF_MS, placeholder_broker

log = logging.getLogger("reminders.send")
SEND_LEASE = timedelta(minutes=2)


def _finish(engine, delivery_id: int, token: str, **values) -> bool:
    """Record an outcome, only if this claim still owns the row."""
    with engine.begin() as conn:
        return conn.execute(update(DeliveryRow).where(
            DeliveryRow.id == delivery_id, DeliveryRow.status == "claimed",
            DeliveryRow.claimed_by == token).values(**values)).rowcount == 1


def _take(engine, delivery_id: int, token: str, now: datetime):
    """Confirm the claim and extend its lease for the send; None if it is no longer ours."""
    with engine.begin() as conn:
        row = conn.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id == delivery_id, DeliveryRow.status == "claimed",
                   DeliveryRow.claimed_by == token)
            .values(lease_until=as_utc(now + SEND_LEASE), attempts=DeliveryRow.attempts + 1)
            .returning(DeliveryRow.recipient, DeliveryRow.team_id, DeliveryRow.kind,
                       DeliveryRow.expires_at, DeliveryRow.attempts, DeliveryRow.occurrence_id)
        ).first()
        if row is None:
            return None, None
        occ = conn.execute(select(OccurrenceRow).where(OccurrenceRow.id == row.occurrence_id)).first()
        return row, occ


async def deliver(delivery_id: int, token: str) -> str:
    """Send one delivery; returns its new status. Raises dramatiq.Retry on temporary failure."""
    rt = current()
    now = rt.clock()
    row, occ = _take(rt.engine, delivery_id, token, now)
    if row is None:
        return "skipped"
    if now > from_naive_utc(row.expires_at):
        _finish(rt.engine, delivery_id, token, status="missed", error="not sent before the occurrence was over")
        return "missed"
    duty = rt.duties.get(occ.duty_uid)
    if duty is None or occ.status != "scheduled":
        _finish(rt.engine, delivery_id, token, status="cancelled", error="duty or occurrence removed")
        return "cancelled"
    target = rt.resolve(row.recipient, row.team_id)
    if target is None:
        reason = f"no chat address for {row.recipient} on any enabled adapter ({', '.join(rt.adapters)})"
        _finish(rt.engine, delivery_id, token, status="failed", error=reason)
        log.warning("delivery %s failed: %s", delivery_id, reason)
        return "failed"
    view = OccurrenceView(occ.summary, from_naive_utc(occ.start_at), from_naive_utc(occ.end_at), occ.all_day)
    message = render_message(duty, view, row.kind, delivery_code(delivery_id), target.language,
                             target.adapter.capabilities, target.zone)
    try:
        result = await target.adapter.send(target.address, message)
    except PermanentFailure as exc:
        _finish(rt.engine, delivery_id, token, status="failed", error=str(exc)[:500],
                channel=target.adapter.name, address=target.address.chat)
        log.warning("delivery %s failed for good: %s", delivery_id, exc)
        return "failed"
    except TemporaryFailure as exc:
        if row.attempts >= MAX_ATTEMPTS:
            _finish(rt.engine, delivery_id, token, status="failed",
                    error=f"gave up after {row.attempts} attempts: {exc}"[:500], channel=target.adapter.name)
            return "failed"
        delay_ms = int(exc.retry_after * 1000) if exc.retry_after else None
        hold = timedelta(milliseconds=(delay_ms or MAX_BACKOFF_MS)) + SEND_LEASE
        _finish(rt.engine, delivery_id, token, status="claimed", lease_until=as_utc(now + hold),
                error=str(exc)[:500])
        raise dramatiq.Retry(str(exc), delay=delay_ms) from None
    _finish(rt.engine, delivery_id, token, status="sent", sent_at=as_utc(rt.clock()),
            channel=target.adapter.name, address=target.address.chat,
            message_id=result.message_id, error=None)
    return "sent"


@dramatiq.actor(queue_name="deliveries", max_retries=MAX_ATTEMPTS, max_backoff=MAX_BACKOFF_MS,
                broker=placeholder_broker)
async def send_delivery(delivery_id: int, token: str) -> None:
    await deliver(delivery_id, token)


def bind(broker: dramatiq.Broker) -> None:
    """Point the actors at `broker` (tests and the CLI switch brokers within one process)."""
    send_delivery.broker = broker
    broker.declare_actor(send_delivery)


def enqueue(claim, delay_seconds: float) -> None:
    options = {"delay": int(delay_seconds * 1000)} if delay_seconds > 0 else {}
    send_delivery.send_with_options(args=(claim.delivery_id, claim.token), **options)
