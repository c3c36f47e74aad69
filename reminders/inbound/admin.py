"""Admin commands in the chat: /preview <duty>, /remindnow <duty> <team> (/duties is duty_chat's).

An admin (roster role `admin`) checks what the worker will send, and pushes a reminder out
at once when a team needs a nudge -- from the phone, without a terminal. /remindnow writes
ordinary outbox rows (due now), which the dispatcher claims and sends like any other, so
rate limits, retries and acknowledgements all apply. Everyone else is politely refused.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.engine import Connection

from reminders.adapters.base import Capabilities, Inbound, Outcome
from reminders.definitions.audience import recipients
from reminders.definitions.expand import occurrences, reminder_times
from reminders.definitions.model import Duty, Occurrence
from reminders.definitions.policy import LATE_REMINDER_GRACE
from reminders.definitions.roster import Person, Team
from reminders.i18n import format_when, t
from reminders.jobs.render import OccurrenceView, render_message
from reminders.kinds import DeliveryStatus, Kind, OccurrenceStatus
from reminders.runtime import Runtime
from reminders.store.bindings import bound_groups
from reminders.store.models import DELIVERY, OCCURRENCE
from reminders.store.upsert import dialect_insert
from reminders.timeutil import as_utc

log = logging.getLogger(__name__)
# Look ahead in growing steps: a daily duty is found at once, a yearly one within a year.
WINDOWS = (timedelta(days=8), timedelta(days=62), timedelta(days=400))
REPEAT_WINDOW = timedelta(minutes=1)  # a second /remindnow this soon is taken as a double tap
UPCOMING = 5


def admin_command(rt: Runtime, conn: Connection, event: Inbound, person: Person, command: str, argument: str,
                  now: datetime) -> Outcome:
    """The reply to an admin command; a refusal for anyone who is not an admin. What it
    writes is written in `conn`'s transaction (the inbound event's)."""
    lang = person.language
    if person.role != "admin":
        return Outcome(reply=t(lang, "Sorry, {command} is only for admins.", command=command))
    args = argument.split()
    if command == "/preview":
        if len(args) != 1:
            return Outcome(reply=t(lang, "Usage: /preview <duty number or id> (see /duties)."))
        return Outcome(reply=preview_text(rt, event, person, args[0], now))
    if len(args) != 2:
        return Outcome(reply=t(lang, "Usage: /remindnow <duty number or id> <team id> (see /duties)."))
    return remind_now(rt, conn, person, args[0], args[1], now)


def ordered(rt: Runtime) -> list[Duty]:
    """Duties in a stable order (UID)."""
    return sorted(rt.duties.values(), key=lambda d: d.uid)


def find_duty(rt: Runtime, token: str) -> Duty | None:
    """By its UID, or its UID without '@domain' (a number in /duties is turned into its UID
    before: duty_chat.numbers_to_uids, with the numbering /duties shows)."""
    return next((d for d in ordered(rt) if token in (d.uid, d.uid.split("@")[0])), None)


def upcoming(duty: Duty, now: datetime, count: int = 1) -> list[Occurrence]:
    """The occurrence going on now (if any) and the next ones, cancelled ones left out."""
    found: list[Occurrence] = []
    for window in WINDOWS:
        found = [o for o in occurrences(duty, now, now + window)
                 if not o.cancelled and (o.end > now or o.start >= now)]
        if len(found) >= count:
            break
    return found[:count]


def next_reminder(duty: Duty, now: datetime) -> tuple[Occurrence, str, datetime] | None:
    """The next reminder the worker will send for this duty: (occurrence, kind, due)."""
    for window in WINDOWS:
        for occ in occurrences(duty, now, now + window):
            due = sorted(((when, alarm.key) for alarm, when in reminder_times(duty, occ) if when >= now))
            if due:
                return occ, due[0][1], due[0][0]
    return None


def _zone(rt: Runtime, person: Person) -> ZoneInfo:
    """The person's team's zone; an admin is a commune official, with no team: the commune's."""
    place = rt.roster.teams.get(person.team_id or "") or rt.roster.communes.get(person.commune_id or "")
    return ZoneInfo(place.timezone if place else rt.roster.timezone)


def _when(occ: Occurrence, lang: str, zone: ZoneInfo) -> str:
    return format_when(occ.start, lang, zone, all_day=occ.all_day)


