"""The send actor: renders one claimed delivery, sends it through its adapter, records the outcome."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

import dramatiq
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..adapters.base import OutgoingMessage, PermanentFailure, TemporaryFailure
from ..bindings import bind, bindings_for
from ..i18n import N_, t
from ..models import DeliveryRow, OccurrenceRow
from ..render import OccurrenceView, delivery_code, parse_delivery_code, render_message
from ..runtime import current
from ..timeutil import as_utc, from_naive_utc
from .broker import MAX_ATTEMPTS, MAX_BACKOFF_MS, placeholder_broker
from .ratelimit import acquire

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
            .values(lease_until=as_utc(now + min(SEND_LEASE, current().lease)))
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
    target = resolve_target(rt, row)
    if target is None:
        reason = f"no working chat address for {row.recipient} on any enabled adapter ({', '.join(rt.adapters)})"
        _finish(rt.engine, delivery_id, token, status="failed", error=reason)
        log.warning("delivery %s failed: %s", delivery_id, reason)
        return "failed"
    if rt.rate_backend is not None:
        wait = acquire(rt.rate_backend, target.adapter, target.address)
        if wait:
            # Over a platform limit: come back later; this is not a failed attempt.
            _finish(rt.engine, delivery_id, token, status="claimed",
                    lease_until=as_utc(now + SEND_LEASE + timedelta(seconds=wait)))
            enqueue_again(delivery_id, token, wait + random.uniform(0, wait))
            return "throttled"
    view = OccurrenceView(occ.summary, from_naive_utc(occ.start_at), from_naive_utc(occ.end_at), occ.all_day)
    message = render_delivery(rt, duty, view, row, delivery_id, target)
    attempts = row.attempts + 1
    try:
        result = await target.adapter.send(target.address, message)
    except PermanentFailure as exc:
        _finish(rt.engine, delivery_id, token, status="failed", error=str(exc)[:500], attempts=attempts,
                channel=target.adapter.name, address=target.address.chat)
        log.warning("delivery %s failed for good: %s", delivery_id, exc)
        if row.kind.startswith("notice"):
            return "failed"  # a notice about a failure does not beget another
        if target.address.is_group:
            flag_broken_group(rt, row, target, str(exc), now)
        elif getattr(exc, "notify_leader", False):
            notify_leaders(rt, row, f"notice:{target.adapter.name}:{delivery_code(delivery_id)}", now)
        return "failed"
    except TemporaryFailure as exc:
        if attempts >= MAX_ATTEMPTS:
            _finish(rt.engine, delivery_id, token, status="failed", attempts=attempts,
                    error=f"gave up after {attempts} attempts: {exc}"[:500], channel=target.adapter.name)
            return "failed"
        if exc.retry_after:
            # The platform said when: honour it without spending the retry budget.
            _finish(rt.engine, delivery_id, token, status="claimed", error=str(exc)[:500],
                    lease_until=as_utc(now + SEND_LEASE + timedelta(seconds=exc.retry_after)))
            enqueue_again(delivery_id, token, exc.retry_after)
            return "throttled"
        hold = timedelta(milliseconds=MAX_BACKOFF_MS) + SEND_LEASE
        _finish(rt.engine, delivery_id, token, status="claimed", lease_until=as_utc(now + hold),
                attempts=attempts, error=str(exc)[:500])
        raise dramatiq.Retry(str(exc)) from None
    if result.moved_to:
        bind(rt.engine, row.recipient, target.adapter.name, result.moved_to, now)
    _finish(rt.engine, delivery_id, token, status="sent", sent_at=as_utc(rt.clock()), attempts=attempts,
            channel=target.adapter.name, address=result.moved_to or target.address.chat,
            message_id=result.message_id, error=None)
    return "sent"


def render_delivery(rt, duty, view: OccurrenceView, row, delivery_id: int, target):
    if row.kind.startswith("notice"):
        _, platform, failed = (row.kind.split(":") + [""])[:3]
        adapter = rt.adapters.get(platform)
        title = getattr(adapter, "title", "") or platform.capitalize()
        if failed:
            person = rt.roster.people.get(_failed_recipient(rt, failed).partition(":")[2])
            return OutgoingMessage(text=t(target.language, PERSON_NOTICE, summary=view.summary,
                                          name=person.name if person else "?", platform=title))
        return OutgoingMessage(text=t(target.language, NOTICE, summary=view.summary, platform=title))
    return render_message(duty, view, row.kind, delivery_code(delivery_id), target.language,
                          target.adapter.capabilities, target.zone)


NOTICE = N_("⚠ I could not send \"{summary}\" to your team's {platform} group: the bot was blocked "
            "or removed. Please add the bot to the group again, or tell the commune.")


PERSON_NOTICE = N_("⚠ I could not send \"{summary}\" to {name} on {platform}: the platform refused it "
                   "(for example, they have not written to the bot for a while, or blocked it). Please "
                   "pass the reminder on, and ask them to send the bot a message.")


def resolve_target(rt, row):
    """Where a delivery goes. A notice about a failed chat (kind `notice:<adapter>[:<code>]`)
    goes to the leader through another platform where they have an address of their own,
    else through the same platform -- unless it was the leader's own chat that failed."""
    bindings = bindings_for(rt.engine, row.recipient)
    if not row.kind.startswith("notice:"):
        return rt.resolve(row.recipient, row.team_id, bindings)
    _, failed_on, failed = (row.kind.split(":") + [""])[:3]
    elsewhere = rt.resolve(row.recipient, row.team_id, {**bindings, failed_on: ("", "avoided")})
    if elsewhere is not None and elsewhere.adapter.address_in({}, elsewhere.adapter.name) is None:
        return elsewhere  # a real chat on another platform (not one that reaches anyone, like the console)
    if failed and _failed_recipient(rt, failed) == row.recipient:
        return elsewhere
    return rt.resolve(row.recipient, row.team_id, bindings)


