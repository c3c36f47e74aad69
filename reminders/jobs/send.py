"""The send actor: takes a batch of claimed deliveries, sends them concurrently through
their adapters, and records each outcome the moment it is known.

Why batches: per delivery, a message through the broker and a transaction to confirm the
claim cost more than the send itself (bench/production_burst.py). A batch costs one message
and one transaction to confirm the claims (with the occurrences and chat bindings).

Why each outcome at once: a message the platform accepted is written as `sent` (with its
platform message id) before its send slot is given up, so at any moment at most
`Capabilities.concurrency` accepted messages per adapter and process are not yet recorded.
A member who answers a second after the message finds it, and a crash or a broker failure
can only re-send those few. Outcomes that arrive while a transaction runs share the next
one (a group commit on a thread: jobs.send.Recorder), so a burst still costs few transactions.

Ownership stays per row: a batch's claims carry the token of the message (`<id>:<nonce>`);
taking the batch re-tokens them to this process (`<worker id>!<nonce>`), so a message that
comes again (a broker redelivery, a dead worker's message requeued) finds nothing to take,
and every later statement is guarded by the new token. A delivery that must wait (a platform
limit, a temporary failure with backoff) goes back through the broker under a fresh token of
this process; if the broker is out of reach, back to `pending` in the database, due when it
should be tried again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dramatiq
from sqlalchemy import ColumnElement, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from reminders.adapters.base import (
    OutgoingMessage,
    PermanentFailure,
    TemporaryFailure,
)
from reminders.codes import delivery_code, parse_delivery_code
from reminders.definitions.model import Duty
from reminders.definitions.quiet import QuietHours
from reminders.definitions.roster import Roster
from reminders.i18n import N_, t
from reminders.jobs.broker import (
    MAX_ATTEMPTS,
    MAX_BACKOFF_MS,
    MIN_BACKOFF_MS,
    broker_restarted,
    placeholder_broker,
)
from reminders.jobs.followup_messages import render_followup
from reminders.jobs.ratelimit import (
    MAX_RATE_WAIT,
    Ticket,
    WaitBudget,
    gate,
    per_loop,
    take_rate_slot,
    wait_for_chat_room,
)
from reminders.jobs.render import OccurrenceView, RenderMemo
from reminders.jobs.targets import Bindings, Target, resolve
from reminders.kinds import (
    BindingStatus,
    DeliveryStatus,
    Kind,
    OccurrenceStatus,
    is_checkin,
    is_followup,
    is_notice,
    kind_of,
)
from reminders.logs import redact
from reminders.runtime import Runtime, current
from reminders.schedule.dispatcher import Claim, release_queued
from reminders.store.arrays import one_of
from reminders.store.bindings import bind, bindings_for_many
from reminders.store.models import ACKNOWLEDGEMENT, DELIVERY, OCCURRENCE, AnyRow
from reminders.store.outcomes import Outcome, write_outcomes
from reminders.store.workers import Heartbeat
from reminders.timeutil import as_utc, from_naive_utc

log = logging.getLogger(__name__)
SEND_LEASE = timedelta(minutes=2)
# A send does not start later than this before its claim's lease runs out (the request itself
# must fit in it): a delivery that waited so long for a send slot or the platform's limits --
# a large burst behind a platform's 30 a second -- goes back through the broker with a fresh
# lease instead, or the dispatcher could claim it again and another worker send it twice.
SEND_MARGIN = timedelta(seconds=30)
BATCH_SIZE = 250  # deliveries per broker message (100: 3,500-4,600 a second in a 10,000 burst; 250: 4,700-5,500)
BATCH_SPREAD = timedelta(seconds=1)  # a batch holds deliveries due within this of each other
# The rate limiter (Redis) out of reach: the message is not sent, and comes back after this.
LIMITER_DOWN_WAIT = 5.0
# Recording an outcome fails (the database is out of reach): tried again after these pauses,
# about a minute in all, while the send slot stays held.
RECORD_PAUSES = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
# A batch reaches its worker this long before its first delivery is due: the claims are
# confirmed and the messages rendered beforehand, so at the due instant only the sends and
# their records are left (a burst's lateness is the time those take, not the preparation's).
PREPARE_AHEAD = timedelta(seconds=2)


@dataclass
class Taken:
    """A delivery whose claim this batch confirmed, with what it needs to be sent."""

    id: int
    row: AnyRow
    occurrence: AnyRow | None  # None for a delivery of no occurrence (a digest), or one since removed
    bindings: dict[str, tuple[str, str]]
    acknowledged: bool = False  # a snoozed reminder whose person has confirmed (or answered) meanwhile


def _owned(token: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (DELIVERY.c.status == DeliveryStatus.CLAIMED, DELIVERY.c.claimed_by == token)


def queued_token(rt: Runtime) -> str:
    """A claim of this process waiting in the broker."""
    return f"{rt.worker_id}:{uuid.uuid4().hex[:12]}"


def sending_token(rt: Runtime) -> str:
    """A claim this process is sending: never released while the process lives."""
    return f"{rt.worker_id}!{uuid.uuid4().hex[:12]}"


def send_lease(rt: Runtime) -> timedelta:
    """How long a batch's claims are held for the send once a worker took them."""
    return min(SEND_LEASE, rt.lease)


