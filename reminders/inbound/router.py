"""Inbound messages from any platform: button presses, replies, commands.

Adapters turn a platform update into an `Inbound`; `handle` records what it means and
returns an `Outcome` the adapter carries out (a popup, a reply, an edited message).

Each event is processed once, and completely or not at all: the event's id and everything
its handling writes (acknowledgement, audit events, snooze, binding, invite, feed link)
are one transaction. A platform's retry after a failure (the process killed, the database
down) is processed again; a retry after success is a replay, and ignored. Event ids are
kept for REPLAY_WINDOW, then pruned a few at a time as new events arrive.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, select
from sqlalchemy.engine import Connection

from reminders.adapters.base import Inbound, Outcome, OutgoingMessage
from reminders.codes import MAX_CODE_LENGTH, delivery_code
from reminders.definitions.roster import Person
from reminders.errors import AlreadyDone, AnswerError, NotOnRoster, UnknownDelivery
from reminders.i18n import N_, format_when, t
from reminders.inbound import duty_chat
from reminders.inbound.acks import (
    TYPED,
    NotSentHere,
    Seen,
    check_seen,
    find_delivery,
    record_acknowledgement,
    refusal,
    snooze,
)
from reminders.inbound.admin import admin_command
from reminders.inbound.behalf import confirm_from_chat
from reminders.inbound.login import login_link
from reminders.jobs.render import OccurrenceView, render_message
from reminders.kinds import DeliveryStatus, Kind, is_checkin
from reminders.runtime import Runtime
from reminders.store.bindings import bind, recipient_by_address
from reminders.store.feed_tokens import MAX_OWN_LINKS, feed_links, own_link
from reminders.store.invites import redeem
from reminders.store.models import ACKNOWLEDGEMENT, DELIVERY, INBOUND_EVENT, OCCURRENCE
from reminders.store.upsert import dialect_insert
from reminders.text import fold, shown, spoken_number
from reminders.timeutil import as_utc, from_naive_utc
from reminders.views.status import occurrence_status

# How long an event id is remembered: Telegram keeps an update it could not deliver for
# 24 hours (and retries a webhook meanwhile); twice that, to be safe. Older ids are pruned.
REPLAY_WINDOW = timedelta(hours=48)
PRUNE_BATCH = 50  # event ids pruned at most per event recorded: a steady trickle, never a long delete

DONE_WORDS = {"xong", "da xong", "xong roi", "da xong roi", "ok", "okay", "done", "1", "da lam", "roi",
              "da thuc hien", "hoan thanh"}
POLITE = {"a", "nhe", "nha", "nhe anh", "nhe chi"}  # "xong ạ", "ok nhé": trailing courtesy words
HELP = N_("I send the team's reminders. Press ✅ when a duty is done, or reply to a question "
          "with your answer. Commands: /status (this week), /done [answer] (the latest reminder), "
          "/help.")
HELP_REPLIES = N_("I send the team's reminders. When a duty is done, reply \"xong\" (add its code if "
                  "several are open); answer a question with a number, e.g. \"25\". Commands: /status "
                  "(this week), /help.")
NOT_UNDERSTOOD = N_("Sorry, I did not understand that.")
OTHER_OPEN = N_("If you meant another reminder, reply with its code.")
# A bare check-in answer: a number first, then at most a few words ("25", "25 hộ", "30 hộ ạ").
ANSWER_LIKE = re.compile(r"-?\d+(?:[.,]\d+)?(?:\s+\w+){0,3}\W*")
# A short code the person typed: "mã 2S7", "code 2S7", "#2S7" (explicit), or a bare "2S7".
CODE_MARKED = re.compile(r"[(\[]?\s*(?:(?:\bmã|\bma|\bcode)\s*[:#]?\s*|#)([0-9A-Za-z]{1,8})\b\s*[)\]]?",
                         re.IGNORECASE)
CODE_BARE = re.compile(r"\b([0-9A-Za-z]{2,8})\b")
# What `/done <code>` looks like when it names a reminder: figures and letters ("2S7"), or marked ("#2S7").
CODE_CLAIMED = re.compile(rf"#[0-9A-Za-z]{{1,{MAX_CODE_LENGTH}}}|(?=[A-Za-z]*\d)(?=\d*[A-Za-z])[0-9A-Za-z]{{2,{MAX_CODE_LENGTH}}}")
NOT_ON_ROSTER = N_("You are not on the team roster yet. Ask your team leader for an invite code.")


def first_time(conn: Connection, event: Inbound, now: datetime) -> bool:
    """Record the event id in the caller's transaction; False if it was seen before (a
    replayed webhook or update). A retry while the first is still being handled waits for
    it here (the unique key), then sees it recorded -- or, if it failed, records it."""
    # RETURNING, not rowcount: SQLAlchemy adds an implicit RETURNING on PostgreSQL,
    # and then reports rowcount -1 -- every message would look like a replay.
    event_id = event.event_id if len(event.event_id) <= 128 else hashlib.sha256(event.event_id.encode()).hexdigest()
    inserted = conn.execute(dialect_insert(conn, INBOUND_EVENT).values(
        adapter=event.adapter, event_id=event_id, received_at=as_utc(now)
    ).on_conflict_do_nothing().returning(INBOUND_EVENT.c.id)).first()
    if inserted is None:
        return False
    expired = (select(INBOUND_EVENT.c.id).where(INBOUND_EVENT.c.received_at < as_utc(now - REPLAY_WINDOW))
               .limit(PRUNE_BATCH).with_for_update(skip_locked=True))
    conn.execute(delete(INBOUND_EVENT).where(INBOUND_EVENT.c.id.in_(expired.scalar_subquery())))
    return True


def is_done_word(text: str) -> bool:
    """'xong', 'Đã xong!', 'xong roi', 'ok ạ', 'done', '1': the duty is done."""
    folded = fold(text)
    for particle in POLITE:
        if folded.endswith(" " + particle):
            folded = folded[: -len(particle) - 1]
    return folded in DONE_WORDS


def is_number_answer(text: str) -> bool:
    """A bare check-in answer: "25", "25 hộ", "hai mươi", "ba mươi lăm hộ"."""
    return ANSWER_LIKE.fullmatch(text) is not None or spoken_number(text) is not None


def identify(rt: Runtime, conn: Connection, event: Inbound) -> Person | None:
    bound = recipient_by_address(conn, event.adapter, event.sender)
    if bound and bound.startswith("person:"):
        return rt.roster.people.get(bound.partition(":")[2])
    return rt.roster.find_by_address(event.adapter, event.sender)


def handle(rt: Runtime, event: Inbound, now: datetime | None = None) -> Outcome | None:
    """What an inbound event means; None if this event was already processed. The event
    and all it writes are committed together, or -- on any error -- not at all."""
    now = now or rt.clock()
    with rt.engine.begin() as conn:
        if not first_time(conn, event, now):
            return None
        return _route(rt, conn, event, now)


def _route(rt: Runtime, conn: Connection, event: Inbound, now: datetime) -> Outcome:
    person = identify(rt, conn, event)
    text = (event.text or "").strip()
    command, _, argument = text.partition(" ")
    command = command.split("@")[0].lower() if command.startswith("/") else ""
    argument = argument.strip()
    if command == "/start" and argument:
        return _redeem_invite(rt, conn, event, argument, now)
    if command in ("/help", "/start") and person is not None:
        return Outcome(reply=t(person.language, _help(rt, event)))
    if person is None:
        if event.is_group and event.action is None and not command:
            return Outcome()  # a household in the group chatting: not for us
        return Outcome(reply=t("vi", NOT_ON_ROSTER), alert=event.action is not None)
    if command in duty_chat.COMMANDS:
        return duty_chat.command(rt, conn, event, person, command, argument, now)
    if event.action in duty_chat.DRAFT_ACTIONS:
        return duty_chat.answer(rt, conn, event, person, event.action or "",
                                int(event.code or "-1") if (event.code or "").isdecimal() else -1, now)
    if not command and (sentence := duty_chat.new_duty_text(text)) is not None:
        return duty_chat.command(rt, conn, event, person, "/newduty", sentence, now)
    if not command and duty_chat.is_admin(person) and (typed := duty_chat.typed_answer(text)) is not None:
        waiting = duty_chat.answer(rt, conn, event, person, typed, None, now)
        if waiting.recorded:
            return waiting
    if command == "/duties":
        return duty_chat.duties_reply(rt, conn, person, now)
    if command in ("/preview", "/remindnow"):
        # N is the number /duties shows (files and this commune's duties written in chat)
        argument = duty_chat.numbers_to_uids(rt, conn, person, argument)
        return admin_command(rt, conn, event, person, command, argument, now)
    if command == "/login":
        return login_link(rt, conn, event, person, now)
    if command == "/bind":
        return _bind_group(rt, conn, event, person, now)
    if command == "/calendar":
        return _calendar_link(rt, conn, event, person, now)
    if command == "/status":
        return Outcome(reply=status_text(rt, conn, person, now))
    if command == "/done":  # a leader or official confirming for a member, or someone else's code
        on_behalf = confirm_from_chat(rt, conn, person, argument, event.adapter, now)
        if on_behalf is not None:
            return on_behalf
    if event.action is not None:
        if event.action in ("done", "snooze") and event.code:
            return _button(rt, conn, event, person, event.code, now)
        return Outcome(reply=refusal(person.language, UnknownDelivery("no such button")), alert=True)
    if command not in ("", "/done"):
        return _not_understood(rt, event, person)
    return _text(rt, conn, event, person, text, command, argument, now)


def _text(rt: Runtime, conn: Connection, event: Inbound, person: Person, text: str, command: str,
          argument: str, now: datetime) -> Outcome:
    """A reply, `/done [code] [answer]`, or a plain message: which reminder it is about."""
    answer = argument if command == "/done" else text
    # Where the code comes from: the message replied to (sent into this chat), a code typed
    # or quoted (one sent to the person or their team), or the latest one in this chat.
    code = _code_of_message(conn, event.adapter, event.chat, event.reply_to) if event.reply_to else None
    seen = Seen(event.chat)
    if code is None:
        seen = TYPED
        if event.quoted_text:
            code, _ = _code_in_text(rt, conn, person, event.quoted_text, now)
        if code is None:
            code, answer = _code_in_text(rt, conn, person, answer, now)
    if code is None and (claimed := _claimed_code(answer, first_only=command == "/done")) is not None:
        try:
            delivery, _ = find_delivery(conn, claimed.group(claimed.lastindex or 0).lstrip("#"))
            check_seen(rt.roster, delivery, person, event.adapter, TYPED)
        except NotSentHere as exc:  # someone else's reminder, or one never sent: say so
            return Outcome(reply=refusal(person.language, exc))
        except UnknownDelivery:
            pass  # no such reminder: then it was no code
        else:  # their own reminder, even one no longer open: a late "done" still counts
            code, answer = delivery_code(delivery.id), _without(answer, claimed)
    others = 0
    if code is None and (command == "/done" or is_done_word(text)):
        code, others = _latest_open(rt, conn, event, person, now)
        seen = Seen(event.chat)
    elif code is None and is_number_answer(text):
        code, others = _latest_open(rt, conn, event, person, now, number_answer=True)
        seen = Seen(event.chat)
    if code is None:
        return _not_understood(rt, event, person)
    if command != "/done" and is_done_word(answer) and not _answers_checkin(rt, conn, code, answer):
        answer = ""
    outcome = _acknowledge(rt, conn, event, person, code, answer or None, now, seen)
    if others and outcome.recorded and outcome.reply is not None:
        outcome.reply += "\n" + t(person.language, OTHER_OPEN)
    return outcome


def _not_understood(rt: Runtime, event: Inbound, person: Person) -> Outcome:
    """Silence in a group (people talk there); in a private chat, a short help."""
    if event.is_group:
        return Outcome()
    return Outcome(reply=t(person.language, NOT_UNDERSTOOD) + "\n" + t(person.language, _help(rt, event)))


def _claimed_code(text: str, *, first_only: bool) -> re.Match[str] | None:
    """A code the person clearly means ("mã 2S7", "#2S7"; `/done 2S7`'s first word), open
    for them or not: for an answer that names the wrong reminder to be refused, not
    recorded on another one."""
    if first_only:
        match = CODE_CLAIMED.match(text)
        if match is not None and (match.end() == len(text) or text[match.end()].isspace()):
            return match
    for match in CODE_MARKED.finditer(text):
        marker = match.group(0)[: match.start(1) - match.start(0)].lower()
        # "ma" without its accent is also an everyday word: then only a code with a figure.
        if "mã" in marker or "code" in marker or "#" in marker or any(c.isdigit() for c in match.group(1)):
            return match
    return None


def _answers_checkin(rt: Runtime, conn: Connection, code: str, answer: str) -> bool:
    """Whether a done word is the check-in's answer: "1" household, "ok" for yes."""
    try:
        delivery, occ = find_delivery(conn, code)
    except UnknownDelivery:
        return False
    duty = rt.duties.get(occ.duty_uid)
    if not (is_checkin(delivery.kind) and duty is not None and duty.checkin is not None):
        return False
    kind = duty.checkin.answer_type
    return kind == "yesno" or kind == "number" and is_number_answer(answer)


def _help(rt: Runtime, event: Inbound) -> str:
    """The help that fits the platform: buttons to press, or words to reply."""
    adapter = rt.adapters.get(event.adapter)
    return HELP if adapter is None or adapter.capabilities.buttons else HELP_REPLIES


def _redeem_invite(rt: Runtime, conn: Connection, event: Inbound, code: str, now: datetime) -> Outcome:
    """`/start <code>`: link this account to the roster member the invite was made for."""
    person_id = redeem(conn, code, now)
    person = rt.roster.people.get(person_id or "")
    if person is None:
        return Outcome(reply=t("vi", "This invite code is not valid or was already used."))
    bind(conn, f"person:{person.id}", event.adapter, event.sender, now)
    return Outcome(reply=t(person.language, "Welcome, {name}! You will receive your team's reminders here.",
                           name=shown(person.name)) + "\n" + t(person.language, _help(rt, event)), recorded=True)


def _calendar_link(rt: Runtime, conn: Connection, event: Inbound, person: Person, now: datetime) -> Outcome:
    """`/calendar` in a private chat: the person's private feed link for their team or
    commune -- the same one each time when the database can keep it sealed (a secret key
    is set); else a new one, and only their latest MAX_OWN_LINKS work."""
    lang = person.language
    if event.is_group:  # a feed link is private: never post it in a group
        return Outcome(reply=t(lang, "Send /calendar to me in a private chat."))
    scope = f"team:{person.team_id}" if person.team_id else f"commune:{person.commune_id}"
    link = own_link(conn, person.id, scope, now, label=f"{shown(person.name)} ({event.adapter})", sealer=rt.sealer)
    https, webcal = feed_links(rt.public_url, link.token)
    lines = [t(lang, "Your calendar link (add it to Google Calendar, Outlook or your phone; keep it private):"),
             https, webcal]
    if rt.sealer is None:
        lines.append(t(lang, "Each /calendar makes a new link; only your latest {count} links work.",
                       count=MAX_OWN_LINKS))
    if link.revoked:
        lines.append(t(lang, "Your oldest link no longer works."))
    return Outcome(reply="\n".join(lines), recorded=not link.again)


def _bind_group(rt: Runtime, conn: Connection, event: Inbound, person: Person, now: datetime) -> Outcome:
    """`/bind` in a group, by a team leader: reminders for the team go to this group."""
    team = rt.roster.teams.get(person.team_id or "")
    if not event.is_group or team is None or person.role != "leader":
        return Outcome(reply=t(person.language, "Only a team leader can bind a group, from inside the group."))
    bind(conn, team.recipient_key, event.adapter, event.chat, now)
    return Outcome(reply=t(person.language, "This group now receives the reminders of {team}.", team=team.name),
                   recorded=True)


def _button(rt: Runtime, conn: Connection, event: Inbound, person: Person, code: str, now: datetime) -> Outcome:
    """A button press: `code` is the delivery code it carries (`event.code`), and the press
    counts only in the chat where that reminder was sent."""
    if event.action == "snooze":
        try:
            due = snooze(conn, rt.roster, code=code, person_id=person.id, now=now, channel=event.adapter,
                         seen=Seen(event.chat))
        except (UnknownDelivery, NotOnRoster) as exc:
            return Outcome(reply=refusal(person.language, exc), alert=True)
        except AlreadyDone as exc:
            return Outcome(reply=str(exc), alert=True)
        return Outcome(reply=t(person.language, "OK, I will remind you again at {when}.",
                               when=format_when(due, person.language, _zone(rt, person))), recorded=True)
    return _acknowledge(rt, conn, event, person, code, None, now, Seen(event.chat))


def _acknowledge(rt: Runtime, conn: Connection, event: Inbound, person: Person, code: str, answer: str | None,
                 now: datetime, seen: Seen) -> Outcome:
    try:
        result = record_acknowledgement(conn, rt.roster, rt.duties, code=code, person_id=person.id,
                                        channel=event.adapter, now=now, answer=answer, seen=seen)
    except AnswerError as exc:
        return Outcome(reply=str(exc), alert=event.action is not None)
    except (UnknownDelivery, NotOnRoster) as exc:
        return Outcome(reply=refusal(person.language, exc), alert=event.action is not None)
    reply = t(person.language, "Thank you, {name}: \"{summary}\" is recorded as done.",
              name=shown(person.name), summary=result.summary)
    if result.answer is not None:
        reply += " " + t(person.language, "Answer: {answer}.", answer=result.answer)
    return Outcome(reply=reply, recorded=True, edit=progress_edit(rt, conn, result.delivery_id))


def _zone(rt: Runtime, person: Person) -> ZoneInfo:
    team = rt.roster.teams.get(person.team_id or "")
    return ZoneInfo(team.timezone if team else rt.roster.timezone)


def progress_edit(rt: Runtime, conn: Connection, delivery_id: int) -> tuple[str, str, OutgoingMessage] | None:
    """The group message, re-rendered with '2/3 đã xác nhận: An, Bình' under it."""
    delivery, occ = find_delivery(conn, delivery_code(delivery_id))
    duty = rt.duties.get(occ.duty_uid)
    adapter = rt.adapters.get(delivery.channel or "")
    team = rt.roster.teams.get(delivery.team_id)
    if not (duty and adapter and team and delivery.message_id and delivery.recipient.startswith("team:")
            and adapter.capabilities.edits):
        return None
    progress = next((p for p in occurrence_status(conn, rt.roster, from_naive_utc(occ.start_at),
                                                  from_naive_utc(occ.start_at) + timedelta(seconds=1),
                                                  team_id=team.id) if p.occurrence_id == occ.id), None)
    if progress is None:
        return None
    view = OccurrenceView(occ.summary, from_naive_utc(occ.start_at), from_naive_utc(occ.end_at), occ.all_day)
    message = render_message(duty, view, delivery.kind, delivery_code(delivery.id), team.language,
                             adapter.capabilities, ZoneInfo(team.timezone))
    line = t(team.language, "{done}/{total} confirmed", done=len(progress.acknowledged),
             total=len(progress.expected))
    if progress.acknowledged_names:
        line += ": " + ", ".join(progress.acknowledged_names)
    return delivery.address or "", delivery.message_id, OutgoingMessage(
        text=f"{message.text}\n\n✅ {line}", buttons=message.buttons, code=message.code)


def _code_of_message(conn: Connection, adapter: str, chat: str, message_id: str) -> str | None:
    found = conn.execute(select(DELIVERY.c.id).where(
        DELIVERY.c.channel == adapter, DELIVERY.c.address == chat,
        DELIVERY.c.message_id == message_id)).scalar()
    return delivery_code(found) if found else None


def _code_in_text(rt: Runtime, conn: Connection, person: Person, text: str, now: datetime) -> tuple[str | None, str]:
    """The code of one of this person's open reminders typed in the message ("xong mã 2S7",
    "xong 2s7", "#2S7"), and the text without it. Only codes of reminders open for this
    person or their team count, so "25" or "ok" in a message are never taken for one."""
    open_codes = _open_codes(conn, person, now)
    if not open_codes:
        return None, text
    for match in CODE_MARKED.finditer(text):
        if match.group(1).upper() in open_codes:
            return match.group(1).upper(), _without(text, match)
    for match in CODE_BARE.finditer(text):
        token = match.group(1)
        if not token.isdigit() and not is_done_word(token) and token.upper() in open_codes:
            return token.upper(), _without(text, match)
    return None, text


def _without(text: str, match: re.Match[str]) -> str:
    return " ".join((text[: match.start()] + " " + text[match.end():]).split()).strip(" ,.;:-–")


def _open_codes(conn: Connection, person: Person, now: datetime) -> set[str]:
    if not person.team_id:
        return set()
    ids = conn.execute(select(DELIVERY.c.id).where(
        DELIVERY.c.team_id == person.team_id,
        DELIVERY.c.recipient.in_((f"person:{person.id}", f"team:{person.team_id}")),
        DELIVERY.c.status == DeliveryStatus.SENT, DELIVERY.c.expires_at > as_utc(now),
        ~DELIVERY.c.kind.startswith(Kind.NOTICE))).scalars().all()
    return {delivery_code(i) for i in ids}


def _latest_open(rt: Runtime, conn: Connection, event: Inbound, person: Person, now: datetime, *,
                 number_answer: bool = False) -> tuple[str | None, int]:
    """The most recent reminder sent into this chat that is still open for this person (not
    yet acknowledged; a check-in not yet answered), and how many others are open too.
    With `number_answer`, only check-ins whose question expects a number."""
    rows = conn.execute(
        select(DELIVERY.c.id, DELIVERY.c.kind, OCCURRENCE.c.duty_uid,
               ACKNOWLEDGEMENT.c.id.label("ack"), ACKNOWLEDGEMENT.c.answer)
        .join(OCCURRENCE, OCCURRENCE.c.id == DELIVERY.c.occurrence_id)
        .outerjoin(ACKNOWLEDGEMENT, and_(ACKNOWLEDGEMENT.c.occurrence_id == DELIVERY.c.occurrence_id,
                                         ACKNOWLEDGEMENT.c.person_id == person.id))
        .where(DELIVERY.c.channel == event.adapter, DELIVERY.c.address == event.chat,
               DELIVERY.c.status == DeliveryStatus.SENT, DELIVERY.c.expires_at > as_utc(now),
               ~DELIVERY.c.kind.startswith(Kind.NOTICE))
        .order_by(DELIVERY.c.sent_at.desc(), DELIVERY.c.id.desc()).limit(50)).all()
    candidates = []
    for row in rows:
        duty = rt.duties.get(row.duty_uid)
        checkin = is_checkin(row.kind) and duty is not None and duty.checkin is not None
        if duty is None or not (checkin or duty.ack):
            continue
        if number_answer and not (checkin and duty.checkin is not None and duty.checkin.answer_type == "number"):
            continue
        pending = row.answer is None if checkin else row.ack is None
        candidates.append((not pending, row.id))
    if not candidates:
        return None, 0
    chosen = min(candidates, key=lambda c: c[0])  # the most recent pending one, else the most recent
    return delivery_code(chosen[1]), sum(1 for done, _ in candidates if not done) - (not chosen[0])


def status_text(rt: Runtime, conn: Connection, person: Person, now: datetime) -> str:
    """This week's duties of the person's team and who has acknowledged them."""
    zone = _zone(rt, person)
    rows = [r for r in occurrence_status(conn, rt.roster, now - timedelta(days=3), now + timedelta(days=4),
                                         team_id=person.team_id) if person.team_id]
    if not rows:
        return t(person.language, "No duties this week.")
    lines = [t(person.language, "This week:")]
    for row in rows:
        when = format_when(row.start, person.language, zone, all_day=row.all_day)
        lines.append(f"• {row.summary} — {when}: {row.progress}")
    return "\n".join(lines)
