"""The send actor: takes a batch of claimed deliveries, sends them concurrently through
their adapters, and records every outcome in one transaction.

Why batches: per delivery, a message through the broker and two transactions cost more
than the send itself (bench/production_burst.py). A batch costs one message, one
transaction to confirm the claims (with the occurrences and chat bindings), and one to
record the outcomes. Ownership stays per row: every statement is guarded by the claim
token, so a batch redelivered after a crash, or retried, only touches rows still claimed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dramatiq
from dramatiq.rate_limits import RateLimiterBackend
from sqlalchemy import ColumnElement, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from reminders.adapters.base import (
    Adapter,
    Address,
    OutgoingMessage,
    PermanentFailure,
    TemporaryFailure,
)
from reminders.codes import delivery_code, parse_delivery_code
from reminders.definitions.model import Duty
from reminders.definitions.quiet import QuietHours
from reminders.definitions.roster import Roster
from reminders.i18n import N_, t
from reminders.jobs.broker import MAX_ATTEMPTS, MAX_BACKOFF_MS, placeholder_broker
from reminders.jobs.followup_messages import render_followup
from reminders.jobs.ratelimit import BOT_WIDE, NARROW, acquire, room
from reminders.jobs.render import OccurrenceView, render_message
from reminders.jobs.targets import Bindings, Target, resolve
from reminders.kinds import (
    BindingStatus,
    DeliveryStatus,
    Kind,
    OccurrenceStatus,
    is_followup,
    is_notice,
    kind_of,
)
from reminders.runtime import Runtime, current
from reminders.schedule.dispatcher import Claim
from reminders.store.audit import AuditEvent, delivery_event, record_events
from reminders.store.bindings import bind, bindings_for_many
from reminders.store.models import DELIVERY, OCCURRENCE, AnyRow
from reminders.timeutil import as_utc, from_naive_utc

log = logging.getLogger(__name__)
SEND_LEASE = timedelta(minutes=2)
BATCH_SIZE = 100  # deliveries per broker message
BATCH_SPREAD = timedelta(seconds=1)  # a batch holds deliveries due within this of each other
# Longer than this under a platform's limit and a message goes back through the broker
# (well inside dramatiq's time limit for one batch).
MAX_RATE_WAIT = timedelta(seconds=15)
_gates: dict[tuple[int, str, str], asyncio.Semaphore] = {}  # (event loop, adapter, purpose)


@dataclass
class Taken:
    """A delivery whose claim this batch confirmed, with what it needs to be sent."""

    id: int
    row: AnyRow
    occurrence: AnyRow | None  # None for a delivery of no occurrence (a digest), or one since removed
    bindings: dict[str, tuple[str, str]]


@dataclass
class Outcomes:
    """Column updates per delivery, and the follow-up work they imply."""

    values: dict[int, dict[str, Any]] = field(default_factory=dict)
    throttled: dict[int, float] = field(default_factory=dict)  # id -> seconds to wait
    retry: list[int] = field(default_factory=list)
    after: list[Callable[[], None]] = field(default_factory=list)  # run once the outcomes are recorded

    def set(self, delivery_id: int, **values: Any) -> str:
        self.values[delivery_id] = values
        status: str = values.get("status", DeliveryStatus.CLAIMED)
        return status


def _owned(token: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (DELIVERY.c.status == DeliveryStatus.CLAIMED, DELIVERY.c.claimed_by == token)


def take_batch(engine: Engine, ids: list[int], token: str, now: datetime) -> list[Taken]:
    """Confirm the claims still ours, extend their lease for the send, and read their
    occurrences and chat bindings: one transaction."""
    with engine.begin() as conn:
        rows = conn.execute(
            update(DELIVERY).where(DELIVERY.c.id.in_(ids), *_owned(token))
            .values(lease_until=as_utc(now + min(SEND_LEASE, current().lease)))
            .returning(DELIVERY.c.id, DELIVERY.c.recipient, DELIVERY.c.team_id, DELIVERY.c.kind,
                       DELIVERY.c.expires_at, DELIVERY.c.attempts, DELIVERY.c.occurrence_id)
        ).all()
        if not rows:
            return []
        occurrence_ids = {r.occurrence_id for r in rows}
        occurrences = {o.id: o for o in conn.execute(
            select(OCCURRENCE).where(OCCURRENCE.c.id.in_(occurrence_ids))).all()}
        bindings = bindings_for_many(conn, {r.recipient for r in rows})
    order = {delivery_id: i for i, delivery_id in enumerate(ids)}
    return sorted((Taken(r.id, r, occurrences.get(r.occurrence_id), bindings.get(r.recipient, {}))
                   for r in rows), key=lambda taken: order[taken.id])


def record_outcomes(engine: Engine, token: str, outcomes: Outcomes, taken: dict[int, Taken], now: datetime) -> None:
    """Every outcome of a batch, and its audit events, in one transaction; one executemany
    per set of columns."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    events: list[AuditEvent] = []
    for delivery_id, values in outcomes.values.items():
        groups[tuple(sorted(values))].append({"_id": delivery_id, **values})
        status = "retry" if delivery_id in outcomes.retry else values.get("status")
        status = "held" if status == DeliveryStatus.PENDING else status
        if status is not None:  # a throttled delivery has no outcome yet
            events.append(delivery_event(taken[delivery_id].row, delivery_id, status, values.get("sent_at") or now,
                                         channel=values.get("channel"), error=values.get("error")))
    if not groups:
        return
    with engine.begin() as conn:
        for columns, params in groups.items():
            stmt = (update(DELIVERY)
                    .where(DELIVERY.c.id == bindparam("_id"), *_owned(token))
                    .values({c: bindparam(c) for c in columns}))
            conn.execute(stmt.execution_options(synchronize_session=False), params)
        record_events(conn, events)


