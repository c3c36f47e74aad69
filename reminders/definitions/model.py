"""What a duty is once read: its alarms, its check-in question, its occurrences.

Plain data, shared by everything that reads definitions (expansion, holiday policy, the
planner, rendering, feeds); `duties.py` builds them from the admin's .ics files."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

from reminders.definitions.policy import DEFAULT_FOLLOWUP, FollowUpPolicy
from reminders.kinds import Kind, numbered
from reminders.timeutil import to_utc

DUTY_COMPONENTS = ("VEVENT", "VTODO")
ADDRESS_MODES = ("group", "members", "leader")
ANSWER_TYPES = ("number", "yesno", "text")


@dataclass(frozen=True)
class Alarm:
    """One reminder of a duty: when, relative to the occurrence, and what it asks."""

    index: int
    kind: Kind  # REMINDER or CHECKIN
    offset: timedelta | None = None  # relative trigger
    related: str = "START"  # START or END
    absolute: datetime | None = None  # absolute trigger (UTC)

    @property
    def key(self) -> str:
        return numbered(self.kind, self.index)

    def due(self, start: datetime, end: datetime) -> datetime:
        if self.absolute is not None:
            return self.absolute
        assert self.offset is not None
        return (end if self.related == "END" else start) + self.offset


@dataclass(frozen=True)
class CheckIn:
    answer_type: str
    questions: dict[str, str]  # language -> question; "" is the unmarked default

    def question(self, language: str) -> str:
        return self.questions.get(language) or self.questions.get("") or next(iter(self.questions.values()))


@dataclass
class Duty:
    uid: str
    summary: str
    description: str
    categories: tuple[str, ...]
    component: str
    audience: tuple[str, ...]
    address: tuple[str, ...]
    ack: bool
    checkin: CheckIn | None
    alarms: tuple[Alarm, ...]
    timezone: str
    file: str
    line: int
    sequence: int
    calendar: icalendar.Calendar
    fingerprint: str
    all_day: bool = False
    override_alarms: dict[str, tuple[Alarm, ...]] = field(default_factory=dict)
    followup: FollowUpPolicy = DEFAULT_FOLLOWUP  # nudges and escalation when not acknowledged
    holiday: str = "KEEP"  # what an occurrence on a Vietnamese public holiday does
    holiday_moves: dict[str, str] = field(default_factory=dict)  # recurrence id -> holiday name
    holiday_years: set[int] = field(default_factory=set)  # years the holiday policy is written for
    holiday_source: icalendar.Calendar | None = None  # the calendar as the admin wrote it (policy applied lazily)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def applies_to(self, team_id: str, commune_id: str) -> bool:
        return any(a == "all" or a == f"team:{team_id}" or a == f"commune:{commune_id}"
                   for a in self.audience)


@dataclass(frozen=True)
class Occurrence:
    """One concrete instance of a duty, keyed by its original start (the RECURRENCE-ID)."""

    duty_uid: str
    recurrence_id: str
    start: datetime  # UTC
    end: datetime  # UTC
    all_day: bool
    cancelled: bool
    summary: str
    alarms: tuple[Alarm, ...]

    @property
    def key(self) -> str:
        return f"{self.duty_uid}|{self.recurrence_id}"


def recurrence_id_text(value: date | datetime, zone: ZoneInfo) -> str:
    """A stable text form of an occurrence's original start: a date, or UTC ISO 8601."""
    if not isinstance(value, datetime):
        return value.isoformat()
    return to_utc(value, zone).strftime("%Y-%m-%dT%H:%M:%SZ")
