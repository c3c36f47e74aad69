"""A duty in words, for people: its rhythm, reminders, audience and next occurrences.

Shared by `reminders duties` (the terminal), the chat commands (/newduty, /duties) and the
console, so that a duty reads the same wherever it is shown."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Literal

from babel.dates import format_timedelta

from reminders.definitions.expand import occurrences, reminder_times
from reminders.definitions.model import Alarm, Duty, Occurrence
from reminders.definitions.rhythm import describe
from reminders.definitions.roster import Roster
from reminders.i18n import N_, format_short, format_when, t

_GRANULARITY: dict[timedelta, Literal["day", "hour", "minute"]] = {timedelta(days=1): "day",
                                                                   timedelta(hours=1): "hour"}


def next_occurrences(duty: Duty, after: datetime, count: int = 5) -> list[Occurrence]:
    """The next `count` occurrences (not cancelled) starting at or after `after` (UTC)."""

    found: list[Occurrence] = []
    for years in (1, 5, 30):
        found = [o for o in occurrences(duty, after, after + timedelta(days=366 * years))
                 if not o.cancelled and o.start >= after]
        if len(found) >= count:
            break
    return found[:count]


def rhythm_words(duty: Duty, language: str) -> str:
    """A duty's recurrence in words (hand-written files too); the RRULE where words fail."""
    master = duty.calendar.walk(duty.component)[0]
    start = (master.get("DTSTART") or master.get("DUE")).dt
    if isinstance(start, datetime) and start.tzinfo is not None:
        start = start.astimezone(duty.zone)
    rules = master.get("RRULE")
    rules = rules if isinstance(rules, list) else [rules] if rules is not None else [None]
    text = "; ".join(describe(rule, start, language) for rule in rules)
    if master.get("RDATE") is not None or master.get("EXDATE") is not None:
        text += " " + t(language, "(with extra or skipped dates)")
    return text


def rrule_text(duty: Duty) -> str:
    master = duty.calendar.walk(duty.component)[0]
    rules = master.get("RRULE")
    rules = rules if isinstance(rules, list) else [rules] if rules is not None else []
    return "; ".join(rule.to_ical().decode() for rule in rules) or "—"


ADDRESS_NAMES = {"group": N_("group"), "members": N_("each member"), "leader": N_("the team leader")}


def address_words(duty: Duty, language: str) -> str:
    """Whom in the team it goes to, in words ('nhóm, tổ trưởng'), not the file's keywords."""
    return ", ".join(t(language, ADDRESS_NAMES[mode]) if mode in ADDRESS_NAMES else mode for mode in duty.address)


def audience_words(duty: Duty, roster: Roster, language: str) -> str:
    names = []
    for item in duty.audience:
        kind, _, ident = item.partition(":")
        if item == "all":
            names.append(t(language, "all teams"))
        elif kind == "team":
            names.append(roster.teams[ident].name if ident in roster.teams else ident)
        else:
            names.append(roster.communes[ident].name if ident in roster.communes else ident)
    return ", ".join(names)


def _amount(delta: timedelta, language: str) -> str:
    parts = []
    days, rest = divmod(abs(delta), timedelta(days=1))
    hours, rest = divmod(rest, timedelta(hours=1))
    minutes = rest // timedelta(minutes=1)
    for number, unit in ((days, timedelta(days=1)), (hours, timedelta(hours=1)), (minutes, timedelta(minutes=1))):
        if number:
            parts.append(format_timedelta(number * unit, threshold=1e9 if unit == timedelta(minutes=1) else 1,
                                          granularity=_GRANULARITY.get(unit, "minute"), locale=language))
    return " ".join(parts)


def alarm_words(alarm: Alarm, duty: Duty, language: str) -> str:
    # "nhắc 2 tiếng trước khi bắt đầu": the row's label already says these are reminders.
    kind = t(language, "check-in") if alarm.kind == "checkin" else t(language, "reminder")
    if alarm.absolute is not None:
        return f"{kind} {format_when(alarm.absolute, language, duty.zone)}"
    offset = alarm.offset or timedelta(0)
    end = alarm.related == "END"
    if duty.all_day:  # counted from local midnight: say the clock time instead
        return f"{kind} {_all_day_words(offset, end, language)}"
    if not offset:
        when = t(language, "at the end") if end else t(language, "at the start")
    elif offset < timedelta(0):
        when = (t(language, "{amount} before the end", amount=_amount(offset, language)) if end
                else t(language, "{amount} before the start", amount=_amount(offset, language)))
    else:
        when = (t(language, "{amount} after the end", amount=_amount(offset, language)) if end
                else t(language, "{amount} after the start", amount=_amount(offset, language)))
    return f"{kind} {when}"


def _all_day_words(offset: timedelta, end: bool, language: str) -> str:
    days, clock = divmod(offset, timedelta(days=1))
    at = f"{clock // timedelta(hours=1):02d}:{clock % timedelta(hours=1) // timedelta(minutes=1):02d}"
    if end:  # the end of an all-day duty is the midnight after its last day
        days += 1
        if days == 0:
            return t(language, "on the last day at {time}", time=at)
    if days == 0:
        return t(language, "on the day at {time}", time=at)
    if days < 0:
        return t(language, "{days} days before at {time}", days=-days, time=at)
    return t(language, "{days} days after at {time}", days=days, time=at)


def occurrence_lines(duty: Duty, after: datetime, language: str, zone: tzinfo) -> list[str]:

    lines = []
    for number, occurrence in enumerate(next_occurrences(duty, after), 1):
        when = format_when(occurrence.start, language, zone, all_day=occurrence.all_day)
        times = "; ".join(f"{t(language, 'check-in') if alarm.kind == 'checkin' else t(language, 'reminder')} "
                          f"{format_short(due, language, zone)}"
                          for alarm, due in reminder_times(duty, occurrence))
        lines.append(f"  {number}. {when} — {times}")
    return lines or ["  " + t(language, "(no occurrence in the next 30 years)")]