def send_deadline(rt: Runtime, start: datetime) -> datetime:
    """The last moment a delivery of a batch going out at `start` may start its request."""
    lease = send_lease(rt)
    return start + lease - min(SEND_MARGIN, lease / 4)


def take_batch(engine: Engine, ids: list[int], token: str, now: datetime, *, sending: str | None = None) -> list[Taken]:
    """Confirm the claims still held under the message's `token`, re-token them to `sending`
    (this process), extend their lease for the send, and read their occurrences, chat
    bindings and -- for snoozed reminders -- acknowledgements: one transaction."""
    # The lease runs from when the batch may go out at the latest (sending_instant).
    values: dict[str, Any] = {"lease_until": as_utc(now + PREPARE_AHEAD + send_lease(current()))}
    if sending is not None:
        values["claimed_by"] = sending
    with engine.begin() as conn:
        rows = conn.execute(
            update(DELIVERY).where(one_of(conn, DELIVERY.c.id, ids), *_owned(token))
            .values(values)
            .returning(DELIVERY.c.id, DELIVERY.c.recipient, DELIVERY.c.team_id, DELIVERY.c.kind,
                       DELIVERY.c.expires_at, DELIVERY.c.attempts, DELIVERY.c.occurrence_id, DELIVERY.c.due_at)
        ).all()
        if not rows:
            return []
        occurrence_ids = {r.occurrence_id for r in rows}
        occurrences = {o.id: o for o in conn.execute(
            select(OCCURRENCE).where(one_of(conn, OCCURRENCE.c.id, list(occurrence_ids)))).all()}
        bindings = bindings_for_many(conn, {r.recipient for r in rows})
        done = _confirmed_since_snooze(conn, rows)
    order = {delivery_id: i for i, delivery_id in enumerate(ids)}
    return sorted((Taken(r.id, r, occurrences.get(r.occurrence_id), bindings.get(r.recipient, {}),
                         (r.occurrence_id, r.recipient.partition(":")[2]) in done.get(is_checkin(r.kind), set()))
                   for r in rows), key=lambda taken: order[taken.id])


def _confirmed_since_snooze(conn: Any, rows: Iterable[AnyRow]) -> dict[bool, set[tuple[int, str]]]:
    """For the snoozed reminders among `rows` ("reminder-0@…" to a person): the (occurrence,
    person) pairs already confirmed -- for a check-in, answered. Keyed by is-a-check-in."""
    pairs = {(r.occurrence_id, r.recipient.partition(":")[2]) for r in rows
             if "@" in r.kind and r.recipient.startswith("person:") and r.occurrence_id is not None
             and not is_followup(r.kind)}
    if not pairs:
        return {}
    found = conn.execute(select(ACKNOWLEDGEMENT.c.occurrence_id, ACKNOWLEDGEMENT.c.person_id,
                                ACKNOWLEDGEMENT.c.answer).where(
        tuple_(ACKNOWLEDGEMENT.c.occurrence_id, ACKNOWLEDGEMENT.c.person_id).in_(list(pairs)))).all()
    return {False: {(a.occurrence_id, a.person_id) for a in found},
            True: {(a.occurrence_id, a.person_id) for a in found if a.answer is not None}}


# -- recording outcomes as they happen ---------------------------------------------------

def write_records(engine: Engine, records: list[Outcome]) -> None:
    """Records in one transaction (store.outcomes): a row no longer held under its token is
    left alone; every record's audit event is written."""
    with engine.begin() as conn:
        write_outcomes(conn, records)