async def deliver_batch(delivery_ids: list[int], token: str) -> dict[int, str]:
    """Send a batch of claimed deliveries; returns each one's new status. Raises
    dramatiq.Retry (after recording everything else) if some failed temporarily."""
    rt = current()
    now = rt.clock()
    taken = take_batch(rt.engine, list(delivery_ids), token, now)
    outcomes = Outcomes()
    statuses: dict[int, str] = {i: "skipped" for i in delivery_ids}
    ready: list[_Job] = []
    for item in taken:
        status, job = _prepare(rt, item, now, outcomes)
        statuses[item.id] = status
        if job is not None:
            ready.append(job)
    if ready:
        for item_id, status in await asyncio.gather(*(_send(rt, job, now, outcomes) for job in ready)):
            statuses[item_id] = status
    if outcomes.throttled:
        # Over a platform limit: a fresh claim token, so this batch's retries leave them alone.
        fresh = _retoken(token)
        wait = max(outcomes.throttled.values())
        for delivery_id, seconds in outcomes.throttled.items():
            outcomes.values[delivery_id].update(
                claimed_by=fresh, lease_until=as_utc(now + SEND_LEASE + timedelta(seconds=seconds)))
    record_outcomes(rt.engine, token, outcomes, {item.id: item for item in taken}, now)
    if outcomes.throttled:
        enqueue_again(list(outcomes.throttled), fresh, wait + random.uniform(0, wait))
    for action in outcomes.after:
        action()
    if outcomes.retry:
        raise dramatiq.Retry(f"{len(outcomes.retry)} of {len(delivery_ids)} deliveries failed for now")
    return statuses


def _gate(adapter: Adapter, purpose: str) -> asyncio.Semaphore:
    """One semaphore per adapter, purpose and event loop, shared by all the batches this
    process is sending: `send` admits the adapter's concurrency, `rate` one waiter."""
    key = (id(asyncio.get_running_loop()), adapter.name, purpose)
    if key not in _gates:
        _gates[key] = asyncio.Semaphore(adapter.capabilities.concurrency if purpose == "send" else 1)
    return _gates[key]


class _WaitBudget:
    def __init__(self) -> None:
        self.waited = 0.0

    async def sleep(self, seconds: float) -> bool:
        """Sleep if the budget allows; False when the message should go back to the broker."""
        if self.waited + seconds > MAX_RATE_WAIT.total_seconds():
            return False
        await asyncio.sleep(seconds)
        self.waited += seconds
        return True


async def _wait_for_chat_room(backend: RateLimiterBackend, adapter: Adapter, address: Address,
                              budget: _WaitBudget) -> float:
    """Wait, taking nothing, until the chat's own limit has room (a chat that got a message
    a moment ago); 0, or the seconds to come back after when the wait would be too long."""
    while wait := room(backend, adapter, address, NARROW):
        if not await budget.sleep(wait):
            return wait
    return 0.0


