"""The follow-up and holiday policies a duty declares (README, "Duty format").

    X-REMINDER-FOLLOWUP:NUDGE=PT2H;TIMES=1;LEADER=PT4H;COMMUNE=P1D     (or NONE)
    X-REMINDER-HOLIDAY:KEEP | SKIP | PREVIOUS | NEXT

Kept apart from duties.py so the follow-up pass and the holiday rule can import the
policy without the whole duty reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import icalendar

HOLIDAY_POLICIES = ("KEEP", "SKIP", "PREVIOUS", "NEXT")
# How long after being due a reminder is still worth sending (README, "Missed reminders"):
# a check-in this long after the later of its time and the occurrence's end; a plain
# reminder until its occurrence ends, and at least this long after it was due.
CHECKIN_GRACE = timedelta(hours=12)
LATE_REMINDER_GRACE = timedelta(hours=2)
MAX_NUDGES = 5
FOLLOWUP_PARTS = ("NUDGE", "TIMES", "LEADER", "COMMUNE")


@dataclass(frozen=True)
class FollowUpPolicy:
    """When someone has not acknowledged, counted from the occurrence's last reminder:
    `times` personal nudges every `nudge`; at `leader` one message to the team leader(s)
    naming who is missing; at `commune` one to the commune official(s). None: that step
    is off."""

    nudge: timedelta = timedelta(hours=2)
    times: int = 1
    leader: timedelta | None = timedelta(hours=4)
    commune: timedelta | None = timedelta(days=1)

    @property
    def enabled(self) -> bool:
        return bool(self.times) or self.leader is not None or self.commune is not None

    def __str__(self) -> str:
        def text(value: timedelta | None) -> str:
            return "NONE" if value is None else icalendar.vDuration(value).to_ical().decode()
        return f"NUDGE={text(self.nudge)};TIMES={self.times};LEADER={text(self.leader)};COMMUNE={text(self.commune)}"


DEFAULT_FOLLOWUP = FollowUpPolicy()
NO_FOLLOWUP = FollowUpPolicy(times=0, leader=None, commune=None)


def _duration(name: str, value: str) -> timedelta | None:
    if value.upper() == "NONE":
        return None
    try:
        parsed = icalendar.vDuration.from_ical(value.upper())
    except (ValueError, TypeError):
        parsed = None
    if not isinstance(parsed, timedelta) or parsed <= timedelta(0):
        raise ValueError(f"X-REMINDER-FOLLOWUP {name}={value} must be a positive duration such as "
                         "PT2H, PT30M or P1D (or NONE)")
    return parsed


def parse_followup(text: str) -> FollowUpPolicy:
    """'NUDGE=PT2H;TIMES=2;LEADER=PT4H;COMMUNE=P1D' -> policy; parts left out keep their
    defaults. Raises ValueError with a message an admin can act on."""
    text = text.strip()
    if text.upper() in ("NONE", "FALSE", "OFF"):
        return NO_FOLLOWUP
    values: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, value = part.partition("=")
        name, value = name.strip().upper(), value.strip()
        if not sep or name not in FOLLOWUP_PARTS:
            raise ValueError(f"X-REMINDER-FOLLOWUP part '{part}' must be one of "
                             f"{', '.join(p + '=…' for p in FOLLOWUP_PARTS)} (or the single word NONE)")
        if name in values:
            raise ValueError(f"X-REMINDER-FOLLOWUP gives {name} twice")
        if name == "TIMES":
            if not value.isdigit() or int(value) > MAX_NUDGES:
                raise ValueError(f"X-REMINDER-FOLLOWUP TIMES={value} must be a whole number 0..{MAX_NUDGES}")
            values["times"] = int(value)
        else:
            values[name.lower()] = _duration(name, value)
    if values.get("nudge", 1) is None:  # NUDGE=NONE: no nudges
        values["nudge"], values["times"] = DEFAULT_FOLLOWUP.nudge, 0
    nudge, times = values.get("nudge", DEFAULT_FOLLOWUP.nudge), values.get("times", DEFAULT_FOLLOWUP.times)
    last_nudge = nudge * times
    if "leader" not in values:  # defaults follow the nudges the duty asked for
        values["leader"] = max(DEFAULT_FOLLOWUP.leader, last_nudge + nudge)
    if "commune" not in values:
        values["commune"] = max(DEFAULT_FOLLOWUP.commune, (values["leader"] or last_nudge) + nudge)
    policy = FollowUpPolicy(**values)
    if policy.leader is not None and policy.times and policy.leader <= last_nudge:
        raise ValueError(f"X-REMINDER-FOLLOWUP LEADER ({policy.leader}) must come after the last nudge "
                         f"({policy.times} x {policy.nudge} = {last_nudge})")
    if policy.commune is not None:
        before = policy.leader if policy.leader is not None else last_nudge
        if policy.commune <= before:
            raise ValueError(f"X-REMINDER-FOLLOWUP COMMUNE ({policy.commune}) must come after the "
                             f"{'LEADER step' if policy.leader is not None else 'last nudge'} ({before})")
    return policy


def parse_holiday(text: str) -> str:
    value = text.strip().upper()
    if value not in HOLIDAY_POLICIES:
        raise ValueError(f"X-REMINDER-HOLIDAY must be one of {', '.join(HOLIDAY_POLICIES)}, not {text.strip()}")
    return value