class Recorder:
    """Writes outcomes as they come, one transaction at a time on a thread: whatever arrives
    while one is being written goes into the next. `write` returns once its records are
    committed (after retries, about a minute, if the database is out of reach)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._waiting: list[tuple[list[Outcome], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, records: list[Outcome]) -> None:
        if not records:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((records, future))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._run())
        await future

    async def _run(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                error: Exception | None = None
                for pause in (*RECORD_PAUSES, None):
                    try:
                        await asyncio.to_thread(write_records, self.engine, [r for rs, _ in group for r in rs])
                        error = None
                        break
                    except Exception as exc:
                        error = exc
                        if pause is None:
                            break
                        log.warning("recording %d outcomes failed (%s); trying again in %.1f s",
                                    sum(len(rs) for rs, _ in group), redact(str(exc))[:300], pause)
                        await asyncio.sleep(pause)
                for _, future in group:
                    if not future.done():
                        if error is None:
                            future.set_result(None)
                        else:
                            future.set_exception(error)
        finally:
            self._writer = None


def recorder(engine: Engine) -> Recorder:
    """The recorder of `engine` on the running event loop."""
    found: Recorder = per_loop().setdefault(("recorder", id(engine)), Recorder(engine))
    if found.engine is not engine:  # an engine since disposed and garbage collected: its id reused
        found = per_loop()[("recorder", id(engine))] = Recorder(engine)
    return found


# -- the batch ------------------------------------------------------------------------

@dataclass
class Batch:
    """One message's deliveries on their way: their token while being sent, what follows
    once they are recorded, and the ones going back through the broker (delay -> ids)."""

    rt: Runtime
    sending: str
    now: datetime
    taken: dict[int, Taken]
    recorder: Recorder
    statuses: dict[int, str] = field(default_factory=dict)
    requeue: dict[float, list[int]] = field(default_factory=lambda: defaultdict(list))
    requeue_token: str = ""
    send_by: datetime | None = None  # none is sent later (send_deadline): its claim would be running out
    after: list[Callable[[], None]] = field(default_factory=list)  # run once everything is recorded
    jitter: float = field(default_factory=lambda: random.uniform(1.0, 1.5))  # spreads the batch's comebacks
    memo: RenderMemo = field(default_factory=RenderMemo)
    views: dict[int, OccurrenceView] = field(default_factory=dict)

    def view_of(self, occurrence: AnyRow) -> OccurrenceView:
        """What rendering needs of an occurrence, once per occurrence of the batch."""
        view = self.views.get(occurrence.id)
        if view is None:
            view = self.views[occurrence.id] = OccurrenceView(
                occurrence.summary, from_naive_utc(occurrence.start_at), from_naive_utc(occurrence.end_at),
                occurrence.all_day)
        return view

    def record(self, delivery_id: int, status: str, values: dict[str, Any], event: str | None = None) -> Outcome:
        """What to record of a delivery (its values and audit event), and its status for the
        batch's report."""
        self.statuses[delivery_id] = status
        if "error" in values and values["error"]:
            values["error"] = redact(str(values["error"]))[:500]
        return Outcome(delivery_id, self.sending, values, event,
                      (values.get("sent_at") or as_utc(self.now)) if event is not None else None)

    def again_after(self, delivery_id: int, seconds: float, status: str, *, event: str | None = None,
                    **values: Any) -> Outcome:
        """Back through the broker in `seconds`, under this process's fresh token."""
        if not self.requeue_token:
            self.requeue_token = queued_token(self.rt)
        # Whole seconds: the batch's deliveries that wait about as long go back as one message.
        delay = float(math.ceil(max(0.0, seconds) * self.jitter))
        self.requeue[delay].append(delivery_id)
        values.update(claimed_by=self.requeue_token,
                      lease_until=as_utc(self.now + timedelta(seconds=delay) + self.rt.lease))
        return self.record(delivery_id, status, values, event)