async def _take_rate_slot(backend: RateLimiterBackend, adapter: Adapter, address: Address,
                          budget: _WaitBudget) -> float:
    """Take the platform's slots for one message, waiting here up to MAX_RATE_WAIT in all;
    beyond that, the seconds after which to come back through the broker.

    Called holding a send slot, just before the request: the platform counts a message
    when it arrives, so nothing may wait between counting and sending. Waiting in the
    batch keeps the pace smooth and costs no broker round trip. One coroutine per process
    polls the bot-wide limit at a time (the others queue behind it), so a crowd of waiting
    messages does not become a crowd of Redis calls."""
    while True:
        if wait := await _wait_for_chat_room(backend, adapter, address, budget):
            return wait
        async with _gate(adapter, "rate"):
            while wait := acquire(backend, adapter, address, BOT_WIDE):
                if not await budget.sleep(wait):
                    return wait
            wait = acquire(backend, adapter, address, NARROW)
        if not wait:
            return 0.0
        # Another process took this chat's slot meanwhile: one bot-wide slot goes unused.
        if not await budget.sleep(wait):
            return wait


def _retoken(token: str) -> str:
    return f"{token.partition(':')[0]}:{uuid.uuid4().hex[:12]}"


@dataclass
class _Job:
    item: Taken
    target: Target
    message: OutgoingMessage
    attempts: int


def _prepare(rt: Runtime, item: Taken, now: datetime, outcomes: Outcomes) -> tuple[str, _Job | None]:
    """Decide what happens to one delivery before any network call: expired, cancelled,
    unreachable, or ready with its rendered message."""
    row, occ = item.row, item.occurrence
    if now > from_naive_utc(row.expires_at):
        return outcomes.set(item.id, status=DeliveryStatus.MISSED, error="not sent before the occurrence was over"), None
    duty = rt.duties.get(occ.duty_uid) if occ is not None else None
    standalone = occ is None and is_followup(row.kind)  # a weekly digest belongs to no occurrence
    if not standalone and (duty is None or occ is None or occ.status != OccurrenceStatus.SCHEDULED):
        return outcomes.set(item.id, status=DeliveryStatus.CANCELLED, error="duty or occurrence removed"), None
    held = _quiet_hold(rt, row, now)
    if held is not None:
        return outcomes.set(item.id, **held), None
    target = resolve_target(rt, row, item.bindings)
    if target is None:
        reason = f"no working chat address for {row.recipient} on any enabled adapter ({', '.join(rt.adapters)})"
        log.warning("delivery %s failed: %s", item.id, reason)
        return outcomes.set(item.id, status=DeliveryStatus.FAILED, error=reason), None
    view = None if standalone or occ is None else OccurrenceView(occ.summary, from_naive_utc(occ.start_at),
                                                                 from_naive_utc(occ.end_at), occ.all_day)
    message = render_delivery(rt, duty, view, row, item.id, target)
    if message is None:  # a follow-up with nothing left to say: everyone has answered
        return outcomes.set(item.id, status=DeliveryStatus.CANCELLED, error="nothing left to say: everyone has answered"), None
    return "sending", _Job(item, target, message, row.attempts + 1)


def _throttled(outcomes: Outcomes, delivery_id: int, wait: float) -> tuple[int, str]:
    """Over a platform limit for longer than a batch waits: not a failed attempt; it comes
    back through the broker when the window has room."""
    outcomes.throttled[delivery_id] = wait
    outcomes.set(delivery_id)
    return delivery_id, "throttled"


def _quiet_hold(rt: Runtime, row: AnyRow, now: datetime) -> dict[str, Any] | None:
    """The planner never schedules into the team's quiet hours, but a delivery can still
    reach a worker then (late after an outage, a retry, a snooze). It waits for the
    morning -- back to `pending`, due when the quiet hours end -- or, if by then its
    occurrence is over, it is missed. An admin's explicit /remindnow is not held."""
    if kind_of(row.kind) is Kind.REMINDER_NOW:
        return None
    quiet, zone = _quiet_hours_of(rt.roster, row)
    window = quiet.window_around(now, ZoneInfo(zone)) if quiet is not None and zone is not None else None
    if window is None:
        return None
    morning = window[1]
    if morning >= from_naive_utc(row.expires_at):
        return {"status": DeliveryStatus.MISSED, "error": f"due in the quiet hours ({quiet}) and over by their end"}
    return {"status": DeliveryStatus.PENDING, "due_at": as_utc(morning), "claimed_by": None, "lease_until": None,
            "error": f"held for the quiet hours ({quiet})"}


