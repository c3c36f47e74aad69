"""Vietnamese public holidays (lunar Tết included, from the `holidays` package) and what a
duty's occurrence does when it falls on one: X-REMINDER-HOLIDAY KEEP, SKIP, PREVIOUS or NEXT.

The policy is written into the duty's own calendar when it is loaded -- an EXDATE for a
skipped day, a RECURRENCE-ID override for a moved one -- so expansion, `reminders preview`,
the planner and the calendar feeds all see the same occurrences.
"""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta, tzinfo
from functools import cache

import holidays
import icalendar
import recurring_ical_events

from reminders.definitions.expand import rules_end
from reminders.definitions.model import DUTY_COMPONENTS, Duty, recurrence_id_text
from reminders.timeutil import utcnow

YEARS_AHEAD = 2  # an open-ended duty gets its holidays applied up to this many years past today
MAX_SCAN = 3000  # occurrences inspected per duty at most (a daily duty over ~8 years)


@cache
def _calendar(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("VN", years=year, language="vi")


def holiday_name(day: date) -> str | None:
    """The Vietnamese name of the public holiday on `day`, or None."""
    return _calendar(day.year).get(day)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and holiday_name(day) is None


def shifted_day(day: date, policy: str) -> date:
    """The previous (PREVIOUS) or next (NEXT) working day: not a weekend, not a holiday."""
    step = timedelta(days=-1 if policy == "PREVIOUS" else 1)
    day += step
    while not is_working_day(day):
        day += step
    return day


def _local_day(value: date, zone: tzinfo) -> date:
    """The day of a DTSTART or DUE (a date, or a datetime: aware in `zone`, or floating)."""
    if isinstance(value, datetime):
        return value.astimezone(zone).date() if value.tzinfo else value.date()
    return value


def apply_holiday_policy(duty: Duty, today: date | None = None) -> int:
    """Skip or move this duty's occurrences that fall on a public holiday; returns how many.

    Occurrences the admin already overrides (their own RECURRENCE-ID) are left alone. An
    occurrence is not moved onto a day that already has one of the duty's occurrences (a
    daily duty over the six days of Tết would land six times on the Monday after): it is
    dropped instead, the duty being done that day anyway.
    """
    if duty.holiday == "KEEP":
        return 0
    zone = duty.zone
    components = [c for c in duty.calendar.subcomponents if c.name == duty.component]
    master, overrides = components[0], components[1:]
    overridden = {recurrence_id_text(o.get("RECURRENCE-ID").dt, zone) for o in overrides}
    first = (master.get("DTSTART") or master.get("DUE")).dt
    first_day = first.date() if isinstance(first, datetime) else first
    today = today or utcnow().astimezone(zone).date()
    last_day = date(max(first_day.year, today.year) + YEARS_AHEAD, 12, 31)
    # From last year on: older occurrences are never planned again, and a daily duty begun
    # years ago must not use up MAX_SCAN before reaching this year.
    scan_from = max(first_day, date(today.year - 1, 1, 1))
    query = recurring_ical_events.of(duty.calendar, components=DUTY_COMPONENTS)
    found = []
    for count, component in enumerate(query.between(scan_from, last_day + timedelta(days=1))):
        if count >= MAX_SCAN and not rules_end(master):
            break
        if component.get("RECURRENCE-ID") is not None and "X-REMINDER-HOLIDAY-MOVED" not in component:
            original = component["RECURRENCE-ID"].dt
        else:
            original = (component.get("DTSTART") or component.get("DUE")).dt
        local_day = _local_day((component.get("DTSTART") or component.get("DUE")).dt, zone)
        rid = recurrence_id_text(original, zone)
        name = None if rid in overridden else holiday_name(local_day)
        found.append((original, local_day, rid, name))
    taken = {day for _, day, _, name in found if name is None}  # days the duty happens anyway
    changed = 0
    for original, local_day, rid, name in found:
        if name is None:
            continue
        target = None if duty.holiday == "SKIP" else shifted_day(local_day, duty.holiday)
        if target is None or target in taken:
            master.add("EXDATE", original)
        else:
            duty.calendar.add_component(_moved(master, original, target - local_day, name))
            taken.add(target)
        duty.holiday_moves[rid] = name
        changed += 1
    return changed


def _moved(master: icalendar.Component, original: date, delta: timedelta, name: str) -> icalendar.Component:
    """A RECURRENCE-ID override of the instance starting at `original`, `delta` days later."""
    item = copy.deepcopy(master)
    for prop in ("RRULE", "RDATE", "EXDATE", "DTSTART", "DTEND", "DUE", "RECURRENCE-ID"):
        item.pop(prop, None)
    item.add("RECURRENCE-ID", original)
    length = _length(master)
    start = original + delta
    if master.get("DTSTART") is not None:
        item.add("DTSTART", start)
        if master.get("DTEND") is not None:
            item.add("DTEND", start + length)
        elif master.get("DUE") is not None:
            item.add("DUE", start + length)
    else:
        item.add("DUE", start)
    item.add("COMMENT", f"Dời do ngày lễ: {name}")
    item.add("X-REMINDER-HOLIDAY-MOVED", name)
    return item


def _length(master: icalendar.Component) -> timedelta:
    begin = master.get("DTSTART")
    finish = master.get("DTEND") or master.get("DUE")
    if begin is None or finish is None:
        return timedelta(0)
    length: timedelta = finish.dt - begin.dt  # icalendar types Component.get as Any
    return length
