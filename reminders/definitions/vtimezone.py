"""VTIMEZONE components that stay right for every year: past transitions as RDATEs, the
zone's current daylight-saving rule as yearly RRULEs.

icalendar's `Timezone.from_tzinfo` writes transitions up to a given date only, so a client
reading a duty that recurs past it uses the wrong offset for half of every later year. The
rule in force is the POSIX TZ string at the end of the zone's TZif file (RFC 8536 3.3),
e.g. `CET-1CEST,M3.5.0,M10.5.0/3`: it becomes a DAYLIGHT and a STANDARD component with
`RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU` and `...BYMONTH=10;BYDAY=-1SU`.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar

FALLBACK_YEARS = 100  # a rule we cannot write as an RRULE: its transitions this many years ahead
_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")
_NAME = r"(?:[A-Za-z]{3,}|<[^>]+>)"
_OFFSET = r"[+-]?\d{1,2}(?::\d{2}(?::\d{2})?)?"
_DATE = r"M(\d{1,2})\.(\d)\.(\d)(?:/([+-]?\d{1,3}(?::\d{2}(?::\d{2})?)?))?"
_POSIX = re.compile(rf"^({_NAME})({_OFFSET})(?:({_NAME})({_OFFSET})?,{_DATE},{_DATE})?$")


@dataclass(frozen=True)
class _Change:
    month: int
    week: int  # 1..4, or 5 for the last
    weekday: int  # 0 = Sunday
    at: timedelta  # local time, in the offset before the change

    def first_in(self, year: int) -> datetime:
        if self.week == 5:
            day = date(year + (self.month == 12), self.month % 12 + 1, 1) - timedelta(days=1)
            day -= timedelta(days=(day.isoweekday() % 7 - self.weekday) % 7)
        else:
            day = date(year, self.month, 1)
            day += timedelta(days=(self.weekday - day.isoweekday() % 7) % 7 + 7 * (self.week - 1))
        return datetime.combine(day, time(0)) + self.at

    def rrule(self) -> dict[str, object]:
        week = -1 if self.week == 5 else self.week
        return {"FREQ": "YEARLY", "BYMONTH": self.month, "BYDAY": f"{week}{_DAYS[self.weekday]}"}


def _seconds(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    parts = [int(p) for p in text.lstrip("+-").split(":")]
    return sign * sum(p * f for p, f in zip(parts, (3600, 60, 1), strict=False))


def _footer(name: str) -> str | None:
    """The POSIX TZ string of `name`'s TZif file (the system's, else the tzdata package's)."""
    for folder in zoneinfo.TZPATH:
        path = Path(folder) / name
        if path.is_file():
            data = path.read_bytes()
            break
    else:
        try:
            data = resources.files("tzdata.zoneinfo").joinpath(*name.split("/")).read_bytes()
        except (ModuleNotFoundError, OSError):
            return None
    if not data.startswith(b"TZif") or data[4:5] < b"2":
        return None
    return data.rstrip(b"\n").rpartition(b"\n")[2].decode("ascii", "replace")


def _rule(name: str) -> tuple[tuple[str, int, _Change], tuple[str, int, _Change]] | None:
    """((DST name, offset, onset), (standard name, offset, return)), or None without a
    daylight-saving rule this module writes as an RRULE."""
    match = _POSIX.match(_footer(name) or "")
    if not match or not match[3]:
        return None
    std_offset = -_seconds(match[2])
    dst_offset = -_seconds(match[4]) if match[4] else std_offset + 3600
    onset = _Change(int(match[5]), int(match[6]), int(match[7]), timedelta(seconds=_seconds(match[8] or "2")))
    back = _Change(int(match[9]), int(match[10]), int(match[11]), timedelta(seconds=_seconds(match[12] or "2")))
    if any(not timedelta(0) <= c.at < timedelta(days=1) or not 1 <= c.month <= 12 or not 1 <= c.week <= 5
           or c.weekday > 6 for c in (onset, back)):
        return None  # a change past midnight moves the weekday: not a plain BYDAY
    return (match[3].strip("<>"), dst_offset, onset), (match[1].strip("<>"), std_offset, back)


def vtimezone(name: str, since: date, today: date) -> icalendar.Timezone:
    """The VTIMEZONE of `name`, right from `since` on, for ever where the zone's rule is a
    yearly one (else up to FALLBACK_YEARS past `today`)."""
    rule = _rule(name)
    cutoff = date(max(since.year, today.year), 1, 1)
    if rule is None:
        # A fixed offset is valid for ever; another rule gets its transitions written out.
        last = date(today.year + FALLBACK_YEARS, 1, 1)
        zone = icalendar.Timezone.from_tzinfo(ZoneInfo(name), name, first_date=min(since, cutoff - timedelta(days=1)),
                                              last_date=last)
        if len(zone.subcomponents) == 1 and "COMMENT" in zone:
            del zone["COMMENT"]
        return zone
    zone = icalendar.Timezone.from_tzinfo(ZoneInfo(name), name, first_date=min(since, cutoff - timedelta(days=1)),
                                          last_date=cutoff)
    if "COMMENT" in zone:
        del zone["COMMENT"]  # "only works up to ...": no longer true
    (dst_name, dst_offset, onset), (std_name, std_offset, back) = rule
    for kind, label, before, after, change in ((icalendar.TimezoneDaylight, dst_name, std_offset, dst_offset, onset),
                                               (icalendar.TimezoneStandard, std_name, dst_offset, std_offset, back)):
        part = kind()
        part.add("DTSTART", change.first_in(cutoff.year))
        part.add("RRULE", change.rrule())
        part.add("TZNAME", label)
        part.add("TZOFFSETFROM", timedelta(seconds=before))
        part.add("TZOFFSETTO", timedelta(seconds=after))
        zone.add_component(part)
    return zone