def _quiet_hours_of(roster: Roster, row: AnyRow) -> tuple[QuietHours | None, str | None]:
    """The reader's quiet hours: a commune official's are the commune's (their escalations
    and digests carry one of the commune's teams), everyone else's their team's."""
    kind, _, ident = row.recipient.partition(":")
    person = roster.people.get(ident) if kind == "person" else None
    if person is not None and person.team_id is None and person.commune_id in roster.communes:
        commune = roster.communes[person.commune_id]
        return commune.quiet, commune.timezone
    team = roster.teams.get(row.team_id)
    return (team.quiet, team.timezone) if team is not None else (None, None)


async def _send(rt: Runtime, job: _Job, now: datetime, outcomes: Outcomes) -> tuple[int, str]:
    item, target, attempts = job.item, job.target, job.attempts
    row, delivery_id, adapter = item.row, item.id, target.adapter
    limits, budget = rt.rate_backend, _WaitBudget()
    # A chat that must wait (it got a message a moment ago) waits without holding a send slot.
    if limits is not None and (wait := await _wait_for_chat_room(limits, adapter, target.address, budget)):
        return _throttled(outcomes, delivery_id, wait)
    try:
        async with _gate(adapter, "send"):
            if limits is not None and (wait := await _take_rate_slot(limits, adapter, target.address, budget)):
                return _throttled(outcomes, delivery_id, wait)
            result = await adapter.send(target.address, job.message)
    except PermanentFailure as exc:
        log.warning("delivery %s failed for good: %s", delivery_id, exc)
        reason, notify_leader = str(exc), getattr(exc, "notify_leader", False)
        outcomes.set(delivery_id, status=DeliveryStatus.FAILED, error=reason[:500], attempts=attempts,
                     channel=adapter.name, address=target.address.chat)
        if not is_notice(row.kind):  # a notice about a failure does not beget another
            if target.address.is_group:
                outcomes.after.append(lambda: flag_broken_group(rt, row, target, reason, now))
            elif notify_leader:
                kind = f"{Kind.NOTICE}:{adapter.name}:{delivery_code(delivery_id)}"
                outcomes.after.append(lambda: notify_leaders(rt, row, kind, now))
        return delivery_id, "failed"
    except TemporaryFailure as exc:
        if attempts >= MAX_ATTEMPTS:
            outcomes.set(delivery_id, status=DeliveryStatus.FAILED, attempts=attempts, channel=adapter.name,
                         error=f"gave up after {attempts} attempts: {exc}"[:500])
            return delivery_id, "failed"
        if exc.retry_after:  # the platform said when: honour it without spending the retry budget
            outcomes.throttled[delivery_id] = exc.retry_after
            outcomes.set(delivery_id, error=str(exc)[:500])
            return delivery_id, "throttled"
        # dramatiq retries the batch with backoff; only the rows still claimed go again.
        hold = timedelta(milliseconds=MAX_BACKOFF_MS) + SEND_LEASE
        outcomes.set(delivery_id, lease_until=as_utc(now + hold), attempts=attempts, error=str(exc)[:500])
        outcomes.retry.append(delivery_id)
        return delivery_id, "retry"
    if moved_to := result.moved_to:
        outcomes.after.append(lambda: bind(rt.engine, row.recipient, adapter.name, moved_to, now))
    outcomes.set(delivery_id, status=DeliveryStatus.SENT, sent_at=as_utc(rt.clock()), attempts=attempts,
                 channel=adapter.name, address=result.moved_to or target.address.chat,
                 message_id=result.message_id, error=None)
    return delivery_id, "sent"