def _failed_recipient(rt, code: str) -> str:
    with rt.engine.connect() as conn:
        return conn.execute(select(DeliveryRow.recipient).where(
            DeliveryRow.id == (parse_delivery_code(code) or 0))).scalar() or ""


def flag_broken_group(rt, row, target, reason: str, now: datetime) -> None:
    """A group that blocked or removed the bot: flag its binding and tell the leaders elsewhere."""
    bind(rt.engine, row.recipient, target.adapter.name, target.address.chat, now, status="broken", reason=reason)
    notify_leaders(rt, row, f"notice:{target.adapter.name}", now)


def notify_leaders(rt, row, kind: str, now: datetime) -> None:
    """A notice (an outbox row of `kind`) to each leader of the row's team."""
    team = rt.roster.teams.get(row.team_id)
    if team is None:
        return
    dialect = postgresql if rt.engine.dialect.name == "postgresql" else sqlite
    with rt.engine.begin() as conn:
        for leader in rt.roster.leaders(team):
            conn.execute(dialect.insert(DeliveryRow).values(
                occurrence_id=row.occurrence_id, recipient=f"person:{leader.id}", team_id=team.id,
                kind=kind[:32], due_at=as_utc(now),
                expires_at=as_utc(now + timedelta(days=1)), status="pending", attempts=0,
            ).on_conflict_do_nothing())


@dramatiq.actor(queue_name="deliveries", max_retries=MAX_ATTEMPTS, max_backoff=MAX_BACKOFF_MS,
                broker=placeholder_broker)
async def send_delivery(delivery_id: int, token: str) -> None:
    await deliver(delivery_id, token)


def bind_actors(broker: dramatiq.Broker) -> None:
    """Point the actors at `broker` (tests and the CLI switch brokers within one process)."""
    send_delivery.broker = broker
    broker.declare_actor(send_delivery)


def enqueue_again(delivery_id: int, token: str, delay_seconds: float) -> None:
    send_delivery.send_with_options(args=(delivery_id, token), delay=int(delay_seconds * 1000))


def enqueue(claim, delay_seconds: float) -> None:
    options = {"delay": int(delay_seconds * 1000)} if delay_seconds > 0 else {}
    send_delivery.send_with_options(args=(claim.delivery_id, claim.token), **options)
