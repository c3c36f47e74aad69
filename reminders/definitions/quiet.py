"""Quiet hours: no message goes out at night (default 21:00–06:30 local).

A message due in the quiet hours waits for the morning. If by the morning it would be too
late (its occurrence over, or past its deadline), it is moved before the quiet hours
instead: `BEFORE_QUIET` ahead of their start, so "tonight at 22:00" is said at 20:30.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

DEFAULT_TEXT = "21:00-06:30"
BEFORE_QUIET = timedelta(minutes=30)
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class QuietHours:
    """A daily window [start, end) of local wall-clock time; it may span midnight."""

    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def contains(self, local: datetime) -> bool:
        clock = local.time().replace(tzinfo=None)
        if self.start <= self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end

    def window_around(self, when: datetime, zone: tzinfo) -> tuple[datetime, datetime] | None:
        """(start, end) of the quiet window `when` falls in, as aware datetimes; None if outside."""
        local = when.astimezone(zone)
        if not self.contains(local):
            return None
        day = local.date()
        if self.start > self.end and local.time().replace(tzinfo=None) < self.end:
            day -= timedelta(days=1)  # after midnight: the window began yesterday evening
        begin = datetime.combine(day, self.start, tzinfo=zone)
        finish_day = day + timedelta(days=1) if self.start > self.end else day
        return begin, datetime.combine(finish_day, self.end, tzinfo=zone)


DEFAULT = QuietHours(time(21, 0), time(6, 30))


def parse_quiet(value: object) -> QuietHours | None:
    """'21:00-06:30' -> QuietHours; 'off' / false -> None. Raises ValueError with the rule."""
    if value is False or (isinstance(value, str) and value.strip().lower() in ("off", "none", "no", "false")):
        return None
    match = _WINDOW.match(str(value)) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"quiet_hours must look like \"21:00-06:30\" (local time, start-end) or off, "
                         f"not {value!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError(f"quiet_hours {value!r}: hours must be 00..23 and minutes 00..59")
    window = QuietHours(time(h1, m1), time(h2, m2))
    if window.start == window.end:
        raise ValueError(f"quiet_hours {value!r}: start and end are the same time")
    return window


def place(due: datetime, quiet: QuietHours | None, zone: tzinfo, *, deadline: datetime | None = None,
          not_before: datetime | None = None) -> datetime | None:
    """When a message due at `due` may go out.

    Outside the quiet hours: `due`. Inside: the end of the quiet hours, if that is still
    before `deadline`; else `BEFORE_QUIET` ahead of their start (but not before
    `not_before`); None if neither works (the message has no moment worth sending it).
    """
    if quiet is None:
        return due
    window = quiet.window_around(due, zone)
    if window is None:
        return due
    begin, morning = window
    morning = morning.astimezone(due.tzinfo)
    if deadline is None or morning < deadline:
        return morning
    before = (begin - BEFORE_QUIET).astimezone(due.tzinfo)
    if not_before is not None and before < not_before:
        return None
    return before
