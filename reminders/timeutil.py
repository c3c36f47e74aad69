"""Small helpers for the time zone rules of the duty contract."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Ho_Chi_Minh"


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_utc(value: date | datetime, zone: tzinfo) -> datetime:
    """A DATE means local midnight; a floating DATE-TIME means local time in `zone`."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0, 0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware UTC, the form every time column takes (sqlmodel's UTCDateTime)."""
    return value.astimezone(UTC)


def from_naive_utc(value: datetime) -> datetime:
    """Rows read back through Core may come without an offset on SQLite: they are UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def day_span(day: date, zone_: tzinfo) -> tuple[datetime, datetime]:
    start = to_utc(day, zone_)
    return start, to_utc(day + timedelta(days=1), zone_)

class VirtualClock:
    """A settable clock, so `simulate` runs the real pipeline on virtual time."""

    def __init__(self, start: datetime):
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = max(self._now, when)
