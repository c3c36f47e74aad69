"""Writing a new duty as an .ics file that follows the duty contract (README, "Duty format").

iCalendar has no comment lines, so the human explanation (who wrote the file, the rhythm
in words) goes in the standard COMMENT property of the VEVENT, which every reader keeps
and ignores. The file is built with the icalendar library, so what is written is what
icalendar reads back, byte for byte; it is written to a temporary file first and linked
into place only if no file of that name exists (never overwriting, never half-written).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar

from reminders.definitions.ics import unfold
from reminders.definitions.rhythm import Offset, Rhythm
from reminders.definitions.vtimezone import vtimezone
from reminders.errors import RemindersError
from reminders.files import write_atomic
from reminders.i18n import t
from reminders.text import fold
from reminders.timeutil import DEFAULT_TZ

PRODID = "-//reminders//duties new//VI"


class DutyExists(RemindersError):
    """The file or the UID is already taken: a new duty never replaces an old one."""


@dataclass(frozen=True)
class DutySpec:
    """Everything `reminders duties new` asks for, already checked."""

    uid: str
    title: str
    rhythm: Rhythm
    description: str = ""
    reminders: tuple[Offset, ...] = ()
    audience: tuple[str, ...] = ("all",)
    address: tuple[str, ...] = ("group",)
    ack: bool = True
    checkin: str | None = None
    answer: str = "text"
    checkin_at: Offset | None = None
    categories: tuple[str, ...] = ()
    timezone: str = DEFAULT_TZ
    holiday: str = "KEEP"  # X-REMINDER-HOLIDAY: KEEP (not written), SKIP, PREVIOUS, NEXT
    followup: str = ""  # X-REMINDER-FOLLOWUP as the file format writes it; "": the defaults (not written)


def slug(title: str) -> str:
    """'Báo cáo tháng (Tổ)' -> 'bao-cao-thang-to': for UIDs and file names."""
    text = re.sub(r"[^a-z0-9]+", "-", fold(title)).strip("-")
    return text[:60].rstrip("-") or "nhiem-vu"


def existing_uids(directory: Path) -> dict[str, str]:
    """UID -> 'file:line' for every .ics under `directory`, read line by line, so that a
    broken file elsewhere does not hide its UIDs."""
    found: dict[str, str] = {}
    if not directory.is_dir():
        return found
    for path in sorted(directory.rglob("*.ics")):
        try:
            text = path.read_text(encoding="utf-8-sig", errors="replace")
        except OSError:
            continue
        for number, line in unfold(text):
            name, _, value = line.partition(":")
            if name.split(";")[0].strip().upper() == "UID":
                found.setdefault(value.strip(), f"{path}:{number}")
    return found


def _trigger_alarm(description: str, trigger: tuple[timedelta, str], *, checkin: bool = False) -> icalendar.Alarm:
    alarm = icalendar.Alarm()
    alarm.add("ACTION", "DISPLAY")
    alarm.add("DESCRIPTION", description)
    delta, related = trigger
    if related == "END":
        alarm.add("TRIGGER", delta, parameters={"RELATED": "END"})
    else:
        alarm.add("TRIGGER", delta)
    if checkin:
        alarm.add("X-REMINDER-KIND", "CHECKIN")
    return alarm




def build_calendar(spec: DutySpec, now: datetime, language: str = "vi") -> icalendar.Calendar:
    """The VCALENDAR of one duty: VTIMEZONE (timed duties), VEVENT with the X-REMINDER-*
    properties, one VALARM per reminder and one for the check-in question."""
    rhythm = spec.rhythm
    zone = ZoneInfo(spec.timezone)
    cal = icalendar.Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    cal.add("X-WR-TIMEZONE", spec.timezone)
    start = rhythm.dtstart()
    if isinstance(start, datetime):
        cal.add_component(vtimezone(spec.timezone, rhythm.first - timedelta(days=1), now.date()))
        start = start.replace(tzinfo=zone)
    event = icalendar.Event()
    event.add("UID", spec.uid)
    event.add("DTSTAMP", now.astimezone(UTC).replace(microsecond=0))
    event.add("SUMMARY", spec.title)
    if spec.description:
        event.add("DESCRIPTION", spec.description)
    if spec.categories:
        event.add("CATEGORIES", list(spec.categories))
    event.add("DTSTART", start)
    if rhythm.duration:
        event.add("DURATION", rhythm.duration)
    if rhythm.rule is not None:
        rule = icalendar.vRecur(rhythm.rule)
        until = rule.get("UNTIL")
        if until is not None:
            until = until[0] if isinstance(until, list) else until
            if isinstance(start, datetime):  # RFC 5545: UNTIL in UTC when DTSTART has a TZID
                until = datetime.combine(until, time(23, 59, 59), tzinfo=zone).astimezone(UTC)
            rule["UNTIL"] = until
        event.add("RRULE", rule)
    event.add("COMMENT", t(language, "Written by `reminders duties new` on {date}. Rhythm: {phrase} = {words}. "
                                     "You may edit this file by hand; keep the UID.",
                           date=now.astimezone(zone).date().isoformat(), phrase=f"«{rhythm.text}»",
                           words=rhythm.describe(language)))
    event.add("X-REMINDER-FOR", ",".join(spec.audience))
    event.add("X-REMINDER-TO", ",".join(spec.address))
    event.add("X-REMINDER-ACK", "TRUE" if spec.ack else "FALSE")
    if spec.holiday != "KEEP":
        event.add("X-REMINDER-HOLIDAY", spec.holiday)
    if spec.followup:
        event.add("X-REMINDER-FOLLOWUP", spec.followup)
    if spec.checkin:
        event.add("X-REMINDER-CHECKIN", spec.checkin, parameters={"ANSWER": spec.answer})
    for offset in spec.reminders or (Offset("", related="START"),):  # explicit, never implied
        event.add_component(_trigger_alarm(spec.title, offset.trigger(rhythm.time)))
    if spec.checkin:
        at = spec.checkin_at or Offset("", related="END")
        event.add_component(_trigger_alarm(spec.checkin, at.trigger(rhythm.time), checkin=True))
    cal.add_component(event)
    return cal


def write_new(path: Path, data: bytes, language: str = "vi") -> None:
    """Write `data` to `path` all at once; DutyExists if `path` is already there."""
    try:
        write_atomic(path, data, exclusive=True)
    except FileExistsError:
        raise DutyExists(t(language, "{path} already exists; nothing was written.", path=str(path))) from None