async def deliver_batch(delivery_ids: list[int], token: str) -> dict[int, str]:
    """Send a batch of claimed deliveries; returns each one's new status.

    The database work and the rendering run on a thread, so the event loop (shared by every
    batch of the process) stays free for the sends: a request counted against a platform's
    limit goes out at once, not after another batch's rendering."""
    rt = current()
    taken_at = rt.clock()
    sending = sending_token(rt)
    taken = await asyncio.to_thread(take_batch, rt.engine, list(delivery_ids), token, taken_at, sending=sending)
    # The batch came ahead of its first delivery (enqueue: PREPARE_AHEAD): everything is
    # decided as of that instant -- expired, quiet hours -- and nothing is sent before it.
    at = sending_instant(taken, taken_at)
    batch = Batch(rt, sending, at, {item.id: item for item in taken}, recorder(rt.engine),
                  {i: "skipped" for i in delivery_ids}, send_by=send_deadline(rt, at))
    decided, ready = await asyncio.to_thread(_prepare_all, batch, taken)
    if (wait := (at - rt.clock()).total_seconds()) > 0:  # what was decided is recorded then too
        await asyncio.sleep(wait)
    await asyncio.gather(batch.recorder.write(decided), *(_send(batch, job) for job in ready))
    await asyncio.to_thread(_finish, batch)
    return batch.statuses


def sending_instant(taken: list[Taken], taken_at: datetime) -> datetime:
    """When a batch taken at `taken_at` goes out: when its first delivery is due, at most
    PREPARE_AHEAD on (a batch is never held longer than it was sent ahead)."""
    if not taken:
        return taken_at
    first_due = min(from_naive_utc(item.row.due_at) for item in taken)
    return min(max(taken_at, first_due), taken_at + PREPARE_AHEAD)


def _prepare_all(batch: Batch, taken: list[Taken]) -> tuple[list[Outcome], list[_Job]]:
    decided: list[Outcome] = []
    ready: list[_Job] = []
    for item in taken:
        try:
            record, job = _prepare(batch.rt, item, batch.now, batch)
        except Exception as exc:  # a bug rendering one message must not stop the others
            log.exception("delivery %s could not be prepared", item.id)
            record, job = _temporary(batch, item, item.row.attempts + 1, f"could not be prepared: {exc}"), None
        if record is not None:
            decided.append(record)
        if job is not None:
            ready.append(job)
    return decided, ready


def _finish(batch: Batch) -> None:
    """Once every outcome is recorded: the waiting deliveries back through the broker, and the
    follow-up actions (a binding flagged, the leaders told)."""
    _requeue(batch)
    for action in batch.after:
        try:
            action()
        except Exception:
            log.exception("after sending: a follow-up action failed")


def _requeue(batch: Batch) -> None:
    """The deliveries that must wait go back through the broker; if it is out of reach, back
    to `pending` in the database, due when they should be tried again."""
    for delay, ids in sorted(batch.requeue.items()):
        try:
            enqueue_again(ids, batch.requeue_token, delay)
        except Exception as exc:
            log.warning("broker out of reach (%s): %d deliveries back to pending", redact(str(exc))[:200], len(ids))
            with batch.rt.engine.begin() as conn:
                conn.execute(update(DELIVERY).where(DELIVERY.c.id.in_(ids), *_owned(batch.requeue_token)).values(
                    status=DeliveryStatus.PENDING, claimed_by=None, lease_until=None,
                    due_at=as_utc(batch.now + timedelta(seconds=delay))))


@dataclass
class _Job:
    item: Taken
    target: Target
    message: OutgoingMessage
    attempts: int


def _prepare(rt: Runtime, item: Taken, now: datetime, batch: Batch) -> tuple[Outcome | None, _Job | None]:
    """Decide what happens to one delivery before any network call: expired, cancelled,
    unreachable, or ready with its rendered message."""
    row, occ = item.row, item.occurrence
    if now > from_naive_utc(row.expires_at):
        return batch.record(item.id, DeliveryStatus.MISSED, {
            "status": DeliveryStatus.MISSED, "error": "not sent before the occurrence was over"}, "missed"), None
    duty = rt.duties.get(occ.duty_uid) if occ is not None else None
    standalone = occ is None and is_followup(row.kind)  # a weekly digest belongs to no occurrence
    if not standalone and (duty is None or occ is None or occ.status != OccurrenceStatus.SCHEDULED):
        return _cancel(batch, item, "duty or occurrence removed"), None
    if item.acknowledged:  # a snoozed reminder, and the person has confirmed meanwhile
        return _cancel(batch, item, "already confirmed after the snooze"), None
    held = _quiet_hold(rt, row, now)
    if held is not None:
        status = held["status"]
        return batch.record(item.id, status, held, "held" if status == DeliveryStatus.PENDING else status), None
    target = resolve_target(rt, row, item.bindings)
    if target is None:
        reason = f"no working chat address for {row.recipient} on any enabled adapter ({', '.join(rt.adapters)})"
        log.warning("delivery %s failed: %s", item.id, reason)
        return batch.record(item.id, DeliveryStatus.FAILED, {"status": DeliveryStatus.FAILED, "error": reason},
                            "failed"), None
    view = None if standalone or occ is None else batch.view_of(occ)
    message = render_delivery(rt, duty, view, row, item.id, target, batch.memo)
    if message is None:  # a follow-up with nothing left to say: everyone has answered
        return _cancel(batch, item, "nothing left to say: everyone has answered"), None
    batch.statuses[item.id] = "sending"
    return None, _Job(item, target, message, row.attempts + 1)


