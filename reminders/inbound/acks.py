"""Recording acknowledgements and check-in answers, whatever channel they came in on.

Every check of who may record what is made here, where it is recorded: a chat's code must
name a reminder that was really sent there (or to the person, or their team); a leader
confirms only for their own team, a commune official or admin only within their commune.
Each function takes an engine (its own transaction) or a connection (the caller's: an
inbound update is recorded with everything it did, or not at all).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from reminders.codes import delivery_code, parse_delivery_code
from reminders.definitions.model import Duty
from reminders.definitions.quiet import place
from reminders.definitions.roster import Person, Roster
from reminders.errors import AlreadyDone, AnswerError, NotOnRoster, UnknownDelivery
from reminders.i18n import N_, t
from reminders.kinds import DeliveryStatus, is_checkin, snoozed
from reminders.store.audit import AuditEvent, delivery_event, record_events
from reminders.store.models import ACKNOWLEDGEMENT, DELIVERY, OCCURRENCE, AnyRow
from reminders.store.transaction import Bind, reading, writing
from reminders.store.upsert import dialect_insert
from reminders.text import fold, shown, spoken_number
from reminders.timeutil import as_utc

YES = {"co", "yes", "y", "dung", "roi", "ok", "da", "vang", "1", "true"}
NO = {"khong", "no", "n", "chua", "0", "false", "ko", "k"}
NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")
REASK = {
    "number": N_("Please answer with a number, for example: 25."),
    "yesno": N_("Please answer yes or no."),
    "text": N_("Please write a short answer."),
}
CONFIRMERS = ("leader", "official", "admin")
ACKNOWLEDGED_FIRST = "acknowledged before it was due"


@dataclass(frozen=True)
class Seen:
    """Where the code of an acknowledgement from a chat was seen: a button pressed, or a
    message replied to, in `chat` (of the acknowledgement's channel); or typed (`chat` None).
    Such an acknowledgement must name a reminder that was sent: into that chat, or (typed)
    to the person or their team -- never one still to come, nor another team's."""

    chat: str | None = None


TYPED = Seen()


class NotSentHere(UnknownDelivery):
    """The code names a reminder that was not sent into this chat, nor to this person or team."""


class OutsideAuthority(NotOnRoster):
    """Someone confirming for a person outside their team (a leader) or commune (an official)."""

    def __init__(self, by: Person, member: Person, where: str):
        super().__init__(N_("{by} may not confirm for {name}, who is not in their team") if where == "team"
                         else N_("{by} may not confirm for {name}, who is not in their commune"),
                         by=by.name, name=member.name)
        self.member = member
        self.where = where  # "team" | "commune"


@dataclass(frozen=True)
class AckResult:
    occurrence_id: int
    delivery_id: int
    person: Person
    summary: str
    answer: str | None
    first: bool  # False if this person had already acknowledged this occurrence


def parse_answer(answer_type: str, text: str, language: str) -> tuple[str, float | None]:
    """Validate a check-in answer: (normalised text, number or None); AnswerError re-asks.
    A number may come in figures ("25 hộ") or in words ("hai mươi lăm")."""
    text = shown(text or "").strip()
    if answer_type == "number":
        match = NUMBER.search(text)
        value = float(match.group().replace(",", ".")) if match else spoken_number(text)
        if value is not None:
            value = float(value)
            return (str(int(value)) if value.is_integer() else str(value)), value
    elif answer_type == "yesno":
        words = set(fold(text).split())
        if words & YES and not words & NO:
            return "yes", 1.0
        if words & NO:
            return "no", 0.0
    elif text:
        return text[:1000], None
    raise AnswerError(t(language, REASK.get(answer_type, REASK["text"])))


def find_delivery(engine: Bind, code: str) -> tuple[AnyRow, AnyRow]:
    """The delivery a short code names, with its occurrence; UnknownDelivery if none."""
    delivery_id = parse_delivery_code(code)
    with reading(engine) as conn:
        delivery = None if delivery_id is None else conn.execute(
            select(DELIVERY).where(DELIVERY.c.id == delivery_id)).first()
        if delivery is None:
            raise UnknownDelivery(N_("no reminder has the code '{code}'"), code=code)
        if delivery.occurrence_id is None:  # a weekly digest: about no occurrence, nothing to confirm
            raise UnknownDelivery(N_("'{code}' is a digest, not a reminder"), code=code)
        occurrence = conn.execute(select(OCCURRENCE).where(OCCURRENCE.c.id == delivery.occurrence_id)).one()
    return delivery, occurrence


def commune_of(roster: Roster, team_id: str) -> str | None:
    team = roster.teams.get(team_id)
    return team.commune_id if team else None


def may_confirm_for(roster: Roster, by: Person, team_id: str) -> bool:
    """Whether `by` may confirm for the members of team `team_id`: a leader for their own
    team, a commune official or admin for the teams of their commune."""
    if by.role == "leader":
        return by.team_id == team_id
    return by.role in ("official", "admin") and by.commune_id is not None \
        and commune_of(roster, team_id) == by.commune_id


def check_seen(roster: Roster, delivery: AnyRow, actor: Person, channel: str, seen: Seen) -> None:
    """NotSentHere unless the code was seen where it was sent (see `Seen`). A commune
    official or admin may also type the code of a reminder sent within their commune."""
    if delivery.status == DeliveryStatus.SENT:
        if seen.chat is not None:
            if delivery.channel == channel and delivery.address == seen.chat:
                return
        elif delivery.recipient in (f"person:{actor.id}", f"team:{actor.team_id}") or (
                actor.role in ("official", "admin") and actor.commune_id is not None
                and commune_of(roster, delivery.team_id) == actor.commune_id):
            return
    raise NotSentHere(N_("'{code}' was not sent to {name} or their team in this chat") if seen.chat is not None
                      else N_("'{code}' was not sent to {name} or their team"),
                      code=delivery_code(delivery.id), name=actor.name)


def _check_person(roster: Roster, delivery: AnyRow, person_id: str, recorded_by: str | None) -> Person:
    person = roster.people.get(person_id)
    if person is None:
        raise NotOnRoster(N_("'{id}' is not on the roster"), id=person_id)
    allowed = person.team_id == delivery.team_id if delivery.recipient.startswith("team:") \
        else delivery.recipient == f"person:{person_id}" or person.team_id == delivery.team_id
    if not allowed:
        raise NotOnRoster(N_("{name} is not in the team this reminder was sent to"), name=person.name)
    if recorded_by and recorded_by != person_id:
        by = roster.people.get(recorded_by)
        if by is None or by.role not in CONFIRMERS:
            raise NotOnRoster(N_("'{id}' may not confirm on behalf of {name}"), id=recorded_by, name=person.name)
        if not may_confirm_for(roster, by, delivery.team_id):
            raise OutsideAuthority(by, person, "team" if by.role == "leader" else "commune")
    return person


def record_acknowledgement(engine: Bind, roster: Roster, duties: Mapping[str, Duty], *, code: str,
                           person_id: str, channel: str, now: datetime, answer: str | None = None,
                           recorded_by: str | None = None, seen: Seen | None = None) -> AckResult:
    """Record that `person_id` did the duty of delivery `code` (with a check-in answer if asked).

    `seen`: where the code came from in a chat (checked: see `Seen`); None for trusted
    callers (the terminal, the library). Raises UnknownDelivery (NotSentHere), NotOnRoster
    (OutsideAuthority), or AnswerError (whose message re-asks the question). Acknowledging
    twice keeps the first time and updates the answer. The person's snoozed copies of the
    occurrence's reminder still to come are cancelled with it: they are done.
    """
    with writing(engine) as conn:
        delivery, occ = find_delivery(conn, code)
        if seen is not None:
            actor = roster.people.get(recorded_by or person_id)
            if actor is None:
                raise NotOnRoster(N_("'{id}' is not on the roster"), id=recorded_by or person_id)
            check_seen(roster, delivery, actor, channel, seen)
        person = _check_person(roster, delivery, person_id, recorded_by)
        duty = duties.get(occ.duty_uid)
        value_text, value_number = None, None
        if duty is not None and duty.checkin is not None and (answer or is_checkin(delivery.kind)):
            if not answer:
                raise AnswerError(duty.checkin.question(person.language) + "\n"
                                  + t(person.language, REASK[duty.checkin.answer_type]))
            value_text, value_number = parse_answer(duty.checkin.answer_type, answer, person.language)
        elif answer and shown(answer).strip():  # nothing asked: an answer would be stored for nothing
            raise AnswerError(t(person.language, "\"{summary}\" asks no check-in question; the answer was not "
                                                 "recorded.", summary=occ.summary))
        values = {"occurrence_id": occ.id, "person_id": person.id, "team_id": delivery.team_id,
                  "at": as_utc(now), "channel": channel, "delivery_id": delivery.id,
                  "answer": value_text, "answer_number": value_number,
                  "recorded_by": recorded_by if recorded_by and recorded_by != person.id else None,
                  "changed_at": as_utc(now)}
        on_behalf = bool(recorded_by and recorded_by != person.id)
        # Inserted here, or there already: on PostgreSQL a concurrent first acknowledgement
        # (a double tap) is waited for, so only one of them is the first, with one `ack` event.
        first = conn.execute(dialect_insert(conn, ACKNOWLEDGEMENT).values(values).on_conflict_do_nothing(
            index_elements=["occurrence_id", "person_id"]).returning(ACKNOWLEDGEMENT.c.id)).first() is not None
        if not first and value_text is not None:  # a corrected answer
            conn.execute(update(ACKNOWLEDGEMENT).where(
                ACKNOWLEDGEMENT.c.occurrence_id == occ.id, ACKNOWLEDGEMENT.c.person_id == person.id,
            ).values(answer=value_text, answer_number=value_number, changed_at=as_utc(now)))
        events = []
        if first or value_text is not None:
            event = "on-behalf" if on_behalf and first else "ack" if first else "answer"
            detail = f"via {channel}" + (f", answer: {value_text}" if value_text is not None else "")
            events.append(AuditEvent(now, event, occ.id, delivery.id, delivery.team_id,
                                     actor=recorded_by if on_behalf else person.id,
                                     recipient=f"person:{person.id}", detail=detail))
        events += _cancel_snoozes(conn, occ.id, person.id, now, answered=value_text is not None)
        record_events(conn, events)
    return AckResult(occ.id, delivery.id, person, occ.summary, value_text, first)


def _cancel_snoozes(conn: Connection, occurrence_id: int, person_id: str, now: datetime, *,
                    answered: bool) -> list[AuditEvent]:
    """Cancel the person's copies of the occurrence's reminder still to be sent -- snoozed
    ("reminder-0@…"), or an admin's /remindnow ("reminder-now@…") -- a check-in only once it
    is answered. Returns their audit events, to be recorded with the change."""
    rows = conn.execute(select(DELIVERY.c.id, DELIVERY.c.occurrence_id, DELIVERY.c.team_id, DELIVERY.c.recipient,
                               DELIVERY.c.kind).where(
        DELIVERY.c.occurrence_id == occurrence_id, DELIVERY.c.recipient == f"person:{person_id}",
        DELIVERY.c.status == DeliveryStatus.PENDING, DELIVERY.c.kind.contains("@"))).all()
    cancel = [r for r in rows if answered or not is_checkin(r.kind)]
    if cancel:
        conn.execute(update(DELIVERY).where(DELIVERY.c.id.in_([r.id for r in cancel]),
                                            DELIVERY.c.status == DeliveryStatus.PENDING)
                     .values(status=DeliveryStatus.CANCELLED, error=ACKNOWLEDGED_FIRST))
    return [delivery_event(r, r.id, DeliveryStatus.CANCELLED, now, error=ACKNOWLEDGED_FIRST) for r in cancel]


def snooze(engine: Bind, roster: Roster, *, code: str, person_id: str, now: datetime,
           delay: timedelta = timedelta(hours=1), channel: str | None = None, seen: Seen | None = None) -> datetime:
    """Remind this person again after `delay`, by a new personal delivery of the same occurrence.
    `seen` (with `channel`): the button was pressed in a chat, where the reminder must have been sent."""
    with writing(engine) as conn:
        delivery, occ = find_delivery(conn, code)
        person = _check_person(roster, delivery, person_id, None)
        if seen is not None:
            check_seen(roster, delivery, person, channel or "", seen)
        done = conn.execute(select(ACKNOWLEDGEMENT.c.answer).where(
            ACKNOWLEDGEMENT.c.occurrence_id == occ.id, ACKNOWLEDGEMENT.c.person_id == person.id)).first()
        if done is not None and (not is_checkin(delivery.kind) or done.answer is not None):
            raise AlreadyDone(t(person.language, "\"{summary}\" is already recorded as done; there is nothing to "
                                                 "remind you of.", summary=occ.summary))
        team = roster.teams.get(delivery.team_id)
        # Not at night: an evening snooze comes back in the morning, or just before the night
        # if the morning is too late for this occurrence.
        due = now + delay
        if team is not None:
            deadline = max(as_utc(delivery.expires_at), as_utc(now + delay))
            due = place(due, team.quiet, ZoneInfo(team.timezone), deadline=deadline, not_before=now) or due
        conn.execute(dialect_insert(conn, DELIVERY).values(
            occurrence_id=occ.id, recipient=f"person:{person.id}", team_id=delivery.team_id,
            kind=snoozed(delivery.kind, due), due_at=as_utc(due),
            expires_at=max(as_utc(delivery.expires_at), as_utc(due + timedelta(hours=1))),
            status=DeliveryStatus.PENDING, attempts=0).on_conflict_do_nothing())
        record_events(conn, [AuditEvent(now, "snooze", occ.id, delivery.id, delivery.team_id, actor=person.id,
                                        recipient=f"person:{person.id}",
                                        detail=f"until {as_utc(due):%Y-%m-%d %H:%M}Z")])
    return due


def confirm_on_behalf(engine: Bind, roster: Roster, duties: Mapping[str, Duty], *, code: str,
                      member_id: str, by: str, channel: str, now: datetime,
                      answer: str | None = None, seen: Seen | None = None) -> AckResult:
    """A leader (or commune official) confirms for a member ("đã xác nhận qua điện thoại").

    `code` may be any delivery of the occurrence -- the escalation the leader or official
    received included: the member's own team's delivery is used, so the acknowledgement
    lands in the right team and `recorded_by` says who vouched for it. `seen`: the code
    came from a chat, and must have been sent to `by` (or their team, or their commune).
    """
    with writing(engine) as conn:
        delivery, occ = find_delivery(conn, code)
        member = roster.people.get(member_id)
        if member is None:
            raise NotOnRoster(N_("'{id}' is not on the roster"), id=member_id)
        if seen is not None:
            actor = roster.people.get(by)
            if actor is None:
                raise NotOnRoster(N_("'{id}' is not on the roster"), id=by)
            check_seen(roster, delivery, actor, channel, seen)
        target = code
        if delivery.team_id != member.team_id or (answer and not is_checkin(delivery.kind)):
            # An official's escalation names several teams: use the member's team's own reminder
            # (its check-in when there is an answer, else a plain reminder, which needs none).
            own = conn.execute(select(DELIVERY.c.id, DELIVERY.c.kind).where(
                DELIVERY.c.occurrence_id == occ.id, DELIVERY.c.team_id == (member.team_id or ""),
                DELIVERY.c.recipient.in_((f"team:{member.team_id}", f"person:{member.id}")),
                DELIVERY.c.status.in_((DeliveryStatus.SENT, DeliveryStatus.FAILED)))).all()  # failed: the group removed the bot
            wanted = [r for r in own if is_checkin(r.kind) == bool(answer)] or own
            if wanted:
                target = delivery_code(max(r.id for r in wanted))
        return record_acknowledgement(conn, roster, duties, code=target, person_id=member.id, channel=channel,
                                      now=now, answer=answer, recorded_by=by)


def refusal(language: str, exc: UnknownDelivery | NotOnRoster) -> str:
    """The chat reply when an acknowledgement is refused, in the reader's language: why."""
    if isinstance(exc, NotSentHere):
        return t(language, "This code is not one of the reminders sent to you or your team.")
    if isinstance(exc, UnknownDelivery):
        return t(language, "This reminder is no longer open.")
    if isinstance(exc, OutsideAuthority):
        if exc.where == "team":
            return t(language, "{name} is not in your team: you can confirm only for your own team's members.",
                     name=shown(exc.member.name))
        return t(language, "{name} is not in your commune: you can confirm only for the teams of your commune.",
                 name=shown(exc.member.name))
    return t(language, "This reminder was sent to another team.")
