"""Recording acknowledgements and check-in answers, whatever channel they came in on."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.engine import Engine

from reminders.codes import delivery_code, parse_delivery_code
from reminders.definitions.model import Duty
from reminders.definitions.quiet import place
from reminders.definitions.roster import Person, Roster
from reminders.errors import AnswerError, NotOnRoster, UnknownDelivery
from reminders.i18n import N_, t
from reminders.kinds import DeliveryStatus, is_checkin, snoozed
from reminders.store.audit import AuditEvent, record_events
from reminders.store.models import ACKNOWLEDGEMENT, DELIVERY, OCCURRENCE, AnyRow
from reminders.store.upsert import dialect_insert
from reminders.text import fold
from reminders.timeutil import as_utc

YES = {"co", "yes", "y", "dung", "roi", "ok", "da", "vang", "1", "true"}
NO = {"khong", "no", "n", "chua", "0", "false", "ko", "k"}
NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")
REASK = {
    "number": N_("Please answer with a number, for example: 25."),
    "yesno": N_("Please answer yes or no."),
    "text": N_("Please write a short answer."),
}


@dataclass(frozen=True)
class AckResult:
    occurrence_id: int
    delivery_id: int
    person: Person
    summary: str
    answer: str | None
    first: bool  # False if this person had already acknowledged this occurrence


def parse_answer(answer_type: str, text: str, language: str) -> tuple[str, float | None]:
    """Validate a check-in answer: (normalised text, number or None); AnswerError re-asks."""
    text = (text or "").strip()
    if answer_type == "number":
        match = NUMBER.search(text)
        if match:
            value = float(match.group().replace(",", "."))
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


def find_delivery(engine: Engine, code: str) -> tuple[AnyRow, AnyRow]:
    """The delivery a short code names, with its occurrence; UnknownDelivery if none."""
    delivery_id = parse_delivery_code(code)
    with engine.connect() as conn:
        delivery = None if delivery_id is None else conn.execute(
            select(DELIVERY).where(DELIVERY.c.id == delivery_id)).first()
        if delivery is None:
            raise UnknownDelivery(f"no reminder has the code '{code}'")
        if delivery.occurrence_id is None:  # a weekly digest: about no occurrence, nothing to confirm
            raise UnknownDelivery(f"'{code}' is a digest, not a reminder")
        occurrence = conn.execute(select(OCCURRENCE).where(OCCURRENCE.c.id == delivery.occurrence_id)).one()
    return delivery, occurrence


def _check_person(roster: Roster, delivery: AnyRow, person_id: str, recorded_by: str | None) -> Person:
    person = roster.people.get(person_id)
    if person is None:
        raise NotOnRoster(f"'{person_id}' is not on the roster")
    allowed = person.team_id == delivery.team_id if delivery.recipient.startswith("team:") \
        else delivery.recipient == f"person:{person_id}" or person.team_id == delivery.team_id
    if not allowed:
        raise NotOnRoster(f"{person.name} is not in the team this reminder was sent to")
    if recorded_by and recorded_by != person_id:
        by = roster.people.get(recorded_by)
        if by is None or not (by.role in ("admin", "official") or
                              (by.role == "leader" and by.team_id == delivery.team_id)):
            raise NotOnRoster(f"'{recorded_by}' may not confirm on behalf of {person.name}")
    return person


def record_acknowledgement(engine: Engine, roster: Roster, duties: Mapping[str, Duty], *, code: str,
                           person_id: str, channel: str, now: datetime, answer: str | None = None,
                           recorded_by: str | None = None) -> AckResult:
    """Record that `person_id` did the duty of delivery `code` (with a check-in answer if asked).

    Raises UnknownDelivery, NotOnRoster, or AnswerError (whose message re-asks the question).
    Acknowledging twice keeps the first time and updates the answer.
    """
    delivery, occ = find_delivery(engine, code)
    person = _check_person(roster, delivery, person_id, recorded_by)
    duty = duties.get(occ.duty_uid)
    value_text, value_number = None, None
    if duty is not None and duty.checkin is not None and (answer or is_checkin(delivery.kind)):
        if not answer:
            raise AnswerError(duty.checkin.question(person.language) + "\n"
                              + t(person.language, REASK[duty.checkin.answer_type]))
        value_text, value_number = parse_answer(duty.checkin.answer_type, answer, person.language)
    elif answer:
        value_text = answer.strip()[:1000]
    values = {"occurrence_id": occ.id, "person_id": person.id, "team_id": delivery.team_id,
              "at": as_utc(now), "channel": channel, "delivery_id": delivery.id,
              "answer": value_text, "answer_number": value_number,
              "recorded_by": recorded_by if recorded_by and recorded_by != person.id else None,
              "changed_at": as_utc(now)}
    on_behalf = bool(recorded_by and recorded_by != person.id)
    with engine.begin() as conn:
        existed = conn.execute(select(ACKNOWLEDGEMENT.c.id).where(
            ACKNOWLEDGEMENT.c.occurrence_id == occ.id, ACKNOWLEDGEMENT.c.person_id == person.id)).first()
        stmt = dialect_insert(conn, ACKNOWLEDGEMENT).values(values)
        updates = {"answer": stmt.excluded.answer, "answer_number": stmt.excluded.answer_number,
                   "changed_at": stmt.excluded.changed_at} \
            if value_text is not None else {"channel": ACKNOWLEDGEMENT.c.channel}
        conn.execute(stmt.on_conflict_do_update(index_elements=["occurrence_id", "person_id"], set_=updates))
        if existed is None or value_text is not None:
            event = "on-behalf" if on_behalf and existed is None else "ack" if existed is None else "answer"
            detail = f"via {channel}" + (f", answer: {value_text}" if value_text is not None else "")
            record_events(conn, [AuditEvent(now, event, occ.id, delivery.id, delivery.team_id,
                                            actor=recorded_by if on_behalf else person.id,
                                            recipient=f"person:{person.id}", detail=detail)])
    return AckResult(occ.id, delivery.id, person, occ.summary, value_text, existed is None)


def snooze(engine: Engine, roster: Roster, *, code: str, person_id: str, now: datetime,
           delay: timedelta = timedelta(hours=1)) -> datetime:
    """Remind this person again after `delay`, by a new personal delivery of the same occurrence."""
    delivery, occ = find_delivery(engine, code)
    person = _check_person(roster, delivery, person_id, None)
    team = roster.teams.get(delivery.team_id)
    # Not at night: an evening snooze comes back in the morning, or just before the night
    # if the morning is too late for this occurrence.
    due = now + delay
    if team is not None:
        deadline = max(as_utc(delivery.expires_at), as_utc(now + delay))
        due = place(due, team.quiet, ZoneInfo(team.timezone), deadline=deadline, not_before=now) or due
    with engine.begin() as conn:
        conn.execute(dialect_insert(conn, DELIVERY).values(
            occurrence_id=occ.id, recipient=f"person:{person.id}", team_id=delivery.team_id,
            kind=snoozed(delivery.kind, due), due_at=as_utc(due),
            expires_at=max(as_utc(delivery.expires_at), as_utc(due + timedelta(hours=1))),
            status=DeliveryStatus.PENDING, attempts=0).on_conflict_do_nothing())
        record_events(conn, [AuditEvent(now, "snooze", occ.id, delivery.id, delivery.team_id, actor=person.id,
                                        recipient=f"person:{person.id}",
                                        detail=f"until {as_utc(due):%Y-%m-%d %H:%M}Z")])
    return due


def confirm_on_behalf(engine: Engine, roster: Roster, duties: Mapping[str, Duty], *, code: str,
                      member_id: str, by: str, channel: str, now: datetime,
                      answer: str | None = None) -> AckResult:
    """A leader (or commune official) confirms for a member ("đã xác nhận qua điện thoại").

    `code` may be any delivery of the occurrence -- the escalation the leader or official
    received included: the member's own team's delivery is used, so the acknowledgement
    lands in the right team and `recorded_by` says who vouched for it.
    """
    delivery, occ = find_delivery(engine, code)
    member = roster.people.get(member_id)
    if member is None:
        raise NotOnRoster(f"'{member_id}' is not on the roster")
    target = code
    if delivery.team_id != member.team_id or (answer and not is_checkin(delivery.kind)):
        # An official's escalation names several teams: use the member's team's own reminder
        # (its check-in when there is an answer, else a plain reminder, which needs none).
        with engine.connect() as conn:
            own = conn.execute(select(DELIVERY.c.id, DELIVERY.c.kind).where(
                DELIVERY.c.occurrence_id == occ.id, DELIVERY.c.team_id == (member.team_id or ""),
                DELIVERY.c.recipient.in_((f"team:{member.team_id}", f"person:{member.id}")),
                DELIVERY.c.status.in_((DeliveryStatus.SENT, DeliveryStatus.FAILED)))).all()  # failed: the group removed the bot
        wanted = [r for r in own if is_checkin(r.kind) == bool(answer)] or own
        if wanted:
            target = delivery_code(max(r.id for r in wanted))
    return record_acknowledgement(engine, roster, duties, code=target, person_id=member.id, channel=channel,
                                  now=now, answer=answer, recorded_by=by)


def refusal(language: str, exc: UnknownDelivery | NotOnRoster) -> str:
    """The chat reply when an acknowledgement is refused, in the reader's language."""
    if isinstance(exc, UnknownDelivery):
        return t(language, "This reminder is no longer open.")
    return t(language, "This reminder was sent to another team.")