def _cancel(batch: Batch, item: Taken, reason: str) -> Outcome:
    return batch.record(item.id, DeliveryStatus.CANCELLED, {"status": DeliveryStatus.CANCELLED, "error": reason},
                        "cancelled")


def backoff_seconds(attempts: int) -> float:
    """After the `attempts`-th failed attempt: 2 s, 4 s, 8 s ... capped at 5 minutes (before
    the batch's jitter)."""
    return float(min(MIN_BACKOFF_MS * 2 ** max(0, attempts - 1), MAX_BACKOFF_MS)) / 1000


def _temporary(batch: Batch, item: Taken, attempts: int, reason: str, channel: str | None = None) -> Outcome:
    """A failed attempt that may succeed later: again after a backoff, or failed for good
    after MAX_ATTEMPTS."""
    if attempts >= MAX_ATTEMPTS:
        return batch.record(item.id, DeliveryStatus.FAILED, {
            "status": DeliveryStatus.FAILED, "attempts": attempts, "channel": channel,
            "error": f"gave up after {attempts} attempts: {reason}"}, "failed")
    return batch.again_after(item.id, backoff_seconds(attempts), "retry", event="retry", attempts=attempts,
                             error=reason)


def _throttled(batch: Batch, item: Taken, wait: float, reason: str | None = None) -> Outcome:
    """Over a platform limit for longer than a batch waits (or the limiter out of reach):
    not a failed attempt; it comes back through the broker when the window has room."""
    values = {"error": reason} if reason else {}
    return batch.again_after(item.id, wait, "throttled", **values)


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


async def _send(batch: Batch, job: _Job) -> None:
    """Send one delivery and record its outcome. A message the platform accepted is recorded
    before its send slot is given up: accepted and not yet recorded are never more than the
    adapter's concurrency."""
    rt, item, target, attempts = batch.rt, job.item, job.target, job.attempts
    row, delivery_id, adapter = item.row, item.id, target.adapter
    # An adapter without rate limits (the console) has no slots to take.
    limits = rt.rate_backend if adapter.capabilities.rate_limits else None
    budget = WaitBudget(MAX_RATE_WAIT.total_seconds())
    writer = batch.recorder
    try:
        # A chat that must wait (it got a message a moment ago) waits without holding a send slot.
        if limits is not None and (wait := await wait_for_chat_room(limits, adapter, target.address, budget)):
            await writer.write([_throttled(batch, item, wait)])
            return
    except Exception as exc:
        await writer.write([_limiter_down(batch, item, exc)])
        return
    async with gate(adapter, "send"):
        ticket = None
        try:
            if limits is not None:
                wait, ticket = await take_rate_slot(limits, adapter, target.address, budget)
                if ticket is None:
                    await writer.write([_throttled(batch, item, wait)])
                    return
        except Exception as exc:
            await writer.write([_limiter_down(batch, item, exc)])
            return
        if batch.send_by is not None and rt.clock() > batch.send_by:
            _release(ticket)
            await writer.write([_throttled(batch, item, 1.0, "waited for a send slot until its claim nearly ran out")])
            return
        heartbeat = rt.state.get("heartbeat")
        if isinstance(heartbeat, Heartbeat) and not heartbeat.holds(batch.sending):
            # Our heartbeat is late, or we were taken for dead: the claim may be another's now.
            # (If it is still ours, it comes back through the broker; else this changes nothing.)
            await writer.write([_throttled(batch, item, LIMITER_DOWN_WAIT, "this worker's heartbeat is late")])
            return
        try:
            try:
                result = await adapter.send(target.address, job.message)
            finally:
                _release(ticket)
        except PermanentFailure as exc:
            await writer.write([_failed_for_good(batch, job, exc)])
            return
        except TemporaryFailure as exc:
            if exc.retry_after and attempts < MAX_ATTEMPTS:
                # The platform said when: honour it without spending the retry budget.
                await writer.write([_throttled(batch, item, exc.retry_after, str(exc))])
            else:
                await writer.write([_temporary(batch, item, attempts, str(exc), adapter.name)])
            return
        except Exception as exc:  # not the adapter's contract: treated as a temporary failure
            log.exception("delivery %s: %s raised", delivery_id, adapter.name)
            await writer.write([_temporary(batch, item, attempts, repr(exc), adapter.name)])
            return
        if moved_to := result.moved_to:
            batch.after.append(lambda: bind(rt.engine, row.recipient, adapter.name, moved_to, batch.now))
        sent = batch.record(delivery_id, DeliveryStatus.SENT, {
            "status": DeliveryStatus.SENT, "sent_at": as_utc(rt.clock()), "attempts": attempts,
            "channel": adapter.name, "address": result.moved_to or target.address.chat,
            "message_id": result.message_id, "error": None}, "sent")
        try:
            await writer.write([sent])
        except Exception:
            log.error("delivery %s was sent but its outcome could not be recorded: it may be sent again "
                      "once its claim returns", delivery_id)


