"""`reminders preview`: a duty's occurrences and reminder times, for people and for JSON."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TypedDict

from reminders.definitions.expand import as_local_date_or_datetime, occurrences, reminder_times
from reminders.definitions.model import Duty


class PreviewReminder(TypedDict):
    kind: str
    at: str


class PreviewItem(TypedDict):
    """One occurrence as `reminders preview --json` prints it."""

    uid: str
    recurrence_id: str
    summary: str
    start: str
    end: str
    all_day: bool
    cancelled: bool
    reminders: list[PreviewReminder]


def _iso(value: date | datetime) -> str:
    return value.isoformat()


def preview_occurrences(duty: Duty, first: date, last: date) -> list[PreviewItem]:
    """Occurrences starting on days first..last (inclusive, in the duty's zone)."""
    zone = duty.zone
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    items: list[PreviewItem] = []
    for occ in occurrences(duty, start, end):
        if not (start <= occ.start < end):
            continue
        finish = occ.end.astimezone(zone)
        items.append({
            "uid": duty.uid,
            "recurrence_id": occ.recurrence_id,
            "summary": occ.summary,
            "start": _iso(as_local_date_or_datetime(occ, zone)),
            "end": _iso(finish.date() if occ.all_day else finish),
            "all_day": occ.all_day,
            "cancelled": occ.cancelled,
            "reminders": [{"kind": alarm.key, "at": _iso(due.astimezone(zone))}
                          for alarm, due in reminder_times(duty, occ)],
        })
    return items
