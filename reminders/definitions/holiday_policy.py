"""Vietnamese public holidays (lunar Tết included, from the `holidays` package) and what a
duty's occurrence does when it falls on one: X-REMINDER-HOLIDAY KEEP, SKIP, PREVIOUS or NEXT.

The policy is written into the duty's own calendar -- an EXDATE for a skipped day, a
RECURRENCE-ID override for a moved one -- one year at a time, when expansion first reaches
that year (and by the feeds for the years they cover), so expansion, `reminders preview`,
the planner and the calendar feeds all see the same occurrences, whatever day the files
were loaded.
"""

from __future__ import annotations

import copy
import threading
from datetime import MAXYEAR, MINYEAR, date, datetime, timedelta, tzinfo
from functools import cache

import holidays
import icalendar
import recurring_ical_events

from reminders.definitions.model import DUTY_COMPONENTS, Duty, recurrence_id_text

SCAN_MARGIN = timedelta(days=31)  # a holiday's move reaches at most this far (Tết and a weekend: ~10 days)
_lock = threading.Lock()  # the planner, the web app and a reload may ask for the same duty at once


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


def apply_holiday_policy(duty: Duty, first_year: int, last_year: int) -> int:
    """Skip or move this duty's occurrences on public holidays in the years asked for (those not
    done yet); returns how many. Called by expansion for the window it expands (and a year
    either side), so the answer does not depend on the day the files were loaded, nor on the
    order in which years are asked for: each year is decided from the admin's own calendar.

    Occurrences the admin already overrides (their own RECURRENCE-ID) are left alone. An
    occurrence is not moved onto a day that already has one of the duty's occurrences (a
    daily duty over the six days of Tết would land six times on the Monday after): it is
    dropped instead, the duty being done that day anyway.
    """
    if duty.holiday == "KEEP":
        return 0
    changed = 0
    with _lock:
        if duty.holiday_source is None:
            duty.holiday_source = copy.deepcopy(duty.calendar)
        for year in range(max(first_year, MINYEAR + 1), min(last_year, MAXYEAR - 1) + 1):
            if year not in duty.holiday_years:
                changed += _apply_year(duty, duty.holiday_source, year)
                duty.holiday_years.add(year)
    return changed


def _apply_year(duty: Duty, source: icalendar.Calendar, year: int) -> int:
    """The policy for the holidays of `year`. Moves chain (a moved occurrence takes a day a later
    one cannot have), so holidays are decided in order from 1 December before: Vietnam has no
    public holiday in November or December, so that chain starts afresh, whatever year came first."""
    zone = duty.zone
    components = [c for c in source.subcomponents if c.name == duty.component]
    master, overrides = components[0], components[1:]
    overridden = {recurrence_id_text(o.get("RECURRENCE-ID").dt, zone) for o in overrides}
    chain_from, until = date(year - 1, 12, 1), date(year, 12, 31)
    query = recurring_ical_events.of(source, components=DUTY_COMPONENTS)
    found = []
    for component in query.between(chain_from - SCAN_MARGIN, until + SCAN_MARGIN):
        original = (component.get("RECURRENCE-ID") or component.get("DTSTART") or component.get("DUE")).dt
        local_day = _local_day((component.get("DTSTART") or component.get("DUE")).dt, zone)
        rid = recurrence_id_text(original, zone)
        name = None if rid in overridden else holiday_name(local_day)
        found.append((original, local_day, rid, name))
    found.sort(key=lambda item: item[1])
    taken = {day for _, day, _, name in found if name is None}  # days the duty happens anyway
    changed = 0
    target_master = next(c for c in duty.calendar.subcomponents if c.name == duty.component)
    for original, local_day, rid, name in found:
        if name is None or local_day < chain_from:
            continue
        target = None if duty.holiday == "SKIP" else shifted_day(local_day, duty.holiday)
        if target is None or target in taken:
            decided = None
        else:
            decided = target
            taken.add(target)
        if local_day.year != year:
            continue  # December before: only to know which days its moves took
        if decided is None:
            target_master.add("EXDATE", original)
        else:
            duty.calendar.add_component(_moved(master, original, decided - local_day, name))
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