def _release(ticket: Ticket | None) -> None:
    """The platform answered: the slots count one window from now, then free themselves.
    Redis out of reach here only delays that (the slots lapse by themselves)."""
    if ticket is not None:
        try:
            ticket.release()
        except Exception as exc:
            log.warning("rate limiter out of reach (%s): a slot lapses by itself", redact(str(exc))[:200])


def _limiter_down(batch: Batch, item: Taken, exc: Exception) -> Outcome:
    """The rate limiter (Redis) is out of reach: nothing is sent without it."""
    log.warning("rate limiter out of reach (%s): delivery %s waits", redact(str(exc))[:200], item.id)
    return _throttled(batch, item, LIMITER_DOWN_WAIT, f"rate limiter out of reach: {exc}")


def _failed_for_good(batch: Batch, job: _Job, exc: PermanentFailure) -> Outcome:
    """Refused for good: failed; a group that blocked or removed the bot is flagged and its
    leaders told; so is a person whose chat is gone (blocked the bot), and a person the
    platform cannot reach is reported to their leaders."""
    rt, item, target, adapter = batch.rt, job.item, job.target, job.target.adapter
    row, now, reason = item.row, batch.now, redact(str(exc))
    log.warning("delivery %s failed for good: %s", item.id, reason)
    if not is_notice(row.kind):  # a notice about a failure does not beget another
        if target.address.is_group:
            batch.after.append(lambda: flag_broken_group(rt, row, target, reason, now))
        else:
            if exc.chat_gone:
                batch.after.append(lambda: bind(rt.engine, row.recipient, adapter.name, target.address.chat, now,
                                                status=BindingStatus.BROKEN, reason=reason[:500]))
            if exc.notify_leader or exc.chat_gone:
                kind = f"{Kind.NOTICE}:{adapter.name}:{delivery_code(item.id)}"
                batch.after.append(lambda: notify_leaders(rt, row, kind, now))
    return batch.record(item.id, DeliveryStatus.FAILED, {
        "status": DeliveryStatus.FAILED, "error": reason, "attempts": job.attempts, "channel": adapter.name,
        "address": target.address.chat}, "failed")


def render_delivery(rt: Runtime, duty: Duty | None, view: OccurrenceView | None, row: AnyRow, delivery_id: int,
                    target: Target, memo: RenderMemo) -> OutgoingMessage | None:
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
    return memo.render(duty, view, row.kind, delivery_code(delivery_id), target.language,
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
    """Hand claims to the workers, one broker message per batch, each sent PREPARE_AHEAD
    before its first delivery is due (the worker prepares it, then sends it when due).
    Returns the number of messages.

    Every dispatch calls it, first with no claims: if the broker restarted and lost its queue
    (Redis without persistence), every claim that was waiting in it is given back, to be
    claimed again at once -- not when its lease runs out."""
    if broker_restarted(send_batch.broker) and (released := release_queued(current().engine)):
        log.warning("the broker lost its queue (restarted): %d waiting deliveries given back", released)
    grouped = batches(claims)
    for batch in grouped:
        delay = max(0.0, (batch[0].due_at - PREPARE_AHEAD - now).total_seconds())
        send_batch.send_with_options(args=([c.delivery_id for c in batch], batch[0].token),
                                     delay=int(delay * 1000) if delay > 0 else None)
    return len(grouped)
