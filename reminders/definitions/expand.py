"""Occurrences of a duty in a window, via recurring-ical-events (never by hand)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo

import icalendar
import recurring_ical_events

from reminders.definitions.holiday_policy import apply_holiday_policy
from reminders.definitions.model import (
    DUTY_COMPONENTS,
    Alarm,
    Duty,
    Occurrence,
    recurrence_id_text,
)
from reminders.timeutil import to_utc


def _when(component: icalendar.Component, name: str) -> date | None:
    """The value of a DTSTART, DUE, DTEND or RECURRENCE-ID: a date or a datetime (None if absent)."""
    value = component.get(name)
    if value is None:
        return None
    when: date = value.dt  # icalendar types Component.get as Any
    return when


def _duration(component: icalendar.Component) -> timedelta | None:
    value = component.get("DURATION")
    if value is None:
        return None
    duration: timedelta = value.dt  # icalendar types Component.get as Any
    return duration


def rules_end(master: icalendar.Component) -> bool:
    """Every RRULE of the master component ends (COUNT or UNTIL); True without any RRULE."""
    rules = master.get("RRULE")
    rules = rules if isinstance(rules, list) else [rules] if rules is not None else []
    return all("COUNT" in r or "UNTIL" in r for r in rules)


def exact_end(begin: datetime, duration: timedelta, zone: tzinfo) -> datetime:
    """The end of a timed occurrence lasting `duration` (RFC 5545 3.3.6), `zone` being the one
    of a floating start: its days and weeks
    are nominal (P1D is the same wall time the next day, 23 or 25 hours over a DST change),
    its hours, minutes and seconds exact elapsed time (PT12H is 12 hours, whatever the clocks do)."""
    own = begin.tzinfo or zone  # days are counted on the clock of the start's own zone
    local = begin if begin.tzinfo else begin.replace(tzinfo=zone)
    nominal = (local.replace(tzinfo=None) + timedelta(days=duration.days)).replace(tzinfo=own)
    return nominal.astimezone(UTC) + timedelta(seconds=duration.seconds, microseconds=duration.microseconds)


def _own_durations(duty: Duty) -> tuple[timedelta | None, dict[str, timedelta | None]]:
    """The master's DURATION, and each override's own length rule (its DURATION, or None when it
    has its own DTEND), by recurrence id: recurring-ical-events turns a DURATION into a DTEND
    in wall-clock time, so the exact end is counted again here."""
    master: timedelta | None = None
    overrides: dict[str, timedelta | None] = {}
    for component in duty.calendar.subcomponents:
        if component.name != duty.component:
            continue
        rid = _when(component, "RECURRENCE-ID")
        if rid is None:
            master = _duration(component)
        elif component.get("DURATION") is not None or component.get("DTEND") is not None:
            overrides[recurrence_id_text(rid, duty.zone)] = _duration(component)
    return master, overrides


def occurrences(duty: Duty, start: datetime, end: datetime) -> list[Occurrence]:
    """Occurrences whose span overlaps [start, end) (UTC), including cancelled ones."""
    zone = duty.zone
    # A holiday may move an occurrence across New Year: the years either side too.
    apply_holiday_policy(duty, start.astimezone(zone).year - 1, end.astimezone(zone).year + 1)
    master_duration, own_durations = _own_durations(duty)
    # Pad by a day so all-day and floating events near the edges are not lost; filter below.
    query = recurring_ical_events.of(duty.calendar, components=DUTY_COMPONENTS)
    found = query.between((start - timedelta(days=1)).astimezone(zone), (end + timedelta(days=1)).astimezone(zone))
    result = []
    for component in found:
        first = _when(component, "DTSTART")
        due = _when(component, "DUE")
        begin = first if first is not None else due
        finish = _when(component, "DTEND") or due
        all_day = not isinstance(begin, datetime)
        assert begin is not None  # a duty component has DTSTART or DUE (checked when it was read)
        if finish is None:
            duration = _duration(component)
            finish = begin + duration if duration else begin + timedelta(days=1 if all_day else 0)
        rid_value = _when(component, "RECURRENCE-ID") or begin
        rid = recurrence_id_text(rid_value, zone)
        start_utc, end_utc = to_utc(begin, zone), to_utc(finish, zone)
        length = own_durations.get(rid, master_duration)  # an override with its own DTEND: None
        if length is not None and due is None and isinstance(begin, datetime):
            end_utc = exact_end(begin, length, zone)
        if end_utc < start or start_utc >= end:
            continue
        result.append(Occurrence(
            duty_uid=duty.uid,
            recurrence_id=rid,
            start=start_utc,
            end=max(end_utc, start_utc),
            all_day=all_day,
            cancelled=str(component.get("STATUS", "")).upper() == "CANCELLED",
            summary=str(component.get("SUMMARY", duty.summary)),
            alarms=duty.override_alarms.get(rid, duty.alarms),
        ))
    result.sort(key=lambda o: o.start)
    return result


def alarm_reach(duty: Duty) -> tuple[timedelta, timedelta]:
    """How far before an occurrence's start, and after it, its reminders can fall.

    The planner widens its expansion window by these so that every reminder due inside
    the horizon is found, even one set days before its occurrence.
    """
    before, after = timedelta(0), timedelta(days=1)
    for alarm in [*duty.alarms, *(a for alarms in duty.override_alarms.values() for a in alarms)]:
        if alarm.offset is None:
            # An absolute trigger can fall long before the occurrence it belongs to.
            assert alarm.absolute is not None  # an alarm has an offset or an absolute trigger
            target = _absolute_occurrence(duty, alarm)
            if target is not None:
                before = max(before, target.start - alarm.absolute)
            continue
        lead = -alarm.offset
        before = max(before, lead)
        after = max(after, alarm.offset + (timedelta(days=31) if alarm.related == "END" else timedelta(0)))
    return before, after


_absolute_targets: dict[tuple[str, str, int, datetime], Occurrence | None] = {}


def _absolute_occurrence(duty: Duty, alarm: Alarm) -> Occurrence | None:
    # Keyed by the trigger too: an override's alarm may share its index with the master's.
    assert alarm.absolute is not None
    key = (duty.uid, duty.fingerprint, alarm.index, alarm.absolute)
    if key not in _absolute_targets:
        upcoming = occurrences(duty, alarm.absolute - timedelta(days=1), alarm.absolute + timedelta(days=400))
        _absolute_targets[key] = next((o for o in upcoming
                                       if o.end >= alarm.absolute and not o.cancelled), None)
    return _absolute_targets[key]


def absolute_target(duty: Duty, alarm: Alarm) -> str | None:
    """An absolute TRIGGER belongs to the first occurrence not yet over at that instant."""
    target = _absolute_occurrence(duty, alarm)
    return None if target is None else target.recurrence_id


def reminder_times(duty: Duty, occurrence: Occurrence) -> list[tuple[Alarm, datetime]]:
    """(alarm, due time) for each reminder of one occurrence; none if it is cancelled."""
    if occurrence.cancelled:
        return []
    return [(alarm, alarm.due(occurrence.start, occurrence.end)) for alarm in occurrence.alarms
            if alarm.absolute is None or absolute_target(duty, alarm) == occurrence.recurrence_id]


def as_local_date_or_datetime(occurrence: Occurrence, zone: tzinfo) -> date | datetime:
    """For display and JSON: all-day occurrences are dates in the duty's zone."""
    local = occurrence.start.astimezone(zone)
    return local.date() if occurrence.all_day else local


