"""Inbound messages from any platform: button presses, replies, commands.

Adapters turn a platform update into an `Inbound`; `handle` records what it means and
returns an `Outcome` the adapter carries out (a popup, a reply, an edited message).
Each event is processed once (platforms retry webhooks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from .acks import find_delivery, record_acknowledgement, snooze
from .adapters.base import OutgoingMessage
from .bindings import bind, recipient_by_address
from .errors import AnswerError, NotOnRoster, UnknownDelivery
from .i18n import N_, format_when, t
from .invites import redeem
from .models import DeliveryRow, InboundEventRow, OccurrenceRow
from .render import OccurrenceView, delivery_code, render_message
from .roster import Person
from .runtime import Runtime
from .status import occurrence_status
from .textnorm import fold
from .timeutil import as_utc, from_naive_utc

DONE_WORDS = {"xong", "da xong", "xong roi", "da xong roi", "ok", "okay", "done", "1", "da lam", "roi",
              "da thuc hien", "hoan thanh"}
HELP = N_("I send the team's reminders. Press ✅ when a duty is done, or reply to a question "
          "with your answer. Commands: /status (this week), /done [answer] (the latest reminder), "
          "/help.")
NOT_ON_ROSTER = N_("You are not on the team roster yet. Ask your team leader for an invite code.")


@dataclass(frozen=True)
class Inbound:
    adapter: str
    event_id: str
    chat: str
    is_group: bool
    sender: str
    sender_name: str = ""
    action: str | None = None  # "done" | "snooze" (a button)
    code: str | None = None  # delivery code carried by the button
    text: str | None = None
    reply_to: str | None = None  # platform message id this message replies to


@dataclass
class Outcome:
    reply: str | None = None
    alert: bool = False  # show as a popup (buttons)
    edit: tuple[str, str, OutgoingMessage] | None = None  # (chat, message id, new message)
    recorded: bool = False


def first_time(rt: Runtime, event: Inbound, now: datetime) -> bool:
    """Record the event id; False if it was seen before (a replayed webhook or update)."""
    dialect = postgresql if rt.engine.dialect.name == "postgresql" else sqlite
    with rt.engine.begin() as conn:
        inserted = conn.execute(dialect.insert(InboundEventRow).values(
            adapter=event.adapter, event_id=event.event_id, received_at=as_utc(now)
        ).on_conflict_do_nothing()).rowcount
    return inserted == 1


def identify(rt: Runtime, event: Inbound) -> Person | None:
    bound = recipient_by_address(rt.engine, event.adapter, event.sender)
    if bound and bound.startswith("person:"):
        return rt.roster.people.get(bound.partition(":")[2])
    return rt.roster.find_by_address(event.adapter, event.sender)


def handle(rt: Runtime, event: Inbound, now: datetime | None = None) -> Outcome | None:
    """What an inbound event means; None if this event was already processed."""
    now = now or rt.clock()
    if not first_time(rt, event, now):
        return None
    person = identify(rt, event)
    text = (event.text or "").strip()
    command, _, argument = text.partition(" ")
    command = command.split("@")[0].lower()
    if command == "/start" and argument.strip():
        return _redeem_invite(rt, event, argument.strip(), now)
    if command in ("/help", "/start") and person is not None:
        return Outcome(reply=t(person.language, HELP))
    if person is None:
        return Outcome(reply=t("vi", NOT_ON_ROSTER), alert=event.action is not None)
    if command == "/bind":
        return _bind_group(rt, event, person, now)
    if command == "/status":
        return Outcome(reply=status_text(rt, person, now))
    if event.action in ("done", "snooze") and event.code:
        return _button(rt, event, person, now)
    code = None
    if event.reply_to:
        code = _code_of_message(rt, event.adapter, event.chat, event.reply_to)
    answer = argument.strip() if command == "/done" else text
    if code is None and (command == "/done" or fold(text) in DONE_WORDS):
        code = _latest_open(rt, event, person, now)
    if code is None:
        return Outcome()
    if command != "/done" and fold(answer) in DONE_WORDS:
        answer = ""
    return _acknowledge(rt, event, person, code, answer or None, now)


def _redeem_invite(rt: Runtime, event: Inbound, code: str, now: datetime) -> Outcome:
    """`/start <code>`: link this account to the roster member the invite was made for."""
    person_id = redeem(rt.engine, code, now)
    person = rt.roster.people.get(person_id or "")
    if person is None:
        return Outcome(reply=t("vi", "This invite code is not valid or was already used."))
    bind(rt.engine, f"person:{person.id}", event.adapter, event.sender, now)
    return Outcome(reply=t(person.language, "Welcome, {name}! You will receive your team's reminders here.",
                           name=person.name) + "\n" + t(person.language, HELP), recorded=True)


def _bind_group(rt: Runtime, event: Inbound, person: Person, now: datetime) -> Outcome:
    """`/bind` in a group, by a team leader: reminders for the team go to this group."""
    team = rt.roster.teams.get(person.team_id or "")
    if not event.is_group or team is None or person.role != "leader":
        return Outcome(reply=t(person.language, "Only a team leader can bind a group, from inside the group."))
    bind(rt.engine, team.recipient_key, event.adapter, event.chat, now)
    return Outcome(reply=t(person.language, "This group now receives the reminders of {team}.", team=team.name),
                   recorded=True)


def _button(rt: Runtime, event: Inbound, person: Person, now: datetime) -> Outcome:
    if event.action == "snooze":
        try:
            due = snooze(rt.engine, rt.roster, code=event.code, person_id=person.id, now=now)
        except (UnknownDelivery, NotOnRoster) as exc:
            return Outcome(reply=_refusal(person, exc), alert=True)
        return Outcome(reply=t(person.language, "OK, I will remind you again at {when}.",
                               when=format_when(due, person.language, _zone(rt, person))))
    return _acknowledge(rt, event, person, event.code, None, now)


def _acknowledge(rt: Runtime, event: Inbound, person: Person, code: str, answer: str | None,
                 now: datetime) -> Outcome:
    try:
        result = record_acknowledgement(rt.engine, rt.roster, rt.duties, code=code, person_id=person.id,
                                        channel=event.adapter, now=now, answer=answer)
    except AnswerError as exc:
        return Outcome(reply=str(exc), alert=event.action is not None)
    except (UnknownDelivery, NotOnRoster) as exc:
        return Outcome(reply=_refusal(person, exc), alert=event.action is not None)
    reply = t(person.language, "Thank you, {name}: \"{summary}\" is recorded as done.",
              name=person.name, summary=result.summary)
    if result.answer is not None:
        reply += " " + t(person.language, "Answer: {answer}.", answer=result.answer)
    return Outcome(reply=reply, recorded=True, edit=progress_edit(rt, result.delivery_id))


def _refusal(person: Person, exc: Exception) -> str:
    if isinstance(exc, UnknownDelivery):
        return t(person.language, "This reminder is no longer open.")
    return t(person.language, "This reminder was sent to another team.")


def _zone(rt: Runtime, person: Person):
    from zoneinfo import ZoneInfo

    team = rt.roster.teams.get(person.team_id or "")
    return ZoneInfo(team.timezone if team else rt.roster.timezone)


def progress_edit(rt: Runtime, delivery_id: int) -> tuple[str, str, OutgoingMessage] | None:
    """The group message, re-rendered with '2/3 đã xác nhận: An, Bình' under it."""
    delivery, occ = find_delivery(rt.engine, delivery_code(delivery_id))
    duty = rt.duties.get(occ.duty_uid)
    adapter = rt.adapters.get(delivery.channel or "")
    team = rt.roster.teams.get(delivery.team_id)
    if not (duty and adapter and team and delivery.message_id and delivery.recipient.startswith("team:")
            and adapter.capabilities.edits):
        return None
    progress = next((p for p in occurrence_status(rt.engine, rt.roster, from_naive_utc(occ.start_at),
                                                  from_naive_utc(occ.start_at) + timedelta(seconds=1),
                                                  team_id=team.id) if p.occurrence_id == occ.id), None)
    if progress is None:
        return None
    from zoneinfo import ZoneInfo

    view = OccurrenceView(occ.summary, from_naive_utc(occ.start_at), from_naive_utc(occ.end_at), occ.all_day)
    message = render_message(duty, view, delivery.kind, delivery_code(delivery.id), team.language,
                             adapter.capabilities, ZoneInfo(team.timezone))
    line = t(team.language, "{done}/{total} confirmed", done=len(progress.acknowledged),
             total=len(progress.expected))
    if progress.acknowledged_names:
        line += ": " + ", ".join(progress.acknowledged_names)
    return delivery.address or "", delivery.message_id, OutgoingMessage(
        text=f"{message.text}\n\n✅ {line}", buttons=message.buttons, code=message.code)


def _code_of_message(rt: Runtime, adapter: str, chat: str, message_id: str) -> str | None:
    with rt.engine.connect() as conn:
        found = conn.execute(select(DeliveryRow.id).where(
            DeliveryRow.channel == adapter, DeliveryRow.address == chat,
            DeliveryRow.message_id == message_id)).scalar()
    return delivery_code(found) if found else None


def _latest_open(rt: Runtime, event: Inbound, person: Person, now: datetime) -> str | None:
    """The most recent reminder sent into this chat that is still open."""
    with rt.engine.connect() as conn:
        found = conn.execute(
            select(DeliveryRow.id).join(OccurrenceRow, OccurrenceRow.id == DeliveryRow.occurrence_id)
            .where(DeliveryRow.channel == event.adapter, DeliveryRow.address == event.chat,
                   DeliveryRow.status == "sent", DeliveryRow.expires_at > as_utc(now))
            .order_by(DeliveryRow.sent_at.desc()).limit(1)).scalar()
    return delivery_code(found) if found else None


def status_text(rt: Runtime, person: Person, now: datetime) -> str:
    """This week's duties of the person's team and who has acknowledged them."""
    zone = _zone(rt, person)
    rows = [r for r in occurrence_status(rt.engine, rt.roster, now - timedelta(days=3), now + timedelta(days=4),
                                         team_id=person.team_id) if person.team_id]
    if not rows:
        return t(person.language, "No duties this week.")
    lines = [t(person.language, "This week:")]
    for row in rows:
        when = format_when(row.start, person.language, zone, all_day=row.all_day)
        lines.append(f"• {row.summary} — {when}: {row.progress}")
    return "\n".join(lines)