def render_delivery(rt: Runtime, duty: Duty | None, view: OccurrenceView | None, row: AnyRow, delivery_id: int,
                    target: Target) -> OutgoingMessage | None:
    if is_followup(row.kind):  # nudges, escalations, digests: reminders.followup
        return render_followup(rt, duty, view, row, delivery_id, target)
    # Past the follow-ups, a delivery has its duty and occurrence (_prepare cancels it otherwise).
    assert duty is not None and view is not None  # for the type checker
    if is_notice(row.kind):
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


def resolve_target(rt: Runtime, row: AnyRow, bindings: Bindings) -> Target | None:
    """Where a delivery goes. A notice about a failed chat (kind `notice:<adapter>[:<code>]`)
    goes to the leader through another platform where they have an address of their own,
    else through the same platform -- unless it was the leader's own chat that failed."""
    if not is_notice(row.kind):
        return resolve(rt, row.recipient, row.team_id, bindings)
    _, failed_on, failed = (row.kind.split(":") + [""])[:3]
    elsewhere = resolve(rt, row.recipient, row.team_id, {**bindings, failed_on: ("", "avoided")})
    if elsewhere is not None and elsewhere.adapter.address_in({}, elsewhere.adapter.name) is None:
        return elsewhere  # a real chat on another platform (not one that reaches anyone, like the console)
    if failed and _failed_recipient(rt, failed) == row.recipient:
        return elsewhere
    return resolve(rt, row.recipient, row.team_id, bindings)


def _failed_recipient(rt: Runtime, code: str) -> str:
    with rt.engine.connect() as conn:
        recipient: str | None = conn.execute(select(DELIVERY.c.recipient).where(
            DELIVERY.c.id == (parse_delivery_code(code) or 0))).scalar()
    return recipient or ""


def flag_broken_group(rt: Runtime, row: AnyRow, target: Target, reason: str, now: datetime) -> None:
    """A group that blocked or removed the bot: flag its binding and tell the leaders elsewhere."""
    bind(rt.engine, row.recipient, target.adapter.name, target.address.chat, now, status=BindingStatus.BROKEN, reason=reason)
    notify_leaders(rt, row, f"{Kind.NOTICE}:{target.adapter.name}", now)


def notify_leaders(rt: Runtime, row: AnyRow, kind: str, now: datetime) -> None:
    """A notice (an outbox row of `kind`) to each leader of the row's team."""
    team = rt.roster.teams.get(row.team_id)
    if team is None:
        return
    dialect = postgresql if rt.engine.dialect.name == "postgresql" else sqlite
    with rt.engine.begin() as conn:
        for leader in rt.roster.leaders(team):
            conn.execute(dialect.insert(DELIVERY).values(
                occurrence_id=row.occurrence_id, recipient=f"person:{leader.id}", team_id=team.id,
                kind=kind[:32], due_at=as_utc(now),
                expires_at=as_utc(now + timedelta(days=1)), status=DeliveryStatus.PENDING, attempts=0,
            ).on_conflict_do_nothing())


@dramatiq.actor(queue_name="deliveries", max_retries=MAX_ATTEMPTS, max_backoff=MAX_BACKOFF_MS,
                broker=placeholder_broker)
async def send_batch(delivery_ids: list[int], token: str) -> None:
    await deliver_batch(delivery_ids, token)


def enqueue_again(delivery_ids: list[int], token: str, delay_seconds: float) -> None:
    send_batch.send_with_options(args=(delivery_ids, token), delay=int(delay_seconds * 1000))


def batches(claims: Iterable[Claim], size: int = BATCH_SIZE,
            spread: timedelta = BATCH_SPREAD) -> list[list[Claim]]:
    """Group claims (sorted by due time) into batches due within `spread` of their first."""
    grouped: list[list[Claim]] = []
    for claim in claims:
        last = grouped[-1] if grouped else None
        if (last and len(last) < size and last[0].token == claim.token
                and claim.due_at - last[0].due_at <= spread):
            last.append(claim)
        else:
            grouped.append([claim])
    return grouped


def enqueue(claims: list[Claim], now: datetime) -> int:
    """Hand claims to the workers, one broker message per batch, each sent when its first
    delivery is due. Returns the number of messages."""
    grouped = batches(claims)
    for batch in grouped:
        delay = max(0.0, (batch[0].due_at - now).total_seconds())
        send_batch.send_with_options(args=([c.delivery_id for c in batch], batch[0].token),
                                     delay=int(delay * 1000) if delay > 0 else None)
    return len(grouped)