def preview_text(rt: Runtime, event: Inbound, person: Person, token: str, now: datetime) -> str:
    lang, zone = person.language, _zone(rt, person)
    duty = find_duty(rt, token)
    if duty is None:
        return t(lang, "No duty '{duty}'. Send /duties for the list.", duty=token)
    teams = [tm for tm in rt.roster.teams.values() if duty.applies_to(tm.id, tm.commune_id)]
    lines = [f"👁 {duty.summary}", t(lang, "For {count} teams.", count=len(teams))]
    found = next_reminder(duty, now)
    if found is None:
        lines.append(t(lang, "No reminder is due in the next year."))
    else:
        occ, kind, due = found
        adapter = rt.adapters.get(event.adapter)
        capabilities = adapter.capabilities if adapter else Capabilities()
        view = OccurrenceView(occ.summary, occ.start, occ.end, occ.all_day)
        message = render_message(duty, view, kind, "…", lang, capabilities, zone)
        lines.append(t(lang, "Next reminder, {when}:", when=format_when(due, lang, zone)))
        lines.append("┈┈┈┈┈┈┈┈")
        lines.append(message.text)
        if message.buttons:
            lines.append(" ".join(f"[{b.label}]" for b in message.buttons))
        lines.append("┈┈┈┈┈┈┈┈")
    occs = upcoming(duty, now, UPCOMING)
    if occs:
        lines.append(t(lang, "Next occurrences:"))
        lines.extend(f"• {_when(o, lang, zone)}" for o in occs)
    return "\n".join(lines)


def remind_now(rt: Runtime, conn: Connection, person: Person, duty_token: str, team_id: str,
               now: datetime) -> Outcome:
    """Outbox rows, due now, for the reminder of the current or next occurrence to one team."""
    lang = person.language
    duty = find_duty(rt, duty_token)
    if duty is None:
        return Outcome(reply=t(lang, "No duty '{duty}'. Send /duties for the list.", duty=duty_token))
    # An admin pushes reminders to the teams of their own commune, not to another commune's.
    own = sorted(tid for tid, tm in rt.roster.teams.items() if tm.commune_id == person.commune_id)
    team = rt.roster.teams.get(team_id)
    if team is None or team.commune_id != person.commune_id:
        return Outcome(reply=t(lang, "No team '{team}'. Teams: {teams}.", team=team_id,
                               teams=", ".join(own[:30])))
    if not duty.applies_to(team.id, team.commune_id):
        return Outcome(reply=t(lang, "\"{duty}\" is not a duty of {team}.", duty=duty.summary, team=team.name))
    found = upcoming(duty, now)
    if not found:
        return Outcome(reply=t(lang, "\"{duty}\" has no current or next occurrence.", duty=duty.summary))
    occ = found[0]
    sent = _plan_now(rt, conn, duty, team, occ, now)
    when = _when(occ, lang, _zone(rt, person))
    if sent is None:
        return Outcome(reply=t(lang, "Already sent to {team} less than a minute ago; not sending it again.",
                               team=team.name))
    log.info("admin %s: reminder of %s (%s) sent now to %s (%d messages)", person.id, duty.uid,
             occ.recurrence_id, team.id, sent)
    return Outcome(reply=t(lang, "OK: the reminder \"{duty}\" ({when}) is going to {team} now ({count} messages).",
                           duty=occ.summary, when=when, team=team.name, count=sent), recorded=True)


def _plan_now(rt: Runtime, conn: Connection, duty: Duty, team: Team, occ: Occurrence, now: datetime) -> int | None:
    """Insert the rows; None if this team got this reminder within REPEAT_WINDOW. The minute
    in the kind makes two taps in the same minute one row even when they race."""
    kind = f"{Kind.REMINDER_NOW}@{int(now.timestamp()) // 60 * 60}"  # one row per minute at most
    keys = recipients(duty, team, rt.roster, bound=bound_groups(conn))  # a /bind counts, as in planning
    conn.execute(dialect_insert(conn, OCCURRENCE).values(  # beyond the planner's horizon, maybe
        duty_uid=duty.uid, recurrence_id=occ.recurrence_id, start_at=as_utc(occ.start),
        end_at=as_utc(occ.end), all_day=occ.all_day, summary=occ.summary, status=OccurrenceStatus.SCHEDULED,
    ).on_conflict_do_nothing(index_elements=["duty_uid", "recurrence_id"]))
    # The occurrence row locked (PostgreSQL; SQLite's insert above already holds the write
    # lock): a second /remindnow racing this one waits here, then sees this one's rows --
    # two taps either side of a minute boundary are not two reminders.
    occ_id = conn.execute(select(OCCURRENCE.c.id).where(
        OCCURRENCE.c.duty_uid == duty.uid, OCCURRENCE.c.recurrence_id == occ.recurrence_id)
        .with_for_update()).scalar_one()
    recent = conn.execute(select(DELIVERY.c.id).where(
        DELIVERY.c.occurrence_id == occ_id, DELIVERY.c.team_id == team.id,
        DELIVERY.c.kind.startswith(f"{Kind.REMINDER_NOW}@"),
        DELIVERY.c.due_at > as_utc(now - REPEAT_WINDOW)).limit(1)).first()
    if recent is not None:
        return None
    expires = max(occ.end, now + LATE_REMINDER_GRACE)
    inserted = 0
    for recipient in keys:
        row = conn.execute(dialect_insert(conn, DELIVERY).values(
            occurrence_id=occ_id, recipient=recipient, team_id=team.id, kind=kind, due_at=as_utc(now),
            expires_at=as_utc(expires), status=DeliveryStatus.PENDING, attempts=0,
        ).on_conflict_do_nothing().returning(DELIVERY.c.id)).first()  # rowcount is -1 on PostgreSQL
        inserted += row is not None
    return inserted or None
